"""What a build is asked to do (:class:`BuildOptions`) and what it produced
(:class:`BuildResult`). Importing this costs nothing: ``ctg build`` answers "up to date"
without loading any library."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from ..paths import TEMPLATES_DIR
from .checks import check_converter_url, check_jobs, check_timeout

DEFAULT_TIMEOUT = 120.0
"""Seconds before a hung conversion is killed."""


class ConvertMode(enum.StrEnum):
    """How local LibreOffice is driven (``CTGDOCS_CONVERT_MODE``)."""

    UNO = "uno"
    """Warm workers driven over a private UNO pipe (default; needs Debian's python3-uno,
    else ``cli`` is used)."""
    CLI = "cli"
    """One ``soffice --convert-to`` run per batch of documents."""


@dataclass(frozen=True)
class BuildOptions:
    """Options of one build, checked when created (a :class:`ValueError` names the bad
    one)."""

    output_root: Path = Path("output")
    """Folder holding one sub-folder per convention."""
    templates: Path = TEMPLATES_DIR
    """Folder with convention.docx and annexe-commune.docx."""
    jobs: int | None = None
    """LibreOffice workers, at least 1 (default: one per CPU)."""
    converter: str | None = None
    """``None`` for local LibreOffice, or ``unoserver://host[:port]``."""
    timeout: float = DEFAULT_TIMEOUT
    """Seconds (> 0) before a hung conversion is killed."""
    force: bool = False
    """Convert every part again, even those unchanged."""
    seal_field: bool = False
    """Also add an invisible field ``cachet-caf`` for the Caf's organisation seal, which
    certifies the package before any person signs (``ctg seal``)."""
    convert_mode: ConvertMode | None = None
    """How local LibreOffice is driven; ``None``: ``CTGDOCS_CONVERT_MODE``, else UNO."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise the values once, here
        set_(self, "output_root", Path(self.output_root))
        set_(self, "templates", Path(self.templates))
        if self.jobs is not None:
            set_(self, "jobs", check_jobs(self.jobs))
        set_(self, "timeout", check_timeout(self.timeout))
        if self.converter is not None:
            set_(self, "converter", check_converter_url(self.converter))
        if self.convert_mode is not None:
            set_(self, "convert_mode", ConvertMode(self.convert_mode))


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
