"""The state of one build, shared by its steps: the options, the folders, the parts and
the converter (:class:`BuildContext`)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from ..exceptions import ConversionError, MissingDependencyError
from .options import BuildOptions
from .parts import Part
from .record import Record

if TYPE_CHECKING:
    from ..convert import Converter
    from ..model import Convention
    from .arrivals import Arrivals

log = logging.getLogger(__name__)

class Converters:
    """The converter of one build: local LibreOffice started before the data is even
    parsed, a client of a unoserver, or a warm converter that the caller keeps
    (``ctg build --watch``) and that the build neither resizes, stops nor closes."""

    def __init__(self, options: BuildOptions, shared: Converter | None = None) -> None:
        self.options = options
        self.shared = shared
        self.early: Converter | None = None
        """Local LibreOffice started by :meth:`start_early`, closed by :meth:`close`."""
        self.error: Exception | None = None
        """Why LibreOffice could not be started early (raised only if needed)."""
        self.description: str | None = None
        """What converted this build's documents (``None`` when nothing was)."""

    def start_early(self, workers: int | None) -> None:
        """Start local LibreOffice now, so that it boots while the data loads. A failure
        is kept and raised only if something must be converted."""
        if self.shared is not None or self.options.converter is not None:
            return
        from ..convert import make_converter

        try:
            self.early = make_converter(None, jobs=workers, timeout=self.options.timeout,
                                        mode=self.options.convert_mode)
        except (MissingDependencyError, ConversionError) as exc:
            self.error = exc
            return
        self.early.start()

    def check(self) -> None:
        """Raise the error that kept LibreOffice from starting, if one did."""
        if self.error is not None:
            raise self.error

    def workers_for(self, documents: int) -> int:
        """How many documents are converted at once: one per worker asked for (default:
        one per CPU), at most one per document."""
        return min(self.options.jobs or os.cpu_count() or 1, documents)

    @contextlib.contextmanager
    def converting(self, documents: int) -> Iterator[Converter]:
        """The converter for ``documents`` documents, with at most one worker each; once
        they are converted, LibreOffice is asked to quit (unless the caller keeps it)
        while the package is finished."""
        self.check()
        workers = self.workers_for(documents)
        if self.shared is not None:
            yield self.shared
            self.description = self.shared.describe()
            return
        with contextlib.ExitStack() as stack:
            converter = self.early
            if converter is None:
                from ..convert import make_converter

                converter = stack.enter_context(make_converter(
                    self.options.converter, jobs=workers, timeout=self.options.timeout,
                    mode=self.options.convert_mode))
            else:
                converter.set_workers(workers)
            yield converter
            converter.stop_soon()
            self.description = converter.describe()

    def close(self) -> None:
        """Stop the LibreOffice this build started."""
        if self.early is not None:
            self.early.close()

    def __enter__(self) -> Converters:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


@dataclass
class BuildContext:
    """One build, as its steps (:mod:`ctgdocs.pipeline.steps`) see it and fill it in."""

    data: Path
    """The convention's YAML file."""
    options: BuildOptions
    """What the build was asked to do."""
    converters: Converters
    """Where documents get converted."""
    convention: Convention
    """The loaded data."""
    previous: Record
    """The previous build of this convention (``build.json``; empty if none)."""
    parts: list[Part]
    """Every document of the package, in package order."""
    keys: dict[str, str | None]
    """``inputs_key`` (everything the package is made from, the code included) and
    ``quick_key`` (the same from file bytes only, see :func:`.record.quick_key`)."""
    started: float
    """``time.perf_counter()`` when the build started."""
    unchanged: bool = False
    """Nothing the package is made from changed since the previous build, still intact."""
    progress: Callable[[str], None] = field(default=lambda name: None)
    """Called with each part's name once its PDF is in place (converted or reused)."""
    combine: bool = True
    """Convert the annexes a few at a time as one document where they can be
    (:mod:`ctgdocs.combine`); false after such a conversion failed."""
    work: Path = Path()
    """The folder the current attempt writes in (inside :attr:`out`)."""
    arrivals: Arrivals | None = None
    """What the current attempt does with each part as it arrives."""

    @property
    def out(self) -> Path:
        """The convention's output folder, ``<output root>/<id>``."""
        return self.options.output_root / self.convention.id

    @property
    def parts_dir(self) -> Path:
        """Where the current attempt puts the parts (``<work>/parts``)."""
        return self.work / "parts"

    def part_ready(self, name: str) -> None:
        """Part ``name``'s PDF is in place (see :class:`.arrivals.Arrivals`)."""
        assert self.arrivals is not None
        self.arrivals.ready(name)
