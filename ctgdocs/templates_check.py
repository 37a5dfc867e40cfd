"""Check the Word templates: Jinja syntax, undeclared variables, unknown filters, split tags."""

from __future__ import annotations

import difflib
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from docxtpl import DocxTemplate
from jinja2 import nodes
from lxml import etree

from .render import ANNEX_TEMPLATE, MAIN_TEMPLATE, Context, annex_context, main_context
from .render import jinja_environment as _render_environment
from .samples import sample_convention

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_TOKEN = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
_CLOSER = {"{{": "}}", "{%": "%}", "{#": "#}"}
_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_DOCX_PREFIX = re.compile(r"(\{[{%])-?(?:tr|tc|p|r)\s")
_DOCX_CELL_TAGS = re.compile(r"\{%-?\s*(colspan|cellbg)\s+(.*?)-?%\}")
_DOCX_MERGE_TAGS = re.compile(r"\{%-?\s*(vm|hm)\s*-?%\}")
_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})
_OPENERS = {"for", "if", "macro", "call", "filter", "with", "block", "raw", "autoescape"}
_SAME_SHAPE_FILTERS = {"sort", "reverse", "unique", "list", "default", "d", "batch", "slice"}
_ITEM_FILTERS = {"first", "last", "random"}


@dataclass(frozen=True)
class TemplateProblem:
    """One problem found in a Word template."""

    template: str
    """File name of the template, e.g. ``convention.docx``."""
    location: str
    """Where: ``paragraph 57``, ``table 2, row 1, cell 3, paragraph 1``, ``footer1.xml, …``."""
    excerpt: str
    """The text of that paragraph (shortened)."""
    message: str
    """What is wrong and how to fix it."""
    severity: str = "error"
    """``error`` (rendering fails or prints wrong text) or ``warning``."""

    def __str__(self) -> str:
        return f"{self.template}: {self.location}: {self.message} [{self.excerpt}]"


@dataclass
class _Paragraph:
    location: str
    text: str
    element: Any


@dataclass
class _Shape:
    """What a context value looks like: a dict's keys, a list's items, or anything."""

    kind: str  # "dict", "list", "scalar", "any"
    keys: dict[str, _Shape] = field(default_factory=dict)
    item: _Shape | None = None


ANY = _Shape("any")


# --- declared contexts ------------------------------------------------------------------------

def declared_contexts() -> dict[str, Context]:
    """The context each template may use, from the sample convention (never a hand list)
    and, for the archive's signature report, from a sample bundle."""
    from .archive.report import REPORT_TEMPLATE, sample_context

    conv = sample_convention()
    return {MAIN_TEMPLATE: main_context(conv), ANNEX_TEMPLATE: annex_context(conv, 0),
            REPORT_TEMPLATE: sample_context()}


OPTIONAL_TEMPLATES = frozenset({"rapport-signatures.docx"})
"""Templates a folder given to ``ctg check-templates`` may lack (``ctg build
--templates DIR`` uses the two others; the archive report comes from the shipped
templates)."""


def _shape(value: Any) -> _Shape:
    if isinstance(value, dict):
        return _Shape("dict", {k: _shape(v) for k, v in value.items()})
    if isinstance(value, list):
        item = ANY
        for element in value:
            item = _merge(item, _shape(element))
        return _Shape("list", item=item)
    return ANY if value is None else _Shape("scalar")


def _merge(a: _Shape, b: _Shape) -> _Shape:
    if a.kind == "any":
        return b
    if b.kind == "any" or a.kind != b.kind:
        return a
    if a.kind == "dict":
        keys = dict(a.keys)
        for key, shape in b.keys.items():
            keys[key] = _merge(keys[key], shape) if key in keys else shape
        return _Shape("dict", keys)
    if a.kind == "list":
        return _Shape("list", item=_merge(a.item or ANY, b.item or ANY))
    return a


# --- reading the docx ---------------------------------------------------------------------

def _text(paragraph: Any) -> str:
    parts = []
    for node in paragraph.iter(f"{W}t", f"{W}tab"):
        parts.append("\t" if node.tag == f"{W}tab" else (node.text or ""))
    return "".join(parts)


