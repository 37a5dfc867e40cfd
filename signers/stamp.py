"""The visible signature stamp: text lines, font size fitting the box, pyHanko style.

The stamp reads, in the words the caller gives (:class:`~signers.model.StampWording`)::

    Signed electronically by First Last
    The capacity line
    on 2026-11-27 at 10:42 (UTC)

It is set in Noto Sans (1000 units per em, so pyHanko's glyph widths come out right),
embedded and subset through pyHanko's OpenType support. The font size is the largest
(up to :data:`MAX_SIZE`) at which the lines fit the field, wrapped at spaces when that
allows a larger size; :data:`MIN_SIZE` is the floor (pyHanko then shrinks to fit).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import TextStampStyle

from .exceptions import MissingDependencyError
from .model import StampWording

STAMP_FONT = Path(os.environ.get("SIGNERS_STAMP_FONT",
                                 "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"))
"""The stamp font (a 1000-units-per-em TrueType font); override with SIGNERS_STAMP_FONT."""

log = logging.getLogger(__name__)

MAX_SIZE = 10
MIN_SIZE = 5
LEADING = 1.2
PADDING = 6
BORDER = 1


@dataclass(frozen=True)
class StampLayout:
    """The text of a stamp and the font size chosen to fit its box."""

    lines: tuple[str, ...]
    """The lines, after wrapping."""
    font_size: int
    """Font size in points (pyHanko's layout wants whole numbers)."""


def stamp_lines(signer_name: str, capacity: str | None, when: dt.datetime, *,
                seal: bool = False, wording: StampWording | None = None) -> tuple[str, ...]:
    """The lines of a stamp in ``wording`` (default: English, UTC)."""
    words = wording or StampWording()
    local = when.astimezone(ZoneInfo(words.timezone))
    head = (words.sealed if seal else words.signed).format(name=signer_name)
    date = words.when.format(time=local)
    return (head, capacity, date) if capacity else (head, date)


def fit(lines: Sequence[str], width: float, height: float) -> StampLayout:
    """The largest font size (≤ MAX_SIZE) at which ``lines`` fit ``width`` × ``height``,
    as they are or wrapped at spaces (at equal size, unwrapped wins)."""
    inner_w, inner_h = width - 2 * (PADDING + BORDER), height - 2 * (PADDING + BORDER)
    for size in range(MAX_SIZE, MIN_SIZE - 1, -1):
        for candidate in (tuple(lines), _wrap_all(lines, inner_w / size)):
            widest = max(text_width(line) for line in candidate)
            if widest * size <= inner_w and len(candidate) * leading(size) <= inner_h:
                return StampLayout(candidate, size)
    return StampLayout(_wrap_all(lines, inner_w / MIN_SIZE), MIN_SIZE)


def leading(size: int) -> int:
    """Baseline-to-baseline distance for ``size`` (whole points)."""
    return max(size + 1, round(LEADING * size))


def text_width(text: str) -> float:
    """Width of ``text`` in ems of the stamp font (no kerning)."""
    widths, default, upem = _metrics()
    return sum(widths.get(ord(c), default) for c in text) / upem


def _wrap_all(lines: Sequence[str], max_em: float) -> tuple[str, ...]:
    out: list[str] = []
    for line in lines:
        out.extend(_wrap(line, max_em))
    return tuple(out)


def _wrap(line: str, max_em: float) -> list[str]:
    rows: list[str] = []
    current = ""
    for word in line.split(" "):
        trial = f"{current} {word}" if current else word
        if current and text_width(trial) > max_em:
            rows.append(current)
            current = word
        else:
            current = trial
    rows.append(current)
    return rows


@functools.lru_cache(maxsize=1)
def _metrics() -> tuple[dict[int, int], int, int]:
    from fontTools.ttLib import TTFont

    font = TTFont(_font_path(), lazy=True)
    cmap = font.getBestCmap()
    hmtx = font["hmtx"]
    widths = {cp: hmtx[name][0] for cp, name in cmap.items()}
    return widths, hmtx[".notdef"][0], int(font["head"].unitsPerEm)


def _font_path() -> Path:
    if not STAMP_FONT.is_file():
        raise MissingDependencyError(f"stamp font {STAMP_FONT} not found: apt install "
                                     "fonts-noto-core (or set SIGNERS_STAMP_FONT)")
    return _latin_subset(STAMP_FONT)


LATIN_RANGES = ((0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x1E00, 0x1EFF),
                (0x2010, 0x203A), (0x20AC, 0x20AC), (0x2212, 0x2212))
"""Code points kept in the stamp font: Latin scripts, accents, punctuation, euro."""


@functools.lru_cache(maxsize=4)
def _latin_subset(font: Path) -> Path:
    """A Latin-only copy of ``font`` without OpenType layout tables, in the user cache
    (made once): pyHanko subsets the font at every signature, and Noto Sans' GSUB/GPOS
    tables make that cost ~0.2 s. The stamp loses kerning, nothing else."""
    stat = font.stat()
    key = hashlib.sha256(f"{font}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "signers"
    target = cache / f"{font.stem}-latin-nolayout-{key[:16]}.ttf"
    if target.is_file():
        return target
    try:
        cache.mkdir(parents=True, exist_ok=True)
        _write_subset(font, target)
    except OSError:
        log.warning("cannot cache a Latin subset of %s; using the full font", font)
        return font
    return target


def _write_subset(font: Path, target: Path) -> None:
    from fontTools import subset

    options = subset.Options()
    options.hinting = False
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.layout_features = []  # no GSUB/GPOS: their decompilation is the slow part
    options.drop_tables += ["GSUB", "GPOS", "GDEF"]
    sub = subset.Subsetter(options)
    ttf = subset.load_font(str(font), options)
    sub.populate(unicodes=[c for lo, hi in LATIN_RANGES for c in range(lo, hi + 1)])
    sub.subset(ttf)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    subset.save_font(ttf, str(tmp), options)
    os.replace(tmp, target)


def stamp_style(fitted: StampLayout) -> TextStampStyle:
    """A pyHanko text stamp style drawing ``fitted`` (text passed as ``%(stamp)s``)."""
    size = fitted.font_size
    flush = layout.SimpleBoxLayoutRule(  # no extra margin around the text itself
        x_align=layout.AxisAlignment.ALIGN_MIN, y_align=layout.AxisAlignment.ALIGN_MIN,
        margins=layout.Margins(), inner_content_scaling=layout.InnerScaling.NO_SCALING)
    box = TextBoxStyle(font=GlyphAccumulatorFactory(str(_font_path())),
                       font_size=size, leading=leading(size), box_layout_rule=flush)
    rule = layout.SimpleBoxLayoutRule(
        x_align=layout.AxisAlignment.ALIGN_MIN, y_align=layout.AxisAlignment.ALIGN_MID,
        margins=layout.Margins.uniform(PADDING),
        inner_content_scaling=layout.InnerScaling.SHRINK_TO_FIT)
    return TextStampStyle(stamp_text="%(stamp)s", text_box_style=box, border_width=BORDER,
                          inner_content_layout=rule, background=None)
