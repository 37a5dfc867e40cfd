"""Convention data files as text: a bounded read, file signatures, encodings, characters."""

from __future__ import annotations

import codecs
import os
import re
import stat
from pathlib import Path

from .exceptions import DataError, InputError

__all__ = ["MAX_BYTES", "NOT_YAML", "Position", "Refused", "bad_character", "check_characters",
           "decode_text", "read_file"]

Position = tuple[int, int]
"""A 1-based (line, column) in the YAML text."""

MAX_BYTES = 10 * 1024 * 1024
"""Refuse data files larger than this (10 MiB): the 13-commune reference is 44 KB, a
synthetic convention of 1,000 communes 1.3 MB."""


class Refused(Exception):
    """The data is refused at ``position``: a character YAML does not allow, or beyond a
    limit (:func:`ctgdocs.yamltree.parse_yaml` turns it into a problem)."""

    def __init__(self, position: Position, message: str) -> None:
        super().__init__(position, message)
        self.position = position
        self.message = message


def _single(message: str) -> DataError:
    return DataError(message, [message])


def read_file(path: str | Path, name: str) -> bytes:
    """The bytes of a regular file of at most ``MAX_BYTES`` (never more are read: a
    device or a growing file cannot exhaust the memory; a pipe cannot block)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            size = _regular_size(fd, name)
            with open(fd, "rb", closefd=False) as f:
                raw = f.read(MAX_BYTES + 1) if size <= MAX_BYTES else b""
        finally:
            os.close(fd)
    except FileNotFoundError as e:
        raise InputError(f"{name}: no such file; check the path to the convention data") from e
    except OSError as e:
        raise InputError(f"{name}: cannot read the file ({e.strerror}); check the path and "
                         "its permissions") from e
    if size > MAX_BYTES or len(raw) > MAX_BYTES:
        limit = f"{MAX_BYTES // 2**20} MiB"
        shown = f"{size / 2**20:.1f} MiB" if size > MAX_BYTES else f"more than {limit}"
        raise _single(f"{name}: the file is too large ({shown}); convention data is limited "
                      f"to {limit} (1,000 communes take 1.3 MiB): check that this is the "
                      "convention YAML file")
    return raw


def _regular_size(fd: int, name: str) -> int:
    """The size of the open file ``fd``; InputError unless it is a regular file."""
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{name}: is a folder; give the path of the convention YAML file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{name}: not a regular file (a device, pipe or socket); give the "
                         "path of the convention YAML file")
    return info.st_size


_SIGNATURES = {b"%PDF-": "a PDF document",
               b"PK\x03\x04": "a ZIP archive (a Word .docx or an OpenDocument file is one)",
               b"\xd0\xcf\x11\xe0": "an old Microsoft Office document (.doc, .xls)",
               b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image",
               b"\x1f\x8b": "a gzip archive"}
_WIDE_BOMS = {codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32",
              codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16"}
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TO_UTF8 = "save the file with UTF-8 encoding"


def decode_text(raw: bytes, name: str) -> str:
    """The text of UTF-8 bytes (a leading byte-order mark is dropped, as Windows editors
    write one); otherwise a DataError saying what the bytes are and what to do."""
    what = _not_text(raw)
    if what is not None:
        line, col = _offset_position(raw, what[0])
        raise _single(f"{name}:{line}:{col}: not a text file: {what[1]}; give the convention "
                      "YAML file, e.g. examples/vallee-herault/convention.yaml")
    wide = _wide_encoding(raw)
    if wide is not None:
        raise _single(f"{name}:1:1: the file is encoded in {wide}, not UTF-8; {_TO_UTF8}")
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line, col = _offset_position(raw, e.start)
        raise _single(f"{name}:{line}:{col}: not valid UTF-8 (byte 0x{raw[e.start]:02x}); "
                      f"{_not_utf8(raw, e)}") from e


def _not_text(raw: bytes) -> tuple[int, str] | None:
    """(offset, what) when the bytes are a known binary format or binary data (control
    bytes beyond a stray one or two: more than 4 and 1% of the first 64 KiB)."""
    for signature, what in _SIGNATURES.items():
        if raw.startswith(signature):
            return 0, what
    if _wide_encoding(raw) is not None:
        return None
    sample = raw[:65536]
    controls = _CONTROL_BYTES.findall(sample)
    if len(controls) > max(4, len(sample) // 100):
        first = _CONTROL_BYTES.search(sample)
        assert first is not None
        return first.start(), f"binary data (byte 0x{sample[first.start()]:02x})"
    return None


def _wide_encoding(raw: bytes) -> str | None:
    """``UTF-16``/``UTF-32`` when the bytes start with that byte-order mark, or look like
    UTF-16 without one (a zero byte in every other position)."""
    for bom, encoding in _WIDE_BOMS.items():  # UTF-32 first: its BOM starts like UTF-16's
        if raw.startswith(bom):
            return encoding
    even, odd = raw[:4096:2], raw[1:4096:2]
    for zeros, other, order in ((odd, even, "little"), (even, odd, "big")):
        if len(zeros) >= 4 and zeros.count(0) > len(zeros) // 2 and other.count(0) == 0:
            return f"UTF-16 ({order}-endian, without a byte-order mark)"
    return None


def _not_utf8(raw: bytes, e: UnicodeDecodeError) -> str:
    """What the bytes that are not UTF-8 probably are, and the fix. After accented UTF-8
    text: a file cut short or damaged; otherwise, for French text, Windows-1252 or its
    subset Latin-1 (ISO-8859-1), the default of older Windows editors and Excel."""
    if max(raw[:e.start], default=0) >= 0x80:
        if e.reason == "unexpected end of data":
            return "the file ends inside a character: it is cut short; restore its end"
        return ("the text before it is UTF-8: the file is damaged here or holds text pasted "
                "from another encoding; retype this character")
    try:
        char = raw[e.start:e.start + 1].decode("cp1252")
        raw.decode("cp1252")
    except UnicodeDecodeError:
        return f"the file is in another encoding; {_TO_UTF8}"
    return f"the file is probably Windows-1252 or Latin-1, where it is {char!r}; {_TO_UTF8}"


def _offset_position(raw: bytes, offset: int) -> Position:
    before = raw[:offset]
    line_start = before.rfind(b"\n") + 1
    col = len(before[line_start:].decode("utf-8", "replace")) + 1
    return before.count(b"\n") + 1, col


NOT_YAML = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""A character YAML does not allow in a stream (PyYAML and libyaml refuse them alike)."""


def check_characters(text: str, not_yaml: re.Pattern[str] = NOT_YAML) -> None:
    """Refuse the first character YAML does not allow (``not_yaml`` finds them), at its
    position (before the parser does, in a message without a position)."""
    bad = not_yaml.search(text)
    if bad is not None:
        raise bad_character(text, bad.start(), ord(bad.group()))


def bad_character(text: str, index: int, code: int) -> Refused:
    """The refusal of the character ``code`` found at ``index`` of ``text``."""
    line = text.count("\n", 0, index) + 1
    col = index - text.rfind("\n", 0, index)
    what = ("the NUL character (U+0000)" if code == 0 else
            f"the control character U+{code:04X}" if code < 0xA0 else f"the character U+{code:04X}")
    return Refused((line, col), f"{what} is not allowed in YAML text; delete it (the file "
                   "may be damaged)")
