"""The coordinator's side of the engine: start, stages, cancel, reopen, replace,
sweeps (reminders, deadline, expiry, late timestamps) and the notification outbox."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..journal import JournalEvent
from .errors import Conflict, NotFound, Refused
from .journaling import append_event, read_events, read_stamps, timestamp_pending
from .records import (
    CircuitSpec,
    CircuitState,
    CircuitView,
    Notification,
    SlotSpec,
    SlotState,
    SlotView,
    Started,
    SweepResult,
)
from .reminders import reminder_due
from .store import Store, circuits, outbox, revisions, sessions, slots
from .tokens import COORDINATOR, derive_token, token_hash
from .views import load_view, policy_to_json, spec_to_json

__all__ = ["Lifecycle"]

log = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
CLAIM = dt.timedelta(minutes=5)
"""How long a claimed notification is reserved for its sender."""


class Lifecycle:
    """Coordinator actions; mixed into :class:`~signers.circuit.engine.CircuitEngine`."""

    store: Store
    secret: bytes
    clock: Callable[[], dt.datetime]
    tsa_url: str | None

    # -- start -----------------------------------------------------------------------

    def start(self, spec: CircuitSpec) -> Started:
        """Store a new circuit on ``spec.package``, open its first stage, return the
        tokens (shown once: the store keeps only their SHA-256)."""
        _check_spec(spec)
        filled, fields, revisions_count = _package_facts(spec.package)
        missing = [s.field for s in spec.slots if s.field not in fields]
        if missing:
            raise Refused("unknown-field", f"the package has no signature field "
                          f"{', '.join(missing)}", fields=sorted(fields))
        now = self.clock()
        tokens = {s.id: derive_token(self.secret, spec.id, s.id, 0) for s in spec.slots}
        coordinator = derive_token(self.secret, spec.id, COORDINATOR, 0)
        sha = hashlib.sha256(spec.package).hexdigest()
        meta = {**spec.meta, "signature_fields": sorted(fields)}
        with self.store.write() as conn:
            if conn.execute(sa.select(circuits.c.id).where(circuits.c.id == spec.id)).first():
                raise Conflict("circuit-exists", f"a circuit {spec.id!r} exists already")
            conn.execute(sa.insert(circuits).values(
                id=spec.id, title=spec.title, state=CircuitState.OPEN, created_at=now,
                deadline=spec.deadline, coordinator_hash=token_hash(coordinator),
                coordinator_name=spec.coordinator_name,
                coordinator_email=spec.coordinator_email, base_url=spec.base_url,
                reminders=policy_to_json(spec.reminders), meta=meta, head_seq=0,
                head_sha256=sha, head_size=len(spec.package),
                head_revisions=revisions_count, head_signatures=len(filled),
                deadline_warned=False))
            conn.execute(sa.insert(revisions).values(
                circuit_id=spec.id, seq=0, slot_id=None, data=spec.package, sha256=sha,
                head_size=len(spec.package), head_sha256=sha, pdf_revisions=revisions_count,
                created_at=now))
            for position, slot in enumerate(spec.slots):
                conn.execute(sa.insert(slots).values(
                    circuit_id=spec.id, id=slot.id, position=position,
                    spec=spec_to_json(slot), generation=0,
                    token_hash=token_hash(tokens[slot.id]),
                    state=SlotState.SIGNED if slot.field in filled else SlotState.WAITING,
                    signed_at=now if slot.field in filled else None,
                    reminders_sent=0, via="package" if slot.field in filled else None))
            append_event(conn, spec.id, "started", {
                "title": spec.title, "package": {"sha256": sha, "size": len(spec.package)},
                "deadline": spec.deadline.isoformat(), "meta": spec.meta,
                "coordinator": spec.coordinator_name,
                "slots": [{"id": s.id, "stage": s.stage, "name": s.name, "field": s.field,
                           "label": s.label} for s in spec.slots],
                "already_signed": sorted(s.id for s in spec.slots if s.field in filled)}, now)
            self._open_stages(conn, spec.id, now)
        return Started(spec.id, coordinator, tokens)

    def _open_stages(self, conn: Connection, circuit: str, now: dt.datetime) -> bool:
        """Invite the slots of the lowest stage not complete; complete the circuit when
        every slot has signed. Returns whether it completed."""
        view = load_view(conn, circuit)
        stage = view.current_stage
        if stage is None:
            conn.execute(sa.update(circuits).where(circuits.c.id == circuit)
                         .values(state=CircuitState.COMPLETE, lease_session=None,
                                 lease_until=None))
            append_event(conn, circuit, "completed", {"head": _head_json(view)}, now)
            self._enqueue(conn, circuit, "completed", None, None, {}, now)
            return True
        for slot in view.slots:
            if slot.spec.stage == stage and slot.state == SlotState.WAITING:
                self._invite(conn, circuit, slot, now)
        return False

    def _invite(self, conn: Connection, circuit: str, slot: SlotView,
                now: dt.datetime) -> None:
        conn.execute(sa.update(slots).where(_slot(circuit, slot.id)).values(
            state=SlotState.INVITED, invited_at=now, reminders_sent=0,
            last_reminded_at=None))
        append_event(conn, circuit, "invited", {"slot": slot.id, "stage": slot.spec.stage,
                                                "email": slot.spec.email}, now)
        self._enqueue(conn, circuit, "invitation", slot.id, slot.generation, {}, now)

    def _enqueue(self, conn: Connection, circuit: str, kind: str, slot: str | None,
                 generation: int | None, data: dict[str, Any], now: dt.datetime) -> None:
        conn.execute(sa.insert(outbox).values(circuit_id=circuit, kind=kind, slot_id=slot,
                                              generation=generation, data=data,
                                              created_at=now, attempts=0))

    # -- coordinator actions -----------------------------------------------------------

    def cancel(self, circuit: str, *, reason: str = "", by: str = "coordinator") -> None:
        """Cancel a circuit that is not complete (final)."""
        now = self.clock()
        with self.store.write(circuit) as conn:
            view = load_view(conn, circuit)
            if view.state in (CircuitState.COMPLETE, CircuitState.CANCELLED):
                raise Conflict("circuit-closed", f"circuit {circuit} is {view.state}")
            conn.execute(sa.update(circuits).where(circuits.c.id == circuit).values(
                state=CircuitState.CANCELLED, lease_session=None, lease_until=None))
            append_event(conn, circuit, "cancelled", {"by": by, "reason": reason}, now)

    def reopen(self, circuit: str, *, deadline: dt.datetime | None = None,
               by: str = "coordinator") -> None:
        """Reopen a declined or expired circuit (an expired one needs a later
        ``deadline``); the declining signatory is invited again."""
        now = self.clock()
        with self.store.write(circuit) as conn:
            view = load_view(conn, circuit)
            if view.state not in (CircuitState.DECLINED, CircuitState.EXPIRED):
                raise Conflict("not-reopenable", f"circuit {circuit} is {view.state}; only "
                               "a declined or expired circuit can be reopened")
            new_deadline = deadline or view.deadline
            if new_deadline <= now:
                raise Conflict("deadline-passed", "the deadline has passed: give a new one")
            conn.execute(sa.update(circuits).where(circuits.c.id == circuit).values(
                state=CircuitState.OPEN, deadline=new_deadline, deadline_warned=False))
            append_event(conn, circuit, "reopened", {
                "by": by, "from": str(view.state), "deadline": new_deadline.isoformat()}, now)
            for slot in view.slots:
                if slot.state == SlotState.DECLINED:
                    self._invite(conn, circuit, slot, now)
            self._open_stages(conn, circuit, now)

    def replace(self, circuit: str, slot_id: str, *, name: str, email: str | None,
                label: str, fingerprint: str | None = None, by: str = "coordinator") -> str:
        """Name another person for ``slot_id`` (e.g. a deputy signing by delegation):
        the old link dies, the new token is returned (and sent if the stage is open)."""
        now = self.clock()
        with self.store.write(circuit) as conn:
            view = load_view(conn, circuit)
            if view.state in (CircuitState.COMPLETE, CircuitState.CANCELLED):
                raise Conflict("circuit-closed", f"circuit {circuit} is {view.state}")
            slot = _find(view, slot_id)
            if slot.state == SlotState.SIGNED:
                raise Conflict("already-signed", f"{slot_id} has already signed")
            old = slot.spec
            new = SlotSpec(**{**spec_to_json(old), "name": name, "email": email,
                              "label": label, "names": (name,),
                              "emails": (email,) if email else (),
                              "fingerprints": (fingerprint,) if fingerprint else ()})
            generation = slot.generation + 1
            token = derive_token(self.secret, circuit, slot_id, generation)
            conn.execute(sa.update(slots).where(_slot(circuit, slot_id)).values(
                spec=spec_to_json(new), generation=generation,
                token_hash=token_hash(token)))
            conn.execute(sa.update(sessions).where(
                (sessions.c.circuit_id == circuit) & (sessions.c.slot_id == slot_id)
                & (sessions.c.state == "open")).values(state="superseded"))
            append_event(conn, circuit, "replaced", {
                "slot": slot_id, "by": by, "generation": generation,
                "old": {"name": old.name, "email": old.email, "label": old.label},
                "new": {"name": name, "email": email, "label": label,
                        "fingerprint": fingerprint}}, now)
            if slot.state == SlotState.INVITED:
                self._invite(conn, circuit, _find(load_view(conn, circuit), slot_id), now)
        return token

    # -- sweeps ------------------------------------------------------------------------

    def sweep(self, circuit: str | None = None) -> SweepResult:
        """Do what is due: expire circuits past their deadline, warn coordinators of a
        near deadline, send due reminders, close expired sessions, timestamp journal
        events whose token is missing. Idempotent: what is done is not due again."""
        now = self.clock()
        ids = [circuit] if circuit is not None else self.circuit_ids(CircuitState.OPEN)
        reminded: list[tuple[str, str]] = []
        expired, warned = [], []
        for cid in ids:
            outcome = self._sweep_one(cid, now)
            if outcome == "expired":
                expired.append(cid)
                continue
            if outcome == "warned":
                warned.append(cid)
            reminded += [(cid, s) for s in self._remind(cid, now)]
        closed = self._close_sessions(now)
        stamped = timestamp_pending(self.store, self.tsa_url, now, circuit=circuit)
        return SweepResult(tuple(reminded), tuple(expired), tuple(warned), stamped, closed)

    def _sweep_one(self, circuit: str, now: dt.datetime) -> str | None:
        with self.store.write(circuit) as conn:
            view = load_view(conn, circuit)
            if view.state != CircuitState.OPEN:
                return None
            if view.deadline <= now:
                conn.execute(sa.update(circuits).where(circuits.c.id == circuit).values(
                    state=CircuitState.EXPIRED, lease_session=None, lease_until=None))
                append_event(conn, circuit, "expired",
                             {"deadline": view.deadline.isoformat()}, now)
                self._enqueue(conn, circuit, "expired", None, None, {}, now)
                return "expired"
            row = conn.execute(sa.select(circuits.c.deadline_warned)
                               .where(circuits.c.id == circuit)).scalar()
            if not row and view.deadline - view.reminders.deadline_warning <= now:
                conn.execute(sa.update(circuits).where(circuits.c.id == circuit)
                             .values(deadline_warned=True))
                append_event(conn, circuit, "deadline-near",
                             {"deadline": view.deadline.isoformat(),
                              "missing": [s.id for s in view.slots
                                          if s.state != SlotState.SIGNED]}, now)
                self._enqueue(conn, circuit, "deadline-near", None, None, {}, now)
                return "warned"
        return None

    def remind(self, circuit: str, slot_id: str | None = None, *,
               by: str = "coordinator") -> list[str]:
        """Send a reminder now (not only when due) to ``slot_id`` (``None``: to every
        signatory whose signature is awaited); the ids reminded. Each reminder is counted
        (the automatic ones then follow from it), journaled (``reminded``, with ``by``)
        and queued for mail, in one transaction. :class:`Conflict` when the circuit is
        not open or that signatory's signature is not awaited."""
        now = self.clock()
        with self.store.write(circuit) as conn:
            view = load_view(conn, circuit)
            if view.state != CircuitState.OPEN:
                raise Conflict("circuit-closed", f"circuit {circuit} is {view.state}")
            if slot_id is not None and slot_id not in {s.id for s in view.slots}:
                raise NotFound("unknown-slot", f"circuit {circuit} has no signatory "
                               f"{slot_id!r}")
            targets = [s for s in view.slots if s.state == SlotState.INVITED
                       and slot_id in (None, s.id)]
            if slot_id is not None and not targets:
                raise Conflict("not-invited", f"{slot_id}'s signature is not awaited")
            for slot in targets:
                self._send_reminder(conn, circuit, slot, now, by)
        return [s.id for s in targets]

    def _remind(self, circuit: str, now: dt.datetime) -> list[str]:
        done = []
        with self.store.write(circuit) as conn:
            view = load_view(conn, circuit)
            if view.state != CircuitState.OPEN:
                return []
            for slot in view.slots:
                if reminder_due(slot, view.reminders, now) is None:
                    continue
                self._send_reminder(conn, circuit, slot, now)
                done.append(slot.id)
        return done

    def _send_reminder(self, conn: Connection, circuit: str, slot: SlotView,
                       now: dt.datetime, by: str | None = None) -> None:
        count = slot.reminders_sent + 1
        conn.execute(sa.update(slots).where(_slot(circuit, slot.id)).values(
            reminders_sent=count, last_reminded_at=now))
        data = {"slot": slot.id, "count": count, "email": slot.spec.email}
        append_event(conn, circuit, "reminded", {**data, "by": by} if by else data, now)
        self._enqueue(conn, circuit, "reminder", slot.id, slot.generation,
                      {"count": count}, now)

    def _close_sessions(self, now: dt.datetime) -> int:
        with self.store.write() as conn:
            result = conn.execute(sa.update(sessions).where(
                (sessions.c.state == "open") & (sessions.c.expires_at < now))
                .values(state="expired"))
            return int(result.rowcount or 0)

    # -- reading -----------------------------------------------------------------------

    def circuit_ids(self, state: CircuitState | None = None) -> list[str]:
        """Ids of the circuits (in a state), oldest first."""
        query = sa.select(circuits.c.id).order_by(circuits.c.created_at, circuits.c.id)
        if state is not None:
            query = query.where(circuits.c.state == state)
        with self.store.read() as conn:
            return [r.id for r in conn.execute(query)]

    def status(self, circuit: str) -> CircuitView:
        """The circuit ``circuit``."""
        with self.store.read() as conn:
            return load_view(conn, circuit)

    def journal(self, circuit: str) -> tuple[list[JournalEvent], dict[int, bytes]]:
        """The circuit's journal events and their timestamp tokens."""
        with self.store.read() as conn:
            load_view(conn, circuit)
            return read_events(conn, circuit), read_stamps(conn, circuit)

    # -- outbox ------------------------------------------------------------------------

    def claim_notifications(self, limit: int = 50) -> list[Notification]:
        """Notifications to send now, reserved for the caller for a few minutes (two
        senders never send the same one); obsolete ones (a replaced signatory's
        invitation) are dropped."""
        now = self.clock()
        claimed = []
        with self.store.write() as conn:
            rows = conn.execute(sa.select(outbox).where(
                outbox.c.sent_at.is_(None)
                & (outbox.c.claimed_until.is_(None) | (outbox.c.claimed_until < now)))
                .order_by(outbox.c.id).limit(limit)).all()
            views: dict[str, CircuitView] = {}
            for row in rows:
                view = views.get(row.circuit_id) or load_view(conn, row.circuit_id)
                views[row.circuit_id] = view
                note = self._notification(row, view)
                if note is None:
                    conn.execute(sa.update(outbox).where(outbox.c.id == row.id)
                                 .values(sent_at=now, last_error="obsolete"))
                    continue
                conn.execute(sa.update(outbox).where(outbox.c.id == row.id).values(
                    claimed_until=now + CLAIM, attempts=row.attempts + 1))
                claimed.append(note)
        return claimed

    def _notification(self, row: Any, view: CircuitView) -> Notification | None:
        slot = _find(view, row.slot_id) if row.slot_id else None
        token = None
        if slot is not None and row.kind in ("invitation", "reminder"):
            if slot.generation != row.generation or slot.state != SlotState.INVITED \
                    or view.state != CircuitState.OPEN:
                return None
            token = derive_token(self.secret, view.id, slot.id, slot.generation)
        to_coordinator = slot is None or not slot.spec.email or row.kind == "declined"
        return Notification(row.id, row.kind, view, slot, token, to_coordinator,
                            dict(row.data))

    def notification_sent(self, note_id: int) -> None:
        """Mark a claimed notification as sent."""
        with self.store.write() as conn:
            conn.execute(sa.update(outbox).where(outbox.c.id == note_id)
                         .values(sent_at=self.clock(), last_error=None))

    def notification_failed(self, note_id: int, error: str) -> None:
        """Record a failed attempt; the notification is retried at a later claim."""
        with self.store.write() as conn:
            conn.execute(sa.update(outbox).where(outbox.c.id == note_id)
                         .values(claimed_until=None, last_error=error[:500]))

    def coordinator_token(self, circuit: str) -> str:
        """The coordinator's token of ``circuit`` (derived again from the secret)."""
        self.status(circuit)
        return derive_token(self.secret, circuit, COORDINATOR, 0)

    def slot_token(self, circuit: str, slot_id: str) -> str:
        """The current token of a slot (derived again from the secret)."""
        slot = _find(self.status(circuit), slot_id)
        return derive_token(self.secret, circuit, slot_id, slot.generation)


