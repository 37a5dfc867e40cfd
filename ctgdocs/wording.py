"""The French wording ctgdocs gives the generic signers package: stamps and reasons."""

from __future__ import annotations

from signers.model import StampWording

__all__ = ["SEAL_REASON", "STAMP_WORDING"]

STAMP_WORDING = StampWording(
    signed="Signé électroniquement par {name}",
    sealed="Cacheté électroniquement par {name}",
    when="le {time:%d/%m/%Y} à {time:%H:%M} (heure de Paris)",
    timezone="Europe/Paris",
)
"""The visible stamp of a CTG signature, e.g. "Signé électroniquement par Jean-François
Soto", the capacity line, "le 27/11/2026 à 11:42 (heure de Paris)"."""

SEAL_REASON = "Cachet de l'organisme : document certifié"
"""The /Reason of the Caf's organisation seal (``ctg seal``)."""
