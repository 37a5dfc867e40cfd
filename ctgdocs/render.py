"""Render the Word templates: build plain-data contexts from a Convention, fill docx files."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import importlib.util
import io
import logging
import marshal
import os
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import docxtpl
import jinja2
from docxtpl import DocxTemplate

from .exceptions import TemplateError
from .model import (
    Action,
    Commune,
    Convention,
    Deliberation,
    InterventionField,
    KeyFigure,
    Person,
    de,
    signatories,
)
from .paths import ANNEX_TEMPLATE as ANNEX_TEMPLATE
from .paths import MAIN_TEMPLATE as MAIN_TEMPLATE

log = logging.getLogger(__name__)


Context = dict[str, Any]
"""A rendering context: JSON-serialisable plain data (str, int, list, dict, None)."""

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
          "septembre", "octobre", "novembre", "décembre")
NNBSP = "\u202f"
"""Narrow no-break space: French thousands separator."""
BLANK = "………………"
"""Printed where a value is not known yet (signing place or date)."""
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_AXIS_PREFIX = re.compile(r"^\s*axe\s+\d+\s*[—–:.-]\s*", re.IGNORECASE)
"""A leading "Axe 2 — " in an axis title (the template numbers the axes itself)."""


# --- French formatting -------------------------------------------------------------------

def french_date(day: dt.date) -> str:
    """``2023-02-06`` → "6 février 2023"; the first of the month is "1er"."""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{number} {MONTHS[day.month - 1]} {day.year}"


PARIS = ZoneInfo("Europe/Paris")
"""The time zone every date and time shown to people is given in."""


def french_datetime(moment: dt.datetime) -> str:
    """``2023-02-06T16:00Z`` → "6 février 2023 à 17 h 00", in Paris time (the hour
    without a leading zero, as French prose writes it: "à 9 h 05")."""
    local = moment.astimezone(PARIS)
    return f"{french_date(local.date())} à {local.hour} h {local.minute:02d}"


def french_number(value: int) -> str:
    """``12345`` → "12 345" with a narrow no-break space between thousands."""
    return f"{value:,}".replace(",", NNBSP)


def french_years(years: Iterable[int]) -> str:
    """``[2023, 2024, 2025]`` → "2023 à 2025"; ``[2023, 2025]`` → "2023 et 2025"."""
    ordered = sorted(set(years))
    if len(ordered) > 2 and ordered[-1] - ordered[0] == len(ordered) - 1:
        return f"{ordered[0]} à {ordered[-1]}"
    if len(ordered) == 1:
        return str(ordered[0])
    return ", ".join(map(str, ordered[:-1])) + f" et {ordered[-1]}"


def french_list(items: Iterable[str], empty: str = "—") -> str:
    """``["a", "b", "c"]`` → "a, b et c"."""
    values = list(items)
    if not values:
        return empty
    if len(values) == 1:
        return values[0]
    return ", ".join(values[:-1]) + " et " + values[-1]


def _feminine(title: str, person: Person) -> str:
    if person.civility != "Mme":
        return title
    return {"Directeur": "Directrice", "Président": "Présidente"}.get(title, title)


# --- context pieces ------------------------------------------------------------------------

def _representative(person: Person, title: str, possessive: bool = True) -> Context:
    """How a representative is named in the parties: name, "son Directeur", agreement."""
    first, _, rest = title.partition(" ")
    word = _feminine(first, person)
    prefix = ("sa" if word != first else "son") if possessive else ""
    return {
        "name": person.formal_name,
        "title": " ".join(filter(None, [prefix, word, rest])),
        "e": "e" if person.civility == "Mme" else "",
    }


def _deliberation(delib: Deliberation | None) -> Context | None:
    if delib is None:
        return None
    return {"body": delib.body, "number": delib.number, "date": french_date(delib.date)}


def _figures(figures: Iterable[KeyFigure]) -> list[Context]:
    return [{"label": f.label, "value": f.value, "source": f.source or "—"} for f in figures]


def _action(action: Action) -> Context:
    return {
        "code": action.code,
        "title": action.title,
        "field": action.field.label,
        "lead": action.lead,
        "partners": french_list(action.partners),
        "communes": french_list(action.communes, empty="Ensemble du territoire"),
        "years": french_years(action.years),
        "objectives": list(action.objectives),
        "indicators": list(action.indicators),
    }


def _axes(conv: Convention) -> list[Context]:
    return [{"number": number, "title": _AXIS_PREFIX.sub("", axis.title),
             "actions": [_action(a) for a in axis.actions]}
            for number, axis in enumerate(conv.action_plan, start=1)]


def _findings(conv: Convention) -> list[Context]:
    order = list(conv.fields) + [f for f in InterventionField if f not in conv.fields]
    groups = []
    for field in order:
        texts = [f.text for f in conv.diagnostic.findings if f.field == field]
        if texts:
            groups.append({"field": field.label, "texts": texts})
    return groups


def _caf(conv: Convention) -> Context:
    caf = conv.caf
    both_women = caf.director.civility == caf.board_president.civility == "Mme"
    return {
        "name": caf.name,
        "short_name": caf.short_name,
        "address": caf.address,
        "director": _representative(caf.director, "Directeur"),
        "president": _representative(caf.board_president,
                                     "Président de son conseil d'administration",
                                     possessive=False),
        "authorised": "dûment autorisées" if both_women else "dûment autorisés",
        "deliberation": _deliberation(caf.board_deliberation),
    }


def _epci(conv: Convention) -> Context:
    epci = conv.epci
    return {
        "name": epci.name,
        "short_name": epci.short_name,
        "siren": epci.siren,
        "address": epci.address,
        "president": _representative(epci.president, "Président"),
        "deliberation": _deliberation(epci.deliberation),
    }


def _commune_identity(conv: Convention, index: int) -> Context:
    commune = conv.communes[index]
    return {
        "number": index + 1,
        "name": commune.name,
        "de_name": de(commune.name),
        "insee": commune.insee or "—",
        "population": french_number(commune.population),
        "mayor": _representative(commune.mayor, "Maire"),
        "deliberation": _deliberation(commune.deliberation),
    }


def _signing(conv: Convention) -> Context:
    signing = conv.signing
    return {
        "place": (signing.place if signing and signing.place else BLANK),
        "date": french_date(signing.date) if signing else BLANK,
    }


def _signatories(conv: Convention) -> list[Context]:
    return [{"id": s.id, "capacity": s.capacity, "name": s.person.formal_name,
             "organisation": s.organisation} for s in signatories(conv)]


def _pairs(blocks: list[Context]) -> list[Context]:
    """Two signature blocks per table row; an odd last row has ``right`` = None."""
    return [{"left": blocks[i], "right": blocks[i + 1] if i + 1 < len(blocks) else None}
            for i in range(0, len(blocks), 2)]


def _header(conv: Convention) -> Context:
    return {
        "title": conv.title,
        "territory": conv.territory,
        "period": {"start": conv.period.start, "end": conv.period.end},
    }


# --- public contexts -----------------------------------------------------------------------

def main_context(conv: Convention) -> Context:
    """Everything ``convention.docx`` prints, and nothing else (see templates/README.md)."""
    blocks = _signatories(conv)
    total = sum(c.population for c in conv.communes)
    return {
        **_header(conv),
        "fields": [f.label for f in conv.fields],
        "caf": _caf(conv),
        "epci": _epci(conv),
        "communes": [_commune_identity(conv, i) for i in range(len(conv.communes))],
        "population": french_number(total),
        "partners": [_partner(p) for p in conv.partners],
        "diagnostic": {
            "summary": conv.diagnostic.summary,
            "key_figures": _figures(conv.diagnostic.key_figures),
            "findings": _findings(conv),
        },
        "axes": _axes(conv),
        "governance": {
            name: {"members": list(body.members), "frequency": body.frequency}
            for name, body in (("steering", conv.governance.steering),
                               ("technical", conv.governance.technical))
        },
        "indicator_rows": [{"code": a.code, "title": a.title,
                            "indicators": "\n".join(a.indicators) or "—"} for a in conv.actions],
        "contracts": [{"name": c.name, "description": c.description} for c in conv.contracts],
        "signing": _signing(conv),
        "signatories": blocks,
        "signature_rows": _pairs(blocks),
    }


def _partner(partner: Any) -> Context:
    capacity = partner.capacity
    title = capacity.split(" ", 1)[1] if capacity.split(" ", 1)[0] in {"Le", "La"} else capacity
    return {
        "name": partner.name,
        "representative": {"name": partner.representative.formal_name, "title": title,
                           "e": "e" if partner.representative.civility == "Mme" else ""},
        "deliberation": _deliberation(partner.deliberation),
    }


def _concerns(action: Action, commune: Commune) -> bool:
    return not action.communes or commune.name in action.communes


def annex_context(conv: Convention, commune_index: int) -> Context:
    """Everything ``annexe-commune.docx`` prints for one commune (0-based index)."""
    commune = conv.communes[commune_index]
    return {
        **_header(conv),
        "caf": {"name": conv.caf.name, "short_name": conv.caf.short_name},
        "epci": {"name": conv.epci.name, "short_name": conv.epci.short_name},
        "annex": {"number": commune_index + 1, "count": len(conv.communes)},
        "commune": {
            **_commune_identity(conv, commune_index),
            "competences_kept": french_list(commune.competences_kept, empty="—"),
            "diagnostic": {"key_figures": _figures(commune.diagnostic.key_figures),
                           "text": commune.diagnostic.text},
            "actions": [{"title": a.title, "field": a.field.label,
                         "description": a.description, "years": french_years(a.years)}
                        for a in commune.actions],
            "services": list(commune.services),
            "commitments": list(commune.commitments),
        },
        "plan_actions": [{"code": a.code, "title": a.title, "field": a.field.label,
                          "lead": a.lead, "years": french_years(a.years)}
                         for a in conv.actions if _concerns(a, commune)],
    }


def annex_filename(commune: Commune) -> str:
    """File name of a commune's rendered annex, e.g. ``annexe-saint-andre-de-sangonis.docx``."""
    return f"annexe-{commune.slug}.docx"


