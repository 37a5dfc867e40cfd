"""Pruned object skeletons (references, their keys and indices, ``/Type``) read from bytes.

:class:`~signers.refgraph.ReferenceGraph` only needs, for each object, the dictionary
keys and array indices that lead to indirect references, plus ``/Type``. Building full
pyHanko objects for that (its parser reads byte by byte) costs most of the pre-sign
check. :func:`scan_skeleton` reads an object stored at a file offset with one regular
expression per token and builds the pruned skeleton directly.

It accepts only a conservative subset of the syntax, on which it provably gives what
``_prune(reader.get_object(...))`` gives: anything else (comments, escaped names, odd
whitespace, duplicate keys, a stream whose ``/Length`` does not land on ``endstream``,
…) returns :data:`UNSURE`, and the caller uses pyHanko's parser instead. Correctness
never depends on this fast path.

It also holds the block-wise hex-string reader that replaces pyHanko's byte-by-byte one
(signature ``/Contents`` are tens of kilobytes of hex).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils.generic import Reference

_decode_name: Any
try:  # pyHanko's own name decoder, for names with #xx escapes
    from pyhanko.pdf_utils.generic import _decode_name
except ImportError:  # pragma: no cover - such names then go to pyHanko's parser
    _decode_name = None

__all__ = ["UNSURE", "PrunedArray", "PrunedDict", "hex_reader", "prune",
           "read_hex_string", "repeats_value", "scan_skeleton", "value_span"]


@dataclass(frozen=True)
class PrunedDict:
    """Pruned dictionary: entries leading to references, and its ``/Type``."""

    items: tuple[tuple[str, Any], ...]
    type: Any


@dataclass(frozen=True)
class PrunedArray:
    """Pruned array: (original index, child) for children leading to references."""

    items: tuple[tuple[int, Any], ...]


UNSURE = object()
"""Returned when the bytes are outside the subset this scanner handles."""

_WS = rb"[ \t\r\n]"
_END = rb"(?=[ \t\r\n()<>\[\]{}/%])"
_HEADER = re.compile(rb"(\d+)" + _WS + rb"+(\d+)" + _WS + rb"+obj")
_TOKEN = re.compile(  # possessive quantifiers: matched at one place, in linear time
    _WS + rb"*+(?:"
    rb"(<<)"                                                # 1 dictionary start
    rb"|(>>)"                                               # 2 dictionary end
    rb"|(\[)"                                               # 3 array start
    rb"|(\])"                                               # 4 array end
    rb"|((\d++)" + _WS + rb"++(\d++)" + _WS + rb"++R)(?![A-Za-z])"  # 5-7 reference
    rb"|/([!-~]*?)" + _END +                                # 8 name
    rb"|([+-]?(?:\d++(?:\.\d*+)?|\.\d++))" + _END +         # 9 number
    rb"|(?:true|false|null)" + _END +                       # (scalar keyword)
    rb"|<[0-9A-Fa-f \t\r\n]*>"                              # (hex string)
    rb"|(\()"                                               # 10 literal string
    rb")")
_STRING_PART = re.compile(rb"[^()\\]*(?:(\()|(\))|\\(?:[() /%<>\[\]#_&$\\nrtbf]"
                          rb"|[0-7]{3}|[0-7]{1,2}(?![0-9])))")
_PLAIN_NAME = re.compile(rb"[^#()<>\[\]{}/%]*\Z")
_AFTER = re.compile(_WS + rb"*(endobj|stream(?:\r\n|\n))")
_ENDSTREAM = re.compile(rb"[ \t\r\n\f\x00]*endstream")
_MAX_REF = 19
"""pyHanko recognises ``N G R`` only within a 20-byte look-ahead."""


class _Unsure(Exception):
    pass


def scan_skeleton(data: bytes, offset: int, ref: Reference,
                  stream_length: Callable[[Reference], Any]) -> Any:
    """The pruned value of the object ``ref`` stored at ``offset`` in ``data``, or
    :data:`UNSURE`. ``stream_length`` resolves an indirect ``/Length`` the way pyHanko
    does (the object's current value)."""
    try:
        return _scan(data, offset, ref, stream_length)
    except (_Unsure, IndexError, ValueError):
        return UNSURE


def value_span(data: bytes, offset: int, ref: Reference) -> tuple[int, int] | None:
    """Where the value of the object ``ref`` stored at ``offset`` starts and ends, when it
    is in the subset :func:`scan_skeleton` reads and is not a stream (so that two
    versions with the same value bytes parse to equal objects); else ``None``."""
    try:
        head = _HEADER.match(data, offset)
        if head is None or (int(head[1]), int(head[2])) != (ref.idnum, ref.generation):
            return None
        _, end, _ = _value(data, head.end())
        after = _AFTER.match(data, end)
        return (head.end(), end) if after is not None and after[1] == b"endobj" else None
    except (_Unsure, IndexError, ValueError):
        return None


def repeats_value(data: bytes, offset: int, ref: Reference, value: bytes) -> bool:
    """Whether the object ``ref`` stored at ``offset`` has exactly the value bytes
    ``value`` (a span :func:`value_span` found for another version of it) with the same
    kind of ending: then its :func:`value_span` is those bytes, without scanning them."""
    head = _HEADER.match(data, offset)
    if head is None or (int(head[1]), int(head[2])) != (ref.idnum, ref.generation):
        return False
    start, end = head.end(), head.end() + len(value)
    if not value or not data.startswith(value, start):
        return False
    if value[-1:] not in b">])" and data[end:end + 1] not in (b" ", b"\t", b"\r", b"\n"):
        return False  # a name, number or keyword: where it ends depends on what follows
    after = _AFTER.match(data, end)
    return after is not None and after[1] == b"endobj"


def _scan(data: bytes, offset: int, ref: Reference,
          stream_length: Callable[[Reference], Any]) -> Any:
    head = _HEADER.match(data, offset)
    if head is None or (int(head[1]), int(head[2])) != (ref.idnum, ref.generation):
        raise _Unsure
    value, pos, length = _value(data, head.end())
    if isinstance(value, Reference):
        raise _Unsure  # a bare reference: leave it to pyHanko
    after = _AFTER.match(data, pos)
    if after is None:
        raise _Unsure
    if after[1] != b"endobj":
        if not isinstance(value, PrunedDict):
            raise _Unsure
        _check_stream(data, after.end(), length, stream_length)
    return value


def _check_stream(data: bytes, start: int, length: Any,
                  stream_length: Callable[[Reference], Any]) -> None:
    if isinstance(length, Reference):
        try:
            length = stream_length(length)
        except Exception as e:  # noqa: BLE001 - pyHanko's parser decides then
            raise _Unsure from e
    if not isinstance(length, int) or isinstance(length, bool):
        raise _Unsure
    if length < 0 or start + length > len(data):
        raise _Unsure
    if _ENDSTREAM.match(data, start + length) is None:
        raise _Unsure


def _value(data: bytes, pos: int) -> tuple[Any, int, Any]:
    """(pruned top-level value, position after it, its direct ``/Length`` entry)."""
    stack: list[list[Any]] = []
    length: Any = None
    value: Any
    while True:
        # anchored: bytes that are no token end the scan here, without searching on
        # (a search from a broken token through 15,000 zeros of a signature's
        # /Contents took hours)
        m = _TOKEN.match(data, pos)
        if m is None:
            raise _Unsure
        pos, kind = m.end(), m.lastindex
        frame = stack[-1] if stack else None
        if frame is not None and frame[0] == "d" and frame[3] is None:
            if kind == 2:
                value = PrunedDict(tuple(frame[1]), frame[2])
                stack.pop()
            elif kind == 8:
                key = _name(m[8])
                if key in frame[4]:
                    raise _Unsure  # duplicate key: pyHanko keeps the first, warns
                frame[3] = key
                frame[4].add(key)
                continue
            else:
                raise _Unsure
        elif kind == 1:
            stack.append(["d", [], None, None, set()])
            continue
        elif kind == 3:
            stack.append(["a", [], 0])
            continue
        elif kind == 4:
            if frame is None or frame[0] != "a":
                raise _Unsure
            value = PrunedArray(tuple(frame[1])) if frame[1] else None
            stack.pop()
        elif kind == 5:
            if m.end() - m.start(5) > _MAX_REF:
                raise _Unsure
            value = Reference(int(m[6]), int(m[7]))
        elif kind == 8:
            _name(m[8])
            value = None
        elif kind == 10:
            pos, value = _skip_string(data, pos), None
        elif kind == 2:
            raise _Unsure
        else:
            value = None
        if not stack:
            return value, pos, length
        length = _attach(stack, value, m, length)


def _attach(stack: list[list[Any]], value: Any, m: re.Match[bytes], length: Any) -> Any:
    frame = stack[-1]
    if frame[0] == "a":
        if value is not None:
            frame[1].append((frame[2], value))
        frame[2] += 1
        return length
    key = frame[3]
    frame[3] = None
    if value is not None:
        frame[1].append((key, value))
    if key == "/Type":
        if m.lastindex == 8:
            frame[2] = _name(m[8])
        elif isinstance(value, Reference):
            frame[2] = value
        else:
            raise _Unsure  # a /Type that is a string, number…: let pyHanko judge
    if key == "/Length" and len(stack) == 1:
        if isinstance(value, Reference):
            return value
        if m.lastindex == 9 and m[9].isdigit():
            return int(m[9])
        return UNSURE
    return length


_NAMES: dict[bytes, str] = {}
"""Names already decoded (a document uses few distinct names)."""


def _name(raw: bytes) -> str:
    """The name as pyHanko decodes it (``raw`` excludes the slash)."""
    try:
        return _NAMES[raw]
    except KeyError:
        pass
    if _PLAIN_NAME.match(raw):
        name = "/" + raw.decode("ascii")
    elif _decode_name is None or not _PLAIN_NAME.match(raw.replace(b"#", b"")):
        raise _Unsure
    else:
        try:
            name = str(_decode_name(raw))
        except Exception as e:  # noqa: BLE001 - pyHanko's parser decides then
            raise _Unsure from e
    if len(_NAMES) < 50_000:
        _NAMES[raw] = name
    return name


def _skip_string(data: bytes, pos: int) -> int:
    """Position after a literal string whose opening parenthesis ends at ``pos``."""
    depth = 1
    while True:
        m = _STRING_PART.match(data, pos)
        if m is None:
            raise _Unsure
        pos = m.end()
        if m.lastindex == 1:
            depth += 1
        elif m.lastindex == 2:
            depth -= 1
            if depth == 0:
                return pos


def prune(obj: Any) -> Any:
    """The pruned skeleton of a parsed pyHanko object."""
    from pyhanko.pdf_utils import generic

    if isinstance(obj, generic.IndirectObject):
        return Reference(obj.idnum, obj.generation)
    if isinstance(obj, generic.DictionaryObject):
        items = tuple((str(k), p) for k, v in obj.items()
                      if (p := prune(v)) is not None)
        return PrunedDict(items, obj.raw_get("/Type") if "/Type" in obj else None)
    if isinstance(obj, generic.ArrayObject):
        arr = tuple((ix, p) for ix, v in enumerate(obj) if (p := prune(v)) is not None)
        return PrunedArray(arr) if arr else None
    return None


# --------------------------------------------------------------------------- hex strings

_HEX_DIGITS = b"0123456789abcdefABCDEF"
_PDF_WHITESPACE = b" \n\r\t\x00\x0c"


def read_hex_string(stream: Any) -> Any:
    """Same result as pyHanko's ``read_hex_string_from_stream`` (which reads one byte
    per token: ~30 ms per signature /Contents), reading in blocks instead."""
    from pyhanko.pdf_utils import generic

    stream.read(1)
    start, parts = stream.tell(), []
    while True:
        block = stream.read(1 << 16)
        if not block:
            raise generic.PdfStreamError("Stream has ended unexpectedly")
        end = block.find(b">")
        if end >= 0:
            parts.append(block[:end])
            break
        parts.append(block)
    stream.seek(start + sum(len(p) for p in parts) + 1)
    digits = b"".join(parts).translate(None, _PDF_WHITESPACE)
    bad = digits.translate(None, _HEX_DIGITS)
    if bad:
        raise generic.PdfStreamError(f"Unexpected token in hex string: {bad[:1]!r}")
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


def hex_reader(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The fast replacement of pyHanko's ``read_hex_string_from_stream``."""
    return read_hex_string
