"""The circuit engine: token actions (read, download, upload, remote signing, decline)
around one head per circuit, moved only by compare-and-swap in one transaction.

Every accepted revision, its journal event and the new head are committed together; a
refused one changes nothing but the journal. Remote signing sessions hold a short
*lease* on the head (in the database, so that any server instance can finish a session
another prepared); an upload that arrives during a lease waits for it, then its
compare-and-swap decides."""

from __future__ import annotations

import base64
import collections
import datetime as dt
import hashlib
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from asn1crypto import x509

from .. import speedups
from ..identity import identity_of, match_signer
from .acceptance import CheckLimits, CheckRequest
from .errors import (
    Busy,
    CircuitRefusal,
    Conflict,
    Gone,
    NotFound,
    Refused,
    StoreError,
    UnsupportedMedia,
)
from .journaling import append_event, timestamp_pending
from .lifecycle import Lifecycle, _find, _slot
from .records import (
    Acceptance,
    Accepted,
    CircuitState,
    CircuitView,
    Head,
    Invitation,
    SessionInfo,
    SlotState,
    SlotView,
)
from .remote import PreparedRevision, finish_revision, prepare_revision, signature_matches
from .sandbox import Checker, ProcessChecker
from .store import Store, circuits, revisions, sessions, slots
from .tokens import token_hash, tokens_equal
from .views import load_view

__all__ = ["CircuitEngine", "EngineConfig", "StampText"]

log = logging.getLogger(__name__)

StampText = Callable[[str, "str | None", dt.datetime, bool], Sequence[str]]
"""``(signer name, capacity, time, seal) → lines`` of a visible stamp (the caller's
wording: the engine has none)."""


@dataclass(frozen=True)
class EngineConfig:
    """How the engine accepts and signs."""

    trust_roots: tuple[bytes, ...] = ()
    """DER trust anchors for the acceptance check."""
    tsa_url: str | None = None
    """Timestamp authority: remote signatures (B-T) and the journal's chain head."""
    limits: CheckLimits = field(default_factory=CheckLimits)
    """Bounds on an offered revision."""
    lease: dt.timedelta = dt.timedelta(seconds=60)
    """How long a remote signing session holds the head."""
    lease_wait: float = 30.0
    """Seconds a request waits for another session's lease before answering busy."""
    fetching: bool = True
    """Fetch revocation information during the check."""


@dataclass(frozen=True)
class _Who:
    circuit: str
    slot: str | None
    generation: int


