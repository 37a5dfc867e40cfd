"""Create empty signature fields, all in one incremental revision, each locked by FieldMDP.

The fields are written with pyHanko's PDF layer (``pyhanko.pdf_utils``), object for object
as ``pyhanko.sign.fields.append_signature_field`` writes them (a test compares the bytes).
Importing ``pyhanko.sign`` loads pyHanko's whole signing and validation stack (CMS,
certificate validation, HTTP clients), about 0.2 s more than the PDF layer; a build that
only adds fields does without it."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.content import RawContent
from pyhanko.pdf_utils.form_tools import enumerate_fields_in
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.misc import rd
from pyhanko.pdf_utils.rw_common import PdfHandler

from .atomic import atomic_write_bytes
from .document import one_line, read_pdf
from .exceptions import FieldError
from .model import FieldSpec

#: Widget annotation flags: Print (bit 3) and Locked (bit 8), as pyHanko sets them for a
#: visible or invisible field that prints (PDF/A requires the Print flag).
WIDGET_FLAGS = 0b10000100


def add_signature_fields(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                         specs: Sequence[FieldSpec]) -> None:
    """Add one empty signature field per spec to ``src`` and write ``dst`` atomically.

    All fields go into ONE incremental revision. Each field carries a FieldMDP lock that
    excludes the other signature fields, so signing one field freezes the rest of the
    form but lets the other signatories sign."""
    _check_specs(specs)
    data = Path(src).read_bytes()
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    pages = int(writer.root["/Pages"]["/Count"])
    existing = {name for name, _, _ in _sig_fields(writer.prev)}
    names = [spec.name for spec in specs]
    for spec in specs:
        if spec.name in existing:
            raise FieldError(f"{src}: a signature field named {spec.name!r} already exists")
        if not 0 <= spec.page < pages:
            raise FieldError(f"field {spec.name!r}: page {spec.page + 1} does not exist "
                             f"(the document has {pages} pages)")
        others = [n for n in names if n != spec.name] + sorted(existing)
        _append_field(writer, spec, others)
    out = io.BytesIO()
    writer.write(out)
    atomic_write_bytes(dst, out.getvalue())


def _append_field(writer: IncrementalPdfFileWriter, spec: FieldSpec, locked: list[str]
                  ) -> None:
    """One field with its widget merged in, as ``append_signature_field`` with
    ``SigFieldSpec(name, on_page, box, field_mdp_spec=FieldMDPSpec(EXCLUDE, locked),
    empty_field_appearance=True, readable_field_name=label)``."""
    page_ref = writer.find_page_for_modification(spec.page)[0]
    root = writer.root
    if "/AcroForm" in root:
        form = root["/AcroForm"]
        if "/Fields" not in form:
            form["/Fields"] = generic.ArrayObject()
        fields = form["/Fields"]
    else:
        form = generic.DictionaryObject()
        root[pdf_name("/AcroForm")] = writer.add_object(form)
        fields = form[pdf_name("/Fields")] = generic.ArrayObject()
        writer.update_root()
    field = generic.DictionaryObject({pdf_name("/FT"): pdf_name("/Sig"),
                                      pdf_name("/T"): pdf_string(spec.name)})
    field["/Type"] = pdf_name("/Annot")
    field["/Subtype"] = pdf_name("/Widget")
    field["/F"] = generic.NumberObject(WIDGET_FLAGS)
    field["/Rect"] = generic.ArrayObject([generic.FloatObject(rd(x)) for x in spec.box])
    field["/P"] = page_ref
    field_ref = writer.add_object(field)
    fields.append(field_ref)
    writer.update_container(fields)
    writer.register_annotation(page_ref, field_ref)
    form.setdefault(pdf_name("/SigFlags"), generic.NumberObject(1))
    if spec.label:
        field[pdf_name("/TU")] = generic.TextStringObject(spec.label)
    lock = generic.DictionaryObject({pdf_name("/Action"): pdf_name("/Exclude")})
    lock["/Fields"] = generic.ArrayObject(map(pdf_string, locked))
    lock["/Type"] = pdf_name("/SigFieldLock")
    field[pdf_name("/Lock")] = writer.add_object(lock)
    llx, lly, urx, ury = spec.box
    w, h = abs(urx - llx), abs(ury - lly)
    if w and h:
        field[pdf_name("/AP")] = appearances = generic.DictionaryObject()
        drawing = b" ".join([b"q", b"q 0.95 0.95 0.95 rg 0 0 %g %g re f Q" % (w, h),
                             b"0.5 w 0 0 %g %g re S" % (w, h), b"Q"])
        stream = RawContent(drawing, box=BoxConstraints(width=w, height=h)).as_form_xobject()
        appearances[pdf_name("/N")] = writer.add_object(stream)


def _sig_fields(handler: PdfHandler) -> list[tuple[str, object, generic.Reference]]:
    """(name, value, reference) of every signature field, as pyHanko's
    ``enumerate_sig_fields`` lists them."""
    try:
        fields = handler.root["/AcroForm"]["/Fields"]
    except KeyError:
        return []
    return list(enumerate_fields_in(fields, refs_seen=set(), target_field_type="/Sig"))


def signature_field_names(pdf: str | os.PathLike[str]) -> list[tuple[str, bool]]:
    """(name, is_filled) for every signature field of ``pdf``, in document order.

    :raises FileAccessError: the file cannot be read.
    :raises FieldError: it is not a readable PDF, or its form cannot be read."""
    reader = read_pdf(pdf, FieldError)
    try:
        return [(name, value is not None) for name, value, _ in _sig_fields(reader)]
    except Exception as exc:  # noqa: BLE001 - a damaged form is a damaged file
        raise FieldError(f"{pdf}: the signature fields cannot be read ({one_line(exc)}); "
                         "the file is damaged") from exc


def _check_specs(specs: Sequence[FieldSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise FieldError(f"two signature fields are both named {spec.name!r}")
        seen.add(spec.name)
        x1, y1, x2, y2 = spec.box
        if (x2 - x1, y2 - y1) != (0, 0) and (x2 <= x1 or y2 <= y1):
            raise FieldError(f"field {spec.name!r}: box {spec.box} is empty or inverted")
