"""The steps of a build, each a plain function over its :class:`BuildContext`
plan → render and convert → assemble → place fields → record."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ConversionError, TemplateError
from ..signatories import SEAL_FIELD
from . import record as rec
from .context import BuildContext, Converters
from .options import BuildOptions, BuildResult, PartInfo
from .parts import MAIN_PART, Part

if TYPE_CHECKING:
    from ..assemble import AssembleResult, PackageMetadata
    from ..convert import ConversionJob, Converter
    from ..layout import FieldPlacement
    from ..model import Convention

log = logging.getLogger(__name__)


# --- plan ------------------------------------------------------------------------------------

def plan(data: Path, options: BuildOptions, converters: Converters,
         progress: Callable[[str], None] | None, quick_key: str | None,
         started: float) -> BuildContext:
    """Load the data and list the parts with their keys; decide which the previous build
    can give (``unchanged`` when all of it can). Raises the data, template or
    LibreOffice error that keeps the build from being made."""
    from ..load import load_convention

    conv = load_convention(data)
    parts = _parts(conv, options.templates)
    blocks_key = rec.sha(json.dumps([[s.id, s.person.formal_name, s.capacity, s.person.email,
                                      s.person.certificates] for s in conv.signatories]))
    # the code too: a new version may assemble the package differently (the parts,
    # LibreOffice's work, stay reused while their own keys match)
    inputs_key = rec.sha("|".join([str(rec.FORMAT_VERSION), rec.code_key(), blocks_key,
                                   f"seal={options.seal_field}", *(p.key for p in parts)]))
    ctx = BuildContext(data, options, converters, conv, {}, parts,
                       {"inputs_key": inputs_key, "quick_key": quick_key}, started)
    if progress is not None:
        ctx.progress = progress
    ctx.previous = rec.read_record(ctx.out / rec.RECORD)
    ctx.unchanged = (not options.force and ctx.previous.get("inputs_key") == inputs_key
                     and rec.intact(ctx.out, ctx.previous))
    if not ctx.unchanged:
        _mark_reusable(ctx)
        if any(not p.reuse for p in parts):
            converters.check()
    return ctx


def unchanged_result(ctx: BuildContext) -> BuildResult:
    """The previous build's result, its record told of new data bytes that change
    nothing (e.g. a comment: the next run can skip parsing)."""
    quick_key = ctx.keys["quick_key"]
    if quick_key is not None and ctx.previous.get("quick_key") != quick_key:
        rec.write_record(ctx.out / rec.RECORD, {**ctx.previous, "quick_key": quick_key})
    return rec.result_from_record(ctx.out, ctx.previous, ctx.started)


def _parts(conv: Convention, templates: Path) -> list[Part]:
    from .. import render
    from ..model import de

    main_t = templates / render.MAIN_TEMPLATE
    annex_t = templates / render.ANNEX_TEMPLATE
    parts = [Part(MAIN_PART, conv.title, "", main_t, render.main_context(conv))]
    for i, commune in enumerate(conv.communes):
        parts.append(Part(Path(render.annex_filename(commune)).stem,
                          f"Annexe {i + 1} – Commune {de(commune.name)}", f"A{i + 1}-",
                          annex_t, render.annex_context(conv, i)))
    for template in (main_t, annex_t):
        if not template.is_file():
            raise TemplateError(f"{template}: template not found; give --templates DIR "
                                f"holding {render.MAIN_TEMPLATE} and {render.ANNEX_TEMPLATE}")
    template_hashes = {t: rec.file_sha(t) for t in {main_t, annex_t}}
    for part in parts:
        ctx = json.dumps(part.context, sort_keys=True, ensure_ascii=False, default=str)
        part.template_sha = template_hashes[part.template]
        part.key = rec.sha(f"{rec.FORMAT_VERSION}|{part.template_sha}|{ctx}")
    return parts


def _mark_reusable(ctx: BuildContext) -> None:
    if ctx.options.force:
        return
    old = {p["name"]: p for p in ctx.previous.get("parts", [])}
    for part in ctx.parts:
        entry = old.get(part.name)
        pdf = ctx.out / "parts" / f"{part.name}.pdf"
        part.reuse = bool(entry and entry.get("key") == part.key and pdf.is_file()
                          and rec.file_sha(pdf) == entry.get("pdf_sha256"))


# --- render and convert ----------------------------------------------------------------------

def render_and_convert(ctx: BuildContext) -> None:
    """Reuse the unchanged parts; render the others one by one while LibreOffice (started
    early, or now) converts them. Each part is handed to :attr:`BuildContext.arrivals`
    as soon as its PDF is in place. With :attr:`BuildContext.combine`, annexes are
    converted a few at a time as one document where they can be (:mod:`ctgdocs.combine`;
    :class:`~ctgdocs.combine.CombinedFailed` when that fails)."""
    assert ctx.arrivals is not None
    for part in ctx.parts:
        if part.reuse:
            for ext in (".docx", ".pdf"):
                _link_or_copy(ctx.out / "parts" / f"{part.name}{ext}",
                              ctx.parts_dir / f"{part.name}{ext}")
            ctx.part_ready(part.name)
    todo = [p for p in ctx.parts if not p.reuse]
    if not todo:
        ctx.arrivals.rendering_done()
        return
    with ctx.converters.converting(len(todo)) as converter:
        workers = ctx.converters.workers_for(len(todo))
        annexes = [p for p in todo if p.name != MAIN_PART]
        if ctx.combine and len(annexes) >= 2 and converter.destinations:
            _convert_combining(ctx, converter, todo, annexes, workers)
        else:
            converter.convert(_rendered(ctx, (_render(ctx, p) for p in
                                              _render_order(todo, workers))),
                              lambda job: ctx.part_ready(job.name))


def _convert_combining(ctx: BuildContext, converter: Converter, todo: list[Part],
                       annexes: list[Part], workers: int) -> None:
    from ..combine import CombinedFailed, Combining

    combining = Combining(ctx.work, workers)
    main = [p for p in todo if p.name == MAIN_PART]

    def converted(job: ConversionJob) -> None:
        for done in combining.finished(job):
            ctx.part_ready(done.name)

    try:
        converter.convert(_rendered(ctx, combining.jobs(main, annexes,
                                                        lambda p: _render(ctx, p))),
                          converted)
    except ConversionError as exc:
        if combining.holds(exc.job):
            raise CombinedFailed(str(exc)) from exc
        raise


def _rendered(ctx: BuildContext, jobs: Iterator[ConversionJob]) -> Iterator[ConversionJob]:
    """``jobs``, then tell :attr:`BuildContext.arrivals` that rendering is over."""
    assert ctx.arrivals is not None
    yield from jobs
    ctx.arrivals.rendering_done()


def _render(ctx: BuildContext, part: Part) -> ConversionJob:
    from ..convert import ConversionJob
    from ..render import render_docx

    docx = ctx.parts_dir / f"{part.name}.docx"
    render_docx(part.template, part.context, docx)
    return ConversionJob(part.name, docx, ctx.parts_dir / f"{part.name}.pdf")


def _render_order(todo: list[Part], workers: int) -> list[Part]:
    """The order to render (and so to convert) the parts in, annex by annex: one annex
    per worker first, then the main convention, then the other annexes. An annex renders
    in about 10 ms and the convention in 60 ms: the workers start converting as soon as
    they are ready, and the convention, the longest conversion, still starts early."""
    main = [p for p in todo if p.name == MAIN_PART]
    annexes = [p for p in todo if p.name != MAIN_PART]
    return annexes[:workers] + main + annexes[workers:]


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# --- assemble --------------------------------------------------------------------------------

def assemble(ctx: BuildContext) -> AssembleResult:
    """Finish the package merged as the parts arrived: outline, page labels and metadata,
    written to ``<work>/assembled.pdf``."""
    assert ctx.arrivals is not None
    return ctx.arrivals.assembly().finish(ctx.work / "assembled.pdf", metadata(ctx.convention))


def metadata(conv: Convention) -> PackageMetadata:
    """The package's title, subject, author and keywords, in French."""
    from ..assemble import PackageMetadata

    parties = f"{conv.caf.short_name} ; {conv.epci.name}"
    return PackageMetadata(
        title=f"{conv.title} – {conv.territory}",
        subject=f"Convention territoriale globale {conv.period.start}-{conv.period.end} entre "
                f"{parties} et ses {len(conv.communes)} communes",
        author=parties,
        keywords="convention territoriale globale; CTG; Caf; "
                 + "; ".join(f.label for f in conv.fields),
    )


