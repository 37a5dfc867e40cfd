"""YAML text to plain data with the position of every value and key, within limits."""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from .datafile import NOT_YAML, Position, Refused, bad_character, check_characters
from .model import Location

__all__ = ["LOADER", "MAX_DEPTH", "MAX_VALUES", "Document", "ParseOptions", "Problem", "clip",
           "field_path", "parse_yaml"]

MAX_VALUES = 100_000
"""Refuse data holding, or expanding through aliases to ("billion laughs"), more values
than this: 1,000 communes hold about 50,000. Bounds the memory of loading."""
MAX_DEPTH = 100
"""Refuse data nested deeper than this (the reference nests 6 levels): bounds the
recursion of building the data and of validating it."""

# libyaml's parser (C) when available; the node tree is built from its events here
# (without recursion, within the limits above), never with YAML's typing.
LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_NULLS = {"", "~", "null", "Null", "NULL"}


@dataclass(frozen=True)
class ParseOptions:
    """How YAML text is read; the defaults are the parser and the limits above."""

    loader: type[yaml.SafeLoader] = LOADER
    """The YAML parser whose events are read (PyYAML's pure-Python one gives the same)."""
    not_yaml: re.Pattern[str] = NOT_YAML
    """Finds the characters refused before the parser sees them."""
    max_values: int = MAX_VALUES
    """The most values the data may hold, or expand to through aliases."""
    max_depth: int = MAX_DEPTH
    """The most levels the data may nest, through aliases too."""


@dataclass(frozen=True)
class Problem:
    """One problem at a position of the YAML text."""

    line: int
    """1-based line."""
    col: int
    """1-based column."""
    path: str
    """The field it concerns (``communes[4].mayor``), or empty for the text as a whole."""
    message: str
    """What is wrong and what to do."""

    def format(self, name: str) -> str:
        """``name:line:col path: message``, ``name`` naming the file as the caller did."""
        where = f"{name}:{self.line}:{self.col}"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass
class Document:
    """Plain data built from the YAML nodes, with the position of every value and key."""

    data: Any = None
    """Mappings, lists, text and None; None when none could be built (a syntax error, a
    refusal, a document that is not a mapping)."""
    values: dict[Location, Position] = field(default_factory=dict)
    """The position of every value, by its path."""
    keys: dict[Location, Position] = field(default_factory=dict)
    """The position of every mapping key, by the path of its value."""
    problems: list[Problem] = field(default_factory=list)
    """Every problem found (in the YAML, then by the loader in the data)."""
    unlisted: int = 0
    """Problems found but not written out (beyond the earliest ones a message lists)."""

    def value_pos(self, loc: Location) -> Position:
        """Position of the value at ``loc``, or of its nearest existing ancestor."""
        while loc not in self.values and loc:
            loc = loc[:-1]
        return self.values.get(loc, (1, 1))

    def key_pos(self, loc: Location) -> Position:
        """Position of the key naming ``loc`` (falls back to the value position)."""
        return self.keys.get(loc) or self.value_pos(loc)


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


@dataclass
class _Expansion:
    """The state of turning a node tree into plain data in ``doc``."""

    doc: Document
    """Where the positions and problems go."""
    options: ParseOptions
    """The limits the expansion is refused beyond."""
    count: int = 0
    """Values built so far (aliases included)."""
    alias: Position | None = None
    """Position of the outermost alias being expanded, if any."""


_SEQUENCE, _MAPPING, _ALIAS = yaml.SequenceStartEvent, yaml.MappingStartEvent, yaml.AliasEvent


