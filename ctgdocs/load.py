"""Load convention data from YAML, reporting every problem with its file:line:col and fix."""

from __future__ import annotations

import codecs
import difflib
import heapq
import logging
import os
import re
import stat
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .exceptions import DataError, InputError
from .model import Convention, Location, check_rules

__all__ = ["load_convention", "load_convention_text"]

log = logging.getLogger(__name__)

Position = tuple[int, int]
"""A 1-based (line, column) in the YAML text."""

_NULLS = {"", "~", "null", "Null", "NULL"}
_MAX_BYTES = 10 * 1024 * 1024
"""Refuse data files larger than this (10 MiB): the 13-commune reference is 44 KB, a
synthetic convention of 1,000 communes 1.3 MB."""
_MAX_VALUES = 100_000
"""Refuse data holding, or expanding through aliases to ("billion laughs"), more values
than this: 1,000 communes hold about 50,000. Bounds the memory of loading."""
_MAX_DEPTH = 100
"""Refuse data nested deeper than this (the reference nests 6 levels): bounds the
recursion of building the data and of validating it."""
_MAX_REPORTED = 100
"""At most this many problems are listed (the count says how many there are)."""

# libyaml's parser (C) when available; the node tree is built from its events here
# (without recursion, within the limits above), never with YAML's typing.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class _Problem:
    """One problem at a position of the YAML text."""

    line: int
    col: int
    path: str
    message: str

    def format(self, name: str) -> str:
        where = f"{name}:{self.line}:{self.col}"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass
class _Document:
    """Plain data built from the YAML nodes, with the position of every value and key."""

    data: Any = None
    values: dict[Location, Position] = field(default_factory=dict)
    keys: dict[Location, Position] = field(default_factory=dict)
    problems: list[_Problem] = field(default_factory=list)
    count: int = 0
    """Values built so far (aliases included)."""
    alias: Position | None = None
    """Position of the outermost alias being expanded, if any."""
    unlisted: int = 0
    """Problems found but not written out (beyond the earliest ``_MAX_REPORTED``)."""

    def value_pos(self, loc: Location) -> Position:
        """Position of the value at ``loc``, or of its nearest existing ancestor."""
        while loc not in self.values and loc:
            loc = loc[:-1]
        return self.values.get(loc, (1, 1))

    def key_pos(self, loc: Location) -> Position:
        """Position of the key naming ``loc`` (falls back to the value position)."""
        return self.keys.get(loc) or self.value_pos(loc)


# --------------------------------------------------------------------------- public API


def load_convention(path: str | Path) -> Convention:
    """Read, validate and rule-check a convention YAML file.

    Raises :class:`DataError` listing every problem as ``file:line:col field.path: message``
    (also for a file that is not UTF-8 YAML text, or larger than 10 MiB), and
    :class:`InputError` for a path that is missing, a folder or unreadable; ``file`` is the
    path exactly as given by the caller.
    """
    name = str(path)
    return load_convention_text(_decode(_read(path, name), name), name)


def load_convention_text(text: str, name: str = "<string>") -> Convention:
    """Like :func:`load_convention` for YAML already in memory; ``name`` prefixes messages."""
    doc = _parse(text)
    conv = _validate(doc) if doc.data is not None else None
    if doc.problems:
        ordered = sorted(doc.problems, key=lambda p: (p.line, p.col))
        problems = [p.format(name) for p in ordered[:_MAX_REPORTED]]
        count = len(ordered) + doc.unlisted
        noun = "problem" if count == 1 else "problems"
        listed = f" (the first {_MAX_REPORTED} listed)" if count > _MAX_REPORTED else ""
        raise DataError(f"{name}: {count:,} {noun} in the convention data{listed}", problems)
    assert conv is not None
    log.debug("loaded %s: %d communes", name, len(conv.communes))
    return conv


def _single(message: str) -> DataError:
    return DataError(message, [message])


# --------------------------------------------------------------------------- bytes to text


