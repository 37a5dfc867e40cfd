"""The build orchestrator: data → rendered parts → PDF/A parts → package with fields.

Reads like the pipeline diagram in DESIGN.md. Parts whose template and data slice did
not change since the previous build are reused; the new build is prepared in a work
folder and moved into place only when it is complete."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import importlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .collector import fewer_collections
from .exceptions import ConversionError, MissingDependencyError, TemplateError
from .paths import ANNEX_TEMPLATE, MAIN_TEMPLATE, TEMPLATES_DIR
from .signatories import SEAL_FIELD

if TYPE_CHECKING:
    from .assemble import Assembly
    from .convert import ConversionJob, Converter
    from .layout import FieldPlacement
    from .model import Convention

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Bumped when the build output format changes (invalidates every cached part)."""


@dataclass(frozen=True)
class BuildOptions:
    """Options of one build."""

    output_root: Path = Path("output")
    """Folder holding one sub-folder per convention."""
    templates: Path = TEMPLATES_DIR
    """Folder with convention.docx and annexe-commune.docx."""
    jobs: int | None = None
    """LibreOffice workers (default: one per CPU)."""
    converter: str | None = None
    """None for local LibreOffice, or ``unoserver://host:port``."""
    timeout: float = 120.0
    """Seconds before a hung conversion is killed."""
    force: bool = False
    """Rebuild every part even if unchanged."""
    seal_field: bool = False
    """Also add an invisible field ``cachet-caf`` for the Caf's organisation seal, which
    certifies the package before any person signs (``ctg seal``)."""


@dataclass(frozen=True)
class PartInfo:
    """One document of the package."""

    name: str
    """File stem, e.g. ``convention`` or ``annexe-gignac``."""
    title: str
    """Outline title."""
    key: str
    """Hash of template + data slice; unchanged key ⇒ part reused."""
    converted: bool
    """True if rendered and converted by this build."""
    pages: int
    """Page count of the part."""


@dataclass(frozen=True)
class BuildResult:
    """What a build produced."""

    convention_id: str
    """The convention id (output folder name)."""
    package: Path
    """Path of convention-package.pdf."""
    build_json: Path
    """Path of build.json."""
    pages: int
    """Pages of the package."""
    parts: tuple[PartInfo, ...]
    """Every part, in package order."""
    signatories: int
    """Number of signature fields."""
    converted: int
    """Parts converted by this build (0 when up to date)."""
    up_to_date: bool
    """True when nothing changed and nothing was written."""
    seconds: float
    """Wall time of the build."""
    warnings: tuple[str, ...] = field(default=())
    """Non-fatal remarks."""


MAIN_PART = "convention"
"""Name of the main convention's part (annexes are ``annexe-<commune>``)."""


@dataclass
class _Part:
    name: str
    title: str
    label_prefix: str
    template: Path
    context: dict[str, Any]
    template_sha: str = ""
    key: str = ""
    reuse: bool = False


def build_package(data: Path, options: BuildOptions | None = None,
                  progress: Callable[[str], None] | None = None) -> BuildResult:
    """Build ``output/<id>/convention-package.pdf`` from the convention YAML ``data``."""
    started = time.perf_counter()
    opts = options or BuildOptions()
    quick_key = _quick_key(data, opts)
    known = _previous_builds(opts.output_root, data)
    up_to_date = _quick_result(opts, quick_key, known, started)
    if up_to_date is not None:
        return up_to_date
    converter, early_error = _start_converter(opts, workers=1 if known else opts.jobs)
    try:
        with fewer_collections():
            return _build(data, opts, quick_key, converter, early_error, progress, started)
    finally:
        if converter is not None and converter is not _kept:
            converter.close()


def quick_result(data: Path, options: BuildOptions) -> BuildResult | None:
    """The result of a build with nothing to do, found without parsing the data (same
    data bytes, templates, options and code as an intact previous build); else ``None``."""
    started = time.perf_counter()
    return _quick_result(options, _quick_key(data, options),
                         _previous_builds(options.output_root, data), started)


