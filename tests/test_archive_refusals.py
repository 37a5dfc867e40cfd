"""What ``ctg archive`` refuses (exit 16, nothing written) and what it keeps: a signer
certificate revoked after signing does not invalidate the archived signature
(point-in-time validation), one revoked before signing does; an incomplete package is
refused unless ``--allow-incomplete``; trusted lists and journals that do not hold are
refused; qualification is not assessed without a trusted list."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest
from fixtures_archive import Signed, network_blocked, write_test_journal
from pyhanko.keys import load_cert_from_pemder

from ctgdocs.archive import create_bundle, verify_bundle
from ctgdocs.cli import main
from ctgdocs.demo import circuit_order
from ctgdocs.exceptions import ArchiveError, ExitCode, InputError
from ctgdocs.signatories import SEAL_FIELD
from signers.demo_pki import revoke

REVOKED = "maire-aniane"


def sign_all(world: Signed, *, skip: str | None = None) -> Path:
    src = world.package
    for signatory in [SEAL_FIELD, *(s.id for s in circuit_order(world.conv))]:
        if signatory != skip:
            src = world.sign(src, world.signed, signatory)
    return world.signed


def nothing_written(folder: Path, before: set[Path]) -> bool:
    return set(folder.iterdir()) == before


def test_certificate_revoked_after_signing_keeps_the_signature_valid(
        minimal_unsigned: Signed, tmp_path: Path) -> None:
    world = minimal_unsigned
    signed = sign_all(world)
    revoke(world.pki, REVOKED)  # now: after the signature's timestamp
    out = tmp_path / "bundle"
    result = create_bundle(signed, world.options(out))
    signature = next(s for s in result.signatures if s.field == REVOKED)
    assert signature.indication == "PASSED" and signature.revoked_at is not None
    assert signature.timestamp_time is not None
    assert signature.revoked_at > signature.timestamp_time
    with network_blocked() as attempts:
        check = verify_bundle(out, trust=(world.pki.root_cert,))
        later = verify_bundle(out, trust=(world.pki.root_cert,),
                              at=dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
    assert not attempts
    assert check.valid, check.failures
    assert later.valid and not later.renewal_needed, later.failures
    text = subprocess.run(["pdftotext", str(out / "rapport-signatures.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "après la signature" in " ".join(text.split())
    # every signature, without trusted list: qualification not assessed
    assert {s.qualification for s in result.signatures} == {"not assessed"}
    assert "qualification non évaluée" in " ".join(text.split())


def test_certificate_revoked_before_signing_is_refused(minimal_unsigned: Signed,
                                                       tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    world = minimal_unsigned
    revoke(world.pki, REVOKED, when=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    signed = sign_all(world)  # the signers API signs with a revoked certificate
    before = set(tmp_path.iterdir())
    code = main(["archive", str(signed), "--data", str(world.data), "--trust",
                 str(world.pki.root_cert), "--tsa", world.services.tsa_url,
                 "-o", str(tmp_path / "bundle")])
    assert code == ExitCode.ARCHIVE_REFUSED
    err = capsys.readouterr().err
    assert f"signature '{REVOKED}'" in err and "revoked" in err
    assert nothing_written(tmp_path, before)


def test_a_signature_carrying_its_certificate_alone_is_archived(
        minimal_unsigned: Signed, tmp_path: Path) -> None:
    """As a signature made on a token (the circuit's SoftHSM one): its issuer travels in
    the other signatures only; the DSS then carries it, verify finds it there."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    from signers.demo_pki import write_pkcs12

    world = minimal_unsigned
    p12 = world.pki.pkcs12(REVOKED)
    key, cert, _ = pkcs12.load_key_and_certificates(p12.read_bytes(),
                                                    world.pki.passphrase.encode())
    assert key is not None and cert is not None
    write_pkcs12(p12, key, cert, [], world.pki.passphrase, friendly_name=REVOKED)  # type: ignore[arg-type]
    signed = sign_all(world)
    from signers.qualified import assess_document, load_trusted_lists

    root = load_cert_from_pemder(str(world.pki.root_cert))
    lists = load_trusted_lists([world.pki.trusted_list], trust_roots=[root])
    holder = next(s for s in world.pki.subjects if s.id == REVOKED)
    assert holder.qualification is not None
    qualified = assess_document(signed, lists, trust_roots=[root])[REVOKED]
    assert qualified.qualified_certificate  # its path found through the others' issuer
    result = create_bundle(signed, world.options(tmp_path / "bundle",
                                                 trusted_lists=(world.pki.trusted_list,)))
    assert all(s.indication == "PASSED" for s in result.signatures)
    assert next(s for s in result.signatures if s.field == REVOKED).qualification \
        == qualified.status.value
    with network_blocked() as attempts:
        assert verify_bundle(result.path, trust=(world.pki.root_cert,)).valid
    assert not attempts


def test_incomplete_package_is_refused_unless_allowed(minimal_unsigned: Signed,
                                                      tmp_path: Path) -> None:
    world = minimal_unsigned
    signed = sign_all(world, skip="maire-le-pouget")
    before = set(tmp_path.iterdir())
    with pytest.raises(ArchiveError, match="incomplete: not signed by maire-le-pouget"):
        create_bundle(signed, world.options(tmp_path / "bundle"))
    assert nothing_written(tmp_path, before)
    result = create_bundle(signed, world.options(tmp_path / "bundle", allow_incomplete=True))
    assert result.missing == ("maire-le-pouget",) and not result.complete
    text = subprocess.run(["pdftotext", str(result.path / "rapport-signatures.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "non : manque Le Maire du Pouget" in " ".join(text.split())
    assert verify_bundle(result.path, trust=(world.pki.root_cert,)).valid


def test_tampered_package_is_refused(minimal_unsigned: Signed, tmp_path: Path) -> None:
    world = minimal_unsigned
    signed = sign_all(world)
    signed.write_bytes(signed.read_bytes() + b"\n1 0 obj\n(appended) endobj\n")
    with pytest.raises(ArchiveError, match="bytes were appended after the end"):
        create_bundle(signed, world.options(tmp_path / "bundle"))
    assert not (tmp_path / "bundle").exists()


def test_refusals_before_any_work(reference_signed: Signed, tmp_path: Path) -> None:
    pdf = reference_signed.signed
    with pytest.raises(ArchiveError, match="no trust anchor given"):
        create_bundle(pdf, reference_signed.options(tmp_path / "a", trust=()))
    with pytest.raises(ArchiveError, match="no timestamping authority"):
        create_bundle(pdf, reference_signed.options(tmp_path / "a", tsa_url=None))
    (tmp_path / "exists").mkdir()
    with pytest.raises(InputError, match="already exists"):
        create_bundle(pdf, reference_signed.options(tmp_path / "exists"))
    with pytest.raises(InputError, match="no such readable file"):
        create_bundle(tmp_path / "missing.pdf", reference_signed.options(tmp_path / "a"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists"]


def test_a_tampered_or_untrusted_trusted_list_is_refused(reference_signed: Signed,
                                                         tmp_path: Path) -> None:
    tl = reference_signed.pki.trusted_list.read_text(encoding="utf-8")
    changed = tmp_path / "liste.xml"
    changed.write_text(tl.replace("ForeSeals", "ForeSignatures"), encoding="utf-8")
    with pytest.raises(ArchiveError, match="signature does not verify"):
        create_bundle(reference_signed.signed, reference_signed.options(
            tmp_path / "a", trusted_lists=(changed,)))
    from signers.demo_pki import DemoSubject, create_demo_pki

    stranger = create_demo_pki([DemoSubject("x", "X Y", "Org")], tmp_path / "other")
    with pytest.raises(ArchiveError, match="give the EU list of lists"):
        create_bundle(reference_signed.signed, reference_signed.options(
            tmp_path / "a", trusted_lists=(stranger.trusted_list,)))
    assert not (tmp_path / "a").exists()


def test_a_journal_that_does_not_hold_is_refused(reference_signed: Signed,
                                                 tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    write_test_journal(reference_signed, journal)
    lines = journal.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[3])
    record["data"] = {"field": "maire-intrus"}
    lines[3] = json.dumps(record, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode() + b"\n"
    journal.write_bytes(b"".join(lines))
    with pytest.raises(ArchiveError, match=r"does not hold: event 5 "):
        create_bundle(reference_signed.signed, reference_signed.options(
            tmp_path / "a", journal=journal))
    assert not (tmp_path / "a").exists()


def test_qualification_for_ctg_verify(reference_signed: Signed) -> None:
    """What ``ctg verify --trusted-list`` prints, per signature."""
    from signers.qualified import assess_document, load_trusted_lists

    root = load_cert_from_pemder(str(reference_signed.pki.root_cert))
    lists = load_trusted_lists([reference_signed.pki.trusted_list], trust_roots=[root])
    statuses = assess_document(reference_signed.signed, lists, trust_roots=[root],
                               seals=[SEAL_FIELD])
    expected = {s.id: s.qualification for s in reference_signed.pki.subjects}
    names = {"qscd": {"QESig", "QESeal"}, "qualified": {"AdESig-QC"}, None: {"AdESig"}}
    assert set(statuses) == set(reference_signed.fields)
    for fieldname, q in statuses.items():
        assert q.status.value in names[expected[fieldname]], fieldname
        assert q.qualified_certificate == (expected[fieldname] is not None)
        assert q.qscd == (expected[fieldname] == "qscd")


def test_ctg_verify_says_each_signatures_qualification(reference_signed: Signed,
                                                        capsys) -> None:
    """``ctg verify --trusted-list``: each signature's eIDAS status in the JSON and in the
    human table; without a list, "not assessed"; a list that is not a trusted list is
    an error naming it (exit 11)."""
    import json

    from ctgdocs.cli import main

    pdf, root = str(reference_signed.signed), str(reference_signed.pki.root_cert)
    tl = str(reference_signed.pki.trusted_list)
    assert main(["verify", pdf, "--trust", root, "--trusted-list", tl, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = {s.id: s.qualification for s in reference_signed.pki.subjects}
    names = {"qscd": {"QESig", "QESeal"}, "qualified": {"AdESig-QC"}, None: {"AdESig"}}
    for sig in report["signatures"]:
        assert sig["qualification"] in names[expected[sig["field"]]], sig["field"]
    assert main(["verify", pdf, "--trust", root, "--trusted-list", tl]) == 0
    table = capsys.readouterr().out
    assert ": qualification: QESig (qualified electronic signature)" in table
    assert main(["verify", pdf, "--trust", root]) == 0
    assert "qualification: not assessed" in capsys.readouterr().out
    assert main(["verify", pdf, "--trust", root, "--trusted-list", root]) == 11
    assert root in capsys.readouterr().err