def _read(path: str | Path, name: str) -> bytes:
    """The bytes of a regular file of at most ``_MAX_BYTES`` (never more are read: a
    device or a growing file cannot exhaust the memory; a pipe cannot block)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            size = _regular_size(fd, name)
            with open(fd, "rb", closefd=False) as f:
                raw = f.read(_MAX_BYTES + 1) if size <= _MAX_BYTES else b""
        finally:
            os.close(fd)
    except FileNotFoundError as e:
        raise InputError(f"{name}: no such file; check the path to the convention data") from e
    except OSError as e:
        raise InputError(f"{name}: cannot read the file ({e.strerror}); check the path and "
                         "its permissions") from e
    if size > _MAX_BYTES or len(raw) > _MAX_BYTES:
        limit = f"{_MAX_BYTES // 2**20} MiB"
        shown = f"{size / 2**20:.1f} MiB" if size > _MAX_BYTES else f"more than {limit}"
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


def _decode(raw: bytes, name: str) -> str:
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


_NOT_YAML = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""A character YAML does not allow in a stream (PyYAML and libyaml refuse them alike)."""


def _check_characters(text: str) -> None:
    """Refuse the first character YAML does not allow, at its position (before the parser
    does, in a message without a position)."""
    bad = _NOT_YAML.search(text)
    if bad is not None:
        raise _bad_character(text, bad.start(), ord(bad.group()))


def _reader_error(e: yaml.reader.ReaderError, text: str) -> _Refused:
    """The refusal of the character a parser refused (libyaml gives a UTF-8 byte offset
    and the code, PyYAML a character index and the character)."""
    index = e.position if e.encoding == "unicode" else len(
        text.encode("utf-8")[:e.position].decode("utf-8", "ignore"))
    code = e.character if isinstance(e.character, int) else ord(e.character)
    return _bad_character(text, index, code)


def _bad_character(text: str, index: int, code: int) -> _Refused:
    line = text.count("\n", 0, index) + 1
    col = index - text.rfind("\n", 0, index)
    what = ("the NUL character (U+0000)" if code == 0 else
            f"the control character U+{code:04X}" if code < 0xA0 else f"the character U+{code:04X}")
    return _Refused((line, col), f"{what} is not allowed in YAML text; delete it (the file "
                    "may be damaged)")


# --------------------------------------------------------------------------- YAML


class _Refused(Exception):
    """Internal: the data is refused at ``position`` (see the limits above)."""

    def __init__(self, position: Position, message: str) -> None:
        super().__init__(position, message)
        self.position = position
        self.message = message


@dataclass(slots=True)
class _Node:
    """A YAML node reduced to what loading uses (PyYAML's nodes also keep marks and tags)."""

    kind: type[yaml.Event]
    """``ScalarEvent``, ``SequenceStartEvent``, ``MappingStartEvent`` or ``AliasEvent``."""
    value: Any
    """A scalar's text; a sequence's items; a mapping's keys and values, alternating; the
    node an alias repeats."""
    plain: bool
    """A scalar written without quotes (only those may mean null or a merge ``<<``)."""
    line: int
    col: int


_SEQUENCE, _MAPPING, _ALIAS = yaml.SequenceStartEvent, yaml.MappingStartEvent, yaml.AliasEvent


def _parse(text: str) -> _Document:
    """Compose the YAML (keeping positions) and turn it into plain data."""
    doc = _Document()
    try:
        _check_characters(text)
        root = _compose(text)
        if root is None or root.kind is not _MAPPING:
            doc.problems.append(_not_mapping(root))
            return doc
        doc.data = _plain(root, (), doc, 0)
    except yaml.MarkedYAMLError as e:
        doc.problems.append(_syntax_problem(e, text))
    except yaml.reader.ReaderError as e:  # a character _NOT_YAML let through: same message
        refused = _reader_error(e, text)
        doc.problems.append(_Problem(*refused.position, "", refused.message))
    except _Refused as e:
        doc.problems.append(_Problem(*e.position, "", e.message))
        doc.data = None
    return doc