def parse_yaml(text: str, options: ParseOptions | None = None) -> Document:
    """Compose the YAML (keeping positions) and turn it into plain data; the problems
    found (syntax, duplicate keys, a refusal) are recorded in the document."""
    options = options or ParseOptions()
    doc = Document()
    try:
        check_characters(text, options.not_yaml)
        root = _compose(text, options)
        if root is None or root.kind is not _MAPPING:
            doc.problems.append(_not_mapping(root))
            return doc
        doc.data = _plain(root, (), _Expansion(doc, options), 0)
    except yaml.MarkedYAMLError as e:
        doc.problems.append(_syntax_problem(e, text))
    except yaml.reader.ReaderError as e:  # a character not_yaml let through: same message
        refused = _reader_error(e, text)
        doc.problems.append(Problem(*refused.position, "", refused.message))
    except Refused as e:
        doc.problems.append(Problem(*e.position, "", e.message))
        doc.data = None
    return doc


def _not_mapping(root: _Node | None) -> Problem:
    got = ("the file holds no data" if root is None else
           "it is a list" if root.kind is _SEQUENCE else "it is a single value")
    return Problem(*(_pos(root) if root else (1, 1)), "", "the document must be a mapping of "
                   f"keys (id, title, territory, period, …), but {got}; see "
                   "examples/vallee-herault/convention.yaml")


def _compose(text: str, options: ParseOptions) -> _Node | None:
    """The single document's node tree, or None for an empty stream."""
    loader = options.loader(text)
    try:
        get = loader.get_event
        get()  # StreamStartEvent
        start = get()
        if isinstance(start, yaml.StreamEndEvent):
            return None
        root = _compose_nodes(get, options)
        get()  # DocumentEndEvent
        extra = get()
        if not isinstance(extra, yaml.StreamEndEvent):
            raise yaml.composer.ComposerError(
                "expected a single document in the stream", start.start_mark,
                "but found another document", extra.start_mark)
        return root
    finally:
        loader.dispose()


