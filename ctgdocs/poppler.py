"""poppler-utils: word positions of a PDF (``pdftotext -bbox``) and its availability probe."""

from __future__ import annotations

import re
import shutil
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