def _walk_container(container: Any, prefix: str) -> Iterator[_Paragraph]:
    counts = Counter[str]()
    for child in container:
        if child.tag == f"{W}p":
            counts["p"] += 1
            yield _Paragraph(f"{prefix}paragraph {counts['p']}", _text(child), child)
        elif child.tag == f"{W}tbl":
            counts["t"] += 1
            yield from _walk_table(child, f"{prefix}table {counts['t']}, ")
        elif child.tag in (f"{W}sdt", f"{W}customXml"):
            content = child.find(f"{W}sdtContent")
            yield from _walk_container(content if content is not None else child, prefix)


def _walk_table(table: Any, prefix: str) -> Iterator[_Paragraph]:
    for r, row in enumerate(table.findall(f"{W}tr"), start=1):
        for c, cell in enumerate(row.findall(f"{W}tc"), start=1):
            yield from _walk_container(cell, f"{prefix}row {r}, cell {c}, ")


def _parts(path: Path) -> Iterator[tuple[str, Any]]:
    """(part name, root element) of the body, then the headers and footers."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        others = sorted(n for n in names if re.fullmatch(r"word/(header|footer)\d*\.xml", n))
        for name in ["word/document.xml", *others]:
            if name in names:
                yield name, etree.fromstring(archive.read(name))


def _paragraphs(name: str, root: Any) -> list[_Paragraph]:
    if name == "word/document.xml":
        body = root.find(f"{W}body")
        return list(_walk_container(body if body is not None else root, ""))
    return list(_walk_container(root, f"{name.removeprefix('word/')}, "))


# --- the checks ---------------------------------------------------------------------------

def _excerpt(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _normalise(text: str) -> str:
    """A paragraph's text as plain Jinja: docxtpl prefixes and cell tags removed."""
    text = _DOCX_PREFIX.sub(r"\1 ", text.translate(_QUOTES))
    text = _DOCX_CELL_TAGS.sub(r"{{ \2 }}", text)
    return _DOCX_MERGE_TAGS.sub("", text)


def _lexical(text: str) -> str | None:
    """Each tag must open and close inside the paragraph; returns the first problem."""
    opened: str | None = None
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in _CLOSER:
            if opened:
                return f'tag "{opened}" is not closed before "{token}": close it with ' \
                       f'"{_CLOSER[opened]}"'
            opened = token
        elif opened is None:
            return f'"{token}" closes no tag: check the tag that should open before it'
        elif token != _CLOSER[opened]:
            return f'tag "{opened}" is closed by "{token}": close it with "{_CLOSER[opened]}"'
        else:
            opened = None
    if opened:
        return (f'unclosed tag "{opened}": no matching "{_CLOSER[opened]}" in this paragraph '
                "(a tag must open and close in the same paragraph)")
    return None


def _canonical(tag: str) -> str:
    return " ".join(_normalise(tag).split())


def _split_tags(paragraph: _Paragraph) -> list[str]:
    """Tags visible in the text that docxtpl would not see whole (split across runs)."""
    patcher: Any = object.__new__(DocxTemplate)
    xml = patcher.patch_xml(etree.tostring(paragraph.element, encoding="unicode"))
    seen = Counter(_canonical(t) for t in _TAG.findall(xml) if "<" not in t)
    missing = []
    for tag in _TAG.findall(paragraph.text):
        key = _canonical(tag)
        if seen[key] > 0:
            seen[key] -= 1
        else:
            missing.append(tag)
    return missing


def _blocks(paragraphs: list[_Paragraph]) -> list[tuple[int, str]]:
    """Unclosed or unmatched block tags, as (paragraph index, message)."""
    stack: list[tuple[int, str]] = []
    found: list[tuple[int, str]] = []
    for index, para in enumerate(paragraphs):
        for tag in re.findall(r"\{%-?\s*(\w+)", _normalise(para.text)):
            if tag in _OPENERS:
                stack.append((index, tag))
            elif tag.startswith("end") and tag != "endset":
                kind = tag[3:]
                if stack and stack[-1][1] == kind:
                    stack.pop()
                elif stack:
                    where, inner = stack[-1]
                    found.append((index, f'"{{% {tag} %}}" does not close the innermost open '
                                  f'block "{{% {inner} %}}" ({paragraphs[where].location})'))
                    return found
                else:
                    found.append((index, f'"{{% {tag} %}}" closes no open block'))
                    return found
    for index, kind in stack:
        found.append((index, f'"{{% {kind} %}}" is never closed: add "{{% end{kind} %}}" '
                             f'(or "{{%p end{kind} %}}" in its own paragraph)'))
    return found


