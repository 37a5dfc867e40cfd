"""``ctg archive verify``: offline, years later — every failure named at its place (a
changed byte in any file, journal events removed or added, a swapped PDF, an edited
manifest or bordereau, added or missing files), JSON output, the ZIP form, no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from fixtures_archive import Signed
from pyhanko.keys import load_cert_from_pemder
from test_archive import BUNDLE_FILES
from test_verify import speedups_only

from ctgdocs.archive import BundleCheck, BundleResult, verify_bundle
from ctgdocs.cli import main
from ctgdocs.exceptions import ExitCode


def check(bundle: Path, signed: Signed) -> BundleCheck:
    return verify_bundle(bundle, trust=(signed.pki.root_cert,))


def where(result: BundleCheck) -> set[str]:
    return {f.where for f in result.failures}


def test_intact_bundle_holds_with_no_network(reference_bundle: BundleResult,
                                             reference_signed: Signed,
                                             no_network: list[object]) -> None:
    result = check(reference_bundle.path, reference_signed)
    assert result.valid, result.failures
    assert not result.renewal_needed and not no_network
    assert [s.indication for s in result.signatures] == ["PASSED"] * 17
    assert result.journal_events == 19 and result.renewals == 0
    assert len(result.checked) == 5  # manifest, files, bordereau, PDF, journal


def test_cli_exit_codes_and_json(reference_bundle: BundleResult, reference_signed: Signed,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    root = str(reference_signed.pki.root_cert)
    assert main(["archive", "verify", str(reference_bundle.path), "--trust", root]) == 0
    assert "result:   HOLDS" in capsys.readouterr().out
    assert main(["archive", "verify", str(reference_bundle.path), "--trust", root,
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] and not data["renewal_needed"] and data["failures"] == []
    assert len(data["signatures"]) == 17
    # without a trust anchor nothing is judged trusted: it does not hold
    assert main(["archive", "verify", str(reference_bundle.path)]) == ExitCode.ARCHIVE_INVALID
    assert "no trust anchor given" in capsys.readouterr().out


def test_cli_as_a_subprocess(reference_bundle: BundleResult, reference_signed: Signed) -> None:
    proc = subprocess.run([sys.executable, "-m", "ctgdocs", "archive", "verify",
                           str(reference_bundle.path), "--trust",
                           str(reference_signed.pki.root_cert)],
                          capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "17 of 17 valid" in proc.stdout and not proc.stderr


@pytest.mark.parametrize("name", BUNDLE_FILES)
def test_a_changed_byte_in_any_file_is_named(bundle_copy: Path, reference_signed: Signed,
                                             name: str) -> None:
    target = bundle_copy / name
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    result = check(bundle_copy, reference_signed)
    assert not result.valid
    named = where(result)
    if name == "manifest.json":  # the manifest is judged by its token
        assert {"manifest.tsr", "manifest.json"} & named, result.failures
    else:
        assert name in named, result.failures


@pytest.mark.parametrize("change", ["remove", "add"])
def test_journal_events_removed_or_added_are_named(bundle_copy: Path, reference_signed: Signed,
                                                   change: str) -> None:
    journal = bundle_copy / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    if change == "remove":
        del lines[4]  # event 5
    else:
        lines.insert(5, lines[4])  # event 5 replayed
    journal.write_bytes(b"".join(lines))
    result = check(bundle_copy, reference_signed)
    messages = [f.message for f in result.failures if f.where == "journal.jsonl"]
    assert any(m.startswith("changed since it was archived") for m in messages), messages
    assert any(m.startswith(("event 5 ", "event 6 ")) for m in messages), messages


def test_a_swapped_pdf_is_named(bundle_copy: Path, reference_signed: Signed) -> None:
    """The signed package before archiving: a valid PDF, but not the archived one."""
    shutil.copyfile(reference_signed.signed, bundle_copy / "convention-signee-lta.pdf")
    result = check(bundle_copy, reference_signed)
    named = where(result)
    assert "convention-signee-lta.pdf" in named
    assert "bordereau-seda.xml" in named  # its SHA-512 is not the file's
    assert any(f.message.startswith("no document timestamp") for f in result.failures)


def test_an_edited_manifest_is_named(bundle_copy: Path, reference_signed: Signed) -> None:
    """A manifest rewritten to match a changed report: its token no longer covers it."""
    report = bundle_copy / "rapport-signatures.pdf"
    report.write_bytes(report.read_bytes() + b"%\n")
    manifest = json.loads((bundle_copy / "manifest.json").read_text(encoding="utf-8"))
    from ctgdocs.archive.manifest import file_entry

    entry = file_entry("rapport-signatures.pdf", report.read_bytes())
    for f in manifest["files"]:
        if f["path"] == entry.path:
            f.update(size=entry.size, sha256=entry.sha256, sha512=entry.sha512)
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False,
                                                          indent=2) + "\n", encoding="utf-8")
    result = check(bundle_copy, reference_signed)
    tokens = [f.message for f in result.failures if f.where == "manifest.tsr"]
    assert tokens == ["its message imprint is not the digest of the file (the file changed)"]
    assert "bordereau-seda.xml" in where(result)  # the bordereau's digest of the report


def test_an_edited_bordereau_is_named(bundle_copy: Path, reference_signed: Signed) -> None:
    path = bundle_copy / "bordereau-seda.xml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("<DescriptionLevel>File</DescriptionLevel>",
                                 "<DescriptionLevel>Dossier</DescriptionLevel>", 1),
                    encoding="utf-8")
    result = check(bundle_copy, reference_signed)
    messages = [f.message for f in result.failures if f.where == "bordereau-seda.xml"]
    assert any(m.startswith("changed since") for m in messages)
    assert any("not valid SEDA 2.3" in m and "DescriptionLevel" in m for m in messages)


def test_added_and_missing_files_are_named(bundle_copy: Path, reference_signed: Signed) -> None:
    (bundle_copy / "journal" / "000011.tsr").write_bytes(b"\x30\x00")
    (bundle_copy / "rapport-validation.xml").unlink()
    result = check(bundle_copy, reference_signed)
    assert ("journal/000011.tsr", "not in the manifest (added after archiving)") in {
        (f.where, f.message) for f in result.failures}
    assert ("rapport-validation.xml", "missing (listed in the manifest)") in {
        (f.where, f.message) for f in result.failures}


def test_a_foreign_trust_anchor_judges_nothing_trusted(reference_bundle: BundleResult,
                                                       tmp_path: Path) -> None:
    from signers.demo_pki import DemoSubject, create_demo_pki

    other = create_demo_pki([DemoSubject("x", "X Y", "Org")], tmp_path / "other")
    result = verify_bundle(reference_bundle.path, trust=(other.root_cert,))
    assert "manifest.tsr" in where(result)
    assert {f"signature {f}" for f in ("caf-directeur", "maire-gignac")} <= where(result)


@pytest.fixture(scope="module")
def zip_bundle(reference_signed: Signed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ZIP form, made by ``ctg archive --zip`` in a subprocess."""
    out = tmp_path_factory.mktemp("zip") / "archive.zip"
    proc = subprocess.run(
        [sys.executable, "-m", "ctgdocs", "archive", str(reference_signed.signed),
         "--data", str(reference_signed.data), "--trust", str(reference_signed.pki.root_cert),
         "--tsa", reference_signed.services.tsa_url, "-o", str(out), "--zip"],
        capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"bundle: {out}\n")
    return out