class CircuitEngine(Lifecycle):
    """All circuit actions on one store."""

    def __init__(self, store: Store, secret: bytes, config: EngineConfig | None = None, *,
                 clock: Callable[[], dt.datetime] | None = None,
                 checker: Checker | None = None, stamp_text: StampText | None = None) -> None:
        self.store = store
        self.secret = secret
        self.config = config or EngineConfig()
        self.tsa_url = self.config.tsa_url
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.checker: Checker = checker or ProcessChecker()
        self.stamp_text = stamp_text
        self._heads: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self._heads_lock = threading.Lock()
        self._lease_freed = threading.Condition()

    # -- tokens ------------------------------------------------------------------------

    def _resolve(self, token: str) -> _Who:
        digest = token_hash(token)
        with self.store.read() as conn:
            row = conn.execute(sa.select(slots.c.circuit_id, slots.c.id, slots.c.generation,
                                         slots.c.token_hash)
                               .where(slots.c.token_hash == digest)).first()
            if row is not None and tokens_equal(row.token_hash, digest):
                state, deadline = conn.execute(
                    sa.select(circuits.c.state, circuits.c.deadline)
                    .where(circuits.c.id == row.circuit_id)).one()
                if state == CircuitState.EXPIRED or deadline <= self.clock():
                    raise NotFound("unknown-link", "the link expired with its circuit")
                return _Who(row.circuit_id, row.id, row.generation)
            coord = conn.execute(sa.select(circuits.c.id, circuits.c.coordinator_hash)
                                 .where(circuits.c.coordinator_hash == digest)).first()
            if coord is not None and tokens_equal(coord.coordinator_hash, digest):
                return _Who(coord.id, None, 0)
        raise NotFound("unknown-link", "unknown or dead link")

    def _slot_who(self, token: str) -> _Who:
        who = self._resolve(token)
        if who.slot is None:
            raise NotFound("unknown-link", "a coordinator link cannot sign")
        return who

    def coordinator_circuit(self, token: str) -> str:
        """The circuit whose coordinator holds ``token`` (:class:`NotFound` otherwise)."""
        who = self._resolve(token)
        if who.slot is not None:
            raise NotFound("unknown-link", "not a coordinator link")
        return who.circuit

    def invitation(self, token: str) -> Invitation:
        """What ``token`` gives access to. Changes nothing (mail scanners follow links)."""
        who = self._resolve(token)
        view = self.status(who.circuit)
        return Invitation(view, _find(view, who.slot) if who.slot else None)

    # -- the head ----------------------------------------------------------------------

    def head_bytes(self, circuit: str, head: Head | None = None) -> bytes:
        """The PDF of ``head`` (default: the current head) of ``circuit``."""
        if head is None:
            head = self.status(circuit).head
        key = f"{circuit}:{head.sha256}"
        with self._heads_lock:
            if key in self._heads:
                self._heads.move_to_end(key)
                return self._heads[key]
        with self.store.read() as conn:
            end = conn.execute(sa.select(revisions.c.seq).where(
                (revisions.c.circuit_id == circuit) & (revisions.c.head_sha256 == head.sha256))
            ).scalar()
            if end is None:
                raise NotFound("unknown-head", f"no head {head.sha256[:12]}… in {circuit}")
            parts = conn.execute(sa.select(revisions.c.data).where(
                (revisions.c.circuit_id == circuit) & (revisions.c.seq <= end))
                .order_by(revisions.c.seq)).scalars().all()
        data = b"".join(bytes(p) for p in parts)
        if hashlib.sha256(data).hexdigest() != head.sha256:
            raise StoreError(f"circuit {circuit}: the stored revisions do not give the head "
                             f"{head.sha256[:12]}… (damaged store)")
        self._remember(key, data)
        return data

    def _remember(self, key: str, data: bytes) -> None:
        with self._heads_lock:
            self._heads[key] = data
            while len(self._heads) > 4:
                self._heads.popitem(last=False)

    def download(self, token: str, address: str | None = None) -> tuple[bytes, Head]:
        """The current document; journaled as "opened" (a deliberate download)."""
        who = self._resolve(token)
        now = self.clock()
        with self.store.write(who.circuit) as conn:
            view = load_view(conn, who.circuit)
            if who.slot is not None:
                conn.execute(sa.update(slots).where(
                    _slot(who.circuit, who.slot) & slots.c.opened_at.is_(None))
                    .values(opened_at=now))
            append_event(conn, who.circuit, "opened", {
                "slot": who.slot or "coordinator", "address": address,
                "head": view.head.sha256}, now)
        return self.head_bytes(who.circuit, view.head), view.head

    # -- upload ------------------------------------------------------------------------

    def upload(self, token: str, data: bytes, *, if_match: str | None = None,
               address: str | None = None) -> Accepted:
        """Offer a signed PDF: accepted and committed, or refused with a code (the
        refusal is journaled, nothing else changes)."""
        who = self._slot_who(token)
        try:
            view, slot = self._signable(who)
            if not data.startswith(b"%PDF-"):
                raise UnsupportedMedia("not-pdf", "the upload is not a PDF")
            head = view.head
            if if_match is not None and if_match.strip().strip('"') != head.sha256:
                raise Conflict("head-moved", "If-Match names another head",
                               head=_head_json(head))
            self._check_base(who.circuit, data, head)
            acceptance = self.checker(self._request(view, slot, data))
            return self._commit(who, head, data, acceptance, "upload", address, None)
        except CircuitRefusal as exc:
            self.note_refused(token, exc.code, address, size=len(data), detail=exc.detail)
            raise

    def note_refused(self, token: str, code: str, address: str | None, *,
                     size: int | None = None, detail: str = "") -> None:
        """Journal a refused upload or signature of ``token`` (if it is a live link)."""
        try:
            who = self._slot_who(token)
        except NotFound:
            return
        with self.store.write(who.circuit) as conn:
            append_event(conn, who.circuit, "upload-refused", {
                "slot": who.slot, "code": code, "address": address, "size": size,
                "detail": detail[:300]}, self.clock())

    def _signable(self, who: _Who) -> tuple[CircuitView, SlotView]:
        view = self.status(who.circuit)
        slot = _find(view, who.slot or "")
        if slot.generation != who.generation:
            raise NotFound("unknown-link", "dead link")
        if view.state != CircuitState.OPEN:
            raise Conflict("circuit-closed", f"the circuit is {view.state}",
                           state=str(view.state))
        if slot.state == SlotState.SIGNED:
            raise Conflict("already-signed", "this signatory has signed")
        if slot.state == SlotState.WAITING:
            raise Conflict("not-your-turn", f"stage {slot.spec.stage} is not open",
                           stage=slot.spec.stage, current_stage=view.current_stage)
        if slot.state != SlotState.INVITED:
            raise Conflict("circuit-closed", f"slot is {slot.state}")
        return view, slot

    def _check_base(self, circuit: str, data: bytes, head: Head) -> None:
        if len(data) > head.size and hashlib.sha256(data[:head.size]).hexdigest() \
                == head.sha256:
            return
        with self.store.read() as conn:
            older = conn.execute(sa.select(revisions.c.head_size, revisions.c.head_sha256)
                                 .where(revisions.c.circuit_id == circuit)).all()
        for size, sha in older:
            if len(data) > size and hashlib.sha256(data[:size]).hexdigest() == sha:
                raise Conflict("head-moved", "signed on an older version of the document",
                               head=_head_json(head))
        if len(data) == head.size and hashlib.sha256(data).hexdigest() == head.sha256:
            raise Refused("no-new-signature", "the upload is the current document unsigned")
        raise Refused("not-incremental", "the upload does not start with the bytes of "
                      "the document (rewritten by the signing tool?)")

    def _request(self, view: CircuitView, slot: SlotView, candidate: bytes) -> CheckRequest:
        config = self.config
        return CheckRequest(
            candidate=candidate, head_size=view.head.size,
            head_revisions=view.head.revisions,
            head_signatures=frozenset(s.spec.field for s in view.slots
                                      if s.state == SlotState.SIGNED) | _other_signed(view),
            fields=frozenset(view.meta.get("signature_fields", ())),
            expected=slot.spec.expected(), seal=slot.spec.seal,
            trust_roots=config.trust_roots, limits=config.limits, fetching=config.fetching,
            speedups=speedups.status().enabled)

    # -- commit ------------------------------------------------------------------------

    def _commit(self, who: _Who, base: Head, candidate: bytes, acceptance: Acceptance,
                via: str, address: str | None, session: str | None) -> Accepted:
        deadline = time.monotonic() + self.config.lease_wait
        while True:
            result, retry = self._try_commit(who, base, candidate, acceptance, via, address,
                                             session)
            if result is not None:
                break
            if time.monotonic() >= deadline:
                raise Busy(retry, "another signing session holds the document")
            self._wait_for_lease(min(0.2, max(0.01, deadline - time.monotonic())))
        self._remember(f"{who.circuit}:{result.head.sha256}", candidate)
        timestamp_pending(self.store, self.tsa_url, self.clock(), circuit=who.circuit,
                          journal_failure=True)
        return result

    def _try_commit(self, who: _Who, base: Head, candidate: bytes, acceptance: Acceptance,
                    via: str, address: str | None, session: str | None
                    ) -> tuple[Accepted | None, int]:
        now = self.clock()
        with self.store.write(who.circuit) as conn:
            row = conn.execute(sa.select(circuits).where(circuits.c.id == who.circuit)).one()
            _recheck(conn, who, row, base, session, now)
            if session is None and row.lease_session is not None and row.lease_until > now:
                return None, max(1, math.ceil((row.lease_until - now).total_seconds()))
            tail = candidate[base.size:]
            sha = hashlib.sha256(candidate).hexdigest()
            new_head = Head(sha, len(candidate), base.signatures + 1,
                            base.revisions + acceptance.revisions)
            conn.execute(sa.insert(revisions).values(
                circuit_id=who.circuit, seq=row.head_seq + 1, slot_id=who.slot, data=tail,
                sha256=hashlib.sha256(tail).hexdigest(), head_size=new_head.size,
                head_sha256=sha, pdf_revisions=new_head.revisions, created_at=now))
            swapped = conn.execute(sa.update(circuits).where(
                (circuits.c.id == who.circuit) & (circuits.c.head_sha256 == base.sha256))
                .values(head_seq=row.head_seq + 1, head_sha256=sha, head_size=new_head.size,
                        head_revisions=new_head.revisions, head_signatures=new_head.signatures,
                        lease_session=None if session else row.lease_session,
                        lease_until=None if session else row.lease_until))
            if swapped.rowcount != 1:
                raise Conflict("head-moved", "the document changed meanwhile")
            conn.execute(sa.update(slots).where(_slot(who.circuit, who.slot or "")).values(
                state=SlotState.SIGNED, signed_at=now, signer=acceptance.signer,
                fingerprint=acceptance.fingerprint, level=acceptance.level, via=via))
            if session is not None:
                conn.execute(sa.update(sessions).where(sessions.c.id == session)
                             .values(state="done"))
            append_event(conn, who.circuit, "signature-accepted", {
                "slot": who.slot, "field": acceptance.field, "via": via, "address": address,
                "before": _head_json(base), "after": _head_json(new_head),
                "certificate": {"fingerprint": acceptance.fingerprint,
                                "subject": acceptance.subject},
                "level": acceptance.level, "certified": acceptance.certified,
                "signing_time": acceptance.signing_time,
                "timestamp_time": acceptance.timestamp_time}, now)
            completed = self._open_stages(conn, who.circuit, now)
            final = load_view(conn, who.circuit)
        if session is not None:
            self._notify_lease_freed()
        return Accepted(new_head, final.signed, len(final.slots), acceptance, completed), 0

    # -- remote signing ----------------------------------------------------------------

    def open_session(self, token: str, certificates: Sequence[bytes],
                     address: str | None = None) -> SessionInfo:
        """Prepare the signature revision for the certificate ``certificates[0]`` under
        a lease on the head; returns the signed attributes to sign."""
        who = self._slot_who(token)
        view, slot = self._signable(who)
        chain = _chain(certificates)
        self._precheck(chain[0], slot)
        session_id = secrets.token_urlsafe(24)
        head, until = self._take_lease(who.circuit, session_id)
        try:
            t0 = time.perf_counter()
            prepared = self._prepare(who.circuit, head, slot, chain)
            log.info("circuit %s: session for %s prepared in %.2f s", who.circuit, who.slot,
                     time.perf_counter() - t0)
            with self.store.write(who.circuit) as conn:
                conn.execute(sa.insert(sessions).values(
                    id=session_id, circuit_id=who.circuit, slot_id=who.slot,
                    generation=who.generation, state="open", created_at=self.clock(),
                    expires_at=until, base_sha256=head.sha256, tail=prepared.tail,
                    prepared={**prepared.to_json(), "certificates": [
                        base64.b64encode(c).decode() for c in certificates],
                        "address": address}))
        except BaseException:
            self._release(who.circuit, session_id)
            raise
        return SessionInfo(session_id, prepared.signed_attrs, "sha256", until, head)

    def _precheck(self, cert: x509.Certificate, slot: SlotView) -> None:
        """The certificate's identity, usage and dates, before taking the lease."""
        match = match_signer(identity_of(cert), slot.spec.expected())
        if not match.matches:
            raise Refused("signer-mismatch", match.detail, field=slot.spec.field,
                          expected=slot.spec.label)
        usage = cert.key_usage_value.native if cert.key_usage_value is not None else set()
        if "non_repudiation" not in usage and not (slot.spec.seal
                                                   and "digital_signature" in usage):
            raise Refused("unsuitable-certificate", "no nonRepudiation key usage")
        now = self.clock()
        if not cert.not_valid_before <= now <= cert.not_valid_after:
            raise Refused("untrusted", "the certificate is expired or not yet valid")

    def _prepare(self, circuit: str, head: Head, slot: SlotView,
                 chain: list[x509.Certificate]) -> PreparedRevision:
        now = self.clock()
        who = identity_of(chain[0])
        name = who.names[0] if who.names else who.subject
        lines = tuple(self.stamp_text(name, slot.spec.label, now, slot.spec.seal)) \
            if self.stamp_text else ()
        return prepare_revision(self.head_bytes(circuit, head), slot.spec.field, chain,
                                certify=head.signatures == 0, stamp_lines=lines,
                                reason=slot.spec.reason, tsa_url=self.tsa_url, now=now)

    def _take_lease(self, circuit: str, session_id: str) -> tuple[Head, dt.datetime]:
        deadline = time.monotonic() + self.config.lease_wait
        while True:
            now = self.clock()
            with self.store.write(circuit) as conn:
                row = conn.execute(sa.select(circuits).where(circuits.c.id == circuit)).one()
                if row.state != CircuitState.OPEN:
                    raise Conflict("circuit-closed", f"the circuit is {row.state}")
                if row.lease_session is None or row.lease_until <= now:
                    until = now + self.config.lease
                    conn.execute(sa.update(circuits).where(circuits.c.id == circuit)
                                 .values(lease_session=session_id, lease_until=until))
                    return Head(row.head_sha256, row.head_size, row.head_signatures,
                                row.head_revisions), until
                remaining = (row.lease_until - now).total_seconds()
            if time.monotonic() >= deadline:
                raise Busy(max(1, math.ceil(remaining)), "another signatory is signing")
            self._wait_for_lease(min(0.2, max(0.01, deadline - time.monotonic())))

    def _release(self, circuit: str, session_id: str, state: str = "failed") -> None:
        with self.store.write(circuit) as conn:
            conn.execute(sa.update(circuits).where(
                (circuits.c.id == circuit) & (circuits.c.lease_session == session_id))
                .values(lease_session=None, lease_until=None))
            conn.execute(sa.update(sessions).where(
                (sessions.c.id == session_id) & (sessions.c.state == "open"))
                .values(state=state))
        self._notify_lease_freed()

    def _wait_for_lease(self, seconds: float) -> None:
        with self._lease_freed:
            self._lease_freed.wait(seconds)

    def _notify_lease_freed(self) -> None:
        with self._lease_freed:
            self._lease_freed.notify_all()

    def finish_session(self, token: str, session_id: str, signature: bytes,
                       address: str | None = None) -> Accepted:
        """Complete a session with the signature value: the revision is finished,
        timestamped, checked by the acceptance rule and committed."""
        who = self._slot_who(token)
        row = self._session(who, session_id)
        try:
            prepared = PreparedRevision.from_json(row.prepared, bytes(row.tail))
            chain = _chain([base64.b64decode(c) for c in row.prepared["certificates"]])
            if not signature_matches(chain[0], prepared.signed_attrs, signature):
                raise Refused("invalid-signature", "the signature value does not verify "
                              "with the certificate sent")
            view, slot = self._signable(who)
            head = view.head
            if head.sha256 != row.base_sha256:
                raise Conflict("head-moved", "the document changed during the session")
            t0 = time.perf_counter()
            candidate = finish_revision(self.head_bytes(who.circuit, head), prepared, chain,
                                        signature, self.tsa_url)
            t1 = time.perf_counter()
            acceptance = self.checker(self._request(view, slot, candidate))
            t2 = time.perf_counter()
            result = self._commit(who, head, candidate, acceptance, "remote", address,
                                  session_id)
            log.info("circuit %s: %s signed remotely (finish %.2f s, check %.2f s, commit "
                     "%.2f s)", who.circuit, who.slot, t1 - t0, t2 - t1,
                     time.perf_counter() - t2)
            return result
        except CircuitRefusal as exc:
            self._release(who.circuit, session_id)
            if not isinstance(exc, Gone):
                self.note_refused(token, exc.code, address, detail=exc.detail)
            raise
        except BaseException:
            self._release(who.circuit, session_id)
            raise

    def _session(self, who: _Who, session_id: str) -> Any:
        now = self.clock()
        with self.store.read() as conn:
            row = conn.execute(sa.select(sessions).where(
                (sessions.c.id == session_id) & (sessions.c.circuit_id == who.circuit)
                & (sessions.c.slot_id == who.slot)
                & (sessions.c.generation == who.generation))).first()
        if row is None:
            raise NotFound("unknown-session", "no such signing session")
        if row.state == "done":
            raise Conflict("already-signed", "this session is finished")
        if row.state != "open" or row.expires_at <= now:
            self._release(who.circuit, session_id, "expired")
            raise Gone("lease-expired", "the signing session expired; start again")
        return row

    # -- decline -----------------------------------------------------------------------

    def decline(self, token: str, reason: str, address: str | None = None) -> None:
        """The signatory refuses to sign: the circuit stops (``declined``) and the
        coordinator is told."""
        who = self._slot_who(token)
        reason = reason.strip()
        if not reason:
            raise Refused("reason-required", "give the reason of the refusal")
        now = self.clock()
        with self.store.write(who.circuit) as conn:
            view = load_view(conn, who.circuit)
            slot = _find(view, who.slot or "")
            if view.state != CircuitState.OPEN:
                raise Conflict("circuit-closed", f"the circuit is {view.state}")
            if slot.state == SlotState.SIGNED:
                raise Conflict("already-signed", "this signatory has signed")
            conn.execute(sa.update(slots).where(_slot(who.circuit, slot.id)).values(
                state=SlotState.DECLINED, declined_at=now, decline_reason=reason[:2000]))
            conn.execute(sa.update(circuits).where(circuits.c.id == who.circuit).values(
                state=CircuitState.DECLINED, lease_session=None, lease_until=None))
            append_event(conn, who.circuit, "declined", {
                "slot": slot.id, "reason": reason[:2000], "address": address}, now)
            self._enqueue(conn, who.circuit, "declined", slot.id, slot.generation,
                          {"reason": reason[:2000]}, now)


