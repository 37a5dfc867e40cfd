"""The French wording ctgdocs gives the generic signers package: stamps and reasons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from signers.model import StampWording

if TYPE_CHECKING:
    from .model import Convention, Deliberation, Signatory

__all__ = ["SEAL_REASON", "STAMP_WORDING", "deliberation_reason", "signing_reason"]

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


def deliberation_reason(deliberation: Deliberation) -> str:
    """The /Reason of a signature authorised by ``deliberation``: « Délibération du
    conseil municipal n° 2022-071 du 8 décembre 2022 » (« de l'assemblée… », « de la
    commission… » as French requires)."""
    from .render import french_date

    body = deliberation.body
    if body[:1].lower() in "aeiouyéèh":
        of = f"de l'{body}"
    elif body.split(" ", 1)[0].lower() in {"commission", "assemblée", "séance"}:
        of = f"de la {body}"
    else:
        of = f"du {body}"
    return f"Délibération {of} n° {deliberation.number} du {french_date(deliberation.date)}"


def signing_reason(conv: Convention, signatory: Signatory) -> str | None:
    """The /Reason of ``signatory``'s signature: the deliberation authorising it (the
    commune's council for a mayor, the EPCI's for its president, the Caf board's for its
    president); ``None`` when the data names none (the Caf director signs by office)."""
    from .model import SignatoryRole

    delib = None
    if signatory.role is SignatoryRole.MAYOR:
        delib = next(c.deliberation for c in conv.communes
                     if signatory.id == f"maire-{c.slug}")
    elif signatory.role is SignatoryRole.EPCI_PRESIDENT:
        delib = conv.epci.deliberation
    elif signatory.role is SignatoryRole.CAF_PRESIDENT:
        delib = conv.caf.board_deliberation
    return deliberation_reason(delib) if delib is not None else None
