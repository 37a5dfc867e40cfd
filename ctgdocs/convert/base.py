"""Shared vocabulary of the conversion stage: jobs, the converter protocol, PDF/A checks."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

from ctgdocs.exceptions import ConversionError

#: LibreOffice import filter of .docx files (Word 2007 and later).
WORD_IMPORT_FILTER = "MS Word 2007 XML"
#: LibreOffice export filter and its options for PDF/A-2b (fonts are always embedded).
PDF_EXPORT_FILTER = "writer_pdf_Export"
PDFA_VERSION = 2
PDFA_CLI_FILTER = 'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"}}'

_PDFA_PART = re.compile(rb"pdfaid:part(?:>|=[\"'])\s*2\s*(?:<|[\"'])")
_PDFA_CONFORMANCE = re.compile(rb"pdfaid:conformance(?:>|=[\"'])\s*B\s*(?:<|[\"'])", re.I)

Progress = Callable[["ConversionJob"], None]


@dataclass(frozen=True)
class ConversionJob:
    """One Word document to turn into one PDF/A-2b file."""

    name: str
    """Human name used in messages, e.g. ``"annexe-gignac"``."""
    docx: Path
    """The Word document to convert."""
    pdf: Path
    """Where to write the PDF (its folder must exist); replaced atomically."""
    destinations: bool = False
    """Export the document's bookmarks as named destinations of the PDF (a converter
    whose ``destinations`` attribute is true honours it; others ignore it)."""


class Converter(Protocol):
    """Converts Word documents to PDF/A-2b; local LibreOffice workers or a unoserver."""

    destinations: bool
    """Whether :attr:`ConversionJob.destinations` is honoured."""

    def convert(self, jobs: Iterable[ConversionJob],
                progress: Progress | None = None) -> None:
        """Convert every job, calling ``progress(job)`` once per finished document.

        A sequence is converted biggest first; a generator (e.g. one that renders each
        document before yielding its job) is consumed while conversion goes on.

        Raises :class:`~ctgdocs.exceptions.ConversionError`; on failure no PDF written by
        this call is left at a job's ``pdf`` path."""
        ...

    def describe(self) -> str:
        """One line for logs, e.g. ``"LibreOffice 7.4.7.2, 2 local workers"``."""
        ...

    def start(self) -> None:
        """Start warming up in the background (optional; ``convert`` starts if needed)."""
        ...

    def set_workers(self, workers: int) -> None:
        """Use ``workers`` processes (or parallel requests) from now on; a started local
        converter starts the missing ones now and stops the extra ones."""
        ...

    def stop_soon(self) -> None:
        """Nothing more will be converted: ask the processes to quit now, without waiting
        (``close`` waits for them and cleans up)."""
        ...

    def restart_failed(self) -> list[str]:
        """Between two uses of a converter kept warm: start a new process in place of
        each one that failed to start or has exited; return why those that failed to
        start failed."""
        ...

    def close(self) -> None:
        """Release every process and temporary folder this converter holds."""
        ...

    def __enter__(self) -> Converter: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


def docx_weight(path: Path) -> int:
    """Rough cost of converting ``path``: the uncompressed size of its main XML part."""
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.getinfo("word/document.xml").file_size
    except (OSError, KeyError, zipfile.BadZipFile):
        return path.stat().st_size if path.exists() else 0


def biggest_first(jobs: Iterable[ConversionJob]) -> list[ConversionJob]:
    """``jobs`` sorted so that the most expensive documents are converted first."""
    return sorted(jobs, key=lambda job: docx_weight(job.docx), reverse=True)


def check_inputs(jobs: Sequence[ConversionJob]) -> None:
    """Refuse missing documents, missing output folders and duplicate output paths."""
    seen: set[Path] = set()
    for job in jobs:
        check_job(job, seen)


def check_job(job: ConversionJob, seen: set[Path]) -> None:
    """Check one job; ``seen`` collects the output paths of the jobs checked before."""
    if not job.docx.is_file():
        raise ConversionError(f"{job.name}: Word document {job.docx} does not exist; "
                              "render it before converting.")
    if not job.pdf.parent.is_dir():
        raise ConversionError(f"{job.name}: output folder {job.pdf.parent} does not exist.")
    if job.pdf.resolve() in seen:
        raise ConversionError(f"{job.name}: output {job.pdf} is used by two jobs.")
    seen.add(job.pdf.resolve())


def check_pdfa(job: ConversionJob, data: bytes) -> None:
    """Raise :class:`ConversionError` unless ``data`` is a PDF declaring PDF/A-2b."""
    if not data.startswith(b"%PDF-"):
        raise ConversionError(f"{job.name}: LibreOffice wrote {job.pdf.name}, but it is not "
                              "a PDF.")
    if not (_PDFA_PART.search(data) and _PDFA_CONFORMANCE.search(data)):
        raise ConversionError(
            f"{job.name}: the PDF from {job.docx.name} does not declare PDF/A-2b "
            "(pdfaid part 2, conformance B). Check that LibreOffice is 7.4 or later.")


def install_pdf(job: ConversionJob, produced: Path | bytes) -> None:
    """Check ``produced`` (a file or PDF bytes) and put it at ``job.pdf`` atomically."""
    from signers.atomic import atomic_write_bytes

    data = produced if isinstance(produced, bytes) else produced.read_bytes()
    check_pdfa(job, data)
    atomic_write_bytes(job.pdf, data)


def remove_outputs(jobs: Iterable[ConversionJob]) -> None:
    """Delete the PDFs of ``jobs`` (those this call wrote), ignoring missing ones."""
    for job in jobs:
        job.pdf.unlink(missing_ok=True)


def names(jobs: Iterable[ConversionJob]) -> str:
    """``"a.docx, b.docx"`` for messages."""
    return ", ".join(job.docx.name for job in jobs) or "(none)"


def tail(text: str, lines: int = 15) -> str:
    """The last ``lines`` non-empty lines of ``text``, indented, for error messages."""
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join("    " + line for line in kept) if kept else "    (no output)"
