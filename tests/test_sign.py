"""sign_field / seal_package: real pyHanko, local TSA/OCSP, SoftHSM2, pdfsig.

``make test`` runs this module twice: with the speed-ups and with
``SIGNERS_SPEEDUPS=off``."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from fixtures_pki import DEMO_SUBJECTS, SoftHsmToken
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject

from ctgdocs.cli import main
from ctgdocs.exceptions import ExitCode
from ctgdocs.wording import SEAL_REASON, STAMP_WORDING
from signers.credentials import Pkcs11Credentials, Pkcs12Credentials
from signers.demo_pki import DemoPki, DemoSubject, issue_certificate, revoke
from signers.exceptions import SigningError, SigningRefused
from signers.fields import add_signature_fields
from signers.model import ExpectedSigner, FieldSpec
from signers.services import RunningServices
from signers.sign import seal_package, sign_field
from signers.stamp import fit, stamp_lines, text_width

VISIBLE = ("caf-directeur", "caf-president", "maire-gignac", "maire-aniane", "revoque")

pytestmark = pytest.mark.usefixtures("speedups_switch")


def _blank_pdf(path: Path, pages: int = 2) -> None:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    writer.write(path)


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-page PDF with 5 visible fields on page 2 and the invisible ``cachet-caf``."""
    base = tmp_path_factory.mktemp("package")
    _blank_pdf(base / "blank.pdf")
    specs = [FieldSpec(name, 1, (40 + (i % 2) * 280, 60 + (i // 2) * 100,
                                 290 + (i % 2) * 280, 130 + (i // 2) * 100), name)
             for i, name in enumerate(VISIBLE)]
    specs.append(FieldSpec("cachet-caf", 0, (0, 0, 0, 0), "Cachet de la Caf"))
    add_signature_fields(base / "blank.pdf", base / "package.pdf", specs)
    return base / "package.pdf"


@pytest.fixture
def pkg(package: Path, tmp_path: Path) -> Path:
    """A fresh copy of the package for one test."""
    return Path(shutil.copy(package, tmp_path / "package.pdf"))


def _expected(sid: str) -> ExpectedSigner:
    s = next(s for s in DEMO_SUBJECTS if s.id == sid)
    return ExpectedSigner(sid, s.title or "", (s.name,), (s.email,) if s.email else ())


def _p12(pki: DemoPki, sid: str) -> Pkcs12Credentials:
    return Pkcs12Credentials(pki.pkcs12(sid), pki.passphrase)


def _trust(pki: DemoPki) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(
        __import__("ssl").PEM_cert_to_DER_cert(pki.root_cert.read_text()))


def _pdfsig(path: Path) -> str:
    return subprocess.run(["pdfsig", "-nocert", str(path)], capture_output=True, text=True,
                          timeout=60).stdout


def _statuses(path: Path, pki: DemoPki, mode: str = "hard-fail") -> list[tuple[str, Any]]:
    vc_kwargs = {"trust_roots": [_trust(pki)], "allow_fetching": True,
                 "revocation_mode": mode}
    with open(path, "rb") as f:
        reader = PdfFileReader(f, strict=False)
        return [(sig.field_name,
                 validate_pdf_signature(sig, ValidationContext(**vc_kwargs)))  # type: ignore
                for sig in reader.embedded_regular_signatures]


# --------------------------------------------------------------------------- happy paths


def test_three_signatures_certify_then_approve(pkg: Path, demo_pki: DemoPki,
                                               demo_services: RunningServices) -> None:
    out = pkg.with_name("signed.pdf")
    first = sign_field(pkg, out, "caf-directeur", _p12(demo_pki, "caf-directeur"),
                       expected=_expected("caf-directeur"), tsa_url=demo_services.tsa_url,
                       wording=STAMP_WORDING)
    assert first.certified and first.level == "PAdES-B-T" and not first.warnings
    assert first.stamp[0] == "Signé électroniquement par Marie-Hélène Lefèvre"
    assert first.stamp[1] == "La Directrice de la Caf de l'Hérault"
    assert first.stamp[2].endswith("(heure de Paris)")
    for sid in ("maire-gignac", "maire-aniane"):
        result = sign_field(out, out, sid, _p12(demo_pki, sid), expected=_expected(sid),
                            tsa_url=demo_services.tsa_url, trust_roots=[_trust(demo_pki)])
        assert not result.certified
    report = _pdfsig(out)
    assert report.count("Signature is Valid.") == 3, report
    statuses = _statuses(out, demo_pki)
    assert [name for name, _ in statuses] == ["caf-directeur", "maire-gignac", "maire-aniane"]
    for _, status in statuses:
        assert status.bottom_line, status.pretty_print_details()
    with open(out, "rb") as f:
        assert "/DocMDP" in PdfFileReader(f, strict=False).root["/Perms"]


def test_pkcs11_signature_with_softhsm(pkg: Path, demo_pki: DemoPki,
                                       softhsm_token: SoftHsmToken,
                                       demo_services: RunningServices) -> None:
    creds = Pkcs11Credentials(softhsm_token.module, softhsm_token.label,
                              pin=softhsm_token.pin, key_label=softhsm_token.key_label)
    result = sign_field(pkg, pkg, "maire-gignac", creds, expected=_expected("maire-gignac"),
                        tsa_url=demo_services.tsa_url)
    assert result.signer == "Jean-François Soto" and result.certified
    assert "Signature is Valid." in _pdfsig(pkg)


def test_seal_then_person(pkg: Path, demo_pki: DemoPki, demo_services: RunningServices) -> None:
    """The seal goes into the package's only empty invisible field when none is named;
    its reason is the caller's; sealing again finds no such field left."""
    from signers.verify import verify_document

    seal = seal_package(pkg, pkg, _p12(demo_pki, "cachet-caf"),
                        expected=ExpectedSigner("cachet-caf", "Caf", ("Caf de l'Hérault",)),
                        tsa_url=demo_services.tsa_url, reason=SEAL_REASON)
    assert seal.certified and seal.stamp == () and seal.field == "cachet-caf"
    person = sign_field(pkg, pkg, "caf-president", _p12(demo_pki, "caf-president"),
                        expected=_expected("caf-president"), tsa_url=demo_services.tsa_url)
    assert not person.certified
    assert _pdfsig(pkg).count("Signature is Valid.") == 2
    assert all(s.bottom_line for _, s in _statuses(pkg, demo_pki))
    report = verify_document(pkg, trust_roots=[demo_pki.root_cert])
    assert [(s.field, s.reason) for s in report.signatures] == [
        ("cachet-caf", SEAL_REASON), ("caf-president", None)]
    with pytest.raises(SigningRefused, match="no empty invisible signature fields"):
        seal_package(pkg, pkg.with_name("again.pdf"), _p12(demo_pki, "cachet-caf"))


def test_default_stamp_is_generic(pkg: Path, demo_pki: DemoPki) -> None:
    """Without a wording the stamp is in English, in UTC (the caller brings its
    language: ctgdocs gives the French one)."""
    when = dt.datetime(2027, 3, 1, 10, 42, tzinfo=dt.UTC)
    result = sign_field(pkg, pkg, "maire-aniane", _p12(demo_pki, "maire-aniane"),
                        expected=_expected("maire-aniane"), now=when)
    assert result.stamp == ("Signed electronically by Élodie Carrière", "La Maire d'Aniane",
                            "on 2027-03-01 at 10:42 (UTC)")
    french = stamp_lines("Élodie Carrière", None, when, seal=True, wording=STAMP_WORDING)
    assert french == ("Cacheté électroniquement par Élodie Carrière",
                      "le 01/03/2027 à 11:42 (heure de Paris)")


def test_without_tsa_is_b_b_with_warning(pkg: Path, demo_pki: DemoPki) -> None:
    result = sign_field(pkg, pkg, "maire-aniane", _p12(demo_pki, "maire-aniane"),
                        expected=_expected("maire-aniane"))
    assert result.level == "PAdES-B-B" and "B-B" in result.warnings[0]


def test_revoked_signer_is_reported_revoked(pkg: Path, demo_pki: DemoPki,
                                            demo_services: RunningServices) -> None:
    sign_field(pkg, pkg, "revoque", _p12(demo_pki, "revoque"), expected=_expected("revoque"),
               tsa_url=demo_services.tsa_url)
    revoke(demo_pki, "revoque", when=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    ((_, status),) = _statuses(pkg, demo_pki)
    assert status.revoked and not status.bottom_line


# --------------------------------------------------------------------------- refusals


def _refused(pkg: Path, field: str, creds: Pkcs12Credentials, match: str,
             **kw: object) -> None:
    before = pkg.read_bytes()
    dst = pkg.with_name("out.pdf")
    with pytest.raises(SigningRefused, match=match):
        sign_field(pkg, dst, field, creds, **kw)  # type: ignore[arg-type]
    assert not dst.exists()
    assert pkg.read_bytes() == before


def test_refuses_unknown_field(pkg: Path, demo_pki: DemoPki) -> None:
    _refused(pkg, "maire-inconnu", _p12(demo_pki, "maire-gignac"),
             "no signature field named 'maire-inconnu'")


def test_refuses_already_signed(pkg: Path, demo_pki: DemoPki) -> None:
    sign_field(pkg, pkg, "maire-gignac", _p12(demo_pki, "maire-gignac"))
    _refused(pkg, "maire-gignac", _p12(demo_pki, "maire-gignac"), "already signed")


def test_refuses_certifying_a_signed_document(pkg: Path, demo_pki: DemoPki) -> None:
    sign_field(pkg, pkg, "maire-gignac", _p12(demo_pki, "maire-gignac"))
    _refused(pkg, "maire-aniane", _p12(demo_pki, "maire-aniane"), "only the first",
             certify=True)


def _tamper(path: Path) -> None:
    writer = PdfWriter(path, incremental=True)
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 24 Tf 100 700 Td (Montant : 1 000 000 EUR) Tj ET")
    writer.pages[0][NameObject("/Contents")] = writer._add_object(stream)
    buf = io.BytesIO()
    writer.write(buf)
    path.write_bytes(buf.getvalue())


def test_refuses_tampered_package(pkg: Path, demo_pki: DemoPki) -> None:
    sign_field(pkg, pkg, "caf-directeur", _p12(demo_pki, "caf-directeur"))
    _tamper(pkg)
    _refused(pkg, "maire-gignac", _p12(demo_pki, "maire-gignac"),
             "signature 'caf-directeur' of .*refusing to sign")


def test_refuses_bytes_after_eof(pkg: Path, demo_pki: DemoPki) -> None:
    sign_field(pkg, pkg, "caf-directeur", _p12(demo_pki, "caf-directeur"))
    with open(pkg, "ab") as f:
        f.write(b"garbage appended\n")
    _refused(pkg, "maire-gignac", _p12(demo_pki, "maire-gignac"), "bytes follow the last")


def test_refuses_overwritten_signed_bytes(pkg: Path, demo_pki: DemoPki) -> None:
    sign_field(pkg, pkg, "caf-directeur", _p12(demo_pki, "caf-directeur"))
    data = bytearray(pkg.read_bytes())
    at = data.index(b"/MediaBox")
    data[at:at + 9] = b"/CropBox "[:9]
    pkg.write_bytes(bytes(data))
    _refused(pkg, "maire-gignac", _p12(demo_pki, "maire-gignac"), "refusing to sign")


def _odd_cert(pki: DemoPki, sid: str, *, days_from: int, days_until: int,
              non_repudiation: bool = True) -> Pkcs12Credentials:
    base = pki.subject("maire-gignac")
    now = dt.datetime.now(dt.UTC)
    subject = DemoSubject(sid, base.name, base.organisation, base.title, base.email)
    path = issue_certificate(pki, subject, valid_from=now + dt.timedelta(days=days_from),
                             valid_until=now + dt.timedelta(days=days_until),
                             non_repudiation=non_repudiation)
    return Pkcs12Credentials(path, pki.passphrase)


def test_refuses_expired_certificate(pkg: Path, demo_pki: DemoPki) -> None:
    creds = _odd_cert(demo_pki, "test-expire", days_from=-400, days_until=-1)
    _refused(pkg, "maire-gignac", creds, "expired on", expected=_expected("maire-gignac"))


def test_refuses_not_yet_valid_certificate(pkg: Path, demo_pki: DemoPki) -> None:
    creds = _odd_cert(demo_pki, "test-futur", days_from=2, days_until=400)
    _refused(pkg, "maire-gignac", creds, "not valid yet")


def test_refuses_certificate_without_non_repudiation(pkg: Path, demo_pki: DemoPki) -> None:
    creds = _odd_cert(demo_pki, "test-auth", days_from=-1, days_until=400,
                      non_repudiation=False)
    _refused(pkg, "maire-gignac", creds, "lacks the nonRepudiation")


def test_refuses_wrong_person(pkg: Path, demo_pki: DemoPki) -> None:
    _refused(pkg, "maire-gignac", _p12(demo_pki, "maire-aniane"),
             "'Élodie Carrière' for field 'maire-gignac'.*does not belong to the expected "
             "signatory 'Le Maire de Gignac'", expected=_expected("maire-gignac"))


def test_refuses_wrong_email_and_pin(pkg: Path, demo_pki: DemoPki) -> None:
    other_mail = ExpectedSigner("maire-gignac", "Le Maire de Gignac", ("Jean-François Soto",),
                                ("maire@gignac.example.fr",))
    _refused(pkg, "maire-gignac", _p12(demo_pki, "maire-gignac"), "certificate e-mail jf.soto@",
             expected=other_mail)
    pinned = ExpectedSigner("maire-gignac", "Le Maire de Gignac", fingerprints=("00" * 32,))
    _refused(pkg, "maire-gignac", _p12(demo_pki, "maire-gignac"), "not the one pinned",
             expected=pinned)


def test_name_match_ignores_case_and_accents(pkg: Path, demo_pki: DemoPki) -> None:
    loose = ExpectedSigner("maire-gignac", "Le Maire de Gignac", ("JEAN FRANCOIS SOTO",))
    sign_field(pkg, pkg, "maire-gignac", _p12(demo_pki, "maire-gignac"), expected=loose)


def test_tsa_down_is_a_signing_error_and_writes_nothing(pkg: Path, demo_pki: DemoPki) -> None:
    before = pkg.read_bytes()
    with pytest.raises(SigningError, match="timestamp service"):
        sign_field(pkg, pkg, "maire-gignac", _p12(demo_pki, "maire-gignac"),
                   tsa_url="http://127.0.0.1:9/tsa")
    assert pkg.read_bytes() == before
    assert [p.name for p in pkg.parent.iterdir() if p.name.endswith(".tmp")] == []


# --------------------------------------------------------------------------- stamp


def test_stamp_fits_and_wraps_in_a_narrow_box() -> None:
    lines = stamp_lines("Marie-Hélène Lefèvre-Castelnau", "La Présidente du conseil "
                        "d'administration de la Caf de l'Hérault",
                        dt.datetime(2026, 11, 27, 10, 42, tzinfo=dt.UTC),
                        wording=STAMP_WORDING)
    assert lines[2] == "le 27/11/2026 à 11:42 (heure de Paris)"
    wide = fit(lines, 400, 60)
    assert wide.lines == lines and wide.font_size >= 8
    narrow = fit(lines, 120, 90)
    assert len(narrow.lines) > 3 and 5 <= narrow.font_size < 10
    assert all(text_width(line) * narrow.font_size <= 112 for line in narrow.lines)
    assert " ".join(narrow.lines) == " ".join(lines)


# --------------------------------------------------------------------------- CLI


def _with_build_json(pkg: Path) -> Path:
    records = [{"id": s.id, "field": s.id, "name": s.name, "email": s.email,
                "capacity": s.title, "page": 2, "rect": [0, 0, 0, 0]} for s in DEMO_SUBJECTS]
    (pkg.parent / "build.json").write_text(json.dumps({"fields": records}), encoding="utf-8")
    return pkg


def _cli_creds(pki: DemoPki, sid: str, tmp_path: Path) -> list[str]:
    secret = tmp_path / "passphrase.txt"
    secret.write_text(pki.passphrase + "\n", encoding="utf-8")
    return ["--pkcs12", str(pki.pkcs12(sid)), "--passphrase-file", str(secret)]


def test_cli_sign_uses_build_json(pkg: Path, demo_pki: DemoPki, tmp_path: Path,
                                  demo_services: RunningServices,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    _with_build_json(pkg)
    code = main(["sign", str(pkg), "--as", "maire-gignac", "--tsa", demo_services.tsa_url,
                 *_cli_creds(demo_pki, "maire-gignac", tmp_path)])
    assert code == ExitCode.OK
    assert "maire-gignac certified by Jean-François Soto (PAdES-B-T" in capsys.readouterr().out
    code = main(["sign", str(pkg), "--as", "maire-aniane",
                 *_cli_creds(demo_pki, "maire-gignac", tmp_path)])
    assert code == ExitCode.SIGNING_REFUSED
    assert "does not belong to the expected signatory" in capsys.readouterr().err


def test_cli_exit_codes_for_credentials_and_missing_expectation(
        pkg: Path, demo_pki: DemoPki, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    creds = _cli_creds(demo_pki, "maire-gignac", tmp_path)
    assert main(["sign", str(pkg), "--as", "maire-gignac", *creds]) \
        == ExitCode.SIGNING_REFUSED
    assert "build.json" in capsys.readouterr().err
    _with_build_json(pkg)
    (tmp_path / "passphrase.txt").write_text("wrong\n")
    assert main(["sign", str(pkg), "--as", "maire-gignac", *creds]) \
        == ExitCode.CREDENTIALS_ERROR
    assert "wrong passphrase" in capsys.readouterr().err


def test_cli_pkcs11_sign(pkg: Path, softhsm_token: SoftHsmToken,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    _with_build_json(pkg)
    monkeypatch.setenv("TEST_PIN", softhsm_token.pin)
    code = main(["sign", str(pkg), "--as", "maire-gignac", "--pkcs11-module",
                 str(softhsm_token.module), "--token-label", softhsm_token.label,
                 "--key-id", softhsm_token.key_id.hex(), "--pin-env", "TEST_PIN"])
    assert code == ExitCode.OK


def test_cli_seal_then_sign_as_subprocesses(pkg: Path, demo_pki: DemoPki, tmp_path: Path,
                                            demo_services: RunningServices) -> None:
    _with_build_json(pkg)
    env = {**os.environ, "DEMO_PASS": demo_pki.passphrase}
    signed = tmp_path / "signed.pdf"

    def ctg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ctgdocs", *args], capture_output=True,
                              text=True, env=env, timeout=120)

    seal = ctg("seal", str(pkg), "-o", str(signed), "--pkcs12",
               str(demo_pki.pkcs12("cachet-caf")), "--passphrase-env", "DEMO_PASS",
               "--tsa", demo_services.tsa_url)
    assert seal.returncode == 0, seal.stderr
    sign = ctg("sign", str(signed), "--as", "caf-directeur", "--pkcs12",
               str(demo_pki.pkcs12("caf-directeur")), "--passphrase-env", "DEMO_PASS",
               "--tsa", demo_services.tsa_url, "--trust", str(demo_pki.root_cert))
    assert sign.returncode == 0, sign.stderr
    assert _pdfsig(signed).count("Signature is Valid.") == 2
    no_tsa = ctg("sign", str(signed), "--as", "maire-gignac", "--pkcs12",
                 str(demo_pki.pkcs12("maire-gignac")), "--passphrase-env", "DEMO_PASS")
    assert no_tsa.returncode == 0 and "B-B only" in no_tsa.stderr
