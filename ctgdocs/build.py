"""The build orchestrator: convention data → rendered parts → PDF/A parts → package with
fields, in the order of the pipeline diagram in DESIGN.md.

:func:`build_package` runs the steps of :mod:`ctgdocs.pipeline.steps` — plan → render and
convert → assemble → place fields → record — each a plain function over one
:class:`~ctgdocs.pipeline.context.BuildContext`. Parts whose template and data slice did
not change since the previous build are reused; the new build is prepared in a work
folder and moved into place only when it is complete."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .collector import fewer_collections
from .paths import TEMPLATES_DIR
from .pipeline import record as rec
from .pipeline.arrivals import Arrivals
from .pipeline.context import BuildContext, Converters
from .pipeline.options import BuildOptions, BuildResult, ConvertMode, PartInfo
from .pipeline.parts import MAIN_PART
from .pipeline.record import FORMAT_VERSION, code_key, quick_result
from .pipeline.steps import (
    assemble,
    locate_fields,
    place_fields,
    plan,
    record,
    render_and_convert,
    unchanged_result,
)

if TYPE_CHECKING:
    from .convert import Converter

__all__ = [
    "FORMAT_VERSION",
    "MAIN_PART",
    "TEMPLATES_DIR",
    "BuildOptions",
    "BuildResult",
    "ConvertMode",
    "PartInfo",
    "build_package",
    "code_key",
    "quick_result",
]

log = logging.getLogger(__name__)


def build_package(data: Path, options: BuildOptions | None = None,
                  progress: Callable[[str], None] | None = None, *,
                  converter: Converter | None = None) -> BuildResult:
    """Build ``<output root>/<id>/convention-package.pdf`` from the convention YAML
    ``data``, reusing the parts an earlier build made from the same template and data.

    ``progress(name)`` is called as each part's PDF is in place. ``converter``, if given,
    is a started converter the caller keeps warm between builds (``ctg build --watch``):
    the build neither resizes, stops nor closes it; otherwise local LibreOffice is
    started at once, while the data loads, and stopped before returning."""
    started = time.perf_counter()
    options = options or BuildOptions()
    quick_key = rec.quick_key(data, options)
    known = rec.previous_builds(options.output_root, data)
    found = rec.up_to_date(options, quick_key, known, started)
    if found is not None:
        return found
    with Converters(options, converter) as converters:
        # one worker when this data was built before: a rebuild usually converts a part
        # or two
        converters.start_early(1 if known else options.jobs)
        with fewer_collections():
            ctx = plan(data, options, converters, progress, quick_key, started)
            if ctx.unchanged:
                return unchanged_result(ctx)
            with _output_folder(ctx.out):
                return _build_with_fallback(ctx)


def _build_with_fallback(ctx: BuildContext) -> BuildResult:
    from .combine import CombinedFailed

    try:
        return _build(ctx)
    except CombinedFailed as exc:
        log.warning("the annexes could not be converted as one document (%s); they "
                    "are converted one by one", exc)
        ctx.combine = False
        return _build(ctx)


def _build(ctx: BuildContext) -> BuildResult:
    """One attempt: render and convert → assemble → place fields → record, in a work
    folder of its own inside the output folder."""
    with _work_folder(ctx), Arrivals(ctx.parts_dir, ctx.parts,
                                      lambda pdf: locate_fields(ctx, pdf),
                                      ctx.progress) as ctx.arrivals:
        t0 = time.perf_counter()
        render_and_convert(ctx)
        log.debug("render and convert: %.2f s", time.perf_counter() - t0)
        assembled = assemble(ctx)
        log.debug("assembled: %.2f s", time.perf_counter() - t0)
        placements = place_fields(ctx)
        log.debug("fields added: %.2f s", time.perf_counter() - t0)
        return record(ctx, assembled, placements)


@contextlib.contextmanager
def _work_folder(ctx: BuildContext) -> Iterator[Path]:
    """A new hidden work folder in the output folder, removed at the end (what it held
    was moved into place if the build succeeded)."""
    ctx.work = Path(tempfile.mkdtemp(prefix=".build-", dir=ctx.out))
    try:
        ctx.parts_dir.mkdir()
        yield ctx.work
    finally:
        shutil.rmtree(ctx.work, ignore_errors=True)


@contextlib.contextmanager
def _output_folder(out: Path) -> Iterator[None]:
    """``out``, created if needed; a folder this build created is removed again if the
    build leaves nothing in it."""
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield
    finally:
        if created and not any(out.iterdir()):
            out.rmdir()
