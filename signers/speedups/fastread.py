"""Block-wise literal strings and table-based PDFDocEncoding for pyHanko's parser.

pyHanko reads a literal string ``( … )`` one byte per ``read(1)`` call and decodes
PDFDocEncoding one character per generator step. A signed package holds many strings:
every signature's FieldMDP lock and every field's ``/Lock`` list the other fields by
name, so a package with *n* signatures holds about *n*² names, and reading them that
way cost more than the signatures they belong to.

:func:`read_string_literal_bytes` and :func:`decode_pdfdocencoding` give exactly pyHanko's
results. Whatever they are not sure of (a string longer than the block read, an escape
pyHanko rejects or reads oddly, a byte PDFDocEncoding does not define) is handed to
pyHanko's own function, which then gives its own result or its own error.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from typing import Any

__all__ = ["array_reader", "decode_pdfdocencoding", "literal_reader", "pdfdoc_decoder",
           "read_array", "read_string_literal_bytes"]

_BLOCK = 4096
_BODY = re.compile(rb"[^()\\]*(?:\\.[^()\\]*)*", re.DOTALL)
"""A run of string bytes up to the next parenthesis that is not escaped."""
_ESCAPE = re.compile(rb"\\(?:([0-9]{1,3})|([\r\n])[\r\n]?|(.))", re.DOTALL)
"""An escape: up to three digits, a line break (of one or two characters), or a byte."""
_SELF_ESCAPED = b"() /%<>[]#_&$\\"
_CONTROL_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}
_OCTAL = re.compile(rb"[0-7]+\Z")
_NOT_OCTAL_ESCAPE = re.compile(rb"\\(?![0-3][0-7][0-7])")
"""A backslash that does not start a three-digit octal escape below 400."""

_STRING_ARRAY = re.compile(
    rb"\[(?:[ \n\r\t\f\x00]*\([^()\\]*(?:\\.[^()\\]*)*\))*[ \n\r\t\f\x00]*\]", re.DOTALL)
"""An array of literal strings without nested parentheses, comments or other values."""
_STRING_BODY = re.compile(rb"\(([^()\\]*(?:\\.[^()\\]*)*)\)", re.DOTALL)



class _Unsure(Exception):
    pass


def read_string_literal_bytes(stream: Any) -> bytes:
    """pyHanko's ``_read_string_literal_bytes``: the bytes of the literal string whose
    opening parenthesis is next in ``stream``, which is left after the closing one."""
    start = stream.tell()
    stream.read(1)
    try:
        value, used = _literal(stream.read(_BLOCK))
    except _Unsure:
        stream.seek(start)
        return _original_read(stream)
    stream.seek(start + 1 + used)
    return value


def _literal(buf: bytes) -> tuple[bytes, int]:
    """(string bytes, bytes used up to the closing parenthesis) read from ``buf``."""
    pos, depth = 0, 1
    while True:
        run = _BODY.match(buf, pos)
        pos = run.end() if run is not None else pos
        if pos >= len(buf) or buf[pos] not in b"()":
            raise _Unsure  # the string goes on past the block (or the file ends)
        depth += 1 if buf[pos] == ord("(") else -1
        pos += 1
        if depth == 0:
            return _unescaped(buf[:pos - 1]), pos


def _unescaped(body: bytes) -> bytes:
    """The bytes a string body stands for."""
    if b"\\" not in body:
        return body
    if _NOT_OCTAL_ESCAPE.search(body) is None:
        # only three-digit octal escapes below 400 (a writer's usual escapes, like the
        # "\\055" of every hyphen in the field locks): Python's own escape decoder reads
        # them exactly as PDF does
        return bytes(codecs.escape_decode(body)[0])
    return _ESCAPE.sub(_unescape, body)


def _unescape(escape: re.Match[bytes]) -> bytes:
    """What an escape sequence stands for, as pyHanko reads it."""
    digits, line_break, char = escape.groups()
    if digits is not None:
        if not _OCTAL.match(digits) or int(digits, 8) > 255:
            raise _Unsure  # pyHanko raises ValueError
        return bytes((int(digits, 8),))
    if line_break is not None:
        return b""  # an escaped line break is dropped
    if char in _SELF_ESCAPED:
        return char
    if char in _CONTROL_ESCAPES:
        return _CONTROL_ESCAPES[char]
    raise _Unsure  # pyHanko raises PdfReadError


def read_array(stream: Any, container_ref: Any, in_content_stream: Any = None) -> Any:
    """pyHanko's ``ArrayObject.read_from_stream``; an array made only of literal strings
    (every field lock lists the field names) is read with one match."""
    from pyhanko.pdf_utils import generic

    if in_content_stream is None:
        in_content_stream = generic.ContentOpReading.NO
    start = stream.tell()
    block = stream.read(_BLOCK)
    whole = _STRING_ARRAY.match(block) if not in_content_stream else None
    try:
        if whole is None:
            raise _Unsure
        bodies = _unescaped_all(_STRING_BODY.findall(block, 0, whole.end()))
    except _Unsure:
        stream.seek(start)
        return _original_array(stream, container_ref, in_content_stream=in_content_stream)
    stream.seek(start + whole.end())
    texts = _plain_texts(bodies)
    if texts is not None:
        encoding = generic.TextStringEncoding.PDF_DOC
        texts_read = []
        for text in texts:
            text_item = generic.TextStringObject(text)
            text_item.autodetected_encoding = encoding
            text_item.container_ref = container_ref
            texts_read.append(text_item)
        return generic.ArrayObject(texts_read)
    items = []
    for body in bodies:
        item = generic.pdf_string(body)
        item.container_ref = container_ref
        items.append(item)
    return generic.ArrayObject(items)


def _unescaped_all(raw: list[bytes]) -> list[bytes]:
    """``[_unescaped(body) for body in raw]``, in one pass over the bodies joined by a
    NUL byte when no body holds one (an escape never reaches past its body's end)."""
    if len(raw) > 1:
        joined = b"\x00".join(raw)
        if joined.count(0) == len(raw) - 1:
            parts = _unescaped(joined).split(b"\x00")
            if len(parts) == len(raw):  # else an escape stood for a NUL
                return parts
    return [_unescaped(body) for body in raw]


def _plain_texts(bodies: list[bytes]) -> list[str] | None:
    """The strings of ``bodies`` decoded all at once when every byte is one that
    PDFDocEncoding maps to the same ASCII character (then ``pdf_string`` would give
    text strings with those characters); ``None`` otherwise."""
    if len(bodies) < 2:
        return None
    joined = b"\x00".join(bodies)
    if joined.translate(None, _plain_bytes) or joined.count(0) != len(bodies) - 1:
        return None  # a byte that is not plain ASCII, or a NUL inside a string
    return joined.decode("ascii").split("\x00")


def decode_pdfdocencoding(byte_array: Any) -> str:
    """pyHanko's ``decode_pdfdocencoding``, through a translation table."""
    if not isinstance(byte_array, (bytes, bytearray)) or \
            byte_array.translate(None, _defined_bytes):
        return _original_decode(byte_array)  # raises on the undefined byte
    return bytes(byte_array).decode("latin-1").translate(_decode_table)


def _tables() -> tuple[dict[int, str], bytes, bytes]:
    """From pyHanko's PDFDocEncoding table: the translation table, the bytes it defines,
    and the separator with the bytes it decodes as the same ASCII character."""
    from pyhanko.pdf_utils import generic

    table = generic._pdfDocEncoding
    if not (isinstance(table, tuple) and len(table) == 256):
        raise ImportError("pyhanko.pdf_utils.generic._pdfDocEncoding is no longer a table "
                          "of 256 characters")
    return (dict(enumerate(table)), bytes(b for b in range(256) if table[b] != "\u0000"),
            bytes([0, *(b for b in range(1, 128) if table[b] == chr(b))]))


def _originals() -> tuple[Callable[[Any], bytes], Callable[..., Any], Callable[[Any], str]]:
    from pyhanko.pdf_utils import generic

    from ._patches import unpatched

    return (unpatched(generic, "_read_string_literal_bytes"),
            unpatched(generic.ArrayObject, "read_from_stream"),
            unpatched(generic, "decode_pdfdocencoding"))


_original_read, _original_array, _original_decode = _originals()
_decode_table, _defined_bytes, _plain_bytes = _tables()


def literal_reader(original: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    """The fast replacement of pyHanko's ``_read_string_literal_bytes``."""
    return read_string_literal_bytes


def array_reader(original: Callable[..., Any]) -> Callable[..., Any]:
    """The fast replacement of pyHanko's ``ArrayObject.read_from_stream``."""
    return read_array


def pdfdoc_decoder(original: Callable[[Any], str]) -> Callable[[Any], str]:
    """The fast replacement of pyHanko's ``decode_pdfdocencoding``."""
    return decode_pdfdocencoding