class _Analyser:
    """Walks a parsed template and records undeclared variables and unknown filters."""

    def __init__(self, env: jinja2.Environment, context: _Shape, template: str) -> None:
        self.env, self.context, self.template = env, context, template
        self.found: list[tuple[int, str]] = []

    def report(self, node: nodes.Node, message: str) -> None:
        self.found.append((node.lineno, message))

    def statements(self, body: list[nodes.Node], scope: dict[str, _Shape]) -> None:
        for node in body:
            self.statement(node, scope)

    def statement(self, node: nodes.Node, scope: dict[str, _Shape]) -> None:
        if isinstance(node, nodes.For):
            self.for_loop(node, scope)
        elif isinstance(node, nodes.Assign):
            self.bind(node.target, self.expr(node.node, scope), scope)
        elif isinstance(node, (nodes.Macro, nodes.CallBlock, nodes.AssignBlock)):
            inner = dict(scope) | {a.name: ANY for a in getattr(node, "args", [])}
            inner |= {"caller": ANY, "varargs": ANY, "kwargs": ANY}
            if isinstance(node, nodes.Macro):
                scope[node.name] = ANY
            if isinstance(node, nodes.AssignBlock):
                self.bind(node.target, ANY, scope)
            self.statements(node.body, inner)
        elif isinstance(node, nodes.Expr):
            self.expr(node, scope)
        else:
            for child in node.iter_child_nodes():
                if isinstance(child, nodes.Expr):
                    self.expr(child, scope)
                else:
                    self.statement(child, scope)

    def for_loop(self, node: nodes.For, scope: dict[str, _Shape]) -> None:
        iterated = self.expr(node.iter, scope)
        inner = dict(scope) | {"loop": ANY}
        self.bind(node.target, iterated.item or ANY if iterated.kind == "list" else ANY, inner)
        if node.test is not None:
            self.expr(node.test, inner)
        self.statements(node.body, inner)
        self.statements(node.else_, dict(scope))

    def bind(self, target: nodes.Node, shape: _Shape, scope: dict[str, _Shape]) -> None:
        if isinstance(target, nodes.Name):
            scope[target.name] = shape
        else:
            for name in target.find_all(nodes.Name):
                scope[name.name] = ANY

    def expr(self, node: nodes.Node, scope: dict[str, _Shape]) -> _Shape:
        if isinstance(node, nodes.Name):
            return self.name(node, scope)
        if isinstance(node, nodes.Getattr):
            return self.member(node, self.expr(node.node, scope), node.attr, scope)
        if isinstance(node, nodes.Getitem):
            base = self.expr(node.node, scope)
            arg = node.arg
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                return self.member(node, base, arg.value, scope)
            self.expr(arg, scope)
            return base.item or ANY if base.kind == "list" else ANY
        if isinstance(node, nodes.Filter):
            return self.filter(node, scope)
        if isinstance(node, nodes.Test) and node.name not in self.env.tests:
            self.report(node, f'unknown test "{node.name}"')
        for child in node.iter_child_nodes():
            self.expr(child, scope)
        return ANY

    def name(self, node: nodes.Name, scope: dict[str, _Shape]) -> _Shape:
        if node.ctx != "load":
            return ANY
        if node.name in scope:
            return scope[node.name]
        if node.name in self.context.keys:
            return self.context.keys[node.name]
        if node.name not in self.env.globals:
            self.report(node, f'undeclared variable "{node.name}": not in the context of '
                              f"{self.template} (see templates/README.md)")
        return ANY

    def member(self, node: nodes.Node, base: _Shape, key: str,
               scope: dict[str, _Shape]) -> _Shape:
        if base.kind != "dict":
            return ANY
        if key in base.keys:
            return base.keys[key]
        hint = difflib.get_close_matches(key, sorted(base.keys), n=1, cutoff=0.6)
        self.report(node, f'undeclared variable "{_path(node)}": no key "{key}" here'
                    + (f'; did you mean "{hint[0]}"?' if hint else
                       " (see templates/README.md for the declared keys)"))
        return ANY

    def filter(self, node: nodes.Filter, scope: dict[str, _Shape]) -> _Shape:
        if node.name not in self.env.filters:
            self.report(node, f'unknown filter "{node.name}"')
        base = self.expr(node.node, scope) if node.node is not None else ANY
        for child in (*node.args, *(k.value for k in node.kwargs)):
            self.expr(child, scope)
        if node.name in _SAME_SHAPE_FILTERS:
            return base
        if node.name in _ITEM_FILTERS and base.kind == "list":
            return base.item or ANY
        return ANY