# --- rendering -----------------------------------------------------------------------------

class _CachingEnvironment(jinja2.Environment):
    """A Jinja environment that compiles each distinct template source only once: in
    memory for this process, and on disk (:func:`template_cache`) for later runs."""

    def __init__(self) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, autoescape=True,
                         keep_trailing_newline=True)
        self._compiled: dict[str, jinja2.Template] = {}

    def from_string(self, source: Any, globals: Any = None,  # noqa: A002
                    template_class: Any = None) -> jinja2.Template:
        if not isinstance(source, str) or globals or template_class:
            return super().from_string(source, globals, template_class)
        if source not in self._compiled:
            self._compiled[source] = self._load(source)
        return self._compiled[source]

    def _load(self, source: str) -> jinja2.Template:
        """What ``Environment.from_string`` returns, with the compiled code read from the
        disk cache when an earlier run compiled the same source."""
        key = f"jinja {jinja2.__version__} {importlib.util.MAGIC_NUMBER.hex()}\0{source}"
        payload = _cache_get("code", key)
        code = None
        if payload is not None:
            with contextlib.suppress(Exception):  # an entry of another Python, say
                code = marshal.loads(payload)
        if code is None:
            code = self.compile(source)
            _cache_put("code", key, marshal.dumps(code))
        return self.template_class.from_code(self, code, self.make_globals(None), None)


