"""Locate each signatory's block on the rendered signature pages and derive its field box.

The template contract (templates/README.md): each block prints the capacity line, the
signatory's formal name, an empty area, then a caption ``Champ de signature : <id>``.
The field fills the empty area: from just under the name line down to just above the
caption, from the block's left edge to its column's right edge. Nothing is hard-coded:
every coordinate comes from the word positions of the converted PDF."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .exceptions import BuildError
from .poppler import PageWords, Word, page_words, text_source

MIN_HEIGHT = 40.0
"""Smallest acceptable field height in points (about 1.4 cm)."""
GAP = 3.0
"""Space kept between the field and the texts around it, in points."""


@dataclass(frozen=True)
class BlockSpec:
    """What to look for: one signatory's block."""

    id: str
    """Signatory id printed in the caption."""
    name: str
    """Formal name printed above the empty area, e.g. "M. Jean-François Soto"."""


@dataclass(frozen=True)
class FieldPlacement:
    """Where a signatory's field goes."""

    id: str
    """Signatory id (the field name)."""
    page: int
    """Zero-based page index."""
    rect: tuple[float, float, float, float]
    """(x1, y1, x2, y2) in PDF points, origin bottom-left."""
    name_box: tuple[float, float, float, float]
    """Box of the name line, same coordinates (for checks and tests)."""


CAPTION = ("Champ", "de", "signature", ":")
"""Words that introduce the signatory id under each block."""


def locate_blocks(pdf: Path, blocks: Sequence[BlockSpec], first_page: int = 1,
                  last_pages: int | None = None) -> list[FieldPlacement]:
    """Find every block in ``pdf`` and return field placements in the order of ``blocks``.

    ``last_pages`` limits the first search to the last N pages (signature pages close
    the convention); if some block is not there, every page from ``first_page`` on is
    searched."""
    captions: dict[str, list[tuple[PageWords, Word]]] = {}
    with text_source(pdf) as (source, count):
        if last_pages is not None:
            first = max(first_page, count - last_pages + 1)
            captions = _captions(page_words(source, first=first))
        if any(len(captions.get(b.id, [])) != 1 for b in blocks):
            captions = _captions(page_words(source, first=first_page))
    for b in blocks:
        _check_found(b.id, captions.get(b.id, []), pdf)
    lefts = [captions[b.id][0][1].x0 for b in blocks]
    columns = _columns(lefts)
    return [_place(b, *captions[b.id][0], columns, pdf) for b in blocks]


def _captions(pages: list[PageWords]) -> dict[str, list[tuple[PageWords, Word]]]:
    """Every caption "Champ de signature : <id>" → (page, the word "Champ"). The id may
    be wrapped over several words (LibreOffice breaks long ids at hyphens)."""
    found: dict[str, list[tuple[PageWords, Word]]] = {}
    n = len(CAPTION)
    for page in pages:
        words = page.words
        for i in range(len(words) - n):
            if tuple(w.text for w in words[i:i + n]) != CAPTION:
                continue
            ident = ""
            for word in words[i + n:i + n + 4]:
                if word.text == CAPTION[0]:
                    break
                ident += word.text
                if not ident.endswith("-"):
                    break
            found.setdefault(ident, []).append((page, words[i]))
    return found


def _check_found(ident: str, found: list[tuple[PageWords, Word]], pdf: Path) -> None:
    if len(found) != 1:
        what = "not found" if not found else f"found {len(found)} times"
        raise BuildError(
            f"{pdf.name}: the signature block of {ident!r} was {what}; the template must "
            f"print 'Champ de signature : {{{{ s.id }}}}' once per signatory "
            "(see templates/README.md, signature blocks)")


def _columns(lefts: list[float]) -> list[float]:
    xs = sorted(lefts)
    columns: list[float] = []
    for x in xs:
        if not columns or x - columns[-1] > 40:
            columns.append(x)
    return columns


def _place(block: BlockSpec, page: PageWords, caption: Word, columns: list[float],
           pdf: Path) -> FieldPlacement:
    left = caption.x0
    name = _find_name_line(page, block, left, caption)
    if name is None:
        raise BuildError(f"{pdf.name} page {page.index + 1}: the name {block.name!r} of "
                         f"{block.id!r} is not printed above its caption; check the signature "
                         "block in templates/convention.docx")
    right = _right_edge(left, page, columns)
    top, bottom = name[3] + GAP, caption.y0 - GAP
    if bottom - top < MIN_HEIGHT:
        raise BuildError(f"{pdf.name} page {page.index + 1}: the empty area of {block.id!r} "
                         f"is {bottom - top:.0f} pt high; the template must leave at least "
                         f"{MIN_HEIGHT:.0f} pt (about 1.4 cm) between the name and the caption")
    h = page.height
    return FieldPlacement(
        id=block.id, page=page.index,
        rect=(round(left, 2), round(h - bottom, 2), round(right, 2), round(h - top, 2)),
        name_box=(name[0], h - name[3], name[2], h - name[1]),
    )


def _find_name_line(page: PageWords, block: BlockSpec, left: float, caption: Word
                    ) -> tuple[float, float, float, float] | None:
    """Box (x0, top, x1, bottom) of the lowest line above the caption, starting at the
    block's left edge, whose words spell the formal name."""
    target = block.name.split()
    words = list(page.words)
    best = None
    for i, word in enumerate(words):
        if abs(word.x0 - left) > 2.0 or word.y1 > caption.y0:
            continue
        run = words[i:i + len(target)]
        if [w.text for w in run] == target and all(abs(w.y0 - word.y0) < 1.0 for w in run):
            box = (word.x0, min(w.y0 for w in run), max(w.x1 for w in run),
                   max(w.y1 for w in run))
            if best is None or box[3] > best[3]:
                best = box
    return best


def _right_edge(left: float, page: PageWords, columns: list[float]) -> float:
    later = [c for c in columns if c > left + 40]
    if later:
        return later[0] - 4 * GAP
    margin = min(columns) if columns else left
    return page.width - margin