def _path(node: nodes.Node) -> str:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_path(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{_path(node.node)}[{node.arg.value!r}]"
    return "…"


def _docxtpl_view_error(root: Any, env: jinja2.Environment) -> tuple[int, str] | None:
    """Parse the part the way docxtpl does; return (paragraph number, message) on error."""
    numbered = etree.fromstring(etree.tostring(root))
    for number, para in enumerate(numbered.iter(f"{W}p")):
        para.set("ctgloc", str(number))
    patcher: Any = object.__new__(DocxTemplate)
    source = patcher.patch_xml(etree.tostring(numbered, encoding="unicode"))
    source = re.sub(r"<w:p([ >])", r"\n<w:p\1", source)
    try:
        env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        head = "\n".join(source.splitlines()[: exc.lineno])
        marks = re.findall(r'ctgloc="(\d+)"', head)
        return (int(marks[-1]) if marks else 0), exc.message or str(exc)
    return None


def _check_part(template: str, name: str, root: Any, context: _Shape,
                env: jinja2.Environment) -> list[TemplateProblem]:
    paragraphs = _paragraphs(name, root)

    def problem(index: int, message: str, severity: str = "error") -> TemplateProblem:
        para = paragraphs[min(max(index, 0), len(paragraphs) - 1)] if paragraphs else None
        return TemplateProblem(template, para.location if para else name,
                               _excerpt(para.text) if para else "", message, severity)

    problems = [problem(i, msg) for i, p in enumerate(paragraphs)
                if (msg := _lexical(_normalise(p.text)))]
    problems += [problem(i, f'tag "{tag}" is split across Word runs in a way docxtpl cannot '
                            "merge: accept any tracked change inside it, then retype the whole "
                            "tag in one go, without formatting changes")
                 for i, p in enumerate(paragraphs) for tag in _split_tags(p)]
    if problems:
        return problems
    problems = [problem(i, msg) for i, msg in _blocks(paragraphs)]
    if problems:
        return problems
    source = "\n".join(_normalise(p.text) for p in paragraphs)
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return [problem((exc.lineno or 1) - 1, f"Jinja syntax error: {exc.message}")]
    analyser = _Analyser(env, context, template)
    analyser.statements(tree.body, {})
    problems = [problem(line - 1, msg) for line, msg in analyser.found]
    if not problems and (error := _docxtpl_view_error(root, env)):
        index, message = error
        problems.append(TemplateProblem(template, _location_of(root, name, index), "",
                                        f"Jinja syntax error as docxtpl sees it: {message}"))
    return problems


def _location_of(root: Any, name: str, number: int) -> str:
    by_element = {id(p.element): p.location for p in _paragraphs(name, root)}
    all_paragraphs = list(root.iter(f"{W}p"))
    if 0 <= number < len(all_paragraphs):
        return by_element.get(id(all_paragraphs[number]), name)
    return name


def _unique(problems: list[TemplateProblem]) -> list[TemplateProblem]:
    return list(dict.fromkeys(problems))


def check_template(path: Path, context: Context) -> list[TemplateProblem]:
    """Every problem of one template, given the context it is declared to receive."""
    env = _render_environment()
    shape = _shape(context)
    try:
        parts = list(_parts(path))
    except (OSError, zipfile.BadZipFile, KeyError, etree.XMLSyntaxError) as exc:
        return [TemplateProblem(path.name, "file", "", f"cannot read the template: {exc}; "
                                "save it again as a Word document (.docx)")]
    problems: list[TemplateProblem] = []
    for name, root in parts:
        problems += _check_part(path.name, name, root, shape, env)
    return _unique(problems)


def check_templates(directory: Path) -> list[TemplateProblem]:
    """Check ``convention.docx``, ``annexe-commune.docx`` and (when present)
    ``rapport-signatures.docx`` in ``directory``; an empty list means they render with
    any valid data."""
    problems: list[TemplateProblem] = []
    for name, context in declared_contexts().items():
        path = Path(directory) / name
        if not path.is_file() and name in OPTIONAL_TEMPLATES:
            continue
        if not path.is_file():
            problems.append(TemplateProblem(name, "file", "", f"missing template {path}; "
                                            "copy it from the project's templates folder"))
            continue
        problems += check_template(path, context)
    return problems
