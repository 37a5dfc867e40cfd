"""What the ``ctg circuit`` commands do, as library functions: start a circuit on a
built package, export it, the links of its tokens."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import CircuitError, InputError
from ..render import PARIS
from ..signatories import CIRCUIT_SIGNERS
from .mails import coordinator_link, signatory_link

if TYPE_CHECKING:
    from signers.circuit.engine import CircuitEngine
    from signers.circuit.records import CircuitView

__all__ = ["ExportResult", "StartedCircuit", "export_circuit", "expected_records",
           "start_circuit"]

DEFAULT_DAYS = 30
SIGNED_NAME = "convention-signee.pdf"
"""File name of the exported document."""
SIGNERS_NAME = CIRCUIT_SIGNERS
"""File name of the exported expected signers (``build.json``'s ``fields`` format), which
``ctg verify`` reads beside the PDF."""


@dataclass(frozen=True)
class StartedCircuit:
    """A started circuit with its links (tokens shown once)."""

    circuit: str
    """Circuit id."""
    coordinator: dict[str, str]
    """``{"token", "link"}`` of the coordinator."""
    signatories: list[dict[str, Any]]
    """``{"id", "stage", "state", "token", "link"}`` of each signatory."""

    def to_json(self) -> dict[str, Any]:
        """The object ``ctg circuit start --json`` prints."""
        return {"circuit": self.circuit, "coordinator": self.coordinator,
                "signatories": self.signatories}


def end_of_day(day: dt.date) -> dt.datetime:
    """23:59:59 in Paris on ``day``, aware."""
    return dt.datetime.combine(day, dt.time(23, 59, 59), PARIS)


def start_circuit(engine: CircuitEngine, package: Path, data: Path, *, base_url: str,
                  deadline: dt.date | None = None, circuit_id: str | None = None,
                  coordinator_name: str | None = None,
                  coordinator_email: str | None = None) -> StartedCircuit:
    """Start the circuit of the convention ``data`` on the built ``package``."""
    from signers.circuit.records import CircuitSpec, ReminderPolicy

    from ..load import load_convention
    from .stages import circuit_slots

    conv = load_convention(data)
    try:
        pdf = package.read_bytes()
    except OSError as exc:
        raise InputError(f"{package}: cannot read the package ({exc.strerror})") from exc
    slots = circuit_slots(conv, _fields(package))
    plan = conv.signing.circuit if conv.signing else None
    coordinator = plan.coordinator if plan else None
    rem = conv.signing.reminders if conv.signing else None
    days = dt.timedelta(days=1)
    policy = ReminderPolicy() if rem is None else ReminderPolicy(
        rem.first_after_days * days, rem.every_days * days, rem.at_most,
        rem.deadline_warning_days * days)
    when = end_of_day(deadline) if deadline else end_of_day(
        dt.date.today() + dt.timedelta(days=DEFAULT_DAYS))
    if when <= dt.datetime.now(dt.UTC):
        raise CircuitError(f"--deadline {deadline} has passed; give a later date",
                           code="deadline-passed")
    spec = CircuitSpec(
        id=circuit_id or f"{conv.id}-{secrets.token_hex(3)}", title=conv.title, package=pdf,
        slots=tuple(slots), deadline=when,
        coordinator_name=coordinator_name or (coordinator.name if coordinator else ""),
        coordinator_email=coordinator_email or (coordinator.email if coordinator else None),
        base_url=base_url, reminders=policy,
        meta={"convention": conv.id, "title": conv.title, "territory": conv.territory,
              "period": f"{conv.period.start}-{conv.period.end}", "caf": conv.caf.name,
              "epci": conv.epci.name, "package": package.name})
    started = engine.start(spec)
    view = engine.status(started.circuit)
    return StartedCircuit(
        started.circuit,
        {"token": started.coordinator_token,
         "link": coordinator_link(base_url, started.coordinator_token)},
        [{"id": s.id, "stage": s.spec.stage, "state": str(s.state),
          "token": started.tokens[s.id], "link": signatory_link(base_url,
                                                                started.tokens[s.id])}
         for s in view.slots])


def _fields(package: Path) -> list[str]:
    from signers.fields import signature_field_names

    try:
        return [name for name, _ in signature_field_names(package)]
    except Exception as exc:  # noqa: BLE001 - any reader failure: not a package
        raise InputError(f"{package}: cannot read its signature fields ({exc})") from exc


def expected_records(view: CircuitView) -> dict[str, Any]:
    """Who is expected in each field, as the circuit knows them (after replacements),
    in ``build.json``'s format (``fields`` and ``seal``), so that
    :func:`ctgdocs.signatories.expected_signers_from_build` reads it."""
    fields, seal = [], None
    for slot in view.slots:
        spec = slot.spec
        if spec.seal:
            seal = {"field": spec.field, "label": spec.label, "names": list(spec.names)}
            continue
        fields.append({"id": slot.id, "field": spec.field, "name": spec.name,
                       "email": spec.email, "capacity": spec.label,
                       "certificates": list(spec.fingerprints),
                       "organisation": spec.details.get("organisation"),
                       "role": spec.details.get("role"), "reason": spec.reason,
                       "replaced": slot.generation > 0})
    return {"format": 1, "circuit": view.id, "fields": fields, "seal": seal}


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_circuit` wrote."""

    document: Path
    """The current head PDF."""
    journal: Path
    """``journal.jsonl``."""
    tokens: int
    """Timestamp tokens written in ``journal/``."""
    signers: Path
    """``signataires.json``."""


def export_circuit(engine: CircuitEngine, circuit: str, out: Path) -> ExportResult:
    """Write the head PDF, the journal (``journal.jsonl`` + ``journal/<seq>.tsr``), the
    expected signers and the status into ``out``."""
    from signers.atomic import atomic_write_bytes
    from signers.journal import write_journal

    from .api import status_json

    view = engine.status(circuit)
    events, tokens = engine.journal(circuit)
    try:
        out.mkdir(parents=True, exist_ok=True)
        document = out / SIGNED_NAME
        atomic_write_bytes(document, engine.head_bytes(circuit, view.head))
        write_journal(events, out / "journal.jsonl", tokens, out / "journal")
        signers = out / SIGNERS_NAME
        atomic_write_bytes(signers, _json(expected_records(view)))
        atomic_write_bytes(out / "circuit.json", _json(status_json(view)))
    except OSError as exc:
        raise InputError(f"{out}: cannot write the export ({exc.strerror})") from exc
    return ExportResult(document, out / "journal.jsonl", len(tokens), signers)


def _json(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
