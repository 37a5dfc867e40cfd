"""``ctg archive`` on the reference convention: every file of the bundle, as the issue's
table says — B-LTA PDF (pdfsig agrees, still PDF/A-2b with consistent metadata), ETSI and
SEDA files valid against the official schemas, the French report, the journal, the
trusted list, the manifest and its token (checked by openssl too)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
from fixtures_archive import JOURNAL_TOKENS, Signed
from lxml import etree
from pypdf import PdfReader

from ctgdocs.archive import BundleResult
from ctgdocs.archive.schemas import SCHEMAS_DIR, etsi_report_schema, seda_schema, validate
from ctgdocs.signatories import expected_for_package
from signers.verify import verify_document

SEDA = "{fr:gouv:culture:archivesdefrance:seda:v2.3}"
VR = "{http://uri.etsi.org/19102/v1.2.1#}"
BUNDLE_FILES = sorted([
    "convention-signee-lta.pdf", "rapport-validation.xml", "rapport-signatures.pdf",
    "journal.jsonl", *(f"journal/{seq:06d}.tsr" for seq in JOURNAL_TOKENS),
    "listes-de-confiance/DEMO-liste-de-confiance.xml", "bordereau-seda.xml",
    "manifest.json", "manifest.tsr"])
"""Every file of the reference bundle (the tampering tests go through each)."""
SHARED_SCHEMAS = Path("/work/shared/schemas")


def files_of(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_bundle_holds_every_file_and_nothing_else(reference_bundle: BundleResult) -> None:
    assert files_of(reference_bundle.path) == BUNDLE_FILES
    assert reference_bundle.complete and not reference_bundle.missing
    assert len(reference_bundle.signatures) == 17
    assert reference_bundle.journal_events == 19
    assert reference_bundle.renewal_due > reference_bundle.archive_timestamp


def test_bundle_folder_is_an_ordinary_folder(reference_bundle: BundleResult) -> None:
    assert reference_bundle.path.stat().st_mode & 0o755 == 0o755
    siblings = [p.name for p in reference_bundle.path.parent.iterdir()]
    assert siblings == [reference_bundle.path.name]  # no temporary file left beside it


def test_lta_pdf_signatures_hold_for_verify_and_pdfsig(reference_bundle: BundleResult,
                                                        reference_signed: Signed) -> None:
    pdf = reference_bundle.path / "convention-signee-lta.pdf"
    report = verify_document(pdf, expected=expected_for_package(reference_signed.signed,
                                                                 reference_signed.data),
                             trust_roots=[reference_signed.pki.root_cert], offline=True)
    assert report.valid and report.complete, report.problems
    sigs = [s for s in report.signatures if s.kind == "signature"]
    assert {s.pades_level for s in sigs} == {"B-LTA"}
    assert [s.field for s in report.signatures if s.kind == "timestamp"] == [
        "archive-timestamp-1"]
    assert all(r.legitimate for r in report.revisions)
    # the signed package is a prefix of the archived one: earlier signatures untouched
    assert pdf.read_bytes().startswith(reference_signed.signed.read_bytes())
    out = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True).stdout
    verdicts = re.findall(r"Signature Validation: (.+)", out)
    assert verdicts.count("Signature is Valid.") == 17, out
    assert "archive-timestamp-1" in out


def test_lta_pdf_still_declares_pdfa_with_consistent_metadata(
        reference_bundle: BundleResult) -> None:
    reader = PdfReader(reference_bundle.path / "convention-signee-lta.pdf")
    info = reader.metadata
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")
    assert re.search(r'pdfaid:part="2"', xmp) and re.search(r'pdfaid:conformance="B"', xmp)

    def attr(name: str) -> str:
        found = re.search(rf'{name}="([^"]*)"', xmp)
        assert found, name
        return found.group(1)

    assert info is not None
    assert info["/Producer"] == attr("pdf:Producer")
    assert info["/Creator"] == attr("xmp:CreatorTool")
    assert info["/Keywords"] == attr("pdf:Keywords")
    assert info.creation_date.timestamp() == _xmp_time(attr("xmp:CreateDate"))
    assert info.modification_date.timestamp() == _xmp_time(attr("xmp:ModifyDate"))
    for key, tag in (("/Title", "dc:title"), ("/Subject", "dc:description"),
                     ("/Author", "dc:creator")):
        value = re.search(rf"<{tag}[^>]*>.*?<rdf:li[^>]*>([^<]*)</rdf:li>", xmp, re.S)
        assert value and value.group(1).replace("&apos;", "'") == info[key], key


def _xmp_time(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_validation_report_is_valid_etsi_ts_119_102_2(reference_bundle: BundleResult) -> None:
    data = (reference_bundle.path / "rapport-validation.xml").read_bytes()
    validate(data, etsi_report_schema(), "rapport-validation.xml")
    root = etree.fromstring(data)
    reports = root.findall(f"{VR}SignatureValidationReport")
    assert len(reports) == 18  # 17 signatures, 1 document timestamp
    indications = {r.findtext(f"{VR}SignatureValidationStatus/{VR}MainIndication")
                   for r in reports}
    assert indications == {"urn:etsi:019102:mainindication:total-passed"}
    processes = [r.findtext(f"{VR}SignatureValidationProcess/"
                            f"{VR}SignatureValidationProcessID") for r in reports]
    assert processes.count("urn:etsi:019102:validationprocess:LTA") == 17
    ids = [o.get("id") for o in root.iter(f"{VR}ValidationObject")]
    assert ids and len(ids) == len(set(ids))  # each object listed once


def test_bordereau_is_valid_seda_2_3_and_describes_every_file(
        reference_bundle: BundleResult) -> None:
    folder = reference_bundle.path
    data = (folder / "bordereau-seda.xml").read_bytes()
    validate(data, seda_schema(), "bordereau-seda.xml")
    root = etree.fromstring(data)
    objects = {b.findtext(f"{SEDA}Uri"): b for b in root.iter(f"{SEDA}BinaryDataObject")}
    assert sorted(objects) == [f for f in BUNDLE_FILES if f not in (
        "bordereau-seda.xml", "manifest.json", "manifest.tsr")]
    for uri, bdo in objects.items():
        content = (folder / uri).read_bytes()
        digest = bdo.find(f"{SEDA}MessageDigest")
        assert digest is not None and digest.get("algorithm") == "SHA-512"
        assert digest.text == hashlib.sha512(content).hexdigest()
        assert bdo.findtext(f"{SEDA}Size") == str(len(content))
    assert objects["convention-signee-lta.pdf"].findtext(
        f"{SEDA}FormatIdentification/{SEDA}FormatId") == "fmt/476"
    assert objects["rapport-signatures.pdf"].findtext(
        f"{SEDA}FormatIdentification/{SEDA}FormatId") == "fmt/476"
    assert objects["rapport-validation.xml"].findtext(
        f"{SEDA}FormatIdentification/{SEDA}FormatId") == "fmt/101"
    assert root.findtext(f"{SEDA}ArchivalAgency/{SEDA}Identifier") == "FRAD034"
    assert root.findtext(f"{SEDA}TransferringAgency/{SEDA}Identifier") == "SIREN-534010212"


def test_bordereau_describes_the_convention_and_its_signatures(
        reference_bundle: BundleResult, reference_signed: Signed) -> None:
    root = etree.parse(str(reference_bundle.path / "bordereau-seda.xml")).getroot()
    top = root.find(f"{SEDA}DataObjectPackage/{SEDA}DescriptiveMetadata/{SEDA}ArchiveUnit")
    assert top is not None
    content = top.find(f"{SEDA}Content")
    conv = reference_signed.conv
    assert content.findtext(f"{SEDA}Title") == conv.title
    assert content.findtext(f"{SEDA}StartDate") == "2022-01-01"
    assert content.findtext(f"{SEDA}EndDate") == "2026-12-31"
    assert content.findtext(f"{SEDA}OriginatingAgency/{SEDA}Identifier") == "caf-de-l-herault"
    keywords = {k.findtext(f"{SEDA}KeywordContent") for k in content.iter(f"{SEDA}Keyword")}
    assert {"convention territoriale globale", "Gignac", conv.epci.name} <= keywords
    parties = [a.findtext(f"{SEDA}Corpname") for a in content.findall(f"{SEDA}Addressee")]
    assert conv.caf.name in parties and "Commune de Gignac" in parties
    signed = next(u for u in top.iter(f"{SEDA}ArchiveUnit")
                  if u.get("id") == "AU-convention-signee")
    info = signed.find(f"{SEDA}Content/{SEDA}SigningInformation")
    roles = [r.text for r in info.findall(f"{SEDA}SigningRole")]
    assert roles == ["SignedDocument", "Signature", "Timestamp"]
    descriptions = info.findall(f"{SEDA}SignatureDescription")
    assert len(descriptions) == 17
    names = {d.findtext(f"{SEDA}Signer/{SEDA}FullName") for d in descriptions}
    assert conv.communes[1].mayor.full_name in names
    assert all(d.findtext(f"{SEDA}Validator/{SEDA}ValidationTime") for d in descriptions)
    types = {d.findtext(f"{SEDA}SigningType") for d in descriptions}
    assert types == {"signature électronique qualifiée", "cachet électronique qualifié",
                     "signature électronique avancée reposant sur un certificat qualifié",
                     "signature électronique avancée"}
    stamps = info.findall(f"{SEDA}TimestampingInformation")
    assert len(stamps) == 18  # 17 signature timestamps and the archive timestamp
    events = signed.findall(f"{SEDA}Management/{SEDA}LogBook/{SEDA}Event")
    assert [e.findtext(f"{SEDA}EventType") for e in events] == ["Archivage"]
    proofs = [u for u in top.findall(f"{SEDA}ArchiveUnit") if u is not signed]
    assert all(u.findtext(f"{SEDA}Content/{SEDA}SigningInformation/"
                          f"{SEDA}SignedDocumentReferenceId") == "AU-convention-signee"
               for u in proofs)


def test_manifest_lists_every_other_file_and_its_token_verifies_with_openssl(
        reference_bundle: BundleResult, reference_signed: Signed) -> None:
    folder = reference_bundle.path
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["path"]: f for f in manifest["files"]}
    assert sorted(listed) == [f for f in BUNDLE_FILES
                              if f not in ("manifest.json", "manifest.tsr")]
    for path, entry in listed.items():
        content = (folder / path).read_bytes()
        assert entry == {"path": path, "size": len(content),
                         "sha256": hashlib.sha256(content).hexdigest(),
                         "sha512": hashlib.sha512(content).hexdigest()}
    assert [s["field"] for s in manifest["signatures"]] == reference_signed.fields
    assert manifest["journal"]["events"] == 19 and manifest["renewals"] == []
    pki = reference_signed.pki
    out = subprocess.run(
        ["openssl", "ts", "-verify", "-data", str(folder / "manifest.json"),
         "-in", str(folder / "manifest.tsr"), "-CAfile", str(pki.root_cert),
         "-untrusted", str(pki.directory / "DEMO-intermediaire.pem")],
        capture_output=True, text=True)
    assert "Verification: OK" in out.stdout, out.stdout + out.stderr


def test_journal_and_trusted_list_are_archived_as_given(reference_bundle: BundleResult,
                                                        reference_signed: Signed) -> None:
    folder = reference_bundle.path
    assert (folder / "journal.jsonl").read_bytes() == (
        reference_signed.folder / "journal.jsonl").read_bytes()
    for seq in JOURNAL_TOKENS:
        name = f"journal/{seq:06d}.tsr"
        assert (folder / name).read_bytes() == (reference_signed.folder / name).read_bytes()
    assert (folder / "listes-de-confiance" / "DEMO-liste-de-confiance.xml").read_bytes() == (
        reference_signed.pki.trusted_list.read_bytes())


FRENCH_TIME = re.compile(r"\b\d{1,2}(?:er)? (?:janvier|février|mars|avril|mai|juin|juillet|"
                         r"août|septembre|octobre|novembre|décembre) \d{4} à \d{1,2} h \d{2}\b")


def test_french_report_is_pdfa_and_says_everything_per_signature(
        reference_bundle: BundleResult, reference_signed: Signed) -> None:
    pdf = reference_bundle.path / "rapport-signatures.pdf"
    xmp = PdfReader(pdf).trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    assert "pdfaid:part" in xmp
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    flat = " ".join(text.split())
    conv = reference_signed.conv
    assert "Rapport de vérification des signatures" in flat
    for signatory in conv.signatories:
        assert signatory.person.formal_name in flat, signatory.id
    gignac = next(c for c in conv.communes if c.name == "Gignac")
    assert f"n° {gignac.deliberation.number}" in flat  # the deliberation, from the reason
    assert len(FRENCH_TIME.findall(flat)) == 2 * 17 + 2  # signed, stamped; archived, renew
    for label in ("signature électronique qualifiée", "cachet électronique qualifié",
                  "signature électronique avancée reposant sur un certificat qualifié",
                  "Niveau PAdES", "B-LTA", "Révocation", "Émetteur du certificat"):
        assert label in flat, label
    sha = hashlib.sha256((reference_bundle.path / "convention-signee-lta.pdf").read_bytes())
    blocks = " ".join(sha.hexdigest()[i:i + 8] for i in range(0, 64, 8))
    assert blocks in flat  # the archived document's fingerprint
    assert "journal.jsonl" in flat and "19 événements" in flat


def test_qualification_follows_the_demonstration_trusted_list(
        reference_bundle: BundleResult, reference_signed: Signed) -> None:
    pki = reference_signed.pki
    expected = {s.id: s.qualification for s in pki.subjects}
    codes = {"qscd": {"QESig", "QESeal"}, "qualified": {"AdESig-QC"}, None: {"AdESig"}}
    for s in reference_bundle.signatures:
        assert s.qualification in codes[expected[s.field]], s.field
    assert {s.qualification for s in reference_bundle.signatures} == {
        "QESig", "QESeal", "AdESig-QC", "AdESig"}


@pytest.mark.skipif(not SHARED_SCHEMAS.is_dir(), reason="no shared copy of the schemas")
def test_packaged_schemas_are_the_official_ones() -> None:
    for packaged in SCHEMAS_DIR.rglob("*.xsd"):
        shared = SHARED_SCHEMAS / packaged.relative_to(SCHEMAS_DIR)
        assert packaged.read_bytes() == shared.read_bytes(), packaged


def test_long_term_validation_judges_the_same_in_several_processes(
        reference_bundle: BundleResult, reference_signed: Signed) -> None:
    from pyhanko.keys import load_cert_from_pemder

    from signers.ltv_validation import validate_long_term

    pdf = reference_bundle.path / "convention-signee-lta.pdf"
    roots = [load_cert_from_pemder(str(reference_signed.pki.root_cert))]
    one = validate_long_term(pdf, trust_roots=roots, processes=1, etsi_report=True)
    three = validate_long_term(pdf, trust_roots=roots, processes=3, etsi_report=True)
    assert one.valid and three.valid
    assert [dataclasses.replace(s, best_signature_time=None) for s in one.signatures] == [
        dataclasses.replace(s, best_signature_time=None) for s in three.signatures]
    assert [s.best_signature_time for s in one.signatures] == [
        s.best_signature_time for s in three.signatures]
    strip = re.compile(rb"<vr:ValidationTime>[^<]*</vr:ValidationTime>")
    assert strip.sub(b"", one.etsi_report.encode()) == strip.sub(b"", three.etsi_report.encode())


def _wait_exit(pid: int, seconds: float = 60) -> int | None:
    """The exit status of ``pid`` once it has ended; ``None`` (child killed) if it is
    still running after ``seconds``."""
    import os
    import signal
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def test_a_judging_child_ends_with_the_caller_who_gives_up() -> None:
    """Interrupted while children judge signatures, the caller ends them: none outlives
    ``ctg archive verify``."""
    import functools
    import os
    import time

    from signers.ltv_validation import _Child

    child = _Child(functools.partial(time.sleep, 600))
    child.stop()
    with pytest.raises(ChildProcessError):  # already ended and reaped
        os.waitpid(child.pid, os.WNOHANG)
    child.stop()  # twice is harmless (and never signals a reused pid)


def test_a_judging_child_whose_caller_is_gone_exits_quietly() -> None:
    """If the caller stops reading (interrupted), the child's write fails with a broken
    pipe: it must still exit at once, never return into the caller's code it was forked
    from."""
    from signers.ltv_validation import _Child

    child = _Child(lambda: "x" * 1_000_000)  # more than a pipe holds: the write blocks
    child.pipe.close()
    child.reaped = True  # the test reaps it
    assert _wait_exit(child.pid) == 0