def test_zip_form_has_the_bordereau_at_its_root_and_files_under_content(
        zip_bundle: Path, reference_signed: Signed) -> None:
    with zipfile.ZipFile(zip_bundle) as archive:
        names = archive.namelist()
    assert names[:3] == ["bordereau-seda.xml", "manifest.json", "manifest.tsr"]
    expected = [f for f in BUNDLE_FILES if not f.startswith("listes-de-confiance/")
                and f not in ("bordereau-seda.xml", "manifest.json", "manifest.tsr")]
    assert sorted(names[3:]) == [f"content/{f}" for f in expected]
    with zipfile.ZipFile(zip_bundle) as archive:
        bordereau = archive.read("bordereau-seda.xml").decode()
    assert "<Uri>content/convention-signee-lta.pdf</Uri>" in bordereau
    result = check(zip_bundle, reference_signed)
    assert result.valid, result.failures


def test_zip_form_tampering_is_named(zip_bundle: Path, reference_signed: Signed,
                                     tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(zip_bundle) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "content/journal.jsonl":
                data = data.replace(b"signature-accepted", b"signature-refused", 1)
            dst.writestr(info, data)
    result = check(tampered, reference_signed)
    assert "content/journal.jsonl" in where(result)


@speedups_only
def test_a_failing_speed_up_costs_time_not_a_verdict(reference_bundle: BundleResult,
                                                     reference_signed: Signed,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Long-term validation runs on the speed-ups' path as ``ctg verify`` does: a speed-up
    that raises sends the file to pyHanko's plain path, whose verdict is reported; both
    paths agree on the intact file."""
    import logging

    from signers.ltv_validation import validate_long_term
    from signers.speedups import fastread

    pdf = reference_bundle.path / "convention-signee-lta.pdf"
    roots = [load_cert_from_pemder(str(reference_signed.pki.root_cert))]
    plain = validate_long_term(pdf, trust_roots=roots, speedups=False)
    fast = validate_long_term(pdf, trust_roots=roots, speedups=True)
    assert plain.valid and fast.valid

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(fastread, "_literal", broken)
    with caplog.at_level(logging.INFO, logger="signers"):
        judged = validate_long_term(pdf, trust_roots=roots, speedups=True)
    assert judged.valid
    assert [s.indication for s in judged.signatures] == [s.indication for s in plain.signatures]
    assert any("a speed-up failed" in r.getMessage() for r in caplog.records)


def test_a_change_after_the_archive_timestamp_is_named(bundle_copy: Path,
                                                       reference_signed: Signed) -> None:
    """An annotation added to page 1 in a revision after every signature and the
    archive timestamp: besides the digests, the PDF itself is reported changed (every
    revision is analysed, as ctg verify does), and the verdict is not a pass."""
    from test_tamper import _incremental

    pdf = bundle_copy / "convention-signee-lta.pdf"
    _incremental(pdf, pdf, "annotation")
    result = check(bundle_copy, reference_signed)
    assert not result.valid
    changed = [f for f in result.failures if f.where == "convention-signee-lta.pdf"]
    assert any(f.message.startswith("changed after its signatures") for f in changed), \
        result.failures


def test_judged_now_and_in_the_past_alike(reference_bundle: BundleResult,
                                          reference_signed: Signed) -> None:
    """The intact bundle holds as of now for ctg verify's rules, so no past validation
    runs; pyHanko's long-term validation, forced, finds the same signatures, holders,
    certificates and indications, and the same renewal date."""
    import datetime as dt

    from ctgdocs.archive.layout import read_bundle
    from ctgdocs.archive.verify import _Checks, _pdf

    bundle = read_bundle(reference_bundle.path)
    roots = [load_cert_from_pemder(str(reference_signed.pki.root_cert))]
    when = dt.datetime.now(dt.UTC)
    now, past = _Checks(), _Checks()
    current = _pdf(bundle, None, roots, when, now)
    long_term = _pdf(bundle, None, roots, when, past, current_first=False)
    assert not now.failures and not past.failures
    assert "no past validation needed" in now.checked[0]
    assert "long-term validation" in past.checked[0]
    assert [(s.field, s.holder, s.fingerprint, s.issuer, s.indication) for s in current] \
        == [(s.field, s.holder, s.fingerprint, s.issuer, s.indication) for s in long_term]
    assert [s.timestamp_time for s in current] == [s.timestamp_time for s in long_term]
    assert now.due == past.due and len(now.due) == 1


def test_long_term_speed_ups_hand_back_pyhanko_s_own_answers(
        reference_bundle: BundleResult) -> None:
    """On the archived PDF's own DSS: the remembered SingleResponse is the very object
    pyHanko's walk returns, for every OCSP response, asked twice; the remembered
    identifier of every certificate, OCSP response and CRL is pyHanko's."""
    import io

    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko_certvalidator.ltv.poe import ValidationObject, ValidationObjectType
    from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer

    from signers.speedups._patches import unpatched
    from signers.speedups.ocspcache import cached_single_response
    from signers.speedups.voident import cached_identifier

    pdf = reference_bundle.path / "convention-signee-lta.pdf"
    dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(pdf.read_bytes())))
    ocsps = [c for r in dss.ocsps for c in OCSPContainer.load_multi(
        asn1_ocsp.OCSPResponse.load(r.get_object().data))]
    crls = [CRLContainer(asn1_crl.CertificateList.load(r.get_object().data))
            for r in dss.crls]
    certs = list(dss.load_certs())
    assert len(ocsps) >= 17 and crls and certs

    walk = unpatched(OCSPContainer, "extract_single_response")
    remembered = cached_single_response(walk)
    for container in ocsps:
        first = remembered(container)
        assert first is walk(container) and remembered(container) is first

    from pyhanko.sign.validation import ades

    derive = unpatched(ades, "derive_validation_object_identifier")
    cached = cached_identifier(derive)
    objects = [*(ValidationObject(ValidationObjectType.CERTIFICATE, c) for c in certs),
               *(ValidationObject(ValidationObjectType.OCSP_RESPONSE, o) for o in ocsps),
               *(ValidationObject(ValidationObjectType.CRL, c) for c in crls)]
    for vo in objects + objects:
        assert cached(vo) == derive(vo) is not None
    assert len({derive(vo) for vo in objects}) == len(objects)
