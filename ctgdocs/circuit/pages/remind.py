"""Reminders the coordinator asks for now (the engine's sweep sends only those that are
due): one signatory or every one awaited, counted and journaled as the sweep does."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from signers.circuit.errors import Conflict, NotFound
from signers.circuit.journaling import append_event
from signers.circuit.records import CircuitState, SlotState
from signers.circuit.store import outbox, slots
from signers.circuit.views import load_view

if TYPE_CHECKING:
    from signers.circuit.engine import CircuitEngine

__all__ = ["remind_now"]


def remind_now(engine: CircuitEngine, circuit: str, slot_id: str | None = None, *,
               by: str = "coordinator") -> list[str]:
    """Send a reminder now to ``slot_id`` (``None``: to every signatory whose signature
    is awaited); returns the ids reminded. Each is counted in ``reminders_sent`` (the
    automatic reminders then follow from it), journaled (``reminded``, with ``by``) and
    queued in the outbox, in one transaction. :class:`Conflict` when the circuit is not
    open or the signatory's signature is not awaited."""
    now = engine.clock()
    with engine.store.write(circuit) as conn:
        view = load_view(conn, circuit)
        if view.state != CircuitState.OPEN:
            raise Conflict("circuit-closed", f"circuit {circuit} is {view.state}")
        if slot_id is not None and slot_id not in {s.id for s in view.slots}:
            raise NotFound("unknown-slot", f"circuit {circuit} has no signatory {slot_id!r}")
        targets = [s for s in view.slots if s.state == SlotState.INVITED
                   and slot_id in (None, s.id)]
        if slot_id is not None and not targets:
            raise Conflict("not-invited", f"{slot_id}'s signature is not awaited")
        for slot in targets:
            count = slot.reminders_sent + 1
            conn.execute(sa.update(slots).where(
                (slots.c.circuit_id == circuit) & (slots.c.id == slot.id))
                .values(reminders_sent=count, last_reminded_at=now))
            append_event(conn, circuit, "reminded", {
                "slot": slot.id, "count": count, "email": slot.spec.email, "by": by}, now)
            conn.execute(sa.insert(outbox).values(
                circuit_id=circuit, kind="reminder", slot_id=slot.id,
                generation=slot.generation, data={"count": count}, created_at=now,
                attempts=0))
    return [s.id for s in targets]
