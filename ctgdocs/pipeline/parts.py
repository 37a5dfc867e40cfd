"""The documents a package is made of (:class:`Part`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAIN_PART = "convention"
"""Name of the main convention's part (annexes are ``annexe-<commune>``)."""


@dataclass
class Part:
    """One document of the package: what to render it from, and whether the previous
    build's PDF of it can be reused."""

    name: str
    """File stem, e.g. ``convention`` or ``annexe-gignac``."""
    title: str
    """Outline title."""
    label_prefix: str
    """Page label prefix: "" for the convention, "A2-" for the second annex."""
    template: Path
    """The Word template it is rendered from."""
    context: dict[str, Any]
    """What the template prints (plain data)."""
    template_sha: str = ""
    """SHA-256 of the template."""
    key: str = ""
    """Hash of the template and the context: unchanged key ⇒ part reused."""
    reuse: bool = False
    """The previous build's PDF of this part is reused (not rendered nor converted)."""
