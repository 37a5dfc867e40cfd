"""verify_document and ``ctg verify`` on real multi-signature packages (real pyHanko
signatures, local TSA/OCSP/CRL on 127.0.0.1), with pyHanko's plain validation as oracle.

``make test`` runs this module twice: with the speed-ups (as ``ctg verify`` runs) and
with ``SIGNERS_SPEEDUPS=off`` (pyHanko's plain path only)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures_pki import services_url
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, SuspiciousModification
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from ctgdocs.cli import main
from ctgdocs.exceptions import ExitCode
from signers import speedups
from signers.credentials import PemCredentials, Pkcs12Credentials
from signers.demo_pki import DemoPki, DemoSubject, create_demo_pki, revoke
from signers.fields import add_signature_fields
from signers.ltv import add_long_term_validation
from signers.model import ExpectedSigner, FieldSpec
from signers.report import DocumentReport, render_table
from signers.services import RunningServices, listening_socket, running_services
from signers.sign import sign_field
from signers.speedups.diffcache import RevisionStep
from signers.verify import verify_document

pytestmark = pytest.mark.usefixtures("speedups_switch")
speedups_only = pytest.mark.skipif(
    speedups.switched_off(), reason="SIGNERS_SPEEDUPS=off: the speed-ups' own machinery "
    "is tested in the run with them")

PEOPLE: tuple[DemoSubject, ...] = tuple(
    DemoSubject(f"maire-{town}", name, f"Commune de {town.title()}", f"Le Maire de {town}",
                f"{town}@mairie.example.fr")
    for town, name in [("gignac", "Jean-François Soto"), ("aniane", "Élodie Carrière"),
                       ("montpeyroux", "Claude Carceller"), ("puechabon", "Anne Vidal"),
                       ("arboras", "Louis Roux"), ("lagamas", "Marc Sarda"),
                       ("popian", "Inès Fabre"), ("pouget", "Paul Révoqué")])
FIELDS = [p.id for p in PEOPLE]
EXPECTED = [ExpectedSigner(p.id, p.title or p.id, (p.name,), (p.email or "",))
            for p in PEOPLE]
HONEST = 5
"""Signatures of the honest package; tampering happens after them."""


@dataclass(frozen=True)
class World:
    """A PKI, its services, and packages signed by the first signatories."""

    pki: DemoPki
    other_pki: DemoPki
    services: RunningServices
    unsigned: Path
    signed: list[Path]
    """``signed[k]`` holds the first ``k + 1`` signatures."""
    folder: Path

    @property
    def honest(self) -> Path:
        return self.signed[HONEST - 1]

    def sign(self, src: Path, dst: Path, field: str, who: str | None = None,
             *, check: bool = True) -> Path:
        who = who or field
        sign_field(src, dst, field, Pkcs12Credentials(self.pki.pkcs12(who), self.pki.passphrase),
                   expected=_expected(field) if check else None,
                   tsa_url=self.services.tsa_url)
        return dst

    def verify(self, pdf: Path, **kw: object) -> DocumentReport:
        kw.setdefault("trust_roots", [self.pki.root_cert])
        return verify_document(pdf, expected=EXPECTED, **kw)  # type: ignore[arg-type]


def _expected(field: str) -> ExpectedSigner:
    return next(e for e in EXPECTED if e.field == field)


def make_unsigned(path: Path, fields: list[str], pages: int = 3) -> Path:
    """A small PDF with ``pages`` text pages and one empty signature field per name."""
    w = PdfFileWriter()
    font = w.add_object(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Font"),
        generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
        generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica")}))
    for i in range(pages):
        res = generic.DictionaryObject({generic.NameObject("/Font"): generic.DictionaryObject(
            {generic.NameObject("/F1"): font})})
        text = f"BT /F1 14 Tf 72 760 Td (Convention, page {i + 1}) Tj ET".encode()
        stream = w.add_object(generic.StreamObject(stream_data=text))
        w.insert_page(PageObject(contents=stream, media_box=[0, 0, 595, 842], resources=res))
    raw = path.with_suffix(".raw.pdf")
    with raw.open("wb") as f:
        w.write(f)
    specs = [FieldSpec(name, k // 12 % pages,
                       (40 + 180 * (k % 3), 60 + 160 * (k // 3 % 4),
                        200 + 180 * (k % 3), 150 + 160 * (k // 3 % 4)), name)
             for k, name in enumerate(fields)]
    add_signature_fields(raw, path, specs)
    raw.unlink()
    return path


@pytest.fixture(scope="session", name="world")
def world_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """PKI + services + the package signed by 1…6 signatories."""
    base = tmp_path_factory.mktemp("verify")
    sock = listening_socket()
    pki = create_demo_pki(PEOPLE, base / "pki", services_url=services_url(sock))
    other = create_demo_pki(PEOPLE[:1], base / "other-pki",
                            services_url="http://127.0.0.1:9")  # never serves
    unsigned = make_unsigned(base / "unsigned.pdf", FIELDS)
    with running_services(pki.directory, sock=sock) as services:
        w = World(pki, other, services, unsigned, [], base)
        src = unsigned
        for k, field in enumerate(FIELDS[:HONEST + 1]):
            src = w.sign(src, base / f"signed-{k + 1}.pdf", field)
            w.signed.append(src)
        yield w


def baseline(pdf: Path, world: World) -> list[tuple[str, bool]]:
    """pyHanko's plain per-signature validation with the standard diff policy (regular
    signatures; pyHanko gives no bottom line for document timestamps)."""
    root = load_cert_from_pemder(str(world.pki.root_cert))
    out = []
    with pdf.open("rb") as f:
        reader = PdfFileReader(f, strict=False)
        for emb in reader.embedded_regular_signatures:
            vc = ValidationContext(trust_roots=[root], allow_fetching=True,
                                   revocation_mode="hard-fail")
            status = validate_pdf_signature(emb, vc, diff_policy=DEFAULT_DIFF_POLICY)
            out.append((emb.field_name, bool(status.bottom_line)))
    return out


def assert_parity(report: DocumentReport, pdf: Path, world: World) -> None:
    """Same per-signature verdicts as pyHanko's plain validation."""
    ours = [(s.field, s.pyhanko_valid) for s in report.signatures if s.kind == "signature"]
    assert ours == baseline(pdf, world)