def _not_mapping(root: _Node | None) -> _Problem:
    got = ("the file holds no data" if root is None else
           "it is a list" if root.kind is _SEQUENCE else "it is a single value")
    return _Problem(*(_pos(root) if root else (1, 1)), "", "the document must be a mapping of "
                    f"keys (id, title, territory, period, …), but {got}; see "
                    "examples/vallee-herault/convention.yaml")


def _compose(text: str) -> _Node | None:
    """The single document's node tree, or None for an empty stream."""
    loader = _Loader(text)
    try:
        get = loader.get_event
        get()  # StreamStartEvent
        start = get()
        if isinstance(start, yaml.StreamEndEvent):
            return None
        root = _compose_nodes(get)
        get()  # DocumentEndEvent
        extra = get()
        if not isinstance(extra, yaml.StreamEndEvent):
            raise yaml.composer.ComposerError(
                "expected a single document in the stream", start.start_mark,
                "but found another document", extra.start_mark)
        return root
    finally:
        loader.dispose()


def _compose_nodes(get: typing.Callable[[], Any]) -> _Node:
    """Build one node tree from the parser's events, without recursion (a recursive
    composer overflows the C stack on 100,000 nested '['), refusing more than
    ``_MAX_DEPTH`` levels or ``_MAX_VALUES`` values (keys aside) before building them."""
    anchors: dict[str, _Node] = {}
    stack: list[_Node] = []
    count = 0
    while True:
        event = get()
        kind = type(event)
        if kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
            node = stack.pop()
            if not stack:
                return node
            continue
        line, col = event.start_mark.line + 1, event.start_mark.column + 1
        if not stack or stack[-1].kind is not _MAPPING or len(stack[-1].value) % 2:
            count += 1
            if count > _MAX_VALUES:
                raise _Refused((line, col), f"more than {_MAX_VALUES:,} values; a convention "
                               "of 1,000 communes holds 50,000: check that this is the "
                               "convention data")
        if kind is _ALIAS:
            node = _Node(kind, _alias(anchors, stack, event, (line, col)), False, line, col)
        else:
            node = _Node(kind, event.value if kind is yaml.ScalarEvent else [],
                         kind is yaml.ScalarEvent and not event.style, line, col)
            _anchor(anchors, event.anchor, node)
        if stack:
            stack[-1].value.append(node)
        elif kind is yaml.ScalarEvent or kind is _ALIAS:
            return node
        if kind is _SEQUENCE or kind is _MAPPING:
            if len(stack) == _MAX_DEPTH:
                raise _Refused((line, col), f"nested more than {_MAX_DEPTH} levels deep (a "
                               "convention needs 6); check the brackets '[', '{' and the "
                               "indentation")
            stack.append(node)


def _anchor(anchors: dict[str, _Node], anchor: str | None, node: _Node) -> None:
    if anchor is None:
        return
    first = anchors.get(anchor)
    if first is not None:
        raise _Refused((node.line, node.col), f"the anchor '&{anchor}' is already defined at "
                       f"line {first.line}, column {first.col}; give each anchor its own name")
    anchors[anchor] = node


def _alias(anchors: dict[str, _Node], stack: list[_Node], event: Any, pos: Position) -> _Node:
    node = anchors.get(event.anchor)
    if node is None:
        raise yaml.composer.ComposerError(None, None, f"found undefined alias {event.anchor!r}",
                                          event.start_mark)
    if any(node is open_node for open_node in stack):
        raise _Refused(pos, f"the alias '*{event.anchor}' is inside the node it repeats (a "
                       "loop); an alias may only repeat a node complete before it")
    return node


_OPENERS = {"flow sequence": "the list '[' opened at {at}; close it with ']'",
            "flow mapping": "the mapping '{{' opened at {at}; close it with '}}'",
            "quoted scalar": "the quote opened at {at}; close it"}
