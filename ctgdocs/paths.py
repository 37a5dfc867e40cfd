"""Where the templates are and what they are called (importing this costs nothing)."""

from __future__ import annotations

from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
"""The templates shipped with ctgdocs."""
MAIN_TEMPLATE = "convention.docx"
"""File name of the main convention template, inside the templates folder."""
ANNEX_TEMPLATE = "annexe-commune.docx"
"""File name of the per-commune annex template, inside the templates folder."""
