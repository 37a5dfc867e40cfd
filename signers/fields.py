"""Create empty signature fields, all in one incremental revision, each locked by FieldMDP."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import (
    FieldMDPAction,
    FieldMDPSpec,
    SigFieldSpec,
    append_signature_field,
    enumerate_sig_fields,
)

from .atomic import atomic_write_bytes
from .exceptions import FieldError
from .model import FieldSpec


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
    existing = {name for name, _, _ in enumerate_sig_fields(writer.prev)}
    names = [spec.name for spec in specs]
    for spec in specs:
        if spec.name in existing:
            raise FieldError(f"{src}: a signature field named {spec.name!r} already exists")
        if not 0 <= spec.page < pages:
            raise FieldError(f"field {spec.name!r}: page {spec.page + 1} does not exist "
                             f"(the document has {pages} pages)")
        others = [n for n in names if n != spec.name] + sorted(existing)
        append_signature_field(writer, SigFieldSpec(
            sig_field_name=spec.name, on_page=spec.page,
            box=spec.box,  # type: ignore[arg-type]
            field_mdp_spec=FieldMDPSpec(FieldMDPAction.EXCLUDE, fields=others),
            empty_field_appearance=True,
            readable_field_name=spec.label or None,
        ))
    out = io.BytesIO()
    writer.write(out)
    atomic_write_bytes(dst, out.getvalue())


def signature_field_names(pdf: str | os.PathLike[str]) -> list[tuple[str, bool]]:
    """(name, is_filled) for every signature field of ``pdf``, in document order."""
    with open(pdf, "rb") as f:
        reader = PdfFileReader(f, strict=False)
        return [(name, value is not None) for name, value, _ in enumerate_sig_fields(reader)]


def _check_specs(specs: Sequence[FieldSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise FieldError(f"two signature fields are both named {spec.name!r}")
        seen.add(spec.name)
        x1, y1, x2, y2 = spec.box
        if (x2 - x1, y2 - y1) != (0, 0) and (x2 <= x1 or y2 <= y1):
            raise FieldError(f"field {spec.name!r}: box {spec.box} is empty or inverted")