_PROBLEM_HINTS = {"another document": "keep one convention per file (remove the '---' line)",
                  "undefined alias": "define the anchor '&name' before using '*name'",
                  "mapping values are not allowed": "put quotes around a value containing ': '"}


def _syntax_problem(e: yaml.MarkedYAMLError, text: str) -> _Problem:
    mark = e.problem_mark or e.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    what = e.problem or "invalid YAML"
    if e.context and what.startswith("but "):
        what = f"{e.context}, {what}"
    return _Problem(line, col, "", f"YAML syntax error: {what}{_syntax_hint(e, text, line, col)}")


def _syntax_hint(e: yaml.MarkedYAMLError, text: str, line: int, col: int) -> str:
    lines = text.splitlines()
    if line <= len(lines) and lines[line - 1][col - 1:col] == "\t":
        return "; indent with spaces, not tabs"
    for what, hint in _PROBLEM_HINTS.items():
        if what in (e.problem or ""):
            return "; " + hint
    opened = e.context_mark
    for what, hint in _OPENERS.items():
        if opened is not None and what in (e.context or ""):
            at = f"line {opened.line + 1}, column {opened.column + 1}"
            return "; check " + hint.format(at=at)
    return "; check indentation, colons and quotes"


def _pos(node: _Node) -> Position:
    return node.line, node.col


def _plain(node: _Node, loc: Location, doc: _Document, depth: int) -> Any:
    """Plain Python value of ``node``; every scalar stays text (pydantic converts it).
    Aliases are expanded: their values count, and so do their levels of nesting."""
    if node.kind is _ALIAS:
        return _plain_alias(node, loc, doc, depth)
    doc.values.setdefault(loc, _pos(node))
    doc.count += 1
    if doc.count > _MAX_VALUES:
        raise _Refused(doc.alias or _pos(node), f"the data expands to more than "
                       f"{_MAX_VALUES:,} values; check the aliases ('*name')")
    if node.kind is _MAPPING or node.kind is _SEQUENCE:
        if depth == _MAX_DEPTH:
            raise _Refused(doc.alias or _pos(node), f"the data nests more than {_MAX_DEPTH} "
                           "levels deep through aliases; check the aliases ('*name')")
        if node.kind is _MAPPING:
            return _plain_mapping(node, loc, doc, depth + 1)
        return [_plain(item, (*loc, i), doc, depth + 1) for i, item in enumerate(node.value)]
    if node.plain and node.value in _NULLS:
        return None
    return node.value


def _plain_alias(alias: _Node, loc: Location, doc: _Document, depth: int) -> Any:
    """The value an alias repeats (its positions are those of the anchored node: the place
    to fix); a refusal while expanding it points at the outermost alias."""
    outermost = doc.alias is None
    if outermost:
        doc.alias = _pos(alias)
    try:
        return _plain(alias.value, loc, doc, depth)
    finally:
        if outermost:
            doc.alias = None


def _plain_mapping(node: _Node, loc: Location, doc: _Document, depth: int) -> dict[str, Any]:
    """A mapping's plain value; duplicate keys are problems, ``<<`` merges are supported."""
    result: dict[str, Any] = {}
    merges: list[_Node] = []
    for key_node, value_node in _pairs(node):
        if key_node.kind is not yaml.ScalarEvent:
            doc.problems.append(_Problem(*_pos(key_node), _path(loc),
                                         "a key must be plain text, not a list or mapping"))
            continue
        key = key_node.value
        if key == "<<" and key_node.plain and _mergeable(value_node):
            merges += _merged(value_node)
            continue
        if key in result:
            first = doc.keys[(*loc, key)]
            doc.problems.append(_Problem(*_pos(key_node), _path((*loc, key)),
                                         f"duplicate key {_clip(key)!r} (first at line "
                                         f"{first[0]}); keep only one"))
            continue
        doc.keys[(*loc, key)] = _pos(key_node)
        result[key] = _plain(value_node, (*loc, key), doc, depth)
    for merged in merges:  # explicit keys win over merged ones, earlier merges over later
        for key_node, value_node in _pairs(merged):
            if key_node.kind is yaml.ScalarEvent and key_node.value not in result:
                doc.keys[(*loc, key_node.value)] = _pos(key_node)
                result[key_node.value] = _plain(value_node, (*loc, key_node.value), doc, depth)
    return result


