"""What a build does with each part as soon as its PDF is in place, while LibreOffice
still converts the others: merge it into the package, and on the convention's arrival
locate the signature blocks."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from .parts import MAIN_PART, Part

if TYPE_CHECKING:
    from ..assemble import Assembly
    from ..layout import FieldPlacement


class Arrivals:
    """Merges the parts in package order on one thread as they arrive (that thread
    imports pypdf, not the one rendering the first documents); another locates the
    signature blocks once the convention is there, and imports pyHanko's PDF layer (slow
    to import) once every document is rendered."""

    def __init__(self, parts_dir: Path, parts: list[Part],
                 locate: Callable[[Path], list[FieldPlacement]],
                 progress: Callable[[str], None]) -> None:
        self.parts = [(parts_dir / f"{p.name}.pdf", p.title, p.label_prefix) for p in parts]
        """(PDF, outline title, page label prefix) of each part, in package order."""
        self.index = {pdf.stem: i for i, (pdf, _, _) in enumerate(self.parts)}
        self.locate = locate
        self.progress = progress
        self.merging = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ctgdocs-merge")
        self.side = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ctgdocs-side")
        self.done: set[int] = set()
        self.next = 0
        self.first: Future[Assembly] | None = None
        self.steps: list[Future[None]] = []
        self.located: Future[list[FieldPlacement]] | None = None
        self.cancelled = False

    def ready(self, name: str) -> None:
        """Part ``name`` is converted (or reused): merge what can be merged now."""
        if name == MAIN_PART:
            self.located = self.side.submit(self.locate, self.parts[0][0])
        self.done.add(self.index[name])
        while self.next in self.done:
            part = self.parts[self.next]
            if self.first is None:
                self.first = self.merging.submit(_start, part)
            else:
                self.steps.append(self.merging.submit(self._append, part))
            self.next += 1
        self.progress(name)

    def rendering_done(self) -> None:
        """Every document is rendered: import pyHanko's PDF layer meanwhile (not while
        the documents LibreOffice waits for are rendered)."""
        self.side.submit(importlib.import_module, "signers.fields")

    def assembly(self) -> Assembly:
        """The assembly with every part merged."""
        assert self.first is not None and self.next == len(self.parts)
        for step in self.steps:
            step.result()
        return self.first.result()

    def placements(self) -> list[FieldPlacement]:
        """Where the signature fields go (located on the convention's pages)."""
        assert self.located is not None
        return self.located.result()

    def _append(self, part: tuple[Path, str, str]) -> None:
        from ..assemble import PartPdf

        assert self.first is not None
        if not self.cancelled:
            self.first.result().append(PartPdf(*part))

    def __enter__(self) -> Arrivals:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Wait for the work under way; after a failure, skip the merges not started."""
        self.cancelled = exc is not None
        self.merging.shutdown(wait=True, cancel_futures=self.cancelled)
        self.side.shutdown(wait=True, cancel_futures=self.cancelled)


def _start(first: tuple[Path, str, str]) -> Assembly:
    from ..assemble import Assembly, PartPdf

    return Assembly(PartPdf(*first))
