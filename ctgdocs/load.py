"""Load convention data from YAML, reporting every problem with its file:line:col and fix."""

from __future__ import annotations

import difflib
import logging
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .exceptions import DataError
from .model import Convention, Location, check_rules

__all__ = ["load_convention", "load_convention_text"]

log = logging.getLogger(__name__)

Position = tuple[int, int]
"""A 1-based (line, column) in the YAML text."""

_NULLS = {"", "~", "null", "Null", "NULL"}
_MAX_VALUES = 2_000_000
"""Refuse data expanding to more values than this (aliases can multiply them: "billion laughs")."""

# libyaml's composer (C) when available: about 6 times faster than a pure-Python one on
# conventions of a thousand communes. Only the node tree is used, never YAML's typing.
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

    Raises :class:`DataError` listing every problem as ``file:line:col field.path: message``;
    ``file`` is the path exactly as given by the caller.
    """
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError as e:
        raise _single(f"{name}: no such file; check the path to the convention data") from e
    except IsADirectoryError as e:
        raise _single(f"{name}: is a folder; give the path of the convention YAML file") from e
    except OSError as e:
        raise _single(f"{name}: cannot read the file ({e.strerror})") from e
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, col = _offset_position(raw, e.start)
        raise _single(f"{name}:{line}:{col}: not valid UTF-8 (byte 0x{raw[e.start]:02x}); "
                      "save the file with UTF-8 encoding") from e
    return load_convention_text(text, name)


def load_convention_text(text: str, name: str = "<string>") -> Convention:
    """Like :func:`load_convention` for YAML already in memory; ``name`` prefixes messages."""
    doc = _parse(text)
    conv = _validate(doc) if doc.data is not None else None
    if doc.problems:
        ordered = sorted(doc.problems, key=lambda p: (p.line, p.col))
        problems = [p.format(name) for p in ordered]
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        raise DataError(f"{name}: {count} {noun} in the convention data", problems)
    assert conv is not None
    log.debug("loaded %s: %d communes", name, len(conv.communes))
    return conv


def _single(message: str) -> DataError:
    return DataError(message, [message])


def _offset_position(raw: bytes, offset: int) -> Position:
    before = raw[:offset]
    line_start = before.rfind(b"\n") + 1
    col = len(before[line_start:].decode("utf-8", "replace")) + 1
    return before.count(b"\n") + 1, col


# --------------------------------------------------------------------------- YAML


def _parse(text: str) -> _Document:
    """Compose the YAML (keeping positions) and turn it into plain data."""
    doc = _Document()
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        doc.problems.append(_syntax_problem(e, text))
        return doc
    if not isinstance(root, MappingNode):
        pos = _pos(root) if root is not None else (1, 1)
        doc.problems.append(_Problem(*pos, "", "the document must be a mapping of keys "
                                     "(id, title, territory, period, …); see "
                                     "examples/vallee-herault/convention.yaml"))
        return doc
    try:
        doc.data = _plain(root, (), doc)
    except _TooLarge as e:
        doc.problems.append(_Problem(*e.position, "", f"the data expands to more than "
                                     f"{_MAX_VALUES:,} values; check the aliases ('*name')"))
        doc.data = None
    return doc


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


class _TooLarge(Exception):
    """Internal: the alias-expanded data exceeds ``_MAX_VALUES``."""

    def __init__(self, position: Position) -> None:
        super().__init__(position)
        self.position = position


def _pos(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _plain(node: Node, loc: Location, doc: _Document) -> Any:
    """Plain Python value of ``node``; every scalar stays text (pydantic converts it)."""
    doc.values.setdefault(loc, _pos(node))
    doc.count += 1
    if doc.count > _MAX_VALUES:
        raise _TooLarge(_pos(node))
    if isinstance(node, MappingNode):
        return _plain_mapping(node, loc, doc)
    if isinstance(node, SequenceNode):
        return [_plain(item, (*loc, i), doc) for i, item in enumerate(node.value)]
    assert isinstance(node, ScalarNode)
    if not node.style and node.value in _NULLS:  # plain style: None (Python) or "" (libyaml)
        return None
    return node.value


def _plain_mapping(node: MappingNode, loc: Location, doc: _Document) -> dict[str, Any]:
    """A mapping's plain value; duplicate keys are problems, ``<<`` merges are supported."""
    result: dict[str, Any] = {}
    merges: list[MappingNode] = []
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode):
            doc.problems.append(_Problem(*_pos(key_node), _path(loc),
                                         "a key must be plain text, not a list or mapping"))
            continue
        key = key_node.value
        if key == "<<" and not key_node.style and _mergeable(value_node):
            merges += value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            continue
        if key in result:
            first = doc.keys[(*loc, key)]
            doc.problems.append(_Problem(*_pos(key_node), _path((*loc, key)),
                                         f"duplicate key {key!r} (first at line {first[0]}); "
                                         "keep only one"))
            continue
        doc.keys[(*loc, key)] = _pos(key_node)
        result[key] = _plain(value_node, (*loc, key), doc)
    for merged in merges:  # explicit keys win over merged ones, earlier merges over later
        for key_node, value_node in merged.value:
            if isinstance(key_node, ScalarNode) and key_node.value not in result:
                doc.keys[(*loc, key_node.value)] = _pos(key_node)
                result[key_node.value] = _plain(value_node, (*loc, key_node.value), doc)
    return result


