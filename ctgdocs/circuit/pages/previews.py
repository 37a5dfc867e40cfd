"""Page previews of a circuit's document: its layout (page sizes, where each signature
field is) read from the PDF, and PNG pages rendered on demand by ``pdftoppm``, cached
on disk per head and page."""

from __future__ import annotations

import collections
import hashlib
import io
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...exceptions import MissingDependencyError, ServiceError
from ...runner import ProgramTimeout, run

__all__ = ["Box", "Layout", "PreviewCache", "read_layout"]

log = logging.getLogger(__name__)

RESOLUTION = 110
"""Dots per inch of a preview: an A4 page is 909 pixels wide, readable on a desktop
screen and sharp enough at 200 % zoom."""
INSTALL_HINT = "install it with: apt-get install poppler-utils"
_PNG_START, _PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
_STRIPES = 64


@dataclass(frozen=True)
class Box:
    """A rectangle on a page, in PDF points, from the page's top-left corner."""

    left: float
    """Distance from the left edge."""
    top: float
    """Distance from the top edge."""
    width: float
    """Width."""
    height: float
    """Height."""


@dataclass(frozen=True)
class Layout:
    """The pages of a document and where its visible signature fields are."""

    pages: tuple[tuple[float, float], ...]
    """(width, height) of each page in points, as displayed (rotation applied)."""
    fields: dict[str, tuple[int, Box]]
    """Visible signature field name → (1-based page, rectangle). Fields on rotated
    pages are left out (no highlight is drawn there)."""


def read_layout(data: bytes) -> Layout:
    """The layout of the PDF ``data`` (pages and signature widgets)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    pages: list[tuple[float, float]] = []
    fields: dict[str, tuple[int, Box]] = {}
    for number, page in enumerate(reader.pages, 1):
        crop = page.cropbox
        x0, y0, x1, y1 = (float(crop.left), float(crop.bottom), float(crop.right),
                          float(crop.top))
        rotation = page.rotation % 360
        pages.append((x1 - x0, y1 - y0) if rotation in (0, 180) else (y1 - y0, x1 - x0))
        if rotation:
            continue
        for annot in page.get("/Annots") or ():
            found = _signature_widget(annot.get_object())
            if found is None:
                continue
            name, (a, b, c, d) = found
            left, right, low, high = min(a, c), max(a, c), min(b, d), max(b, d)
            if right - left >= 1 and high - low >= 1:
                fields[name] = (number, Box(left - x0, y1 - high, right - left, high - low))
    return Layout(tuple(pages), fields)


def _signature_widget(widget: Any) -> tuple[str, tuple[float, ...]] | None:
    """(full field name, /Rect) of a signature field's widget, else ``None``."""
    if widget.get("/Subtype") != "/Widget" or "/Rect" not in widget:
        return None
    names, kind, node, depth = [], None, widget, 0
    while node is not None and depth < 32:
        if "/T" in node:
            names.append(str(node["/T"]))
        kind = kind or node.get("/FT")
        parent = node.get("/Parent")
        node = parent.get_object() if parent is not None else None
        depth += 1
    if kind != "/Sig" or not names:
        return None
    return ".".join(reversed(names)), tuple(float(v) for v in widget["/Rect"])


