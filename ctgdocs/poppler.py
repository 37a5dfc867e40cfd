"""poppler-utils: word positions of a PDF (``pdftotext -bbox``) and its availability probe."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path

from .exceptions import BuildError, MissingDependencyError
from .runner import ProgramTimeout, run

INSTALL_HINT = "install it with: apt-get install poppler-utils"


@dataclass(frozen=True)
class Word:
    """A word on a page, in points, origin at the TOP-left corner (as pdftotext gives)."""

    text: str
    """The word."""
    x0: float
    """Left."""
    y0: float
    """Top."""
    x1: float
    """Right."""
    y1: float
    """Bottom."""


@dataclass(frozen=True)
class PageWords:
    """The words of one page."""

    index: int
    """Zero-based page index."""
    width: float
    """Page width in points."""
    height: float
    """Page height in points."""
    words: tuple[Word, ...]
    """Words in reading order."""


def pdftotext_path() -> str:
    """Path of ``pdftotext``; raises MissingDependencyError with the install command."""
    path = shutil.which("pdftotext")
    if path is None:
        raise MissingDependencyError(f"pdftotext (poppler-utils) is not installed; {INSTALL_HINT}")
    return path


def page_words(pdf: Path, first: int | None = None, last: int | None = None,
               timeout: float = 60.0) -> list[PageWords]:
    """Word boxes of the pages ``first``..``last`` (1-based, inclusive) of ``pdf``."""
    args = [pdftotext_path(), "-bbox"]
    if first is not None:
        args += ["-f", str(first)]
    if last is not None:
        args += ["-l", str(last)]
    try:
        proc = run([*args, str(pdf), "-"], timeout=timeout)
    except ProgramTimeout as exc:
        raise BuildError(f"pdftotext did not read {pdf.name} within {timeout:g} s") from exc
    if proc.returncode != 0:
        raise BuildError(f"pdftotext cannot read {pdf.name}: {proc.stderr.strip()}")
    return _parse(proc.stdout, (first or 1) - 1)


@contextlib.contextmanager
def text_source(pdf: Path) -> Iterator[tuple[Path, int]]:
    """``pdf`` in the form that ``pdftotext`` reads fastest, and its page count.

    poppler builds colour transforms from the PDF/A output intent's ICC profile on every
    page it reads, about 50 ms a page, although word positions never depend on colours.
    When ``pdf`` has an output intent, this yields a temporary copy with one more
    incremental revision whose catalog has none: the same pages, fonts and words. Otherwise
    (or when the file's last cross-reference section is a stream) it yields ``pdf``."""
    data = pdf.read_bytes()
    copy, pages = _without_output_intents(data)
    if copy is None:
        yield pdf, pages
        return
    with tempfile.TemporaryDirectory(prefix="ctgdocs-text-") as folder:
        path = Path(folder) / pdf.name
        path.write_bytes(copy)
        yield path, pages


_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")


def _without_output_intents(data: bytes) -> tuple[bytes | None, int]:
    """``data`` plus a revision redefining the catalog without ``/OutputIntents`` (or
    ``None`` when there is nothing to remove or the layout is not a plain xref table), and
    the page count."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError
    from pypdf.generic import DictionaryObject, IndirectObject, NameObject, NumberObject

    try:  # the strict parser skips re-reading every object header (see assemble.py)
        reader = PdfReader(io.BytesIO(data), strict=True)
        pages = len(reader.pages)
    except PdfReadError:
        reader = PdfReader(io.BytesIO(data))
        pages = len(reader.pages)
    root_ref = reader.trailer.raw_get("/Root")
    root = reader.trailer["/Root"]
    found = _STARTXREF.search(data[-64:])
    prev = int(found.group(1)) if found else -1
    if (not isinstance(root, DictionaryObject) or "/OutputIntents" not in root
            or not isinstance(root_ref, IndirectObject)
            or prev < 0 or not data[prev:].startswith(b"xref")):
        return None, pages
    catalog = DictionaryObject({k: v for k, v in dict.items(root) if k != "/OutputIntents"})
    trailer = DictionaryObject({k: v for k, v in dict.items(reader.trailer)
                                if k in ("/Size", "/Root", "/Info", "/ID")})
    trailer[NameObject("/Prev")] = NumberObject(prev)
    out = io.BytesIO()
    out.write(data if data.endswith(b"\n") else data + b"\n")
    offset = out.tell()
    out.write(f"{root_ref.idnum} {root_ref.generation} obj\n".encode())
    catalog.write_to_stream(out)
    out.write(b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n{root_ref.idnum} 1\n{offset:010d} {root_ref.generation:05d} n \n"
              "trailer\n".encode())
    trailer.write_to_stream(out)
    out.write(f"\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue(), pages


_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)
_WORD = re.compile(r'<word xMin="([\d.-]+)" yMin="([\d.-]+)" xMax="([\d.-]+)" '
                   r'yMax="([\d.-]+)">(.*?)</word>', re.S)


def _parse(xhtml: str, offset: int) -> list[PageWords]:
    pages = []
    for i, match in enumerate(_PAGE.finditer(xhtml)):
        words = tuple(Word(unescape(text), float(x0), float(y0), float(x1), float(y1))
                      for x0, y0, x1, y1, text in _WORD.findall(match.group(3)))
        pages.append(PageWords(offset + i, float(match.group(1)), float(match.group(2)), words))
    return pages