class _Template(DocxTemplate):  # type: ignore[misc]
    """docxtpl's template, with its XML clean-up (``patch_xml``: a dozen regular
    expressions over the whole part, a third of the rendering time) done once per
    distinct part: in memory, and on disk (:func:`template_cache`) for later runs."""

    _patched: dict[str, str] = {}
    _KEEP = 32
    """Parts remembered (`ctg build --watch` sees templates edited many times)."""

    def patch_xml(self, src_xml: str) -> str:
        patched = self._patched.get(src_xml)
        if patched is None:
            if len(self._patched) >= self._KEEP:
                self._patched.clear()
            patched = self._patched[src_xml] = self._patch_cached(src_xml)
        return patched

    def _patch_cached(self, src_xml: str) -> str:
        key = f"docxtpl {docxtpl.__version__}\0{src_xml}"
        payload = _cache_get("patched", key)
        if payload is not None:
            return payload.decode("utf-8")
        patched = str(super().patch_xml(src_xml))
        _cache_put("patched", key, patched.encode("utf-8"))
        return patched


@functools.cache
def template_cache() -> Path | None:
    """``<cache>/templates``: docxtpl's cleaned-up XML of each template part and the
    compiled Jinja code, keyed by their content and the library versions, so that a new
    process does not redo them (about 45 ms for the two shipped templates). ``None``
    when ``CTGDOCS_TEMPLATE_CACHE=off`` or the folder is not private to this user."""
    from .paths import private_cache, switched_off

    return None if switched_off("CTGDOCS_TEMPLATE_CACHE") else private_cache("templates")


TEMPLATE_CACHE_FILES = 200
"""Most entries in the template cache: beyond, the least recently written are removed
down to half of it."""
_CACHE_MAGIC = b"ctgdocs template cache 1\n"


def _cache_path(kind: str, key: str) -> Path | None:
    folder = template_cache()
    if folder is None:
        return None
    return folder / f"{kind}-{hashlib.sha256(key.encode('utf-8')).hexdigest()}"


def _cache_get(kind: str, key: str) -> bytes | None:
    """The payload stored under ``key``, if present and intact (its SHA-256 is checked:
    a damaged entry is removed and recomputed, never used)."""
    path = _cache_path(kind, key)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head, digest, payload = data[:len(_CACHE_MAGIC)], data[len(_CACHE_MAGIC):][:64], \
        data[len(_CACHE_MAGIC) + 65:]
    if head == _CACHE_MAGIC and digest == hashlib.sha256(payload).hexdigest().encode():
        return payload
    log.info("template cache: %s is damaged; it is removed", path)
    with contextlib.suppress(OSError):
        path.unlink()
    return None