class PreviewCache:
    """Layouts in memory (one per circuit: an accepted revision may add neither pages
    nor fields, so every head of a circuit has its first head's layout) and rendered
    pages on disk (``<folder>/<head sha256>/page-0001.png``), each rendered once: a
    request for a page being rendered waits for that rendering. At most ``renders``
    ``pdftoppm`` run at once; the folders of the ``keep_heads`` most recently rendered
    heads are kept, older ones removed."""

    def __init__(self, folder: Path, *, resolution: int = RESOLUTION, timeout: float = 60.0,
                 renders: int = 2, keep_heads: int = 64) -> None:
        self.folder = folder
        self.resolution = resolution
        self.timeout = timeout
        self.keep_heads = keep_heads
        self._layouts: collections.OrderedDict[str, Layout] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        self._renders = threading.BoundedSemaphore(renders)

    def cached_layout(self, circuit: str) -> Layout | None:
        """The layout of ``circuit`` if it is in memory."""
        with self._lock:
            return self._layouts.get(circuit)

    def layout(self, circuit: str, data: Callable[[], bytes]) -> Layout:
        """The layout of ``circuit``'s document (``data()`` read only the first time)."""
        with self._lock:
            found = self._layouts.get(circuit)
            if found is not None:
                self._layouts.move_to_end(circuit)
                return found
        layout = read_layout(data())
        with self._lock:
            self._layouts[circuit] = layout
            while len(self._layouts) > 256:
                self._layouts.popitem(last=False)
        return layout

    def path(self, head: str, page: int) -> Path:
        """Where page ``page`` of the head ``head`` (its SHA-256) is cached."""
        return self.folder / head / f"page-{page:04d}.png"

    def cached_page(self, head: str, page: int) -> bytes | None:
        """The cached PNG of page ``page`` of ``head``, if it was rendered."""
        return _read_png(self.path(head, page))

    def page(self, head: str, page: int, data: Callable[[], bytes]) -> tuple[bytes, bool]:
        """The PNG of page ``page`` (1-based) of the head whose SHA-256 is ``head``, and
        whether it was rendered now (``data()``: the head's PDF, read only then)."""
        path = self.path(head, page)
        cached = _read_png(path)
        if cached is not None:
            return cached, False
        stripe = self._stripes[int(hashlib.sha256(f"{head}:{page}".encode()).hexdigest()[:8],
                                   16) % _STRIPES]
        with stripe:
            cached = _read_png(path)
            if cached is not None:
                return cached, False
            with self._renders:
                return self._render(data(), page, path), True

    def _render(self, pdf: bytes, page: int, path: Path) -> bytes:
        folder = path.parent
        fresh = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        if fresh:
            self._prune(keep=folder)
        stem = folder / f".render-{secrets.token_hex(8)}"
        source = stem.with_suffix(".pdf")
        try:
            source.write_bytes(pdf)
            try:
                proc = run([pdftoppm_path(), "-f", str(page), "-l", str(page), "-r",
                            str(self.resolution), "-png", "-singlefile", str(source),
                            str(stem)], timeout=self.timeout)
            except ProgramTimeout as exc:
                raise ServiceError(f"pdftoppm did not render page {page} within "
                                   f"{self.timeout:g} s") from exc
            png_path = stem.with_suffix(".png")
            png = _read_png(png_path) if proc.returncode == 0 else None
            if png is None:
                raise ServiceError(f"pdftoppm could not render page {page}: "
                                   f"{proc.stderr.strip()[:300]}")
            os.replace(png_path, path)
            return png
        finally:
            for leftover in (source, stem.with_suffix(".png")):
                leftover.unlink(missing_ok=True)

    def _prune(self, keep: Path) -> None:
        """Remove the oldest head folders beyond ``keep_heads``."""
        with self._lock:
            try:
                heads = [p for p in self.folder.iterdir() if p.is_dir() and p != keep]
            except OSError:
                return
            heads.sort(key=_mtime)
            for old in heads[:max(0, len(heads) + 1 - self.keep_heads)]:
                shutil.rmtree(old, ignore_errors=True)


def pdftoppm_path() -> str:
    """Path of ``pdftoppm``; :class:`MissingDependencyError` with the install command."""
    path = shutil.which("pdftoppm")
    if path is None:
        raise MissingDependencyError(f"pdftoppm (poppler-utils) is not installed; "
                                     f"{INSTALL_HINT}")
    return path


def _read_png(path: Path) -> bytes | None:
    """The PNG at ``path`` if it is there and whole (a cut file is rendered again)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if data.startswith(_PNG_START) and data.endswith(_PNG_END) else None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