def _check_spec(spec: CircuitSpec) -> None:
    if not _ID.match(spec.id):
        raise Refused("bad-circuit-id", f"circuit id {spec.id!r}: letters, digits, '-', "
                      "'_' only (at most 80)")
    ids = [s.id for s in spec.slots]
    if not ids or len(set(ids)) != len(ids) or len({s.field for s in spec.slots}) != len(ids):
        raise Refused("bad-slots", "each slot once, each field once, at least one slot")
    bad = [s.id for s in spec.slots if not _ID.match(s.id) or s.stage < 1]
    if bad:
        raise Refused("bad-slots", f"bad slot id or stage: {', '.join(bad)}")
    if spec.deadline.tzinfo is None:
        raise ValueError("the deadline must be an aware datetime")


def _package_facts(package: bytes) -> tuple[set[str], set[str], int]:
    """(filled signature fields, all signature fields, revisions) of a package."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    if not package.startswith(b"%PDF-"):
        raise Refused("not-pdf", "the package is not a PDF")
    try:
        reader = PdfFileReader(io.BytesIO(package), strict=False)
        found = list(enumerate_sig_fields(reader))
        total = reader.xrefs.total_revisions
    except Exception as exc:  # noqa: BLE001
        raise Refused("damaged", f"the package cannot be read: {exc}") from exc
    filled = {str(name) for name, value, _ in found if value is not None}
    return filled, {str(name) for name, _, _ in found}, total


def _head_json(view: CircuitView) -> dict[str, Any]:
    return {"sha256": view.head.sha256, "size": view.head.size,
            "signatures": view.head.signatures}


def _find(view: CircuitView, slot_id: str) -> SlotView:
    try:
        return view.slot(slot_id)
    except KeyError:
        raise NotFound("unknown-slot", f"circuit {view.id} has no signatory "
                       f"{slot_id!r}") from None


def _slot(circuit: str, slot_id: str) -> Any:
    return (slots.c.circuit_id == circuit) & (slots.c.id == slot_id)