def _compose_nodes(get: typing.Callable[[], Any], options: ParseOptions) -> _Node:
    """Build one node tree from the parser's events, without recursion (a recursive
    composer overflows the C stack on 100,000 nested '['), refusing more than
    ``max_depth`` levels or ``max_values`` values (keys aside) before building them."""
    max_values, max_depth = options.max_values, options.max_depth
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
            if count > max_values:
                raise Refused((line, col), f"more than {max_values:,} values; a convention "
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
            if len(stack) == max_depth:
                raise Refused((line, col), f"nested more than {max_depth} levels deep (a "
                              "convention needs 6); check the brackets '[', '{' and the "
                              "indentation")
            stack.append(node)


def _anchor(anchors: dict[str, _Node], anchor: str | None, node: _Node) -> None:
    if anchor is None:
        return
    first = anchors.get(anchor)
    if first is not None:
        raise Refused((node.line, node.col), f"the anchor '&{anchor}' is already defined at "
                      f"line {first.line}, column {first.col}; give each anchor its own name")
    anchors[anchor] = node


def _alias(anchors: dict[str, _Node], stack: list[_Node], event: Any, pos: Position) -> _Node:
    node = anchors.get(event.anchor)
    if node is None:
        raise yaml.composer.ComposerError(None, None, f"found undefined alias {event.anchor!r}",
                                          event.start_mark)
    if any(node is open_node for open_node in stack):
        raise Refused(pos, f"the alias '*{event.anchor}' is inside the node it repeats (a "
                      "loop); an alias may only repeat a node complete before it")
    return node


_OPENERS = {"flow sequence": "the list '[' opened at {at}; close it with ']'",
            "flow mapping": "the mapping '{{' opened at {at}; close it with '}}'",
            "quoted scalar": "the quote opened at {at}; close it"}
_PROBLEM_HINTS = {"another document": "keep one convention per file (remove the '---' line)",
                  "undefined alias": "define the anchor '&name' before using '*name'",
                  "mapping values are not allowed": "put quotes around a value containing ': '"}


def _syntax_problem(e: yaml.MarkedYAMLError, text: str) -> Problem:
    mark = e.problem_mark or e.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    what = e.problem or "invalid YAML"
    if e.context and what.startswith("but "):
        what = f"{e.context}, {what}"
    return Problem(line, col, "", f"YAML syntax error: {what}{_syntax_hint(e, text, line, col)}")


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


def _reader_error(e: yaml.reader.ReaderError, text: str) -> Refused:
    """The refusal of the character a parser refused (libyaml gives a UTF-8 byte offset
    and the code, PyYAML a character index and the character)."""
    index = e.position if e.encoding == "unicode" else len(
        text.encode("utf-8")[:e.position].decode("utf-8", "ignore"))
    code = e.character if isinstance(e.character, int) else ord(e.character)
    return bad_character(text, index, code)


def _plain(node: _Node, loc: Location, state: _Expansion, depth: int) -> Any:
    """Plain Python value of ``node``; every scalar stays text (pydantic converts it).
    Aliases are expanded: their values count, and so do their levels of nesting."""
    if node.kind is _ALIAS:
        return _plain_alias(node, loc, state, depth)
    state.doc.values.setdefault(loc, _pos(node))
    state.count += 1
    max_values, max_depth = state.options.max_values, state.options.max_depth
    if state.count > max_values:
        raise Refused(state.alias or _pos(node), f"the data expands to more than "
                      f"{max_values:,} values; check the aliases ('*name')")
    if node.kind is _MAPPING or node.kind is _SEQUENCE:
        if depth == max_depth:
            raise Refused(state.alias or _pos(node), f"the data nests more than {max_depth} "
                          "levels deep through aliases; check the aliases ('*name')")
        if node.kind is _MAPPING:
            return _plain_mapping(node, loc, state, depth + 1)
        return [_plain(item, (*loc, i), state, depth + 1) for i, item in enumerate(node.value)]
    if node.plain and node.value in _NULLS:
        return None
    return node.value


def _plain_alias(alias: _Node, loc: Location, state: _Expansion, depth: int) -> Any:
    """The value an alias repeats (its positions are those of the anchored node: the place
    to fix); a refusal while expanding it points at the outermost alias."""
    outermost = state.alias is None
    if outermost:
        state.alias = _pos(alias)
    try:
        return _plain(alias.value, loc, state, depth)
    finally:
        if outermost:
            state.alias = None


def _plain_mapping(node: _Node, loc: Location, state: _Expansion, depth: int) -> dict[str, Any]:
    """A mapping's plain value; duplicate keys are problems, ``<<`` merges are supported."""
    doc = state.doc
    result: dict[str, Any] = {}
    merges: list[_Node] = []
    for key_node, value_node in _pairs(node):
        if key_node.kind is not yaml.ScalarEvent:
            doc.problems.append(Problem(*_pos(key_node), field_path(loc),
                                        "a key must be plain text, not a list or mapping"))
            continue
        key = key_node.value
        if key == "<<" and key_node.plain and _mergeable(value_node):
            merges += _merged(value_node)
            continue
        if key in result:
            first = doc.keys[(*loc, key)]
            doc.problems.append(Problem(*_pos(key_node), field_path((*loc, key)),
                                        f"duplicate key {clip(key)!r} (first at line "
                                        f"{first[0]}); keep only one"))
            continue
        doc.keys[(*loc, key)] = _pos(key_node)
        result[key] = _plain(value_node, (*loc, key), state, depth)
    for merged in merges:  # explicit keys win over merged ones, earlier merges over later
        for key_node, value_node in _pairs(merged):
            if key_node.kind is yaml.ScalarEvent and key_node.value not in result:
                doc.keys[(*loc, key_node.value)] = _pos(key_node)
                result[key_node.value] = _plain(value_node, (*loc, key_node.value), state, depth)
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


def clip(text: str, limit: int = 60) -> str:
    """``text`` shortened to ``limit`` characters for a one-line message."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def field_path(loc: Location) -> str:
    """``("communes", 4, "mayor")`` → ``communes[4].mayor``."""
    text = ""
    for part in loc:
        name = clip(str(part))
        text += f"[{part}]" if isinstance(part, int) else (f".{name}" if text else name)
    return text

