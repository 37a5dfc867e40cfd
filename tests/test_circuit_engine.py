"""The circuit engine on SQLite and on a real PostgreSQL: stages, tokens, decline and
reopen, replacement, reminders (injected clock), expiry, leases, concurrency, journal,
late timestamps, migrations."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from fixtures_circuit import SECRET, CircuitKit, der_root
from test_circuit_acceptance import MAYORS, head, signed

from signers.circuit.errors import Busy, Conflict, Gone, NotFound, Refused
from signers.circuit.records import CircuitState, SlotState
from signers.circuit.remote import certificate_chain, sign_attributes
from signers.circuit.store import metadata, open_store
from signers.circuit.tokens import derive_token, token_hash
from signers.credentials import Pkcs12Credentials, open_signer
from signers.journal import verify_journal
from signers.verify import verify_document


def remote_sign(kit: CircuitKit, token: str, who: str) -> object:
    """Sign ``token``'s slot through a remote session with ``who``'s key."""
    with open_signer(Pkcs12Credentials(kit.pki.pkcs12(who), kit.pki.passphrase)) as signer:
        session = kit.engine.open_session(token, certificate_chain(signer))
        return kit.engine.finish_session(token, session.id,
                                         sign_attributes(session.to_sign, signer))


def test_stages_open_in_order_and_complete(kit: CircuitKit, tmp_path: Path) -> None:
    started = kit.start([["maire-gignac", "maire-aniane"], ["caf-directeur"]])
    view = kit.engine.status("c1")
    assert [s.state for s in view.slots] == ["invited", "invited", "waiting"]
    assert view.current_stage == 1
    remote_sign(kit, started.tokens["maire-aniane"], "maire-aniane")
    kit.engine.upload(started.tokens["maire-gignac"],
                      signed(kit, head(kit), "maire-gignac", "maire-gignac", tmp_path))
    assert kit.engine.status("c1").slot("caf-directeur").state == SlotState.INVITED
    result = remote_sign(kit, started.tokens["caf-directeur"], "caf-directeur")
    assert result.completed and kit.engine.status("c1").state == CircuitState.COMPLETE
    (tmp_path / "final.pdf").write_bytes(head(kit))
    report = verify_document(tmp_path / "final.pdf", trust_roots=[kit.pki.root_cert])
    assert report.valid and len(report.signatures) == 3, report.signatures
    events, tokens = kit.engine.journal("c1")
    kinds = [e.kind for e in events]
    assert kinds[0] == "started" and kinds[-1] == "completed"
    assert kinds.count("signature-accepted") == 3
    stamped = {e.seq for e in events if e.kind in ("signature-accepted", "completed")}
    assert set(tokens) == stamped
    check = verify_journal(events, tokens, trust_roots=[kit.pki.root_cert], journal="c1")
    assert check.valid and check.untimestamped_tail == 0, check.problems
    accepted = [e for e in events if e.kind == "signature-accepted"]
    assert accepted[1].data["before"] == accepted[0].data["after"]
    assert len(accepted[0].data["certificate"]["fingerprint"]) == 64


def test_remote_signature_carries_stamp_reason_and_certifies(kit: CircuitKit,
                                                             tmp_path: Path) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    started = kit.start(MAYORS)
    result = remote_sign(kit, started.tokens["maire-gignac"], "maire-gignac")
    assert result.acceptance.level == "B-T" and result.acceptance.certified
    import io

    reader = PdfFileReader(io.BytesIO(head(kit)), strict=False)
    sig = reader.embedded_regular_signatures[0]
    assert str(sig.sig_object["/Reason"]).startswith("Délibération du conseil municipal")
    assert sig.docmdp_level is not None
    assert "/AP" in sig.sig_field or any("/AP" in k.get_object()
                                         for k in sig.sig_field.get("/Kids", []))


def test_tokens_are_hashed_and_unknown_or_dead_links_are_404(kit: CircuitKit) -> None:
    started = kit.start(MAYORS)
    token = started.tokens["maire-gignac"]
    assert token == derive_token(SECRET, "c1", "maire-gignac", 0) and len(token) == 43
    with kit.engine.store.read() as conn:
        stored = {r[0] for r in conn.execute(sa.text("select token_hash from slots"))}
        dump = " ".join(str(r) for t in ("slots", "circuits", "events", "outbox")
                        for r in conn.execute(sa.text(f"select * from {t}")))
    assert token_hash(token) in stored and token not in dump
    new = kit.engine.replace("c1", "maire-gignac", name="Marc Adjoint",
                             email="m.adjoint@gignac.example.fr",
                             label="Le premier adjoint au maire de Gignac, par délégation")
    for dead in (token, "x" * 43, ""):
        with pytest.raises(NotFound) as info:
            kit.engine.invitation(dead)
        assert info.value.code == "unknown-link"
    found = kit.engine.invitation(new)
    assert found.slot is not None and found.slot.spec.name == "Marc Adjoint"
    assert found.slot.generation == 1
    event = kit.engine.journal("c1")[0][-2]
    assert event.kind == "replaced" and event.data["old"]["name"] == "Jean-François Soto"


def test_replaced_signatory_signs_with_own_certificate(kit: CircuitKit,
                                                       tmp_path: Path) -> None:
    started = kit.start(MAYORS)
    capacity = "La maire d'Aniane, par délégation"
    new = kit.engine.replace("c1", "maire-gignac", name="Élodie Carrière",
                             email="e.carriere@aniane.example.fr", label=capacity)
    with pytest.raises(Refused, match="signer-mismatch"):
        remote_sign(kit, new, "maire-gignac")  # the old person's key no longer matches
    remote_sign(kit, new, "maire-aniane")
    assert kit.engine.status("c1").slot("maire-gignac").state == SlotState.SIGNED
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(head(kit)), strict=False)
    ap = reader.embedded_regular_signatures[0].sig_field
    assert started.tokens and ap is not None


def test_decline_reopen_cancel(kit: CircuitKit, tmp_path: Path) -> None:
    started = kit.start(MAYORS)
    with pytest.raises(Refused, match="reason-required"):
        kit.engine.decline(started.tokens["maire-gignac"], "  ")
    kit.engine.decline(started.tokens["maire-gignac"], "Délibération à refaire",
                       address="192.0.2.1")
    view = kit.engine.status("c1")
    assert view.state == CircuitState.DECLINED
    assert view.slot("maire-gignac").decline_reason == "Délibération à refaire"
    with pytest.raises(Conflict, match="circuit-closed"):
        kit.engine.upload(started.tokens["maire-aniane"], signed(
            kit, head(kit), "maire-aniane", "maire-aniane", tmp_path))
    notes = kit.engine.claim_notifications()
    assert [n.kind for n in notes][-1] == "declined" and notes[-1].to_coordinator
    kit.engine.reopen("c1")
    view = kit.engine.status("c1")
    assert view.state == CircuitState.OPEN
    assert view.slot("maire-gignac").state == SlotState.INVITED
    remote_sign(kit, started.tokens["maire-gignac"], "maire-gignac")
    kit.engine.cancel("c1")
    with pytest.raises(Conflict):
        kit.engine.reopen("c1")
    kinds = [e.kind for e in kit.engine.journal("c1")[0]]
    assert {"declined", "reopened", "cancelled"} <= set(kinds)


def test_reminders_are_due_based_idempotent_and_stop(kit: CircuitKit) -> None:
    started = kit.start(MAYORS)
    for note in kit.engine.claim_notifications():  # the invitations, sent
        kit.engine.notification_sent(note.id)
    assert kit.engine.sweep("c1").reminded == ()
    kit.clock.advance(days=3, seconds=1)
    assert sorted(s for _, s in kit.engine.sweep("c1").reminded) == ["maire-aniane",
                                                                     "maire-gignac"]
    assert kit.engine.sweep("c1").reminded == ()  # idempotent
    remote_sign(kit, started.tokens["maire-gignac"], "maire-gignac")
    for _ in range(5):
        kit.clock.advance(days=3, seconds=1)
        kit.engine.sweep("c1")
    view = kit.engine.status("c1")
    assert view.slot("maire-aniane").reminders_sent == 3  # at most N
    assert view.slot("maire-gignac").reminders_sent == 1  # never after signing
    notes = kit.engine.claim_notifications()
    # gignac's first reminder, unsent when gignac signed, is dropped: never after signing
    assert [(n.kind, n.slot.id if n.slot else None) for n in notes] == [
        ("reminder", "maire-aniane")] * 3 + [("deadline-near", None)]


def test_a_reminder_asked_now_is_counted_journaled_and_queued(kit: CircuitKit) -> None:
    """The coordinator reminds one signatory, then everyone awaited: each reminder counts
    (the automatic ones follow from it), is journaled with who asked, and is mailed; a
    signatory who signed, or a closed circuit, is refused."""
    started = kit.start(MAYORS)
    kit.engine.claim_notifications()
    assert kit.engine.remind("c1", "maire-aniane", by="coordinator") == ["maire-aniane"]
    remote_sign(kit, started.tokens["maire-gignac"], "maire-gignac")
    with pytest.raises(Conflict, match="not awaited"):
        kit.engine.remind("c1", "maire-gignac")
    with pytest.raises(NotFound):
        kit.engine.remind("c1", "maire-nulle-part")
    assert kit.engine.remind("c1") == ["maire-aniane"]
    assert kit.engine.status("c1").slot("maire-aniane").reminders_sent == 2
    events = [e for e in kit.engine.journal("c1")[0] if e.kind == "reminded"]
    assert [(e.data["slot"], e.data["count"], e.data["by"]) for e in events] == [
        ("maire-aniane", 1, "coordinator"), ("maire-aniane", 2, "coordinator")]
    assert [(n.kind, n.slot.id if n.slot else None)
            for n in kit.engine.claim_notifications()
            if n.kind == "reminder"] == [("reminder", "maire-aniane")] * 2
    kit.engine.cancel("c1")
    with pytest.raises(Conflict):
        kit.engine.remind("c1")


def test_deadline_expires_the_circuit_and_its_links(kit: CircuitKit) -> None:
    started = kit.start(MAYORS)
    kit.clock.advance(days=21)
    result = kit.engine.sweep()
    assert result.expired == ("c1",)
    assert kit.engine.status("c1").state == CircuitState.EXPIRED
    with pytest.raises(NotFound):
        kit.engine.invitation(started.tokens["maire-gignac"])
    with pytest.raises(Conflict, match="deadline-passed"):
        kit.engine.reopen("c1")
    kit.engine.reopen("c1", deadline=kit.clock() + dt.timedelta(days=5))
    assert kit.engine.invitation(started.tokens["maire-gignac"]).slot is not None


def test_lease_busy_then_expired(kit: CircuitKit) -> None:
    kit.engine.config = type(kit.engine.config)(**{**kit.engine.config.__dict__,
                                                   "lease_wait": 0.0})
    started = kit.start(MAYORS)
    creds = Pkcs12Credentials(kit.pki.pkcs12("maire-gignac"), kit.pki.passphrase)
    with open_signer(creds) as signer:
        chain = certificate_chain(signer)
        first = kit.engine.open_session(started.tokens["maire-gignac"], chain)
        other = Pkcs12Credentials(kit.pki.pkcs12("maire-aniane"), kit.pki.passphrase)
        with open_signer(other) as second:
            with pytest.raises(Busy) as info:
                kit.engine.open_session(started.tokens["maire-aniane"],
                                        certificate_chain(second))
            assert 1 <= info.value.retry_after <= 60
        kit.clock.advance(seconds=61)
        with pytest.raises(Gone, match="lease-expired"):
            kit.engine.finish_session(started.tokens["maire-gignac"], first.id,
                                      sign_attributes(first.to_sign, signer))
        assert kit.engine.status("c1").head.signatures == 0
        again = kit.engine.open_session(started.tokens["maire-gignac"], chain)
        with pytest.raises(Refused, match="invalid-signature"):
            kit.engine.finish_session(started.tokens["maire-gignac"], again.id, b"\x30\x00")
        again = kit.engine.open_session(started.tokens["maire-gignac"], chain)
        kit.engine.finish_session(started.tokens["maire-gignac"], again.id,
                                  sign_attributes(again.to_sign, signer))
    assert kit.engine.status("c1").head.signatures == 1


def test_two_simultaneous_uploads_exactly_one_wins(kit: CircuitKit, tmp_path: Path) -> None:
    started = kit.start(MAYORS)
    base = head(kit)
    files = {sid: signed(kit, base, sid, sid, tmp_path) for sid in ("maire-gignac",
                                                                     "maire-aniane")}
    outcomes: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def upload(sid: str) -> None:
        barrier.wait()
        try:
            outcomes[sid] = kit.engine.upload(started.tokens[sid], files[sid])
        except Conflict as exc:
            outcomes[sid] = exc.code

    threads = [threading.Thread(target=upload, args=(sid,)) for sid in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(str(v) if isinstance(v, str) else "won" for v in outcomes.values()) \
        == ["head-moved", "won"]
    assert kit.engine.status("c1").head.signatures == 1


def test_tsa_down_commits_and_timestamps_later(make_kit: Callable[..., CircuitKit],
                                               store_location: str, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/tsa"
    kit = make_kit(store_location, tsa=dead)
    started = kit.start(MAYORS)
    kit.engine.upload(started.tokens["maire-gignac"],
                      signed(kit, head(kit), "maire-gignac", "maire-gignac", tmp_path))
    events, tokens = kit.engine.journal("c1")
    assert events[-1].kind == "timestamp-deferred" and tokens == {}
    accepted = next(e for e in events if e.kind == "signature-accepted")
    assert events[-1].data["event"] == accepted.seq
    kit.engine.tsa_url = kit.services.tsa_url  # the TSA is back
    assert kit.engine.sweep().timestamped == 1
    events, tokens = kit.engine.journal("c1")
    assert set(tokens) == {accepted.seq}
    assert verify_journal(events, tokens, trust_roots=[kit.pki.root_cert]).valid


def test_migrations_give_the_declared_schema(store_location: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = open_store(store_location)
    open_store(store_location)  # idempotent
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diff if d[0] not in ("add_index", "remove_index")] == []
    if store.is_sqlite:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("pragma synchronous").scalar() == 2  # FULL
    store.dispose()


def test_trust_roots_are_required(make_kit: Callable[..., CircuitKit], tmp_path: Path) -> None:
    kit = make_kit(str(tmp_path / "store"))
    kit.engine.config = type(kit.engine.config)(**{**kit.engine.config.__dict__,
                                                   "trust_roots": ()})
    started = kit.start(MAYORS)
    with pytest.raises(Refused, match="untrusted"):
        kit.engine.upload(started.tokens["maire-gignac"],
                          signed(kit, head(kit), "maire-gignac", "maire-gignac", tmp_path))
    assert der_root(kit.pki)
