"""ctgdocs — Conventions territoriales globales from data to a signed, verifiable PDF."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_convention": "ctgdocs.load",
    "Convention": "ctgdocs.model",
    "Signatory": "ctgdocs.model",
    "signatories": "ctgdocs.model",
    "build_package": "ctgdocs.build",
    "BuildOptions": "ctgdocs.build",
    "BuildResult": "ctgdocs.build",
    "ConvertMode": "ctgdocs.build",
    "PartInfo": "ctgdocs.build",
    "watch": "ctgdocs.pipeline.watch",
    "check_templates": "ctgdocs.templates_check",
    "CtgError": "ctgdocs.exceptions",
    "DataError": "ctgdocs.exceptions",
    "TemplateError": "ctgdocs.exceptions",
    "ConversionError": "ctgdocs.exceptions",
    "MissingDependencyError": "ctgdocs.exceptions",
    "BuildError": "ctgdocs.exceptions",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import public names on first use, so that ``ctg`` starts fast."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ctgdocs' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