def _pairs(mapping: _Node) -> zip[tuple[_Node, _Node]]:
    items = iter(mapping.value)
    return zip(items, items, strict=False)  # keys and values alternate


def _target(node: _Node) -> _Node:
    """The node itself, or the node an alias repeats."""
    return node.value if node.kind is _ALIAS else node


def _mergeable(node: _Node) -> bool:
    """Whether ``node`` is the value of a YAML merge key: a mapping or a list of mappings."""
    node = _target(node)
    if node.kind is _SEQUENCE:
        return all(_target(item).kind is _MAPPING for item in node.value)
    return node.kind is _MAPPING


def _merged(node: _Node) -> list[_Node]:
    """The mappings a merge key's value (checked by :func:`_mergeable`) brings in."""
    node = _target(node)
    return [_target(item) for item in node.value] if node.kind is _SEQUENCE else [node]


def _close_match(word: str, choices: list[str]) -> str | None:
    """The choice ``word`` is probably a typo of, if any (none for a word of more than 100
    characters: difflib would index all of it, 300 MB for an 8 MB word)."""
    hint = difflib.get_close_matches(word, choices, n=1, cutoff=0.6) if len(word) <= 100 else []
    return hint[0] if hint else None


def _clip(text: str, limit: int = 60) -> str:
    """``text`` shortened to ``limit`` characters for a one-line message."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _path(loc: Location) -> str:
    """``("communes", 4, "mayor")`` → ``communes[4].mayor``."""
    text = ""
    for part in loc:
        name = _clip(str(part))
        text += f"[{part}]" if isinstance(part, int) else (f".{name}" if text else name)
    return text


# --------------------------------------------------------------------------- validation


def _validate(doc: _Document) -> Convention | None:
    """Validate the schema, then the cross-field rules; record the problems in ``doc``
    (of the schema's, only the earliest ``_MAX_REPORTED`` are written out: 100,000 empty
    list items can make 600,000 of them)."""
    try:
        conv = Convention.model_validate(doc.data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        earliest = heapq.nsmallest(_MAX_REPORTED, errors, key=lambda err: _where(err, doc)[0])
        doc.problems += [_schema_problem(error, doc) for error in earliest]
        doc.unlisted += len(errors) - len(earliest)
        return None
    for loc, message in check_rules(conv):
        doc.problems.append(_Problem(*doc.value_pos(loc), _path(loc), message))
    return conv


def _where(error: ErrorDetails, doc: _Document) -> tuple[Position, Location]:
    """Where a schema error is reported: the position, and the path named."""
    loc: Location = tuple(p for p in error["loc"] if isinstance(p, int | str))
    if error["type"] == "missing":
        return doc.value_pos(loc[:-1]), loc[:-1]
    if error["type"] == "extra_forbidden":
        return doc.key_pos(loc), loc
    return doc.value_pos(loc), loc


def _schema_problem(error: ErrorDetails, doc: _Document) -> _Problem:
    position, path = _where(error, doc)
    loc: Location = tuple(p for p in error["loc"] if isinstance(p, int | str))
    kind = error["type"]
    if kind == "missing":
        message = f"missing required key {loc[-1]!r}"
    elif kind == "extra_forbidden":
        message = _unknown_key(loc)
    else:
        message = _message(error, loc)
    return _Problem(*position, _path(path), message)


def _unknown_key(loc: Location) -> str:
    key = str(loc[-1])
    allowed = _allowed_keys(loc[:-1])
    hint = _close_match(key, allowed)
    if hint:
        return f"unknown key {_clip(key)!r}; did you mean {hint!r}?"
    return f"unknown key {_clip(key)!r}; allowed keys: {', '.join(allowed)}"


def _allowed_keys(loc: Location) -> list[str]:
    """Field names of the model found at ``loc`` (empty if unknown)."""
    current: Any = Convention
    for part in loc:
        if isinstance(part, str):
            if not (isinstance(current, type) and issubclass(current, BaseModel)):
                return []
            info = current.model_fields.get(part)
            if info is None:
                return []
            current = _unwrap(info.annotation)
        else:
            current = _unwrap(current, item=True)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any, item: bool = False) -> Any:
    """Strip ``Annotated``, ``X | None``; with ``item``, the item type of ``list[X]``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0], item)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0], item) if len(args) == 1 else annotation
    if item and origin is list:
        return _unwrap(typing.get_args(annotation)[0])
    return annotation