def _quick_result(opts: BuildOptions, quick_key: str | None,
                  known: list[tuple[Path, dict[str, Any]]], started: float
                  ) -> BuildResult | None:
    if opts.force or quick_key is None:
        return None
    for out, record in known:
        if record.get("quick_key") == quick_key and _intact(out, record):
            return _result_from_previous(out, record, started)
    return None


_kept: Converter | None = None


def keep_converter(converter: Converter) -> None:
    """Use ``converter`` (started, kept warm by the caller) for every later local build
    of this process instead of starting LibreOffice each time (the build server)."""
    global _kept
    _kept = converter


def _build(data: Path, opts: BuildOptions, quick_key: str | None,
           converter: Converter | None, early_error: Exception | None,
           progress: Callable[[str], None] | None, started: float) -> BuildResult:
    from .load import load_convention

    conv = load_convention(data)
    out = opts.output_root / conv.id
    previous = _read_previous(out / "build.json")
    parts = _plan(conv, opts.templates)
    blocks_key = _sha(json.dumps([[s.id, s.person.formal_name, s.capacity, s.person.email,
                                   s.person.certificates] for s in conv.signatories]))
    # the code too: a new version may assemble the package differently (the parts,
    # LibreOffice's work, stay reused while their own keys match)
    inputs_key = _sha("|".join([str(FORMAT_VERSION), code_key(), blocks_key,
                                f"seal={opts.seal_field}", *(p.key for p in parts)]))
    if not opts.force and previous.get("inputs_key") == inputs_key and _intact(out, previous):
        if quick_key is not None and previous.get("quick_key") != quick_key:
            # e.g. only a comment of the data changed: the next run can skip parsing
            _write_json(out / "build.json", {**previous, "quick_key": quick_key})
        return _result_from_previous(out, previous, started)
    _mark_reusable(parts, out, previous, opts.force)
    if early_error is not None and any(not p.reuse for p in parts):
        raise early_error
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    keys = {"inputs_key": inputs_key, "quick_key": quick_key}
    try:
        try:
            result = _build_attempt(out, conv, data, parts, opts, previous, keys, converter,
                                    progress, combine=True)
        except _CombinedFailed as exc:
            log.warning("the annexes could not be converted as one document (%s); they "
                        "are converted one by one", exc)
            result = _build_attempt(out, conv, data, parts, opts, previous, keys, converter,
                                    progress, combine=False)
    finally:
        if created and not any(out.iterdir()):
            out.rmdir()
    return BuildResult(**{**result, "seconds": time.perf_counter() - started})


def _build_attempt(out: Path, conv: Convention, data: Path, parts: list[_Part],
                   opts: BuildOptions, previous: dict[str, Any], keys: dict[str, str | None],
                   converter: Converter | None, progress: Callable[[str], None] | None,
                   combine: bool) -> dict[str, Any]:
    """Build in a work folder of its own, then move the result into ``out``."""
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=out))
    try:
        result = _build_in(work, conv, data, parts, opts, previous, keys, converter,
                           progress, combine)
        _commit(work, out)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _start_converter(opts: BuildOptions, workers: int | None
                     ) -> tuple[Converter | None, Exception | None]:
    """Start local LibreOffice now, so that it boots while the data loads (one worker
    when this data was built before: a rebuild usually converts a part or two). A
    failure is kept and raised only if something must be converted."""
    if opts.converter is not None:
        return None, None
    if _kept is not None:
        return _kept, None
    from .convert import make_converter

    try:
        converter = make_converter(None, jobs=workers, timeout=opts.timeout)
    except (MissingDependencyError, ConversionError) as exc:
        return None, exc
    converter.start()
    return converter, None


