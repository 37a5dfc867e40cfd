"""The circuit of a convention: its signatories as slots, in stages, each with the
deliberation that authorises it."""

from __future__ import annotations

from collections.abc import Iterable

from signers.circuit.records import SlotSpec

from ..exceptions import CircuitError
from ..model import Convention, Deliberation, Signatory, SignatoryRole, signatories
from ..signatories import SEAL_FIELD, seal_expected
from ..wording import SEAL_REASON, deliberation_reason

__all__ = ["SEAL_REASON", "circuit_slots", "default_stages", "deliberation_text"]

def deliberation_text(deliberation: Deliberation) -> str:
    """« Délibération du conseil municipal n° 2022-071 du 8 décembre 2022 »."""
    return deliberation_reason(deliberation)


def default_stages(conv: Convention, seal: bool) -> list[list[str]]:
    """The seal (if the package has its field); the mayors together; the EPCI
    president; the partners together; the Caf board president; the Caf director."""
    people = signatories(conv)
    by_role: dict[SignatoryRole, list[str]] = {}
    for s in people:
        by_role.setdefault(s.role, []).append(s.id)
    order = (SignatoryRole.MAYOR, SignatoryRole.EPCI_PRESIDENT, SignatoryRole.PARTNER,
             SignatoryRole.CAF_PRESIDENT, SignatoryRole.CAF_DIRECTOR)
    stages = [[SEAL_FIELD]] if seal else []
    return stages + [by_role[r] for r in order if by_role.get(r)]


def circuit_slots(conv: Convention, fields: Iterable[str]) -> list[SlotSpec]:
    """The slots of ``conv``'s circuit on a package with signature ``fields``: the
    stages of ``signing.circuit`` (with the seal first when the package has a seal
    field the data does not place), else :func:`default_stages`."""
    fields = set(fields)
    seal = SEAL_FIELD in fields
    plan = conv.signing.circuit if conv.signing else None
    if plan is None:
        stages = default_stages(conv, seal)
    else:
        stages = [list(stage) for stage in plan.stages]
        listed = {sid for stage in stages for sid in stage}
        if SEAL_FIELD in listed and not seal:
            raise CircuitError(f"signing.circuit names {SEAL_FIELD!r} but the package has "
                               "no seal field; build it with --seal-field or remove "
                               f"{SEAL_FIELD!r} from the stages", code="unknown-field")
        if seal and SEAL_FIELD not in listed:
            stages.insert(0, [SEAL_FIELD])
    people = {s.id: s for s in signatories(conv)}
    slots = []
    for number, stage in enumerate(stages, 1):
        for sid in stage:
            slots.append(_seal_slot(conv, number) if sid == SEAL_FIELD
                         else _person_slot(conv, people[sid], number))
    missing = sorted(s.field for s in slots if s.field not in fields)
    if missing:
        raise CircuitError(f"the package has no signature field for {', '.join(missing)}; "
                           "was it built from this data?", code="unknown-field")
    return slots


def _person_slot(conv: Convention, person: Signatory, stage: int) -> SlotSpec:
    deliberation = _deliberation(conv, person)
    details: dict[str, object] = {"organisation": person.organisation,
                                  "role": person.role.value,
                                  "formal_name": person.person.formal_name}
    if deliberation is not None:
        details["deliberation"] = {"body": deliberation.body, "number": deliberation.number,
                                   "date": deliberation.date.isoformat(),
                                   "text": deliberation_text(deliberation)}
    return SlotSpec(
        id=person.id, field=person.id, stage=stage, label=person.capacity,
        name=person.person.full_name, email=person.person.email,
        names=(person.person.full_name,),
        emails=(person.person.email,) if person.person.email else (),
        fingerprints=tuple(person.person.certificates),
        reason=deliberation_text(deliberation) if deliberation else None, details=details)


def _seal_slot(conv: Convention, stage: int) -> SlotSpec:
    expected = seal_expected(conv)
    return SlotSpec(id=SEAL_FIELD, field=SEAL_FIELD, stage=stage, label=expected.label,
                    name=conv.caf.short_name, email=None, names=expected.names,
                    reason=SEAL_REASON, seal=True,
                    details={"organisation": conv.caf.name, "role": "cachet"})


def _deliberation(conv: Convention, person: Signatory) -> Deliberation | None:
    if person.role == SignatoryRole.MAYOR:
        return next(c.deliberation for c in conv.communes
                    if f"maire-{c.slug}" == person.id)
    if person.role == SignatoryRole.EPCI_PRESIDENT:
        return conv.epci.deliberation
    if person.role == SignatoryRole.CAF_PRESIDENT:
        return conv.caf.board_deliberation
    if person.role == SignatoryRole.PARTNER:
        return next(p.deliberation for p in conv.partners
                    if f"partenaire-{p.id}" == person.id)
    return None
