"""The acceptance rule, one refused file per code, all made with real pyHanko and the
demonstration PKI; and what a refusal leaves (only a journal event)."""

from __future__ import annotations

import datetime as dt
import io
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures_circuit import CircuitKit, der_root
from fixtures_pki import DEMO_SUBJECTS
from guards import no_hang
from pyhanko.pdf_utils.generic import NameObject, TextStringObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields as pfields
from pyhanko.sign import signers as psigners

from signers.circuit.acceptance import CheckLimits, prescan
from signers.circuit.errors import CircuitRefusal, Conflict, Refused, TooLarge
from signers.circuit.records import SlotState
from signers.circuit.sandbox import ProcessChecker
from signers.credentials import Pkcs12Credentials, open_signer
from signers.demo_pki import DemoPki, DemoSubject, create_demo_pki, issue_certificate, revoke
from signers.ltv import add_long_term_validation
from signers.sign import sign_field

MAYORS = [["maire-gignac", "maire-aniane"], ["caf-directeur"]]


@pytest.fixture
def akit(make_kit: Callable[..., CircuitKit], tmp_path: Path) -> CircuitKit:
    """An engine on a SQLite store (the rule does not depend on the store)."""
    return make_kit(str(tmp_path / "store"))


def signed(kit: CircuitKit, data: bytes, field: str, who: str, tmp: Path, *,
           tsa: bool = True, pki: DemoPki | None = None) -> bytes:
    """``data`` with ``field`` signed by ``who``'s demo key (no identity check)."""
    pki = pki or kit.pki
    src, dst = tmp / f"in-{field}.pdf", tmp / f"out-{field}.pdf"
    src.write_bytes(data)
    sign_field(src, dst, field, Pkcs12Credentials(pki.pkcs12(who), pki.passphrase),
               tsa_url=kit.services.tsa_url if tsa else None)
    return dst.read_bytes()


def head(kit: CircuitKit, circuit: str = "c1") -> bytes:
    return kit.engine.head_bytes(circuit)


def refused(kit: CircuitKit, token: str, data: bytes, code: str,
            kind: type[CircuitRefusal] = Refused) -> CircuitRefusal:
    before = kit.engine.status("c1").head
    with pytest.raises(kind) as info:
        kit.engine.upload(token, data, address="192.0.2.7")
    assert info.value.code == code, info.value
    assert kit.engine.status("c1").head == before  # nothing moved
    events, _ = kit.engine.journal("c1")
    assert events[-1].kind == "upload-refused" and events[-1].data["code"] == code
    assert events[-1].data["address"] == "192.0.2.7"
    return info.value


def test_valid_uploads_b_t_and_b_b(akit: CircuitKit, tmp_path: Path) -> None:
    started = akit.start(MAYORS)
    first = akit.engine.upload(started.tokens["maire-gignac"],
                               signed(akit, head(akit), "maire-gignac", "maire-gignac",
                                      tmp_path))
    assert (first.signed, first.expected, first.acceptance.level) == (1, 3, "B-T")
    assert first.acceptance.certified  # the first signature certifies
    second = akit.engine.upload(started.tokens["maire-aniane"],
                                signed(akit, head(akit), "maire-aniane", "maire-aniane",
                                       tmp_path, tsa=False))
    assert second.acceptance.level == "B-B" and not second.acceptance.certified
    view = akit.engine.status("c1")
    assert [s.state for s in view.slots] == [SlotState.SIGNED, SlotState.SIGNED,
                                             SlotState.INVITED]
    assert view.slot("maire-aniane").level == "B-B"
    assert view.head.signatures == 2 and view.head.sha256 == second.head.sha256


