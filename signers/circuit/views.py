"""Rows of the circuit store to records, and back."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from .errors import NotFound
from .records import (
    CircuitState,
    CircuitView,
    Head,
    ReminderPolicy,
    SlotSpec,
    SlotState,
    SlotView,
)
from .store import circuits, slots

__all__ = ["load_view", "policy_from_json", "policy_to_json", "spec_from_json",
           "spec_to_json"]


def spec_to_json(spec: SlotSpec) -> dict[str, Any]:
    """JSON form of a slot spec."""
    data = dataclasses.asdict(spec)
    for key in ("names", "emails", "fingerprints"):
        data[key] = list(data[key])
    return data


def spec_from_json(data: dict[str, Any]) -> SlotSpec:
    """Inverse of :func:`spec_to_json`."""
    values = dict(data)
    for key in ("names", "emails", "fingerprints"):
        values[key] = tuple(values.get(key) or ())
    return SlotSpec(**values)


def policy_to_json(policy: ReminderPolicy) -> dict[str, Any]:
    """JSON form of a reminder policy (durations in seconds)."""
    return {"first_after": policy.first_after.total_seconds(),
            "every": policy.every.total_seconds(), "at_most": policy.at_most,
            "deadline_warning": policy.deadline_warning.total_seconds()}


def policy_from_json(data: dict[str, Any]) -> ReminderPolicy:
    """Inverse of :func:`policy_to_json`."""
    seconds = dt.timedelta(seconds=1)
    return ReminderPolicy(first_after=data["first_after"] * seconds,
                          every=data["every"] * seconds, at_most=int(data["at_most"]),
                          deadline_warning=data["deadline_warning"] * seconds)


def slot_view(row: Row[Any]) -> SlotView:
    """A slot row as a record."""
    return SlotView(
        id=row.id, spec=spec_from_json(row.spec), state=SlotState(row.state),
        generation=row.generation, invited_at=row.invited_at, opened_at=row.opened_at,
        signed_at=row.signed_at, declined_at=row.declined_at,
        decline_reason=row.decline_reason, reminders_sent=row.reminders_sent,
        last_reminded_at=row.last_reminded_at, signer=row.signer,
        fingerprint=row.fingerprint, level=row.level, via=row.via)


def load_view(conn: Connection, circuit: str) -> CircuitView:
    """The circuit ``circuit`` (:class:`NotFound` if unknown)."""
    row = conn.execute(sa.select(circuits).where(circuits.c.id == circuit)).first()
    if row is None:
        raise NotFound("unknown-circuit", f"no circuit {circuit!r}")
    slot_rows = conn.execute(sa.select(slots).where(slots.c.circuit_id == circuit)
                             .order_by(slots.c.position)).all()
    return CircuitView(
        id=row.id, title=row.title, state=CircuitState(row.state),
        created_at=row.created_at, deadline=row.deadline,
        head=Head(row.head_sha256, row.head_size, row.head_signatures, row.head_revisions),
        slots=tuple(slot_view(r) for r in slot_rows), coordinator_name=row.coordinator_name,
        coordinator_email=row.coordinator_email, base_url=row.base_url,
        reminders=policy_from_json(row.reminders), meta=dict(row.meta))
