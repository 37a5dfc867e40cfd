"""A hash-chained, append-only event journal with RFC 3161 timestamp tokens.

Each event carries the SHA-256 of the previous event's canonical JSON (``prev``; the
first one carries 64 zeros), so that no event can be changed, removed or inserted
without breaking the chain at that place. The chain head can be timestamped by a
timestamping authority: the token's message imprint is the SHA-256 of the head event's
canonical JSON, i.e. the event's :attr:`~JournalEvent.hash`. Such a token proves that the
whole chain up to that event existed at the token's time.

On disk a journal is JSON Lines (one canonical event per line, ``journal.jsonl``) and a
folder of tokens, one DER ``TimeStampResp`` per timestamped event named
``<seq:06d>.tsr`` (``openssl ts -verify -digest <hash> -in 000003.tsr -CAfile root.pem``
checks one by hand). :func:`verify_journal` checks both offline.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .atomic import atomic_write_bytes
from .exceptions import VerificationError

__all__ = ["GENESIS", "JournalCheck", "JournalError", "JournalEvent", "TokenCheck",
           "async_timestamp_event", "next_event", "parse_jsonl", "read_journal",
           "read_tokens", "timestamp_event", "token_name", "verify_journal",
           "write_journal"]

GENESIS = "0" * 64
"""``prev`` of the first event."""
_KEYS = ("seq", "at", "journal", "kind", "data", "prev")
_TOKEN_NAME = re.compile(r"^(\d{6})\.tsr$")


class JournalError(VerificationError):
    """A journal file cannot be read as a journal (not JSON Lines, a missing key…)."""


@dataclass(frozen=True)
class JournalEvent:
    """One event of a journal."""

    seq: int
    """Position in the journal, from 1."""
    at: str
    """When it happened: ISO 8601 in UTC, e.g. ``2023-02-06T16:00:00.123456+00:00``."""
    journal: str
    """Id of the journal (e.g. the circuit id): events cannot move between journals."""
    kind: str
    """What happened, e.g. ``started``, ``signature-accepted``."""
    data: dict[str, Any]
    """Details (JSON values only; never a secret such as an access token)."""
    prev: str
    """SHA-256 (hex) of the previous event's canonical JSON; :data:`GENESIS` for the
    first event."""

    def canonical(self) -> bytes:
        """The canonical JSON of the event (sorted keys, no spaces, UTF-8)."""
        return _canonical(asdict(self))

    @property
    def hash(self) -> str:
        """SHA-256 (hex) of :meth:`canonical`: the next event's ``prev``, and the
        message imprint of a timestamp token over this event."""
        return hashlib.sha256(self.canonical()).hexdigest()

    @property
    def time(self) -> dt.datetime:
        """:attr:`at` as an aware datetime."""
        return dt.datetime.fromisoformat(self.at)


def next_event(previous: JournalEvent | None, *, journal: str, kind: str,
               data: Mapping[str, Any] | None = None, at: dt.datetime | None = None
               ) -> JournalEvent:
    """The event following ``previous`` (``None`` for the first one)."""
    when = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    payload = json.loads(_canonical(dict(data or {})))  # JSON values only, copied
    if previous is not None and previous.journal != journal:
        raise ValueError(f"event of journal {journal!r} after one of {previous.journal!r}")
    return JournalEvent(seq=1 if previous is None else previous.seq + 1,
                        at=when.isoformat(), journal=journal, kind=kind, data=payload,
                        prev=GENESIS if previous is None else previous.hash)


# -- files ----------------------------------------------------------------------------

def parse_jsonl(text: bytes | str, source: str = "journal.jsonl") -> list[JournalEvent]:
    """The events of a JSON Lines journal; :class:`JournalError` naming the line of the
    first one that is not an event. Chain checks are :func:`verify_journal`'s."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JournalError(f"{source}: not UTF-8 text ({exc})") from exc
    events = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise JournalError(f"{source}:{number}: not a JSON object ({exc})") from exc
        events.append(_event(record, f"{source}:{number}"))
    return events


def _event(record: Any, where: str) -> JournalEvent:
    if not isinstance(record, dict) or set(record) != set(_KEYS):
        keys = sorted(record) if isinstance(record, dict) else type(record).__name__
        raise JournalError(f"{where}: a journal event has exactly the keys "
                           f"{', '.join(_KEYS)} (found {keys})")
    kinds = {"seq": int, "at": str, "journal": str, "kind": str, "data": dict, "prev": str}
    for key, kind in kinds.items():
        if not isinstance(record[key], kind) or isinstance(record[key], bool):
            raise JournalError(f"{where}: {key} must be a {kind.__name__}")
    try:
        dt.datetime.fromisoformat(record["at"])
    except ValueError as exc:
        raise JournalError(f"{where}: at is not an ISO 8601 time ({exc})") from exc
    return JournalEvent(**record)


