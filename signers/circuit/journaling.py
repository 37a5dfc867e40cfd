"""The circuit journal in the store: events appended in the writer's transaction,
timestamp tokens over them, and the JSON Lines export (:mod:`signers.journal`)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..journal import JournalEvent, next_event, parse_jsonl, timestamp_event
from .store import Store, events, stamps

__all__ = ["append_event", "read_events", "read_stamps", "timestamp_pending"]

log = logging.getLogger(__name__)

TIMESTAMPED_KINDS = frozenset({"signature-accepted", "completed"})
"""Events whose chain head is timestamped."""


def append_event(conn: Connection, circuit: str, kind: str, data: Mapping[str, Any],
                 at: dt.datetime) -> JournalEvent:
    """Append an event to ``circuit``'s journal inside the caller's write transaction
    (which holds the circuit's lock)."""
    row = conn.execute(sa.select(events.c.line).where(events.c.circuit_id == circuit)
                       .order_by(events.c.seq.desc()).limit(1)).first()
    previous = parse_jsonl(row.line, f"journal of {circuit}")[0] if row else None
    event = next_event(previous, journal=circuit, kind=kind, data=data, at=at)
    conn.execute(sa.insert(events).values(
        circuit_id=circuit, seq=event.seq, kind=kind, at=at,
        line=event.canonical().decode("utf-8"), hash=event.hash,
        wants_timestamp=kind in TIMESTAMPED_KINDS))
    return event


def read_events(conn: Connection, circuit: str) -> list[JournalEvent]:
    """Every event of ``circuit``'s journal, in order."""
    rows = conn.execute(sa.select(events.c.line).where(events.c.circuit_id == circuit)
                        .order_by(events.c.seq)).all()
    return parse_jsonl("\n".join(r.line for r in rows), f"journal of {circuit}")


def read_stamps(conn: Connection, circuit: str) -> dict[int, bytes]:
    """The timestamp tokens of ``circuit``'s journal by event seq."""
    rows = conn.execute(sa.select(stamps.c.seq, stamps.c.token)
                        .where(stamps.c.circuit_id == circuit)).all()
    return {r.seq: bytes(r.token) for r in rows}


def timestamp_pending(store: Store, tsa_url: str | None, now: dt.datetime, *,
                      circuit: str | None = None, journal_failure: bool = False) -> int:
    """Timestamp the events that want a token and have none; returns how many were.

    With ``journal_failure``, a TSA failure is journaled (``timestamp-deferred``) so
    that the journal says why the token came late; the sweeper retries silently."""
    if not tsa_url:
        return 0
    query = sa.select(events.c.circuit_id, events.c.seq, events.c.line).where(
        events.c.wants_timestamp.is_(True))
    if circuit is not None:
        query = query.where(events.c.circuit_id == circuit)
    with store.read() as conn:
        pending = conn.execute(query.order_by(events.c.circuit_id, events.c.seq)).all()
    done = 0
    for row in pending:
        event = parse_jsonl(row.line)[0]
        try:
            token = timestamp_event(event, tsa_url)
        except Exception as exc:  # noqa: BLE001 - any TSA failure: retry later
            log.warning("journal of %s: timestamp of event %d deferred (%s)",
                        row.circuit_id, row.seq, exc)
            if journal_failure:
                with store.write(row.circuit_id) as conn:
                    append_event(conn, row.circuit_id, "timestamp-deferred",
                                 {"event": row.seq, "error": str(exc)[:300]}, now)
            continue
        with store.write(row.circuit_id) as conn:
            still = conn.execute(sa.select(events.c.wants_timestamp).where(
                (events.c.circuit_id == row.circuit_id) & (events.c.seq == row.seq))
            ).scalar()
            if not still:  # another process timestamped it meanwhile
                continue
            conn.execute(sa.insert(stamps).values(circuit_id=row.circuit_id, seq=row.seq,
                                                  token=token, created_at=now))
            conn.execute(sa.update(events).where(
                (events.c.circuit_id == row.circuit_id) & (events.c.seq == row.seq))
                .values(wants_timestamp=False))
        done += 1
    return done


def event_data(event: JournalEvent) -> dict[str, Any]:
    """The data of ``event`` (a copy)."""
    return dict(event.data)