# --------------------------------------------------------------------------- messages

_PATTERN_HINTS = {
    r"^(\d{5}|2[AB]\d{3})$": "not an INSEE code: {value} (expected 5 characters, "
                             "e.g. '34114', or '2A004' in Corsica)",
    r"^\d{9}$": "not a SIREN number: {value} (expected 9 digits, e.g. '243400694')",
    r"^[a-z0-9]+(-[a-z0-9]+)*$": "not a valid id: {value} (expected lower-case ASCII words "
                                 "joined by hyphens, e.g. 'vallee-herault-2022-2026')",
}

_TYPE_HINTS = {
    "date_parsing": "not a date: {value}; write YYYY-MM-DD",
    "date_from_datetime_parsing": "not a date: {value}; write YYYY-MM-DD",
    "date_from_datetime_inexact": "not a date: {value}; write YYYY-MM-DD",
    "date_type": "not a date: {value}; write YYYY-MM-DD",
    "time_parsing": "not a time: {value}; write HH:MM, e.g. 17:00",
    "time_type": "not a time: {value}; write HH:MM, e.g. 17:00",
    "int_parsing": "not a whole number: {value}; write digits only, e.g. 1250",
    "int_from_float": "not a whole number: {value}; write digits only, e.g. 1250",
    "int_type": "not a whole number: {value}; write digits only, e.g. 1250",
    "model_type": "expected a mapping of keys, got {value}",
    "model_attributes_type": "expected a mapping of keys, got {value}",
    "list_type": "expected a list (one '- ' item per line), got {value}",
}


def _message(error: ErrorDetails, loc: Location) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    shown = _show(value)
    if kind in _TYPE_HINTS:
        return _TYPE_HINTS[kind].format(value=shown)
    if kind in ("enum", "literal_error"):
        return _choice_message(value, str(ctx.get("expected", "")))
    if kind == "string_pattern_mismatch":
        template = _PATTERN_HINTS.get(str(ctx.get("pattern")), "invalid value {value}")
        return template.format(value=shown)
    if kind == "string_too_short" or (kind == "string_type" and value is None):
        return "must not be empty; write a value"
    if kind == "string_type":
        return f"expected text, got {shown}"
    if kind == "too_short":
        return f"must list at least {ctx.get('min_length')} item(s)"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return _bound_message(kind, ctx, shown)
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    log.debug("no friendly message for pydantic error %s at %s", kind, loc)
    return f"{error['msg']} (got {shown})"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(_clip(value) if isinstance(value, str) else value)


def _choice_message(value: Any, expected: str) -> str:
    allowed = re.findall(r"'([^']*)'", expected)
    text = f"invalid value {_show(value)}"
    hint = _close_match(str(value), allowed)
    if hint:
        text += f"; did you mean {hint!r}?"
    return f"{text} (allowed: {', '.join(allowed)})"


def _bound_message(kind: str, ctx: dict[str, Any], shown: str) -> str:
    words = {"greater_than": ("gt", "greater than"), "greater_than_equal": ("ge", "at least"),
             "less_than": ("lt", "less than"), "less_than_equal": ("le", "at most")}
    key, phrase = words[kind]
    return f"must be {phrase} {ctx.get(key)}, got {shown}"