def _recheck(conn: Any, who: _Who, row: Any, base: Head, session: str | None,
             now: dt.datetime) -> None:
    """The checks made before the acceptance check, again under the lock."""
    if row.state != CircuitState.OPEN:
        raise Conflict("circuit-closed", f"the circuit is {row.state}")
    slot_row = conn.execute(sa.select(slots.c.state, slots.c.generation)
                            .where(_slot(who.circuit, who.slot or ""))).one()
    if slot_row.generation != who.generation:
        raise NotFound("unknown-link", "dead link")
    if slot_row.state == SlotState.SIGNED:
        raise Conflict("already-signed", "this signatory has signed")
    if slot_row.state != SlotState.INVITED:
        raise Conflict("not-your-turn", "the slot is not invited")
    if row.head_sha256 != base.sha256:
        raise Conflict("head-moved", "another signature was accepted meanwhile",
                       head={"sha256": row.head_sha256, "size": row.head_size,
                             "signatures": row.head_signatures})
    if session is not None and row.lease_session != session:
        raise Gone("lease-expired", "the session's lease was lost")


def _chain(certificates: Sequence[bytes]) -> list[x509.Certificate]:
    if not certificates:
        raise Refused("bad-certificate", "no certificate sent")
    try:
        chain = [x509.Certificate.load(bytes(c)) for c in certificates]
        for cert in chain:
            _ = cert.subject.native  # parse now, not in the middle of signing
        return chain
    except (ValueError, TypeError) as exc:
        raise Refused("bad-certificate", f"a certificate cannot be read: {exc}") from exc


def _head_json(head: Head) -> dict[str, Any]:
    return {"sha256": head.sha256, "size": head.size, "signatures": head.signatures}


def _other_signed(view: CircuitView) -> frozenset[str]:
    """Fields signed in the package outside the circuit's slots (none normally)."""
    return frozenset(view.meta.get("signed_outside", ()))
