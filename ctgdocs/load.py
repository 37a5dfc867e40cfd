"""Load convention data from YAML, reporting every problem with its file:line:col and fix."""

from __future__ import annotations

import difflib
import heapq
import logging
import re
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .datafile import NOT_YAML, Position, decode_text, read_file
from .exceptions import DataError
from .model import Convention, Location, check_rules
from .yamltree import (
    LOADER,
    MAX_VALUES,
    Document,
    ParseOptions,
    Problem,
    clip,
    field_path,
    parse_yaml,
)

__all__ = ["load_convention", "load_convention_text"]

log = logging.getLogger(__name__)

_MAX_REPORTED = 100
"""At most this many problems are listed (the count says how many there are)."""

# The YAML stage runs with these settings, read at each call; tests/test_load.py changes
# them here (PyYAML's pure-Python parser, a lower limit, no check of characters first).
_Loader = LOADER
_NOT_YAML = NOT_YAML
_MAX_VALUES = MAX_VALUES


# --------------------------------------------------------------------------- public API


def load_convention(path: str | Path) -> Convention:
    """Read, validate and rule-check a convention YAML file.

    Raises :class:`DataError` listing every problem as ``file:line:col field.path: message``
    (also for a file that is not UTF-8 YAML text, or larger than 10 MiB), and
    :class:`InputError` for a path that is missing, a folder or unreadable; ``file`` is the
    path exactly as given by the caller.
    """
    name = str(path)
    return load_convention_text(decode_text(read_file(path, name), name), name)


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


def _parse(text: str) -> Document:
    """The YAML stage: plain data with positions, and the problems found in the text."""
    return parse_yaml(text, ParseOptions(loader=_Loader, not_yaml=_NOT_YAML,
                                         max_values=_MAX_VALUES))


# --------------------------------------------------------------------------- validation


def _validate(doc: Document) -> Convention | None:
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
        doc.problems.append(Problem(*doc.value_pos(loc), field_path(loc), message))
    return conv


def _where(error: ErrorDetails, doc: Document) -> tuple[Position, Location]:
    """Where a schema error is reported: the position, and the path named."""
    loc: Location = tuple(p for p in error["loc"] if isinstance(p, int | str))
    if error["type"] == "missing":
        return doc.value_pos(loc[:-1]), loc[:-1]
    if error["type"] == "extra_forbidden":
        return doc.key_pos(loc), loc
    return doc.value_pos(loc), loc


def _schema_problem(error: ErrorDetails, doc: Document) -> Problem:
    position, path = _where(error, doc)
    loc: Location = tuple(p for p in error["loc"] if isinstance(p, int | str))
    kind = error["type"]
    if kind == "missing":
        message = f"missing required key {loc[-1]!r}"
    elif kind == "extra_forbidden":
        message = _unknown_key(loc)
    else:
        message = _message(error, loc)
    return Problem(*position, field_path(path), message)


def _unknown_key(loc: Location) -> str:
    key = str(loc[-1])
    allowed = _allowed_keys(loc[:-1])
    hint = _close_match(key, allowed)
    if hint:
        return f"unknown key {clip(key)!r}; did you mean {hint!r}?"
    return f"unknown key {clip(key)!r}; allowed keys: {', '.join(allowed)}"


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
    return repr(clip(value) if isinstance(value, str) else value)


def _close_match(word: str, choices: list[str]) -> str | None:
    """The choice ``word`` is probably a typo of, if any (none for a word of more than 100
    characters: difflib would index all of it, 300 MB for an 8 MB word)."""
    hint = difflib.get_close_matches(word, choices, n=1, cutoff=0.6) if len(word) <= 100 else []
    return hint[0] if hint else None


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
