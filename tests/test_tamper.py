"""Tampering after the fifth signature is detected, named, and leaves the five honest
signatures intact; verdicts match pyHanko's plain per-signature validation.

``make test`` runs this module twice: with the speed-ups and with
``SIGNERS_SPEEDUPS=off``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from asn1crypto import cms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject
from pypdf import PdfReader, PdfWriter
from test_verify import (
    FIELDS,
    HONEST,
    World,
    _facts,
    assert_parity,
    linear_time_equals_pyhanko,
    speedups_only,
    world_fixture,  # noqa: F401  (the ``world`` fixture)
)

from signers.report import DocumentReport, render_table

pytestmark = pytest.mark.usefixtures("speedups_switch")


def _incremental(src: Path, dst: Path, change: str) -> Path:
    with src.open("rb") as f:
        w = IncrementalPdfFileWriter(io.BytesIO(f.read()), strict=False)
    page = w.root["/Pages"]["/Kids"][0].get_object()
    if change == "text":
        ref = page.raw_get("/Contents")
        stream = ref.get_object()
        stream._data = b"BT /F1 14 Tf 72 760 Td (Montant : 1 000 000 EUR) Tj ET"
        stream._encoded_data = None
        w.mark_update(ref)
    elif change == "annotation":
        annot = w.add_object(generic.DictionaryObject({
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Text"),
            generic.NameObject("/Rect"): generic.ArrayObject(
                [generic.NumberObject(v) for v in (300, 700, 320, 720)]),
            generic.NameObject("/Contents"): generic.TextStringObject("Annulé"),
        }))
        annots = page.get("/Annots", generic.ArrayObject())
        annots.append(annot)
        page[generic.NameObject("/Annots")] = annots
        w.update_container(page)
    elif change == "page":
        stream = w.add_object(generic.StreamObject(stream_data=b"BT ET"))
        w.insert_page(PageObject(contents=stream, media_box=[0, 0, 595, 842]))
    out = io.BytesIO()
    w.write(out)
    dst.write_bytes(out.getvalue())
    return dst


def _signed_revisions(report: DocumentReport) -> list[int]:
    return [s.revision for s in report.signatures]


def _check_named_after_fifth(report: DocumentReport) -> None:
    """The five honest signatures are intact; the revision after them is named."""
    table = render_table(report)
    assert len(report.signatures) == HONEST, table
    assert not report.valid and report.tampered, table
    last_signed = max(_signed_revisions(report))
    for s in report.signatures:
        assert s.intact and s.signature_valid and s.trusted, table
        assert not s.valid and s.tampered_revision == last_signed + 1, table
    assert any(f"revision {last_signed + 1}" in t and repr(FIELDS[HONEST - 1]) in t
               for t in report.tampering), report.tampering


@pytest.mark.parametrize("change", ["text", "annotation", "page"])
def test_incremental_update_after_fifth_signature(world: World, tmp_path: Path,
                                                  change: str) -> None:
    pdf = _incremental(world.honest, tmp_path / f"{change}.pdf", change)
    report = world.verify(pdf)
    _check_named_after_fifth(report)
    bad = [r for r in report.revisions if not r.legitimate]
    assert [r.revision for r in bad] == [max(_signed_revisions(report)) + 1]
    assert bad[0].made_by is None and bad[0].after == FIELDS[HONEST - 1]
    assert bad[0].modification_level == "OTHER"
    assert_parity(report, pdf, world)
    linear_time_equals_pyhanko(pdf)


def _with_orphans(src: Path, dst: Path) -> Path:
    """An update adding objects nothing refers to (one alone, a chain of two), next to
    a new object an existing page does refer to."""
    with src.open("rb") as f:
        w = IncrementalPdfFileWriter(io.BytesIO(f.read()), strict=False)
    w.add_object(generic.DictionaryObject({generic.NameObject("/Lone"): generic.NullObject()}))
    tail = w.add_object(generic.StreamObject(stream_data=b"orphan"))
    w.add_object(generic.DictionaryObject({generic.NameObject("/Next"): tail}))
    page = w.root["/Pages"]["/Kids"][0].get_object()
    annot = w.add_object(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Annot"),
        generic.NameObject("/Subtype"): generic.NameObject("/Text"),
        generic.NameObject("/Rect"): generic.ArrayObject(
            [generic.NumberObject(v) for v in (300, 700, 320, 720)])}))
    page[generic.NameObject("/Annots")] = generic.ArrayObject([annot])
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    dst.write_bytes(out.getvalue())
    return dst


def test_orphaned_objects_after_fifth_signature(world: World, tmp_path: Path) -> None:
    pdf = _with_orphans(world.honest, tmp_path / "orphans.pdf")
    linear_time_equals_pyhanko(pdf)
    report = world.verify(pdf)
    _check_named_after_fifth(report)  # the annotation is not a legitimate change
    assert_parity(report, pdf, world)


def _field_change(src: Path, dst: Path, change: str) -> Path:
    """An update rewriting an unsigned field: renamed to the name of a signed one or to a
    byte string, its type written as a string, or its label (``/TU``) changed; the
    top-level field list is read again for it."""
    with src.open("rb") as f:
        w = IncrementalPdfFileWriter(io.BytesIO(f.read()), strict=False)
    fields = w.root["/AcroForm"]["/Fields"]
    unsigned = next(ref for ref in fields if "/V" not in ref.get_object())
    field = unsigned.get_object()
    if change == "rename":
        field[generic.NameObject("/T")] = generic.TextStringObject(FIELDS[0])
    elif change == "byte-string name":
        field[generic.NameObject("/T")] = generic.ByteStringObject(b"\xff" + b"x" * 8)
    elif change == "type as a string":
        field[generic.NameObject("/FT")] = generic.TextStringObject("/Sig")
    else:
        field[generic.NameObject("/TU")] = generic.TextStringObject("Le Maire de nulle part")
    w.mark_update(unsigned)
    out = io.BytesIO()
    w.write(out)
    dst.write_bytes(out.getvalue())
    return dst


@pytest.mark.parametrize("change", ["rename", "label", "byte-string name", "type as a string"])
def test_field_rewritten_after_fifth_signature(world: World, tmp_path: Path,
                                               change: str) -> None:
    """The verdict of every revision is pyHanko's, the field list being read
    incrementally (only the fields a revision writes)."""
    pdf = _field_change(world.honest, tmp_path / f"{change}.pdf", change)
    linear_time_equals_pyhanko(pdf)
    report = world.verify(pdf)
    if change != "type as a string":  # pyHanko sees "/Sig" either way: no change
        _check_named_after_fifth(report)
    assert_parity(report, pdf, world)


def test_bytes_appended_after_last_eof(world: World, tmp_path: Path) -> None:
    pdf = tmp_path / "appended.pdf"
    pdf.write_bytes(world.honest.read_bytes() + b"\n%% not part of any revision\n1 0 obj\n")
    report = world.verify(pdf)
    assert report.tampered and not report.valid
    assert any("appended" in p and f"revision {max(_signed_revisions(report))}" in p
               for p in report.problems), report.problems
    assert all(s.intact and s.valid for s in report.signatures), render_table(report)
    assert_parity(report, pdf, world)


def test_trailing_whitespace_is_allowed(world: World, tmp_path: Path) -> None:
    pdf = tmp_path / "eol.pdf"
    pdf.write_bytes(world.honest.read_bytes() + b"\r\n\n")
    report = world.verify(pdf)
    assert report.valid and not report.problems, render_table(report)


def test_full_rewrite_by_pypdf(world: World, tmp_path: Path) -> None:
    pdf = tmp_path / "rewritten.pdf"
    writer = PdfWriter(clone_from=PdfReader(world.honest))
    with pdf.open("wb") as f:
        writer.write(f)
    report = world.verify(pdf)
    assert report.tampered and not report.valid, render_table(report)
    assert len(report.signatures) == HONEST
    assert not any(s.valid for s in report.signatures)
    assert report.tampering
    assert_parity(report, pdf, world)


def _flip_signature_value(src: Path, dst: Path) -> None:
    """Flip one byte inside the signatureValue of the last signature's CMS."""
    data = bytearray(src.read_bytes())
    with src.open("rb") as f:
        emb = PdfFileReader(f, strict=False).embedded_signatures[-1]
        contents = emb.pkcs7_content
        start = emb.byte_range[1] + 1  # after '<'
    signed = cms.ContentInfo.load(contents)["content"]
    value = signed["signer_infos"][0]["signature"].native
    offset = contents.index(value) + len(value) // 2
    pos = start + 2 * offset
    data[pos] = ord("0") if data[pos] != ord("0") else ord("1")
    dst.write_bytes(bytes(data))


