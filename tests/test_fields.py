"""signers.fields writes the objects pyHanko's ``append_signature_field`` writes."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import (
    FieldMDPAction,
    FieldMDPSpec,
    SigFieldSpec,
    append_signature_field,
)
from pypdf import PdfWriter

from signers.exceptions import FieldError
from signers.fields import add_signature_fields, signature_field_names
from signers.model import FieldSpec

_ID = re.compile(rb"/ID \[ <[0-9a-f]+> <[0-9a-f]+> \]")


def _blank(path: Path, pages: int) -> Path:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    writer.write(path)
    return path


def _pyhanko(src: Path, specs: list[FieldSpec], existing: list[str]) -> bytes:
    """What pyHanko's own field API writes for ``specs``."""
    writer = IncrementalPdfFileWriter(io.BytesIO(src.read_bytes()), strict=False)
    names = [spec.name for spec in specs]
    for spec in specs:
        others = [n for n in names if n != spec.name] + sorted(existing)
        append_signature_field(writer, SigFieldSpec(
            sig_field_name=spec.name, on_page=spec.page,
            box=spec.box,  # type: ignore[arg-type]
            field_mdp_spec=FieldMDPSpec(FieldMDPAction.EXCLUDE, fields=others),
            empty_field_appearance=True, readable_field_name=spec.label or None))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _same_but_id(a: bytes, b: bytes) -> bool:
    """Equal once the document ID (partly random in pyHanko) is masked."""
    return _ID.sub(b"/ID", a) == _ID.sub(b"/ID", b)


@pytest.mark.parametrize("with_form", [False, True], ids=["new-form", "existing-form"])
def test_fields_are_written_as_pyhanko_writes_them(tmp_path, with_form) -> None:
    src = _blank(tmp_path / "blank.pdf", 3)
    existing: list[str] = []
    if with_form:  # a document that has a form with signature fields already
        add_signature_fields(src, tmp_path / "form.pdf",
                             [FieldSpec("premier", 2, (10, 10, 200, 80), "Premier")])
        src, existing = tmp_path / "form.pdf", ["premier"]
    specs = [FieldSpec("maire-aniane", 0, (56.7, 100.25, 280, 180.5), "Le Maire d'Aniane"),
             FieldSpec("caf-directeur", 1, (300, 60, 539.3, 140), "Le Directeur de la Caf"),
             FieldSpec("cachet-caf", 0, (0, 0, 0, 0), "Cachet de la Caf de l'Hérault")]
    add_signature_fields(src, tmp_path / "ours.pdf", specs)
    ours = (tmp_path / "ours.pdf").read_bytes()
    theirs = _pyhanko(src, specs, existing)
    assert ours.startswith(src.read_bytes())
    assert _same_but_id(ours, theirs)
    assert not _same_but_id(ours, _pyhanko(src, specs[:2], existing))  # can fail
    assert signature_field_names(tmp_path / "ours.pdf") == [
        (name, False) for name in existing + [s.name for s in specs]]


def test_existing_field_name_and_missing_page_are_refused(tmp_path) -> None:
    src = _blank(tmp_path / "blank.pdf", 1)
    add_signature_fields(src, tmp_path / "one.pdf", [FieldSpec("a", 0, (10, 10, 90, 60))])
    with pytest.raises(FieldError, match="'a' already exists"):
        add_signature_fields(tmp_path / "one.pdf", tmp_path / "two.pdf",
                             [FieldSpec("a", 0, (10, 10, 90, 60))])
    with pytest.raises(FieldError, match="page 2 does not exist"):
        add_signature_fields(src, tmp_path / "two.pdf", [FieldSpec("b", 1, (10, 10, 90, 60))])
    assert not (tmp_path / "two.pdf").exists()