def test_no_new_signature(akit: CircuitKit) -> None:
    token = akit.start(MAYORS).tokens["maire-gignac"]
    refused(akit, token, head(akit), "no-new-signature")
    writer = IncrementalPdfFileWriter(io.BytesIO(head(akit)), strict=False)
    writer.set_info(None)
    writer.document_meta.title = "Autre titre"  # an update without a signature
    out = io.BytesIO()
    writer.write(out)
    refused(akit, token, out.getvalue(), "no-new-signature")


def test_not_incremental(akit: CircuitKit, tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    token = akit.start(MAYORS).tokens["maire-gignac"]
    good = signed(akit, head(akit), "maire-gignac", "maire-gignac", tmp_path)
    rewritten = io.BytesIO()
    PdfWriter(clone_from=PdfReader(io.BytesIO(good))).write(rewritten)
    refused(akit, token, rewritten.getvalue(), "not-incremental")


def test_wrong_field(akit: CircuitKit, tmp_path: Path) -> None:
    token = akit.start(MAYORS).tokens["maire-gignac"]
    error = refused(akit, token, signed(akit, head(akit), "maire-aniane", "maire-aniane",
                                        tmp_path), "wrong-field")
    assert error.details == {"field": "maire-gignac", "signed": "maire-aniane"}


def test_several_signatures(akit: CircuitKit, tmp_path: Path) -> None:
    token = akit.start(MAYORS).tokens["maire-gignac"]
    both = signed(akit, signed(akit, head(akit), "maire-gignac", "maire-gignac", tmp_path),
                  "maire-aniane", "maire-aniane", tmp_path)
    refused(akit, token, both, "several-signatures")


def test_signer_mismatch(akit: CircuitKit, tmp_path: Path) -> None:
    token = akit.start(MAYORS).tokens["maire-gignac"]
    refused(akit, token, signed(akit, head(akit), "maire-gignac", "maire-aniane", tmp_path),
            "signer-mismatch")


def test_untrusted_certificate(akit: CircuitKit, tmp_path: Path) -> None:
    gignac = next(s for s in DEMO_SUBJECTS if s.id == "maire-gignac")
    other = create_demo_pki([gignac], tmp_path / "other-pki",
                            services_url=akit.pki.services_url)
    token = akit.start(MAYORS).tokens["maire-gignac"]
    refused(akit, token, signed(akit, head(akit), "maire-gignac", "maire-gignac", tmp_path,
                                tsa=False, pki=other), "untrusted")


def test_unsuitable_certificate(akit: CircuitKit, tmp_path: Path) -> None:
    gignac = next(s for s in DEMO_SUBJECTS if s.id == "maire-gignac")
    now = dt.datetime.now(dt.UTC)
    issue_certificate(akit.pki, DemoSubject("gignac-authentification", gignac.name,
                                            gignac.organisation, gignac.title, gignac.email),
                      valid_from=now - dt.timedelta(days=1),
                      valid_until=now + dt.timedelta(days=30), non_repudiation=False)
    token = akit.start(MAYORS).tokens["maire-gignac"]
    data = _pyhanko_sign(head(akit), "maire-gignac",
                         akit.pki.pkcs12("gignac-authentification"), akit.pki.passphrase)
    refused(akit, token, data, "unsuitable-certificate")


def test_revoked_certificate(akit: CircuitKit, tmp_path: Path) -> None:
    token = akit.start([["revoque"]]).tokens["revoque"]
    data = signed(akit, head(akit), "revoque", "revoque", tmp_path, tsa=False)
    revoke(akit.pki, "revoque")
    refused(akit, token, data, "revoked")


def test_invalid_signature(akit: CircuitKit, tmp_path: Path) -> None:
    token = akit.start(MAYORS).tokens["maire-gignac"]
    good = bytearray(signed(akit, head(akit), "maire-gignac", "maire-gignac", tmp_path))
    at = good.index(b"/M (D", len(head(akit))) + 12  # a digit of the signed signing time
    good[at] = ord("1") if good[at] != ord("1") else ord("2")
    refused(akit, token, bytes(good), "invalid-signature")


def test_forbidden_change_before_the_signature(akit: CircuitKit, tmp_path: Path) -> None:
    token = akit.start(MAYORS).tokens["maire-gignac"]
    writer = IncrementalPdfFileWriter(io.BytesIO(head(akit)), strict=False)
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page[NameObject("/Rotate")] = pfields.generic.NumberObject(90)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    error = refused(akit, token, signed(akit, out.getvalue(), "maire-gignac", "maire-gignac",
                                        tmp_path), "forbidden-change")
    assert "revision" in error.detail


def test_certification_forbidding_changes(akit: CircuitKit) -> None:
    token = akit.start(MAYORS).tokens["maire-gignac"]
    data = _pyhanko_sign(head(akit), "maire-gignac", akit.pki.pkcs12("maire-gignac"),
                         akit.pki.passphrase, certify=pfields.MDPPerm.NO_CHANGES)
    refused(akit, token, data, "forbidden-change")


def test_damaged_uploads(akit: CircuitKit, tmp_path: Path) -> None:
    token = akit.start(MAYORS).tokens["maire-gignac"]
    good = signed(akit, head(akit), "maire-gignac", "maire-gignac", tmp_path)
    refused(akit, token, good + b"\nextra bytes after the end\n", "damaged")
    refused(akit, token, good[:-200], "damaged")


def test_size_and_object_caps(make_kit: Callable[..., CircuitKit], tmp_path: Path) -> None:
    kit = make_kit(str(tmp_path / "store"),
                   limits=CheckLimits(max_appended_bytes=200_000, max_new_objects=2000))
    token = kit.start(MAYORS).tokens["maire-gignac"]
    base = head(kit)
    refused(kit, token, base + b"%" * 300_000 + b"\n%%EOF\n", "too-large", TooLarge)
    many = b"".join(b"%d 0 obj null endobj\n" % i for i in range(100, 3100))
    refused(kit, token, base + many + b"%%EOF\n", "too-complex")
    stream = b"100 0 obj << /Type /ObjStm /N 1000000 /First 10 /Length 1 >> stream\n0\n" \
             b"endstream endobj\n"
    refused(kit, token, base + stream + b"%%EOF\n", "too-complex")  # a million objects


def test_object_count_of_hostile_appended_bytes() -> None:
    """The objects an upload declares are counted in linear time, whatever it repeats
    (8 MB of "/Type /ObjStm " took hours to count, pairing each with every later
    byte), and an object stream's ``/N`` of thousands of digits is too many objects,
    not a crash of ``int``."""
    head, limits = b"%PDF-1.7\n", CheckLimits()
    with no_hang(60):  # declares nothing: passes the pre-scan
        prescan(head + b"/Type /ObjStm " * 590_000 + b"\n%%EOF\n", len(head), limits)
    for stream in (b"<< /Type /ObjStm /N " + b"9" * 5000 + b" /First 4 >>",
                   b"<</N 2001/Type/ObjStm/First 4>>"):
        with pytest.raises(Refused) as error:
            prescan(head + stream + b"\n%%EOF\n", len(head), limits)
        assert error.value.code == "too-complex"
    prescan(head + b"<</Type/ObjStm/First 4>> <</N 2001>>\n%%EOF\n", len(head), limits)


def test_million_object_file_is_refused_unparsed(akit: CircuitKit) -> None:
    token = akit.start(MAYORS).tokens["maire-gignac"]
    junk = b"".join(b"%d 0 obj\n" % i for i in range(1_000_000))
    refused(akit, token, head(akit) + junk + b"%%EOF\n", "too-large", TooLarge)


def test_decompression_bomb_in_a_worker(make_kit: Callable[..., CircuitKit],
                                        tmp_path: Path) -> None:
    kit = make_kit(str(tmp_path / "store"), checker=ProcessChecker(
        memory_bytes=768 * 1024 * 1024, timeout=120))
    token = kit.start(MAYORS).tokens["maire-gignac"]
    base = head(kit)
    compressor = zlib.compressobj(9)
    zeros = b"\0" * (1 << 20)
    bomb = b"".join(compressor.compress(zeros) for _ in range(400)) + compressor.flush()
    start = len(base)
    xref = (b"%d 0 obj << /Type /XRef /Size 1000 /W [1 4 2] /Filter /FlateDecode "
            b"/Length %d /Prev %d /Root 1 0 R >> stream\n" % (999, len(bomb),
                                                              _startxref(base)))
    candidate = base + xref + bomb + b"\nendstream endobj\nstartxref\n%d\n%%%%EOF\n" % start
    error = refused(kit, token, candidate, "damaged")
    assert "limit" in error.detail.lower() or "decod" in error.detail.lower()


def test_head_moved_already_signed_not_your_turn_closed(akit: CircuitKit,
                                                       tmp_path: Path) -> None:
    started = akit.start(MAYORS)
    gignac, aniane = started.tokens["maire-gignac"], started.tokens["maire-aniane"]
    stale = head(akit)
    akit.engine.upload(aniane, signed(akit, stale, "maire-aniane", "maire-aniane", tmp_path))
    late = signed(akit, stale, "maire-gignac", "maire-gignac", tmp_path)
    error = refused(akit, gignac, late, "head-moved", Conflict)
    assert error.details["head"]["signatures"] == 1
    fresh = signed(akit, head(akit), "maire-gignac", "maire-gignac", tmp_path)
    with pytest.raises(Conflict, match="head-moved"):
        akit.engine.upload(gignac, fresh, if_match='"' + "0" * 64 + '"')
    akit.engine.upload(gignac, fresh, if_match=f'"{akit.engine.status("c1").head.sha256}"')
    refused(akit, gignac, fresh, "already-signed", Conflict)
    with pytest.raises(Conflict, match="not-your-turn"):
        akit.start([["maire-gignac"], ["maire-aniane"]], circuit="c2")
        akit.engine.upload(akit.engine.slot_token("c2", "maire-aniane"), fresh)
    akit.engine.cancel("c1")
    with pytest.raises(Conflict, match="circuit-closed"):
        akit.engine.upload(started.tokens["caf-directeur"], fresh)


def test_validation_data_and_document_timestamp_are_accepted(akit: CircuitKit,
                                                             tmp_path: Path) -> None:
    from asn1crypto import x509

    token = akit.start(MAYORS).tokens["maire-gignac"]
    (tmp_path / "s.pdf").write_bytes(signed(akit, head(akit), "maire-gignac",
                                            "maire-gignac", tmp_path))
    add_long_term_validation(tmp_path / "s.pdf", tmp_path / "lta.pdf",
                             tsa_url=akit.services.tsa_url,
                             trust_roots=[x509.Certificate.load(der_root(akit.pki))])
    result = akit.engine.upload(token, (tmp_path / "lta.pdf").read_bytes())
    assert result.acceptance.revisions >= 2 and result.head.signatures == 1


def _pyhanko_sign(data: bytes, field: str, p12: Path, passphrase: str,
                  certify: pfields.MDPPerm | None = None) -> bytes:
    meta = psigners.PdfSignatureMetadata(
        field_name=field, certify=certify is not None, md_algorithm="sha256",
        docmdp_permissions=certify or pfields.MDPPerm.FILL_FORMS,
        subfilter=pfields.SigSeedSubFilter.PADES, reason=TextStringObject("test"))
    with open_signer(Pkcs12Credentials(p12, passphrase)) as signer:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        out = io.BytesIO()
        psigners.PdfSigner(meta, signer).sign_pdf(writer, existing_fields_only=True,
                                                  output=out)
        return out.getvalue()


def _startxref(data: bytes) -> int:
    at = data.rindex(b"startxref")
    return int(data[at + 9:].split()[0])