# --- place fields ----------------------------------------------------------------------------

def locate_fields(ctx: BuildContext, main_pdf: Path) -> list[FieldPlacement]:
    """Where each signatory's field goes: as in the previous build when the convention's
    PDF and the signatories are unchanged, else located on its signature pages (run as
    soon as the convention is converted, see :class:`.arrivals.Arrivals`)."""
    from ..layout import BlockSpec, FieldPlacement, locate_blocks

    blocks = [BlockSpec(s.id, s.person.formal_name) for s in ctx.convention.signatories]
    key = rec.sha(rec.file_sha(main_pdf) + json.dumps([[b.id, b.name] for b in blocks]))
    if ctx.previous.get("placements_key") == key:
        return [FieldPlacement(f["id"], f["page"] - 1, tuple(f["rect"]),  # type: ignore[arg-type]
                               tuple(f["name_box"]))  # type: ignore[arg-type]
                for f in ctx.previous["fields"]]
    return locate_blocks(main_pdf, blocks, last_pages=len(blocks) // 6 + 3)


def place_fields(ctx: BuildContext) -> list[FieldPlacement]:
    """Write ``<work>/convention-package.pdf``: the assembled package with one empty
    signature field per signatory (and the seal's, if asked) in one revision."""
    from signers.fields import add_signature_fields  # imported while rendering ended

    assert ctx.arrivals is not None
    placements = ctx.arrivals.placements()
    assembled = ctx.work / "assembled.pdf"
    add_signature_fields(assembled, ctx.work / rec.PACKAGE,
                         _field_specs(ctx.convention, placements, ctx.options.seal_field))
    assembled.unlink()
    return placements


def _field_specs(conv: Convention, placements: list[FieldPlacement], seal: bool) -> list[Any]:
    from signers import FieldSpec

    labels = {s.id: s.capacity for s in conv.signatories}
    specs = [FieldSpec(p.id, p.page, p.rect, labels[p.id]) for p in placements]
    if seal:
        from ..model import de_article

        specs.append(FieldSpec(SEAL_FIELD, 0, (0, 0, 0, 0),
                               f"Cachet {de_article(conv.caf.short_name)}"))
    return specs


# --- record ----------------------------------------------------------------------------------

def record(ctx: BuildContext, assembled: AssembleResult,
           placements: list[FieldPlacement]) -> BuildResult:
    """Write ``build.json`` (hashes, versions, field map) and move the finished build from
    its work folder into place."""
    conv = ctx.convention
    part_pages = list(assembled.part_pages) + [assembled.pages]
    infos = tuple(PartInfo(p.name, p.title, p.key, not p.reuse,
                           part_pages[i + 1] - part_pages[i]) for i, p in enumerate(ctx.parts))
    libreoffice = ctx.converters.description or str(
        ctx.previous.get("versions", {}).get("libreoffice", "unknown"))
    main_pdf = ctx.parts_dir / f"{MAIN_PART}.pdf"
    entry = {
        "format": rec.FORMAT_VERSION, "convention": conv.id, "title": conv.title,
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **ctx.keys,
        "data": {"path": str(ctx.data), "resolved": os.fspath(ctx.data.resolve()),
                 "sha256": rec.file_sha(ctx.data)},
        "templates": {p.template.name: p.template_sha for p in ctx.parts},
        "versions": {"libreoffice": libreoffice, "pyhanko": rec.version("pyHanko"),
                     "pypdf": rec.version("pypdf"), "docxtpl": rec.version("docxtpl")},
        "package": {"file": rec.PACKAGE, "sha256": rec.file_sha(ctx.work / rec.PACKAGE),
                    "pages": assembled.pages, "pdfa": assembled.pdfa_part},
        "parts": [_part_entry(ctx, p, info, start)
                  for p, info, start in zip(ctx.parts, infos, part_pages, strict=False)],
        "placements_key": rec.sha(rec.file_sha(main_pdf) + json.dumps(
            [[s.id, s.person.formal_name] for s in conv.signatories])),
        "fields": _field_entries(conv, placements),
        "seal": _seal_entry(conv) if ctx.options.seal_field else None,
    }
    rec.write_record(ctx.work / rec.RECORD, entry)
    rec.commit(ctx.work, ctx.out)
    return BuildResult(conv.id, ctx.out / rec.PACKAGE, ctx.out / rec.RECORD, assembled.pages,
                       infos, len(placements), sum(i.converted for i in infos), False,
                       time.perf_counter() - ctx.started)


def _part_entry(ctx: BuildContext, part: Part, info: PartInfo, start: int) -> dict[str, Any]:
    return {"name": part.name, "title": part.title, "key": part.key,
            "template": part.template.name, "converted": info.converted,
            "first_page": start + 1, "pages": info.pages,
            "docx_sha256": rec.file_sha(ctx.parts_dir / f"{part.name}.docx"),
            "pdf_sha256": rec.file_sha(ctx.parts_dir / f"{part.name}.pdf")}


def _field_entries(conv: Convention, placements: list[FieldPlacement]) -> list[dict[str, Any]]:
    where = {p.id: p for p in placements}
    return [{"id": s.id, "field": s.id, "role": s.role.value, "name": s.person.full_name,
             "formal_name": s.person.formal_name, "email": s.person.email,
             "certificates": list(s.person.certificates),
             "capacity": s.capacity, "organisation": s.organisation,
             "page": where[s.id].page + 1, "rect": list(where[s.id].rect),
             "name_box": list(where[s.id].name_box)}
            for s in conv.signatories]


def _seal_entry(conv: Convention) -> dict[str, Any]:
    from ..signatories import seal_expected

    seal = seal_expected(conv, SEAL_FIELD)
    return {"field": seal.field, "label": seal.label, "names": list(seal.names)}
