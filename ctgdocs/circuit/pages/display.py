"""What the pages show, in French: the states, the stages, the people and the document
of a circuit, from the engine's records."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from signers.circuit.records import CircuitState, CircuitView, SlotState, SlotView

from ...render import french_datetime

__all__ = ["CIRCUIT_STATES", "REFUSAL_TITLES", "SLOT_STATES", "Document", "Stage",
           "awaited", "common_name", "document", "of", "plural", "stages", "status_line",
           "when", "who_label"]

SLOT_STATES = {SlotState.WAITING: "À venir", SlotState.INVITED: "Signature attendue",
               SlotState.SIGNED: "Signé", SlotState.DECLINED: "A refusé de signer"}
"""Label of each signatory state."""
CIRCUIT_STATES = {CircuitState.OPEN: "En cours", CircuitState.COMPLETE: "Terminé",
                  CircuitState.DECLINED: "Arrêté : une signature a été refusée",
                  CircuitState.CANCELLED: "Annulé", CircuitState.EXPIRED: "Expiré"}
"""Label of each circuit state."""
REFUSAL_TITLES = {
    "head-moved": "le document a changé entre-temps",
    "already-signed": "vous avez déjà signé",
    "not-your-turn": "ce n'est pas encore votre tour",
    "circuit-closed": "le circuit est clos",
    "busy": "un autre signataire est en train de signer",
    "too-large": "fichier trop volumineux",
    "not-pdf": "le fichier n'est pas un PDF",
    "no-new-signature": "aucune nouvelle signature dans le fichier",
    "not-incremental": "le document a été réenregistré par le logiciel",
    "wrong-field": "signature dans un autre champ que le vôtre",
    "several-signatures": "plusieurs signatures ajoutées",
    "signer-mismatch": "certificat au nom d'une autre personne",
    "unsuitable-certificate": "certificat qui n'est pas un certificat de signature",
    "bad-certificate": "certificat illisible",
    "untrusted": "certificat non reconnu",
    "revoked": "certificat révoqué",
    "invalid-signature": "signature invalide",
    "forbidden-change": "document modifié au-delà de la signature",
    "damaged": "fichier endommagé",
    "too-complex": "fichier anormalement complexe",
    "timestamp-unavailable": "horodatage momentanément indisponible",
}
"""Short title of each refusal code (the page's heading; the message says what to do)."""
_GROUPS = {"maire": "Les maires des communes", "partenaire": "Les partenaires"}
_ELIDE = frozenset("aeiouyhàâäéèêëîïôöùûüÿœæ")
_COMMON_NAME = re.compile(r"Common Name: (.*?)(?:, [A-Z][A-Za-z ]*: |$)")


@dataclass(frozen=True)
class Document:
    """The document of a circuit as the pages present it."""

    title: str
    """Its title."""
    caf: str | None
    """The Caf's name (from the convention data)."""
    epci: str | None
    """The intercommunality's name."""
    territory: str | None
    """The territory."""
    period: str | None
    """The period, e.g. « 2022 – 2026 »."""
    pages: int
    """Pages."""
    signed: int
    """Signatories who have signed."""
    expected: int
    """Signatories in all."""


@dataclass(frozen=True)
class Stage:
    """One stage of a circuit."""

    number: int
    """Its number, from 1."""
    title: str
    """Who signs in it, e.g. « Les maires des communes »."""
    status: str
    """« terminée », « en cours », « à venir » or « interrompue »."""
    slots: tuple[SlotView, ...]
    """Its signatories."""


def document(view: CircuitView, pages: int) -> Document:
    """The document facts of ``view`` (``pages`` from its layout)."""
    meta = view.meta
    period = str(meta["period"]).replace("-", " – ") if meta.get("period") else None
    return Document(view.title, meta.get("caf"), meta.get("epci"), meta.get("territory"),
                    period, pages, view.signed, len(view.slots))


def stages(view: CircuitView) -> list[Stage]:
    """The stages of ``view`` in order, each with its status."""
    numbers = sorted({s.spec.stage for s in view.slots})
    current = view.current_stage
    result = []
    for number in numbers:
        members = tuple(s for s in view.slots if s.spec.stage == number)
        if all(s.state == SlotState.SIGNED for s in members) or (
                current is not None and number < current):
            status = "terminée"
        elif number == current:
            status = "en cours" if view.state == CircuitState.OPEN else "interrompue"
        else:
            status = "à venir"
        result.append(Stage(number, _stage_title(members), status, members))
    return result


def _stage_title(members: tuple[SlotView, ...]) -> str:
    roles = {str(s.spec.details.get("role") or "") for s in members}
    if len(members) == 1:
        return members[0].spec.label
    if len(roles) == 1 and roles <= set(_GROUPS):
        return _GROUPS[roles.pop()]
    return "Signataires : " + ", ".join(s.spec.label for s in members)


def when(moment: dt.datetime) -> str:
    """« 6 février 2023 à 17 h 00 » (Paris time) with non-breaking spaces where a line
    must not break: « 6 février », « 17 h 00 »."""
    text = french_datetime(moment)
    day, _, rest = text.partition(" ")
    return f"{day}\u00a0{rest}".replace(" h ", "\u00a0h\u00a0")


def who_label(slot: SlotView) -> str:
    """« Olivier Garcia (Le Maire de Gignac) »."""
    spec = slot.spec
    return f"{spec.name} ({spec.label})" if spec.name != spec.label else spec.label


def status_line(slot: SlotView) -> str:
    """The state of ``slot`` with its date, e.g. « Signé le 6 février 2023 à 17 h 00 »."""
    if slot.state == SlotState.SIGNED and slot.signed_at is not None:
        return f"Signé le {when(slot.signed_at)}"
    if slot.state == SlotState.DECLINED and slot.declined_at is not None:
        return f"A refusé de signer le {when(slot.declined_at)}"
    return SLOT_STATES.get(slot.state, str(slot.state))


def plural(count: int, one: str, many: str) -> str:
    """``count`` and the right form: « 1 signature », « 16 signatures »."""
    return f"{count} {one if count < 2 else many}"


def of(name: str) -> str:
    """« de » before ``name``, elided before a vowel or a mute h: « d'Olivier Garcia »."""
    return f"d'{name}" if name[:1].lower() in _ELIDE else f"de {name}"


def common_name(subject: str) -> str:
    """The common name in a certificate subject as asn1crypto words it (« Common Name:
    Olivier Garcia, Organization: … »), else the subject itself."""
    found = _COMMON_NAME.search(subject)
    return found.group(1).strip() if found else subject


def awaited(view: CircuitView) -> list[SlotView]:
    """The signatories whose signature is awaited now."""
    return [s for s in view.slots if s.state == SlotState.INVITED]