def _mergeable(node: Node) -> bool:
    """Whether ``node`` is the value of a YAML merge key: a mapping or a list of mappings."""
    if isinstance(node, SequenceNode):
        return all(isinstance(item, MappingNode) for item in node.value)
    return isinstance(node, MappingNode)


def _path(loc: Location) -> str:
    """``("communes", 4, "mayor")`` → ``communes[4].mayor``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# --------------------------------------------------------------------------- validation


def _validate(doc: _Document) -> Convention | None:
    """Validate the schema, then the cross-field rules; record every problem in ``doc``."""
    try:
        conv = Convention.model_validate(doc.data)
    except ValidationError as e:
        for error in e.errors(include_url=False):
            doc.problems.append(_schema_problem(error, doc))
        return None
    for loc, message in check_rules(conv):
        doc.problems.append(_Problem(*doc.value_pos(loc), _path(loc), message))
    return conv


def _schema_problem(error: ErrorDetails, doc: _Document) -> _Problem:
    loc: Location = tuple(p for p in error["loc"] if isinstance(p, int | str))
    kind = error["type"]
    if kind == "missing":
        parent = loc[:-1]
        return _Problem(*doc.value_pos(parent), _path(parent),
                        f"missing required key {loc[-1]!r}")
    if kind == "extra_forbidden":
        return _Problem(*doc.key_pos(loc), _path(loc), _unknown_key(loc))
    return _Problem(*doc.value_pos(loc), _path(loc), _message(error, loc))


def _unknown_key(loc: Location) -> str:
    key = str(loc[-1])
    allowed = _allowed_keys(loc[:-1])
    hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if hint:
        return f"unknown key {key!r}; did you mean {hint[0]!r}?"
    return f"unknown key {key!r}; allowed keys: {', '.join(allowed)}"


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
    return repr(value)


def _choice_message(value: Any, expected: str) -> str:
    allowed = re.findall(r"'([^']*)'", expected)
    text = f"invalid value {_show(value)}"
    hint = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
    if hint:
        text += f"; did you mean {hint[0]!r}?"
    return f"{text} (allowed: {', '.join(allowed)})"


def _bound_message(kind: str, ctx: dict[str, Any], shown: str) -> str:
    words = {"greater_than": ("gt", "greater than"), "greater_than_equal": ("ge", "at least"),
             "less_than": ("lt", "less than"), "less_than_equal": ("le", "at most")}
    key, phrase = words[kind]
    return f"must be {phrase} {ctx.get(key)}, got {shown}"