# --------------------------------------------------------------------------- honest


def test_the_run_takes_the_path_it_says(speedups_switch: bool) -> None:
    """With the speed-ups unless SIGNERS_SPEEDUPS=off (so that the two runs of this
    module really compare the two paths)."""
    assert speedups_switch == (not speedups.switched_off())
    assert speedups.status().enabled == speedups_switch


def test_honest_package_verifies(world: World) -> None:
    pdf = world.signed[HONEST]
    report = world.verify(pdf)
    assert report.valid, render_table(report)
    assert not report.tampered and not report.problems
    assert [s.field for s in report.signatures] == FIELDS[:HONEST + 1]
    for s in report.signatures:
        assert s.valid and s.intact and s.signature_valid and s.trusted, s.problems
        assert s.signer_matches is True
        assert s.revocation == "good"
        assert s.pades_level == "B-T"
        assert s.timestamp_time and s.tsa and s.signing_time
        assert s.docmdp_ok is True
    assert report.signatures[-1].coverage == "entire file"
    assert {s.coverage for s in report.signatures[:-1]} == {"entire revision"}
    assert report.signed == tuple(FIELDS[:HONEST + 1])
    assert report.missing == tuple(FIELDS[HONEST + 1:])
    assert not report.complete
    assert all(r.legitimate for r in report.revisions)
    assert_parity(report, pdf, world)


def test_verification_keeps_nothing_of_the_document(world: World) -> None:
    """Once verified, the parsed document is freed: the caches of the linear-time
    machinery keep plain values only (the field names read from the file referred to
    their reader, which stayed in memory: one document per verification, for ever, in a
    long-running process)."""
    import gc
    import weakref

    from pyhanko.pdf_utils.reader import PdfFileReader

    readers: list[weakref.ref[PdfFileReader]] = []
    original = PdfFileReader.__init__

    def spy(self: PdfFileReader, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)
        readers.append(weakref.ref(self))

    PdfFileReader.__init__ = spy  # type: ignore[method-assign]
    try:
        assert world.verify(world.honest).valid
    finally:
        PdfFileReader.__init__ = original  # type: ignore[method-assign]
    gc.collect()
    assert readers and not [r for r in readers if r() is not None]