def _quick_key(data: Path, opts: BuildOptions) -> str | None:
    """A key of everything a build reads — the data file's bytes, the templates, the
    options that change the output and the code — computed without parsing anything.
    ``None`` when a file cannot be read (the full build then reports it)."""
    try:
        files = [data, opts.templates / MAIN_TEMPLATE, opts.templates / ANNEX_TEMPLATE]
        digests = [_file_sha(path) for path in files]
    except OSError:
        return None
    return _sha("|".join([str(FORMAT_VERSION), code_key(), f"seal={opts.seal_field}",
                          *digests]))


@functools.cache
def code_key() -> str:
    """Hash of the source of ctgdocs and signers: a new version rebuilds."""
    digest = hashlib.sha256()
    signers = importlib.util.find_spec("signers")
    assert signers is not None and signers.origin is not None
    for package in (Path(__file__).resolve().parent, Path(signers.origin).parent):
        for path in sorted(package.rglob("*.py")):
            digest.update(os.fsencode(path.relative_to(package.parent)) + b"\0"
                          + path.read_bytes())
    return digest.hexdigest()


def _previous_builds(root: Path, data: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The builds under ``root`` whose recorded data file is ``data``."""
    try:
        wanted = os.fspath(data.resolve())
        folders = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return []
    found = []
    for folder in folders:
        record = _read_previous(folder / "build.json")
        if record and record.get("data", {}).get("resolved") == wanted:
            found.append((folder, record))
    return found


def _plan(conv: Convention, templates: Path) -> list[_Part]:
    from . import render
    from .model import de

    main_t = templates / render.MAIN_TEMPLATE
    annex_t = templates / render.ANNEX_TEMPLATE
    parts = [_Part(MAIN_PART, conv.title, "", main_t, render.main_context(conv))]
    for i, commune in enumerate(conv.communes):
        parts.append(_Part(Path(render.annex_filename(commune)).stem,
                           f"Annexe {i + 1} – Commune {de(commune.name)}", f"A{i + 1}-",
                           annex_t, render.annex_context(conv, i)))
    for template in (main_t, annex_t):
        if not template.is_file():
            raise TemplateError(f"{template}: template not found; give --templates DIR "
                                f"holding {render.MAIN_TEMPLATE} and {render.ANNEX_TEMPLATE}")
    template_hashes = {t: _file_sha(t) for t in {main_t, annex_t}}
    for part in parts:
        ctx = json.dumps(part.context, sort_keys=True, ensure_ascii=False, default=str)
        part.template_sha = template_hashes[part.template]
        part.key = _sha(f"{FORMAT_VERSION}|{part.template_sha}|{ctx}")
    return parts


def _mark_reusable(parts: list[_Part], out: Path, previous: dict[str, Any], force: bool
                   ) -> None:
    if force:
        return
    old = {p["name"]: p for p in previous.get("parts", [])}
    for part in parts:
        entry = old.get(part.name)
        pdf = out / "parts" / f"{part.name}.pdf"
        part.reuse = bool(entry and entry.get("key") == part.key and pdf.is_file()
                          and _file_sha(pdf) == entry.get("pdf_sha256"))


def _build_in(work: Path, conv: Convention, data: Path, parts: list[_Part],
              opts: BuildOptions, previous: dict[str, Any], keys: dict[str, str | None],
              converter: Converter | None, progress: Callable[[str], None] | None,
              combine: bool = True) -> dict[str, Any]:
    parts_dir = work / "parts"
    parts_dir.mkdir()
    main_pdf = parts_dir / "convention.pdf"
    # Each part is merged as soon as it and the parts before it are ready, in one
    # thread (which imports pypdf, not the thread rendering the first documents); another
    # locates the signature blocks and imports pyHanko (slow to import).
    with ThreadPoolExecutor(max_workers=1) as merging, \
            ThreadPoolExecutor(max_workers=1) as side:
        merged = _InOrder(merging, [(parts_dir / f"{p.name}.pdf", p.title, p.label_prefix)
                                    for p in parts])
        placements_future: list[Future[list[FieldPlacement]]] = []

        def done(name: str) -> None:
            if name == MAIN_PART:
                placements_future.append(side.submit(_placements, conv, main_pdf, previous))
            merged.ready(name)
            if progress:
                progress(name)

        t0 = time.perf_counter()
        try:
            converter_info = _render_and_convert(
                parts, parts_dir, opts, previous, done, work, converter,
                # pyHanko is slow to import: not while the documents LibreOffice waits
                # for are rendered
                lambda: side.submit(importlib.import_module, "signers.fields"), combine)
        except BaseException:
            merged.cancel()
            raise
        log.debug("render and convert: %.2f s", time.perf_counter() - t0)
        assembly = merged.result()
        placements = placements_future[0].result()
    log.debug("parts merged, blocks located: %.2f s", time.perf_counter() - t0)
    assembled = work / "assembled.pdf"
    result = assembly.finish(assembled, _metadata(conv))
    package = work / "convention-package.pdf"
    log.debug("assembled: %.2f s", time.perf_counter() - t0)
    from signers.fields import add_signature_fields  # imported meanwhile

    add_signature_fields(assembled, package, _field_specs(conv, placements, opts.seal_field))
    assembled.unlink()
    log.debug("fields added: %.2f s", time.perf_counter() - t0)
    part_pages = list(result.part_pages) + [result.pages]
    infos = tuple(PartInfo(p.name, p.title, p.key, not p.reuse,
                           part_pages[i + 1] - part_pages[i]) for i, p in enumerate(parts))
    record = {
        "format": FORMAT_VERSION, "convention": conv.id, "title": conv.title,
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **keys,
        "data": {"path": str(data), "resolved": os.fspath(data.resolve()),
                 "sha256": _file_sha(data)},
        "templates": {p.template.name: p.template_sha for p in parts},
        "versions": {"libreoffice": converter_info, "pyhanko": _version("pyHanko"),
                     "pypdf": _version("pypdf"), "docxtpl": _version("docxtpl")},
        "package": {"file": "convention-package.pdf", "sha256": _file_sha(package),
                    "pages": result.pages, "pdfa": result.pdfa_part},
        "parts": [_part_record(p, info, parts_dir, start)
                  for p, info, start in zip(parts, infos, part_pages, strict=False)],
        "placements_key": _sha(_file_sha(main_pdf) + json.dumps(
            [[s.id, s.person.formal_name] for s in conv.signatories])),
        "fields": _field_records(conv, placements),
        "seal": _seal_record(conv) if opts.seal_field else None,
    }
    _write_json(work / "build.json", record)
    out = opts.output_root / conv.id
    return {"convention_id": conv.id, "package": out / "convention-package.pdf",
            "build_json": out / "build.json", "pages": result.pages, "parts": infos,
            "signatories": len(placements), "converted": sum(i.converted for i in infos),
            "up_to_date": False}


class _InOrder:
    """Merges the parts in package order on ``pool`` (one thread) as they get ready."""

    def __init__(self, pool: ThreadPoolExecutor, parts: list[tuple[Path, str, str]]) -> None:
        self.pool = pool
        self.parts = parts
        """(PDF, outline title, page label prefix) of each part, in package order."""
        self.index = {pdf.stem: i for i, (pdf, _, _) in enumerate(parts)}
        self.done: set[int] = set()
        self.next = 0
        self.first: Future[Assembly] | None = None
        self.steps: list[Future[None]] = []
        self.cancelled = False

    def ready(self, name: str) -> None:
        """Part ``name`` is converted (or reused): merge what can be merged now."""
        self.done.add(self.index[name])
        while self.next in self.done:
            if self.first is None:
                self.first = self.pool.submit(self._start, self.parts[0])
            else:
                self.steps.append(self.pool.submit(self._append, self.parts[self.next]))
            self.next += 1

    @staticmethod
    def _start(part: tuple[Path, str, str]) -> Assembly:
        from .assemble import Assembly, PartPdf

        return Assembly(PartPdf(*part))

    def _append(self, part: tuple[Path, str, str]) -> None:
        from .assemble import PartPdf

        assert self.first is not None
        if not self.cancelled:
            self.first.result().append(PartPdf(*part))

    def cancel(self) -> None:
        """Skip the merges not started yet (the build failed)."""
        self.cancelled = True

    def result(self) -> Assembly:
        """The assembly with every part merged."""
        assert self.first is not None and self.next == len(self.parts)
        for step in self.steps:
            step.result()
        return self.first.result()


class _CombinedFailed(Exception):
    """Annexes converted as one document could not be split again, or that conversion
    failed: the build starts again, converting them one by one."""


@dataclass(frozen=True)
class _Combined:
    """Annexes converted as one document."""

    job: ConversionJob
    annexes: list[ConversionJob]


def _render_and_convert(parts: list[_Part], parts_dir: Path, opts: BuildOptions,
                        previous: dict[str, Any], progress: Callable[[str], None],
                        work: Path, converter: Converter | None,
                        rendering_done: Callable[[], object], combine: bool = True) -> str:
    """Reuse unchanged parts; render the others one by one while LibreOffice (started
    early, or now) converts them. ``rendering_done`` is called once every part is
    rendered (or reused). With ``combine``, annexes to convert are converted a few at a
    time as one document when they can be (:mod:`ctgdocs.combine`)."""
    from . import render
    from .convert import ConversionJob, make_converter

    todo = [p for p in parts if not p.reuse]
    old_dir = work.parent / "parts"
    for part in parts:
        if part.reuse:
            for ext in (".docx", ".pdf"):
                _link_or_copy(old_dir / f"{part.name}{ext}", parts_dir / f"{part.name}{ext}")
            progress(part.name)
    if not todo:
        rendering_done()
        return str(previous.get("versions", {}).get("libreoffice", "unknown"))

    combined: dict[str, _Combined] = {}

    def job(part: _Part) -> ConversionJob:
        docx = parts_dir / f"{part.name}.docx"
        render.render_docx(part.template, part.context, docx)
        return ConversionJob(part.name, docx, parts_dir / f"{part.name}.pdf")

    def rendered() -> Iterator[ConversionJob]:
        annexes = [p for p in todo if p.name != MAIN_PART]
        if combine and len(annexes) >= 2 and converter is not None and converter.destinations:
            yield from _combining(todo, annexes, job, workers, work, combined)
        else:
            yield from (job(p) for p in _render_order(todo, workers))
        rendering_done()

    def converted(done: ConversionJob) -> None:
        group = combined.get(done.name)
        if group is None:
            progress(done.name)
            return
        _split(group)
        for annex in group.annexes:
            progress(annex.name)

    workers = min(opts.jobs or os.cpu_count() or 1, len(todo))
    with contextlib.ExitStack() as stack:
        if converter is None:
            converter = stack.enter_context(
                make_converter(opts.converter, jobs=workers, timeout=opts.timeout))
        elif converter is not _kept:
            converter.set_workers(workers)
        try:
            converter.convert(rendered(), converted)
        except ConversionError as exc:
            if exc.job in combined:
                raise _CombinedFailed(str(exc)) from exc
            raise
        if converter is not _kept:
            converter.stop_soon()  # LibreOffice quits while the package is finished
        return converter.describe()


STARTER = 3
"""Annexes combined first, for the worker that does not convert the convention, so that
it starts while the other annexes are rendered."""
RUN = 8
"""Most annexes in one combined document after the first: the workers take the next
document as soon as they are free, so shorter runs keep them evenly busy, and each
document costs LibreOffice about 25 ms of its own."""


def _combining(todo: list[_Part], annexes: list[_Part],
               job: Callable[[_Part], ConversionJob], workers: int, work: Path,
               combined: dict[str, _Combined]) -> Iterator[ConversionJob]:
    """Render ``todo`` and yield what to convert: the convention first (the longest
    conversion), then a few annexes as one document for the next worker, then the
    other annexes in runs of at most :data:`RUN`, each as one document, at least one run
    per worker. Each run is yielded as soon as it is rendered; a run that cannot be
    combined is yielded annex by annex."""
    yield from (job(p) for p in todo if p.name == MAIN_PART)
    starter = annexes[:STARTER] if workers > 1 and len(annexes) > STARTER + 1 else []
    rest = annexes[len(starter):]
    count = min(len(rest), max(workers, -(-len(rest) // RUN)))
    runs = [starter] + [rest[len(rest) * i // count:len(rest) * (i + 1) // count]
                        for i in range(count)]
    combining = True
    for run in runs:
        if not run:
            continue
        jobs = [job(p) for p in run]
        queued = _queue_run(jobs, work, combined) if combining else jobs
        combining = combining and (len(queued) == 1 or len(jobs) == 1)  # else: template
        yield from queued


def _queue_run(members: list[ConversionJob], work: Path, combined: dict[str, _Combined]
               ) -> list[ConversionJob]:
    """``members`` (rendered annexes) as one combined job, recorded in ``combined``; one
    by one if they are fewer than two or cannot be combined."""
    from .combine import NotCombinable, combine_annexes
    from .convert import ConversionJob

    if len(members) < 2:
        return members
    docx = work / f"annexes-{len(combined) + 1}.docx"
    try:
        combine_annexes([m.docx for m in members], docx)
    except NotCombinable as exc:
        log.info("annexes converted one by one: %s", exc)
        return members
    name = f"{members[0].name} to {members[-1].name} (as one document)"
    group = _Combined(ConversionJob(name, docx, docx.with_suffix(".pdf"), destinations=True),
                      members)
    combined[name] = group
    return [group.job]


def _split(group: _Combined) -> None:
    """Write each annex's PDF from the PDF of ``group``; whatever keeps it from being
    split (no closing bookmarks, a PDF pypdf cannot read) sends the build back to
    converting the annexes one by one."""
    from .combine import split_combined

    try:
        split_combined(group.job.pdf, [a.pdf for a in group.annexes])
    except Exception as exc:  # noqa: BLE001 - the annexes are converted again one by one
        raise _CombinedFailed(f"{group.job.name}: {exc}") from exc


def _render_order(todo: list[_Part], workers: int) -> list[_Part]:
    """The order to render (and so to convert) the parts in: one annex per worker first,
    then the main convention, then the other annexes. An annex renders in about 10 ms
    and the convention in 60 ms: the workers start converting as soon as they are ready,
    and the convention, the longest conversion, still starts early."""
    main = [p for p in todo if p.name == MAIN_PART]
    annexes = [p for p in todo if p.name != MAIN_PART]
    return annexes[:workers] + main + annexes[workers:]


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _placements(conv: Convention, main_pdf: Path, previous: dict[str, Any]
                ) -> list[FieldPlacement]:
    """Field placements: from the previous build when the convention PDF and the
    signatories are unchanged, else located on the rendered signature pages."""
    from .layout import BlockSpec, FieldPlacement, locate_blocks

    blocks = [BlockSpec(s.id, s.person.formal_name) for s in conv.signatories]
    key = _sha(_file_sha(main_pdf) + json.dumps([[b.id, b.name] for b in blocks]))
    if previous.get("placements_key") == key:
        return [FieldPlacement(f["id"], f["page"] - 1, tuple(f["rect"]),  # type: ignore[arg-type]
                               tuple(f["name_box"]))  # type: ignore[arg-type]
                for f in previous["fields"]]
    return locate_blocks(main_pdf, blocks, last_pages=len(blocks) // 6 + 3)


def _field_specs(conv: Convention, placements: list[FieldPlacement], seal: bool) -> list[Any]:
    from signers import FieldSpec

    labels = {s.id: s.capacity for s in conv.signatories}
    specs = [FieldSpec(p.id, p.page, p.rect, labels[p.id]) for p in placements]
    if seal:
        from .model import de_article

        specs.append(FieldSpec(SEAL_FIELD, 0, (0, 0, 0, 0),
                               f"Cachet {de_article(conv.caf.short_name)}"))
    return specs


def _field_records(conv: Convention, placements: list[FieldPlacement]) -> list[dict[str, Any]]:
    where = {p.id: p for p in placements}
    return [{"id": s.id, "field": s.id, "role": s.role.value, "name": s.person.full_name,
             "formal_name": s.person.formal_name, "email": s.person.email,
             "certificates": list(s.person.certificates),
             "capacity": s.capacity, "organisation": s.organisation,
             "page": where[s.id].page + 1, "rect": list(where[s.id].rect),
             "name_box": list(where[s.id].name_box)}
            for s in conv.signatories]


def _seal_record(conv: Convention) -> dict[str, Any]:
    from .signatories import seal_expected

    seal = seal_expected(conv, SEAL_FIELD)
    return {"field": seal.field, "label": seal.label, "names": list(seal.names)}


def _part_record(part: _Part, info: PartInfo, parts_dir: Path, start: int) -> dict[str, Any]:
    return {"name": part.name, "title": part.title, "key": part.key,
            "template": part.template.name, "converted": info.converted,
            "first_page": start + 1, "pages": info.pages,
            "docx_sha256": _file_sha(parts_dir / f"{part.name}.docx"),
            "pdf_sha256": _file_sha(parts_dir / f"{part.name}.pdf")}


def _metadata(conv: Convention) -> Any:
    from .assemble import PackageMetadata

    parties = f"{conv.caf.short_name} ; {conv.epci.name}"
    return PackageMetadata(
        title=f"{conv.title} – {conv.territory}",
        subject=f"Convention territoriale globale {conv.period.start}-{conv.period.end} entre "
                f"{parties} et ses {len(conv.communes)} communes",
        author=parties,
        keywords="convention territoriale globale; CTG; Caf; "
                 + "; ".join(f.label for f in conv.fields),
    )


def _commit(work: Path, out: Path) -> None:
    """Move the finished build into ``out``; the package and build.json are replaced
    atomically, the parts folder by a swap."""
    parts, old = out / "parts", out / f".parts-old-{os.getpid()}"
    if parts.exists():
        os.replace(parts, old)
    os.replace(work / "parts", parts)
    os.replace(work / "convention-package.pdf", out / "convention-package.pdf")
    os.replace(work / "build.json", out / "build.json")
    shutil.rmtree(old, ignore_errors=True)


def _write_json(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` to ``path`` atomically."""
    from .render import write_atomic

    write_atomic(path, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode())


def _read_previous(path: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("format") == FORMAT_VERSION:
            return data
    return {}


def _intact(out: Path, previous: dict[str, Any]) -> bool:
    """The package and parts recorded in ``previous`` are still in ``out``, unchanged."""
    package = out / "convention-package.pdf"
    try:
        return (package.is_file()
                and _file_sha(package) == previous.get("package", {}).get("sha256")
                and all((out / "parts" / f"{p['name']}.pdf").is_file()
                        for p in previous.get("parts", [])))
    except OSError:
        return False


def _result_from_previous(out: Path, previous: dict[str, Any], started: float
                          ) -> BuildResult:
    parts = tuple(PartInfo(p["name"], p["title"], p["key"], False, p["pages"])
                  for p in previous["parts"])
    return BuildResult(previous["convention"], out / "convention-package.pdf",
                       out / "build.json", previous["package"]["pages"], parts,
                       len(previous["fields"]), 0, True, time.perf_counter() - started)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"