def _cache_put(kind: str, key: str, payload: bytes) -> None:
    """Store ``payload`` under ``key`` (atomically; a failure only costs the cache)."""
    path = _cache_path(kind, key)
    if path is None:
        return
    from signers.atomic import atomic_write_bytes

    digest = hashlib.sha256(payload).hexdigest().encode()
    try:
        atomic_write_bytes(path, _CACHE_MAGIC + digest + b"\n" + payload)
        _prune(path.parent)
    except OSError as exc:
        log.info("template cache: cannot write %s (%s)", path, exc)


def _prune(folder: Path) -> None:
    """Keep the cache small: every edit of a template adds a few entries."""
    entries = [entry for entry in os.scandir(folder) if entry.is_file()]
    if len(entries) <= TEMPLATE_CACHE_FILES:
        return
    entries.sort(key=lambda entry: entry.stat().st_mtime)
    for entry in entries[:len(entries) - TEMPLATE_CACHE_FILES // 2]:
        with contextlib.suppress(OSError):
            os.unlink(entry.path)


_ENV: _CachingEnvironment | None = None
_BYTES: dict[tuple[str, int, int], bytes] = {}


def jinja_environment() -> jinja2.Environment:
    """The Jinja environment used for rendering (strict undefined, autoescape, caching)."""
    global _ENV
    if _ENV is None:
        _ENV = _CachingEnvironment()
    return _ENV


def _template_bytes(template: Path) -> bytes:
    try:
        stat = template.stat()
        key = (str(template.resolve()), stat.st_mtime_ns, stat.st_size)
        if key not in _BYTES:
            _BYTES[key] = template.read_bytes()
    except OSError as exc:
        raise TemplateError(f"{template}: cannot read the template ({exc.strerror}); "
                            "check the templates folder") from exc
    return _BYTES[key]


def _describe(exc: Exception) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined variable: {exc.message}; check the name against templates/README.md"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"Jinja syntax error: {exc.message}; run `ctg check-templates` to locate it"
    return f"{type(exc).__name__}: {exc}"


def render_bytes(template: Path, context: Context) -> bytes:
    """Render ``template`` with ``context``; return the docx bytes (deterministic zip)."""
    try:
        doc = _Template(io.BytesIO(_template_bytes(template)))
        doc.render(context, jinja_environment(), autoescape=True)
        return _save(doc)
    except TemplateError:
        raise
    except (jinja2.TemplateError, KeyError, ValueError, TypeError, zipfile.BadZipFile,
            AttributeError) as exc:
        raise TemplateError(f"{template}: cannot render: {_describe(exc)}") from exc


def _save(doc: _Template) -> bytes:
    """The rendered document as a deterministic zip: the bytes of ``doc.save`` followed by
    :func:`normalise_zip` (tested), written in one pass instead of compressing every
    part twice and reading it back (a quarter of the rendering time)."""
    from docx.opc.pkgwriter import PackageWriter

    steps: list[Any] = [getattr(PackageWriter, name, None) for name in
             ("_write_content_types_stream", "_write_pkg_rels", "_write_parts")]
    if doc.crc_to_new_media or doc.crc_to_new_embedded or doc.zipname_to_replace \
            or None in steps:
        # docxtpl's replace_* calls rewrite the saved zip; a python-docx whose package
        # writer is organised otherwise: its own save, then normalised
        buffer = io.BytesIO()
        doc.save(buffer)
        return normalise_zip(buffer.getvalue())
    write_content_types, write_pkg_rels, write_parts = steps
    doc.pre_processing()
    package = doc.docx.part.package
    parts = package.parts
    for part in parts:
        part.before_marshal()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        writer = _NormalisedZip(zf)
        # what PackageWriter.write does with the zip it opens itself
        write_content_types(writer, parts)
        write_pkg_rels(writer, package.rels)
        write_parts(writer, parts)
    return out.getvalue()


class _NormalisedZip:
    """python-docx's physical package writer interface over a zip written as
    :func:`normalise_zip` writes it."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf

    def write(self, pack_uri: Any, blob: bytes) -> None:
        _write_entry(self.zf, pack_uri.membername, blob)


def _write_entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    """One member with a fixed timestamp and attributes."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed timestamps and attributes so equal content gives equal bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            _write_entry(dst, item.filename, src.read(item.filename))
    return out.getvalue()


def write_atomic(out: Path, data: bytes) -> None:
    """Write ``data`` to ``out`` through a temporary file in the same folder, then rename."""
    from signers.atomic import atomic_write_bytes

    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, data)


def render_docx(template: Path, context: Context, out: Path) -> None:
    """Fill ``template`` with ``context`` and write ``out`` atomically.

    Raises :class:`TemplateError` naming the template when a tag is malformed or a
    variable is undefined (never renders a blank in its place).
    """
    write_atomic(out, render_bytes(template, context))
    log.debug("rendered %s from %s", out, template.name)