def _chainless_credentials(world: World, who: str, folder: Path) -> PemCredentials:
    """``who``'s key and certificate alone, without the CA chain (as a signatory might
    export them)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    key, cert, _ = pkcs12.load_key_and_certificates(
        world.pki.pkcs12(who).read_bytes(), world.pki.passphrase.encode())
    assert key is not None and cert is not None
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return PemCredentials(folder / "key.pem", folder / "cert.pem")


def test_a_signature_is_judged_on_its_own_certificates(world: World, tmp_path: Path) -> None:
    """A signature whose CMS lacks the intermediate CA certificate has no certification
    path — as in pyHanko's own validation — even though the signature before it carries
    that certificate. Signatures are checked concurrently: a verdict that depended on
    what another check had seen first would depend on timing. (No timestamp: the
    timestamp token would carry the intermediate certificate, that of the TSA.)"""
    pdf = tmp_path / "chainless.pdf"
    sign_field(world.signed[0], pdf, FIELDS[1],
               _chainless_credentials(world, FIELDS[1], tmp_path),
               expected=_expected(FIELDS[1]), tsa_url=None)
    report = world.verify(pdf)
    first, second = report.signatures
    assert first.valid and first.trusted, render_table(report)
    assert second.intact and second.signature_valid and not second.trusted
    assert not second.valid and not report.valid
    assert_parity(report, pdf, world)


def test_signatures_are_checked_concurrently(world: World, monkeypatch,
                                             speedups_switch: bool) -> None:
    """While one signature's check waits (for its OCSP responder, a CRL, a timestamp
    authority's certificate status), the others go on: as many checks as
    CONCURRENT_CHECKS allows are under way at once, never more, and every signature
    still verifies. Each check is held at its start until that many are under way: no
    timing is involved (checks run one after another would never get there, and the
    test would fail on its 60-second guard). On the plain path they run one at a time
    (its difference analysis holds the event loop long enough for the others' OCSP
    requests to time out)."""
    import asyncio

    from signers import verify

    real = verify._validate

    class Gate:
        """Holds each check until ``expect`` are under way; counts them."""

        def __init__(self, expect: int) -> None:
            self.expect, self.running, self.most = expect, 0, 0
            self.event: asyncio.Event | None = None

        async def validate(self, *args: object) -> object:
            self.event = self.event or asyncio.Event()
            self.running += 1
            self.most = max(self.most, self.running)
            if self.running >= self.expect:
                self.event.set()
            try:
                await asyncio.wait_for(self.event.wait(), 60)
                return await real(*args)  # type: ignore[arg-type]
            finally:
                self.running -= 1

    pdf = world.signed[HONEST]
    for limit in (verify.CONCURRENT_CHECKS, 2):
        at_once = min(limit, HONEST + 1) if speedups_switch else 1
        gate = Gate(at_once)
        monkeypatch.setattr(verify, "CONCURRENT_CHECKS", limit)
        monkeypatch.setattr(verify, "_validate", gate.validate)
        report = world.verify(pdf)
        assert report.valid and len(report.signatures) == HONEST + 1, render_table(report)
        assert gate.most == at_once


def test_report_json_and_table(world: World) -> None:
    report = world.verify(world.honest)
    data = json.loads(report.to_json())
    assert data["valid"] is True and len(data["signatures"]) == HONEST
    assert data["signatures"][0]["field"] == FIELDS[0]
    table = render_table(report)
    assert FIELDS[0] in table and "VALID" in table and "missing:" in table


def test_complete_package(world: World, tmp_path: Path) -> None:
    src = world.signed[HONEST]
    for field in FIELDS[HONEST + 1:-1]:
        src = world.sign(src, tmp_path / f"{field}.pdf", field)
    last = world.sign(src, tmp_path / "complete.pdf", FIELDS[-1])
    report = world.verify(last)
    assert report.valid and report.complete, render_table(report)
    assert report.missing == ()


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils missing")
def test_pdfsig_agrees(world: World) -> None:
    out = subprocess.run(["pdfsig", str(world.signed[HONEST])], capture_output=True,
                         text=True, timeout=60).stdout
    assert out.count("Signature Validation: Signature is Valid.") == HONEST + 1, out


# --------------------------------------------------------------------------- who, trust


def test_wrong_person_is_flagged(world: World, tmp_path: Path) -> None:
    intruder = world.sign(world.honest, tmp_path / "intruder.pdf", FIELDS[HONEST],
                          who=FIELDS[HONEST + 1], check=False)
    report = world.verify(intruder)
    bad = report.signatures[-1]
    assert bad.field == FIELDS[HONEST] and bad.signer_matches is False
    assert not bad.valid and any("wrong signer" in p for p in bad.problems)
    assert bad.intact and bad.trusted  # a genuine signature, by the wrong person
    assert all(s.valid for s in report.signatures[:-1])
    assert not report.valid and FIELDS[HONEST] in report.missing


def test_untrusted_root(world: World) -> None:
    report = world.verify(world.honest, trust_roots=[world.other_pki.root_cert])
    assert not report.valid
    for s in report.signatures:
        assert s.intact and not s.trusted and not s.valid
        assert any("trusted root" in p for p in s.problems)


def test_no_trust_roots_means_untrusted(world: World) -> None:
    report = world.verify(world.honest, trust_roots=[])
    assert not report.valid and not any(s.trusted for s in report.signatures)


def test_revoked_signer(world: World, tmp_path: Path) -> None:
    # revokes the last signatory for the rest of the session: keep it after the tests
    # that have them sign validly
    pdf = world.sign(world.honest, tmp_path / "revoked.pdf", FIELDS[-1])
    revoke(world.pki, FIELDS[-1])
    report = world.verify(pdf)
    last = report.signatures[-1]
    assert last.revocation == "revoked" and not last.valid and last.intact
    assert any("revoked" in p for p in last.problems)
    assert all(s.valid for s in report.signatures[:-1]), render_table(report)
    assert_parity(report, pdf, world)


def test_offline_without_embedded_revocation_data_fails_closed(world: World) -> None:
    report = world.verify(world.honest, offline=True)
    assert not report.valid
    assert {s.revocation for s in report.signatures} == {"unknown"}


def test_unreadable_file_is_a_verification_error(tmp_path: Path) -> None:
    from signers.exceptions import VerificationError

    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"not a pdf at all")
    with pytest.raises(VerificationError):
        verify_document(bad)


# --------------------------------------------------------------------------- archival


def archive(world: World, src: Path, dst: Path) -> Path:
    """Add validation data (DSS) for every signature, then a document timestamp."""
    root = load_cert_from_pemder(str(world.pki.root_cert))
    add_long_term_validation(src, dst, tsa_url=world.services.tsa_url, trust_roots=[root])
    return dst


def test_archived_package_reaches_b_lta_and_verifies_offline(world: World,
                                                             tmp_path: Path) -> None:
    pdf = archive(world, world.honest, tmp_path / "archived.pdf")
    report = world.verify(pdf)
    assert report.valid, render_table(report)
    sigs = [s for s in report.signatures if s.kind == "signature"]
    stamps = [s for s in report.signatures if s.kind == "timestamp"]
    assert {s.pades_level for s in sigs} == {"B-LTA"}
    assert len(stamps) == 1 and stamps[0].valid and stamps[0].timestamp_time
    assert all(r.legitimate for r in report.revisions)
    assert {r.modification_level for r in report.revisions
            if r.made_by is None} == {"LTA_UPDATES"}
    assert_parity(report, pdf, world)
    offline = world.verify(pdf, offline=True)
    assert offline.valid, render_table(offline)
    assert {s.revocation for s in offline.signatures} == {"good"}


# --------------------------------------------------------------------------- CLI


def _cli_args(world: World, pdf: Path, *extra: str) -> list[str]:
    return ["verify", str(pdf), "--trust", str(world.pki.root_cert), *extra]


def _with_build_json(world: World, pdf: Path, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    target = folder / "convention-package.pdf"
    shutil.copyfile(pdf, target)
    records = [{"id": p.id, "field": p.id, "name": p.name, "email": p.email,
                "capacity": p.title, "page": 1, "rect": [0, 0, 1, 1]} for p in PEOPLE]
    (folder / "build.json").write_text(json.dumps({"fields": records}), encoding="utf-8")
    return target


def test_cli_exit_codes(world: World, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    pdf = _with_build_json(world, world.honest, tmp_path / "pkg")
    assert main(_cli_args(world, pdf)) == ExitCode.OK
    assert "VALID" in capsys.readouterr().out
    assert main(_cli_args(world, pdf, "--complete")) == ExitCode.INCOMPLETE
    capsys.readouterr()
    assert main(["verify", str(pdf)]) == ExitCode.VERIFICATION_FAILED  # nothing trusted
    capsys.readouterr()
    assert main(_cli_args(world, pdf, "--json")) == ExitCode.OK
    data = json.loads(capsys.readouterr().out)
    assert data["missing"] == FIELDS[HONEST:]


def test_cli_subprocess(world: World, tmp_path: Path) -> None:
    pdf = _with_build_json(world, world.honest, tmp_path / "pkg")
    tampered = tmp_path / "pkg" / "appended.pdf"
    tampered.write_bytes(pdf.read_bytes() + b"\n% garbage after the end\n")
    ok = subprocess.run([sys.executable, "-m", "ctgdocs", *_cli_args(world, pdf), "--json"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == ExitCode.OK, ok.stderr
    assert json.loads(ok.stdout)["valid"] is True
    bad = subprocess.run([sys.executable, "-m", "ctgdocs", *_cli_args(world, tampered)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == ExitCode.VERIFICATION_FAILED
    assert "appended" in bad.stdout



# --------------------------------------------------------------------------- linear time


def linear_time_equals_pyhanko(pdf: Path) -> None:
    """The reverse cross-reference maps and per-revision diffs of the linear-time
    machinery are exactly pyHanko's, revision by revision (checked in the run with the
    speed-ups; with ``SIGNERS_SPEEDUPS=off`` they are not in use)."""
    if speedups.switched_off():
        return
    from signers.speedups.diffcache import CachingDiffPolicy
    from signers.speedups.refgraph import ReferenceGraph, accelerate

    data = pdf.read_bytes()
    ours = PdfFileReader(io.BytesIO(data), strict=False)
    accelerate(ours)
    graph = ReferenceGraph(ours)
    policy = CachingDiffPolicy()
    total = ours.xrefs.total_revisions
    for revision in range(total):
        theirs = PdfFileReader(io.BytesIO(data), strict=False)
        view = theirs.get_historical_resolver(revision)
        view._load_reverse_xref_cache()
        expected = view._indirect_object_access_cache
        assert graph.paths_to_refs(revision) == expected
        for ref, paths in expected.items():
            assert graph.usages(ref, revision) == paths, (revision, ref)
        if revision == 0:
            continue
        step = policy.step(ours, revision)
        old = theirs.get_historical_resolver(revision - 1)
        assert step.dss == ("/DSS" in theirs.get_historical_root(revision)), revision
        try:
            result = DEFAULT_DIFF_POLICY.apply(old, theirs.get_historical_resolver(revision))
        except (SuspiciousModification, PdfReadError):  # ours fails closed on both
            assert step.suspicious, revision
        else:
            assert not step.suspicious, (revision, step.result)
            assert step.level == result.modification_level
            assert step.changed_fields == frozenset(result.changed_form_fields)
    # the analysis forgets what it has moved past: going backwards, on the same reader,
    # parses it again and finds the same steps
    backwards = CachingDiffPolicy()
    for revision in reversed(range(1, total)):
        assert _facts(backwards.step(ours, revision)) == _facts(policy.step(ours, revision))


def _facts(step: RevisionStep) -> tuple[object, ...]:
    return (step.suspicious, step.level, step.changed_fields, step.updates, step.dss)


@speedups_only
def test_shared_prefix_digests_are_pyhankos(world: World, tmp_path: Path) -> None:
    from signers.speedups.digests import prime_digests
    from signers.verify import _collect

    lta = archive(world, world.signed[2], tmp_path / "lta.pdf")  # with document timestamps
    for pdf in (world.signed[HONEST], lta):
        data = pdf.read_bytes()
        ours, _ = _collect(PdfFileReader(io.BytesIO(data), strict=False))
        theirs, _ = _collect(PdfFileReader(io.BytesIO(data), strict=False))
        assert prime_digests(ours, data) == len(ours) > 1
        for mine, reference in zip(ours, theirs, strict=True):
            assert mine.external_digests == {
                reference.external_md_algorithm: reference.compute_digest()}


@speedups_only
def test_irregular_byte_ranges_are_left_to_pyhanko(world: World) -> None:
    from signers.speedups.digests import prime_digests
    from signers.verify import _collect

    data = world.honest.read_bytes()
    embedded, _ = _collect(PdfFileReader(io.BytesIO(data), strict=False))
    first, second, third = embedded[:3]
    a, b, c, d = (int(v) for v in first.byte_range)
    first.byte_range = [1, a - 1, b, d]  # not from the start of the file
    second.byte_range = [0, a, b]  # not two ranges
    third.byte_range = [0, len(data), len(data), 1]  # beyond the end of the file
    assert prime_digests(embedded, data) == len(embedded) - 3
    assert not first.external_digests and not second.external_digests
    assert not third.external_digests


@speedups_only
def test_linear_time_machinery_matches_pyhanko(world: World, tmp_path: Path) -> None:
    linear_time_equals_pyhanko(world.signed[HONEST])
    linear_time_equals_pyhanko(archive(world, world.signed[2], tmp_path / "lta.pdf"))


def test_without_expectations_nobody_is_matched(world: World) -> None:
    report = verify_document(world.honest, trust_roots=[world.pki.root_cert])
    assert report.valid and not report.complete
    assert {s.signer_matches for s in report.signatures} == {None}


def test_expected_signers_from_convention_data(root: Path) -> None:
    from ctgdocs.load import load_convention
    from ctgdocs.model import signatories
    from ctgdocs.signatories import expected_signers

    conv = load_convention(root / "examples" / "vallee-herault" / "convention.yaml")
    expected = expected_signers(conv)
    assert [e.field for e in expected] == [s.id for s in signatories(conv)]
    first = signatories(conv)[0]
    assert expected[0].names == (first.person.full_name,)
    assert expected[0].label == first.capacity


@speedups_only
def test_lock_checks_are_pyhankos() -> None:
    from pyhanko.pdf_utils.generic import ByteStringObject, TextStringObject
    from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec

    from signers.speedups.diffcache import _is_locked

    names = ["a", "b", "a.b", "a.b.c", "ab", "a.bc", ".a", "a.", "", "x.y", "b.a", "a..b"]
    scopes: list[list[object] | None] = [
        None, [], ["a"], ["a.b"], ["b", "x"], [""], ["a."], [TextStringObject("a")],
        [ByteStringObject(b"a"), "b"], names]
    for action in FieldMDPAction:
        for fields in scopes:
            spec = FieldMDPSpec(action, fields)  # type: ignore[arg-type]
            for name in names:
                try:
                    expected: object = spec.is_locked(name)
                except TypeError as exc:
                    expected = type(exc)
                try:
                    ours: object = _is_locked(spec, name)
                except TypeError as exc:
                    ours = type(exc)
                assert ours == expected, (action, fields, name)


@speedups_only
def test_trailer_lookups_are_pyhankos(world: World) -> None:
    from signers.speedups.refgraph import accelerate

    def lookup(reader: PdfFileReader, key: str, revision: int | None) -> object:
        try:
            return reader.trailer.raw_get(key, revision=revision)
        except KeyError:
            return KeyError

    data = world.honest.read_bytes()
    ours = PdfFileReader(io.BytesIO(data), strict=False)
    assert accelerate(ours)
    theirs = PdfFileReader(io.BytesIO(data), strict=False)
    keys = ["/Root", "/Info", "/Encrypt", "/Size", "/Prev", "/ID", "/XRefStm", "/Nothing"]
    for revision in [None, *range(theirs.xrefs.total_revisions)]:
        for key in keys * 2:  # the second time from the cache
            assert lookup(ours, key, revision) == lookup(theirs, key, revision)
    assert ours.security_handler is None and ours.encrypt_dict is None


@speedups_only
def test_field_list_is_read_incrementally(world: World, monkeypatch) -> None:
    """Each revision step reads again only the fields the revision writes (with the same
    verdicts as pyHanko: ``linear_time_equals_pyhanko`` and the tamper tests)."""
    from signers.speedups import formlist
    from signers.speedups.diffcache import CachingDiffPolicy
    from signers.speedups.refgraph import accelerate

    reads: list[int] = []
    original = formlist._raw_field
    monkeypatch.setattr(formlist, "_raw_field",
                        lambda view, ref: reads.append(ref.idnum) or original(view, ref))
    reader = PdfFileReader(io.BytesIO(world.honest.read_bytes()), strict=False)
    accelerate(reader)
    policy = CachingDiffPolicy()
    steps = [policy.step(reader, r) for r in range(1, reader.xrefs.total_revisions)]
    fields = len(reader.root["/AcroForm"]["/Fields"])
    # (revisions 1 and 2 add the fields and certify: no form-filling steps)
    assert not any(step.suspicious for step in steps[2:]) and len(steps) >= HONEST
    assert fields == len(FIELDS)
    # the full listing would read every field twice per step
    assert len(reads) <= 2 * fields + 2 * len(steps) < 2 * fields * len(steps)