def test_corrupted_signature_value(world: World, tmp_path: Path) -> None:
    pdf = tmp_path / "corrupt-value.pdf"
    _flip_signature_value(world.honest, pdf)
    report = world.verify(pdf)
    last = report.signatures[-1]
    assert not last.valid and not last.signature_valid, render_table(report)
    assert all(s.valid for s in report.signatures[:-1])
    assert_parity(report, pdf, world)


def test_corrupted_signature_structure_never_crashes(world: World, tmp_path: Path) -> None:
    data = bytearray(world.honest.read_bytes())
    with world.honest.open("rb") as f:
        emb = PdfFileReader(f, strict=False).embedded_signatures[-1]
        start = emb.byte_range[1] + 1
    data[start:start + 40] = b"f" * 40  # the CMS header is now garbage
    pdf = tmp_path / "corrupt-cms.pdf"
    pdf.write_bytes(bytes(data))
    report = world.verify(pdf)
    last = report.signatures[-1]
    assert not last.valid and last.problems, render_table(report)
    assert all(s.valid for s in report.signatures[:-1]), render_table(report)


@speedups_only
@pytest.mark.parametrize("change", ["none", "rename", "label", "text"])
def test_untouched_signature_fields_are_left_out_of_each_step(world: World, tmp_path: Path,
                                                              change: str,
                                                              monkeypatch) -> None:
    """Each revision step hands pyHanko's field rules only the fields it may have
    changed; every step's facts (verdict, level, changed fields, form updates seen) are
    those of the same analysis given every field."""
    from signers.speedups import formlist
    from signers.speedups.diffcache import CachingDiffPolicy
    from signers.speedups.refgraph import accelerate

    pdf = world.honest if change == "none" else (
        _incremental(world.honest, tmp_path / "text.pdf", "text") if change == "text"
        else _field_change(world.honest, tmp_path / f"{change}.pdf", change))
    data = pdf.read_bytes()

    def steps() -> list[tuple[object, ...]]:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        accelerate(reader)
        policy = CachingDiffPolicy()
        return [_facts(policy.step(reader, r)) for r in range(1, reader.xrefs.total_revisions)]

    touched = formlist._touched
    handed: list[int] = []
    monkeypatch.setattr(formlist, "_touched", lambda old, new, view: handed.append(
        len(names := touched(old, new, view))) or names)
    skipping = steps()
    monkeypatch.setattr(formlist, "_touched",
                        lambda old, new, view: handed.append(-1) or [*old.entries, *new.entries])
    assert skipping == steps()
    fewer = [n for n in handed if n >= 0]
    # one per signing step at least (steps before the fields exist list none)
    assert len(fewer) >= HONEST - 1 and max(fewer) <= 1 < len(FIELDS)
    assert handed.count(-1) == len(fewer)
