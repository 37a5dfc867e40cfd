"""``--at`` and ``ctg archive renew``: as of a date after the demonstration TSA
certificate's expiry the bundle needs renewal (exit 18, since when); renewed with a
longer-lived TSA it holds again, and its previous state stays verifiable."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures_archive import Signed
from lxml import etree

from ctgdocs.archive import BundleResult, create_bundle, verify_bundle
from ctgdocs.archive.schemas import seda_schema, validate
from ctgdocs.cli import main
from ctgdocs.exceptions import ExitCode
from signers.demo_pki import add_long_lived_tsa
from signers.services import RunningServices, running_services

SEDA = "{fr:gouv:culture:archivesdefrance:seda:v2.3}"


@pytest.fixture(scope="module")
def long_tsa(reference_signed: Signed) -> Iterator[RunningServices]:
    """A second TSA of the same PKI, valid longer than the first, served on its own."""
    folder = add_long_lived_tsa(reference_signed.pki)
    with running_services(folder) as services:
        yield services


def after_expiry(bundle: BundleResult) -> str:
    return (bundle.renewal_due + dt.timedelta(days=30)).date().isoformat()


def test_before_renewal_it_needs_renewal_since_the_expiry(
        reference_bundle: BundleResult, reference_signed: Signed,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = str(reference_signed.pki.root_cert)
    args = ["archive", "verify", str(reference_bundle.path), "--trust", root]
    assert main([*args, "--at", after_expiry(reference_bundle)]) == ExitCode.RENEWAL_NEEDED
    out = capsys.readouterr().out
    assert f"NEEDS RENEWAL since {reference_bundle.renewal_due:%Y-%m-%d}" in out
    assert "17 of 17 valid" in out  # everything else holds (as of just before expiry)
    # a year before expiry: it holds, with a warning
    year_before = (reference_bundle.renewal_due - dt.timedelta(days=200)).date().isoformat()
    assert main([*args, "--at", year_before]) == ExitCode.OK
    assert "must be renewed before" in capsys.readouterr().out


def test_renewed_with_a_longer_lived_tsa_it_holds_again(
        reference_bundle: BundleResult, reference_signed: Signed, long_tsa: RunningServices,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(reference_bundle.path, bundle)
    root = str(reference_signed.pki.root_cert)
    assert main(["archive", "renew", str(bundle), "--tsa", long_tsa.tsa_url]) == ExitCode.OK
    assert "renewal 1:" in capsys.readouterr().out
    later = after_expiry(reference_bundle)
    assert main(["archive", "verify", str(bundle), "--trust", root, "--at", later]) == 0
    result = verify_bundle(bundle, trust=(reference_signed.pki.root_cert,),
                           at=dt.datetime.fromisoformat(later).replace(tzinfo=dt.UTC))
    assert result.valid and not result.renewal_needed and result.renewals == 1
    assert result.renewal_due is not None and result.renewal_due > reference_bundle.renewal_due
    _previous_state_is_kept(bundle, reference_bundle, reference_signed)


def _previous_state_is_kept(bundle: Path, original: BundleResult, signed: Signed) -> None:
    history = bundle / "historique" / "1"
    for name in ("manifest.json", "manifest.tsr", "bordereau-seda.xml"):
        assert (history / name).read_bytes() == (original.path / name).read_bytes()
    old_pdf = (original.path / "convention-signee-lta.pdf").read_bytes()
    assert (bundle / "convention-signee-lta.pdf").read_bytes().startswith(old_pdf)
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert [r["number"] for r in manifest["renewals"]] == [1]
    assert manifest["renewals"][0]["previous_state"] == "historique/1/"
    assert {f["path"] for f in manifest["files"]} >= {f"historique/1/{n}" for n in (
        "manifest.json", "manifest.tsr", "bordereau-seda.xml")}
    out = subprocess.run(["openssl", "ts", "-verify", "-data", str(history / "manifest.json"),
                          "-in", str(history / "manifest.tsr"), "-CAfile",
                          str(signed.pki.root_cert), "-untrusted",
                          str(signed.pki.directory / "DEMO-intermediaire.pem")],
                         capture_output=True, text=True)
    assert "Verification: OK" in out.stdout, out.stderr
    data = (bundle / "bordereau-seda.xml").read_bytes()
    validate(data, seda_schema(), "bordereau-seda.xml")
    root = etree.fromstring(data)
    events = [e.findtext(f"{SEDA}EventType") for e in root.iter(f"{SEDA}Event")]
    assert events == ["Archivage", "Renouvellement"]
    assert root.findtext(f"{SEDA}MessageIdentifier").endswith("-renouvellement-1")
    uris = {b.findtext(f"{SEDA}Uri") for b in root.iter(f"{SEDA}BinaryDataObject")}
    assert "historique/1/manifest.json" in uris


def test_a_changed_previous_state_is_named(reference_bundle: BundleResult,
                                           reference_signed: Signed, long_tsa: RunningServices,
                                           tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(reference_bundle.path, bundle)
    root = reference_signed.pki.root_cert
    from ctgdocs.archive import renew_bundle

    renew_bundle(bundle, tsa_url=long_tsa.tsa_url)
    old = bundle / "historique" / "1" / "manifest.json"
    old.write_bytes(old.read_bytes().replace(b'"renewals": []', b'"renewals": [] '))
    result = verify_bundle(bundle, trust=(root,))
    named = {f.where for f in result.failures}
    assert {"historique/1/manifest.json", "historique/1/manifest.tsr"} <= named


def test_renew_refuses_a_bundle_that_does_not_hold(
        bundle_copy: Path, long_tsa: RunningServices,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = {p: p.read_bytes() for p in bundle_copy.rglob("*") if p.is_file()}
    report = bundle_copy / "rapport-validation.xml"
    report.write_bytes(report.read_bytes().replace(b"total-passed", b"total-failed", 1))
    before[report] = report.read_bytes()
    assert main(["archive", "renew", str(bundle_copy), "--tsa", long_tsa.tsa_url]) == \
        ExitCode.ARCHIVE_INVALID
    assert "rapport-validation.xml: changed since it was archived" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in bundle_copy.rglob("*") if p.is_file()} == before


def test_renew_to_another_place_leaves_the_original(
        reference_bundle: BundleResult, reference_signed: Signed, long_tsa: RunningServices,
        tmp_path: Path) -> None:
    from ctgdocs.archive import renew_bundle

    before = (reference_bundle.path / "manifest.json").read_bytes()
    result = renew_bundle(reference_bundle.path, tsa_url=long_tsa.tsa_url,
                          output=tmp_path / "renewed")
    assert result.path == tmp_path / "renewed" and result.number == 1
    assert (reference_bundle.path / "manifest.json").read_bytes() == before
    assert verify_bundle(result.path, trust=(reference_signed.pki.root_cert,)).valid


def test_zip_bundle_renews_as_a_zip(reference_signed: Signed, long_tsa: RunningServices,
                                    tmp_path: Path) -> None:
    import zipfile

    from ctgdocs.archive import renew_bundle

    made = create_bundle(reference_signed.signed, reference_signed.options(
        tmp_path / "archive.zip", zip=True))
    renew_bundle(made.path, tsa_url=long_tsa.tsa_url)
    with zipfile.ZipFile(made.path) as archive:
        names = archive.namelist()
    assert "content/historique/1/manifest.json" in names
    later = made.renewal_due + dt.timedelta(days=30)
    result = verify_bundle(made.path, trust=(reference_signed.pki.root_cert,), at=later)
    assert result.valid and not result.renewal_needed, result.failures