def read_journal(path: str | os.PathLike[str]) -> list[JournalEvent]:
    """The events of the journal file ``path`` (see :func:`parse_jsonl`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise JournalError(f"{path}: cannot read the journal ({exc.strerror})") from exc
    return parse_jsonl(data, str(path))


def write_journal(events: Iterable[JournalEvent], path: str | os.PathLike[str],
                  tokens: Mapping[int, bytes] | None = None,
                  tokens_dir: str | os.PathLike[str] | None = None) -> None:
    """Write ``events`` as JSON Lines to ``path`` (atomically) and each of ``tokens``
    (event seq → DER ``TimeStampResp``) as ``tokens_dir/<seq:06d>.tsr``."""
    atomic_write_bytes(path, b"".join(e.canonical() + b"\n" for e in events))
    if tokens:
        folder = Path(tokens_dir) if tokens_dir is not None else Path(path).parent / "journal"
        folder.mkdir(parents=True, exist_ok=True)
        for seq, der in sorted(tokens.items()):
            atomic_write_bytes(folder / token_name(seq), der)


def token_name(seq: int) -> str:
    """File name of the token over event ``seq``."""
    return f"{seq:06d}.tsr"


def read_tokens(folder: str | os.PathLike[str]) -> dict[int, bytes]:
    """The tokens of ``folder`` by event seq (``<seq:06d>.tsr`` files; a missing folder
    holds none). Any other file is refused: a journal folder holds only tokens."""
    base = Path(folder)
    if not base.is_dir():
        return {}
    tokens = {}
    for entry in sorted(base.iterdir()):
        match = _TOKEN_NAME.match(entry.name)
        if match is None or not entry.is_file():
            raise JournalError(f"{entry}: not a timestamp token of the journal (expected "
                               "files named <seq:6 digits>.tsr only)")
        tokens[int(match.group(1))] = entry.read_bytes()
    return tokens


# -- timestamps -----------------------------------------------------------------------

async def async_timestamp_event(event: JournalEvent, timestamper: Any) -> bytes:
    """A DER ``TimeStampResp`` over ``event`` from ``timestamper`` (a pyHanko
    ``TimeStamper``, e.g. ``HTTPTimeStamper(url)``)."""
    from asn1crypto import tsp

    token = await timestamper.async_timestamp(bytes.fromhex(event.hash), "sha256")
    response = tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})
    return bytes(response.dump())


def timestamp_event(event: JournalEvent, tsa_url: str, timeout: float = 10.0) -> bytes:
    """:func:`async_timestamp_event` from the RFC 3161 service at ``tsa_url``."""
    from pyhanko.sign.timestamps import HTTPTimeStamper

    return asyncio.run(async_timestamp_event(event, HTTPTimeStamper(tsa_url, timeout=timeout)))


# -- verification ---------------------------------------------------------------------

@dataclass(frozen=True)
class TokenCheck:
    """The check of one timestamp token."""

    seq: int
    """The event it covers."""
    time: str | None
    """Its time (ISO 8601), when it could be read."""
    tsa: str | None
    """Its signer (the timestamping authority), when it could be read."""
    valid: bool
    """Intact, matching its event, signature valid and (when trust anchors were given)
    chaining to one of them at its own time."""
    problem: str = ""
    """Why not, when not."""


@dataclass(frozen=True)
class JournalCheck:
    """The result of :func:`verify_journal`."""

    events: int
    """Events read."""
    head: str | None
    """Hash of the last event (``None`` for an empty journal)."""
    valid: bool
    """The chain is unbroken and every token holds."""
    first_broken: int | None
    """Seq (1-based position) of the first event that breaks the chain, if any."""
    problems: tuple[str, ...]
    """Every problem found, each naming its event or token."""
    tokens: tuple[TokenCheck, ...] = field(default=())
    """Each token, in event order."""
    untimestamped_tail: int = 0
    """Events after the last timestamped one (protected by the chain only)."""


def verify_journal(events: Sequence[JournalEvent], tokens: Mapping[int, bytes] | None = None,
                   *, trust_roots: Sequence[Any] = (), journal: str | None = None,
                   speedups: bool | None = None) -> JournalCheck:
    """Check ``events`` (consecutive seqs from 1, each ``prev`` the hash of the event
    before, one journal id, ``journal`` if given) and ``tokens`` (each over the event of
    its seq, intact, signature valid; with ``trust_roots`` — asn1crypto certificates or
    PEM/DER files — also chaining to one of them as of the token's own time). Offline:
    nothing is fetched. ``speedups`` as for :func:`signers.verify.verify_document`: the
    tokens are checked on the speed-ups' path, and again on pyHanko's plain path when a
    speed-up failed or a token did not hold there."""
    problems: list[str] = []
    first_broken = _check_chain(events, journal, problems)
    checks = _check_tokens(sorted((tokens or {}).items()), events, trust_roots, speedups)
    problems += [f"timestamp token {token_name(c.seq)} (event {c.seq}): {c.problem}"
                 for c in checks if not c.valid]
    last_stamped = max((c.seq for c in checks if c.valid), default=0)
    return JournalCheck(events=len(events), head=events[-1].hash if events else None,
                        valid=not problems, first_broken=first_broken,
                        problems=tuple(problems), tokens=checks,
                        untimestamped_tail=max(0, len(events) - last_stamped))


def _check_chain(events: Sequence[JournalEvent], journal: str | None,
                 problems: list[str]) -> int | None:
    expected_prev, name = GENESIS, journal if journal is not None else (
        events[0].journal if events else None)
    for index, event in enumerate(events, 1):
        problem = None
        if event.seq != index:
            problem = f"is numbered {event.seq} at position {index} (an event was " \
                      "removed, inserted or moved)"
        elif event.prev != expected_prev:
            problem = "does not follow the event before it (prev hash mismatch: that " \
                      "event or this one was changed, removed or inserted)"
        elif event.journal != name:
            problem = f"belongs to journal {event.journal!r}, not {name!r}"
        if problem is not None:
            problems.append(f"event {index} ({event.kind}) {problem}")
            return index
        expected_prev = event.hash
    return None


def _check_tokens(items: list[tuple[int, bytes]], events: Sequence[JournalEvent],
                  trust_roots: Sequence[Any], option: bool | None) -> tuple[TokenCheck, ...]:
    from . import speedups as _speedups

    if _speedups.wanted(option):
        with _speedups.attempt("timestamp tokens of the journal") as attempt:
            fast = tuple(_check_token(seq, der, events, trust_roots) for seq, der in items)
        if not attempt.failed and all(c.valid for c in fast):
            return fast
    with _speedups.plain():
        return tuple(_check_token(seq, der, events, trust_roots) for seq, der in items)


def _check_token(seq: int, der: bytes, events: Sequence[JournalEvent],
                 trust_roots: Sequence[Any]) -> TokenCheck:
    from asn1crypto import tsp

    if not 1 <= seq <= len(events):
        return TokenCheck(seq, None, None, False, "covers no event of the journal")
    try:
        response = tsp.TimeStampResp.load(der)
        if response["status"]["status"].native != "granted":
            return TokenCheck(seq, None, None, False, "the response is not a granted token")
        token = response["time_stamp_token"]
        signed = token["content"]
        info = signed["encap_content_info"]["content"].parsed
        when = info["gen_time"].native
        tsa = _tsa_name(signed)
    except Exception as exc:  # noqa: BLE001 - any parse failure: not a token
        return TokenCheck(seq, None, None, False, f"not a timestamp token ({exc})")
    event = events[seq - 1]
    try:
        status = asyncio.run(_validate_token(signed, event, when, trust_roots))
    except Exception as exc:  # noqa: BLE001 - fail closed
        return TokenCheck(seq, when.isoformat(), tsa, False, f"cannot be validated ({exc})")
    problem = ("its message imprint is not this event's hash" if not status["intact"]
               else "its signature does not verify" if not status["valid"]
               else "it does not chain to a trust anchor" if trust_roots
               and not status["trusted"] else "")
    return TokenCheck(seq, when.isoformat(), tsa, not problem, problem)


async def _validate_token(signed: Any, event: JournalEvent, when: dt.datetime,
                          trust_roots: Sequence[Any]) -> dict[str, bool]:
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus
    from pyhanko_certvalidator import ValidationContext

    vc = ValidationContext(trust_roots=[_root(r) for r in trust_roots],
                           allow_fetching=False, revocation_mode="soft-fail", moment=when)
    canonical = event.canonical()
    kwargs = await validate_tst_signed_data(
        signed, vc, lambda algorithm: hashlib.new(algorithm, canonical).digest())
    status = TimestampSignatureStatus(**kwargs)
    return {"intact": status.intact, "valid": status.valid, "trusted": status.trusted}


def _tsa_name(signed: Any) -> str | None:
    try:
        sid = signed["signer_infos"][0]["sid"]
        for cert in signed["certificates"]:
            c = cert.chosen
            if sid.name == "issuer_and_serial_number" and \
                    c.serial_number == sid.chosen["serial_number"].native:
                return str(c.subject.human_friendly)
    except Exception:  # noqa: BLE001 - the name is for display only
        return None
    return None


def _root(root: Any) -> Any:
    if isinstance(root, (str, os.PathLike)):
        from pyhanko.keys import load_cert_from_pemder

        return load_cert_from_pemder(str(root))
    return root


def _canonical(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")
