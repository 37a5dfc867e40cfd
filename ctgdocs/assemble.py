"""Merge the converted parts into one PDF/A package: outline, page labels, metadata."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pyhanko.pdf_utils.metadata.model import VENDOR
from pypdf import PdfReader, PdfWriter
from pypdf.constants import PageLabelStyle
from pypdf.errors import PdfReadError
from pypdf.generic import DictionaryObject, NameObject, TextStringObject
from pypdf.xmp import XmpInformation

from .exceptions import BuildError


@dataclass(frozen=True)
class PartPdf:
    """One converted document to merge."""

    pdf: Path
    """The part's PDF/A file."""
    title: str
    """Outline entry, e.g. "Annexe 2 – Commune de Gignac"."""
    label_prefix: str
    """Page label prefix: "" for the convention, "A2-" for the second annex."""


@dataclass(frozen=True)
class PackageMetadata:
    """Document metadata, written consistently to the info dictionary and XMP."""

    title: str
    """dc:title and /Title."""
    subject: str
    """dc:description and /Subject."""
    author: str
    """dc:creator and /Author."""
    keywords: str
    """pdf:Keywords and /Keywords."""
    language: str = "fr-FR"
    """dc:language and the catalog /Lang."""
    creator_tool: str = "ctgdocs"
    """xmp:CreatorTool and /Creator."""


@dataclass(frozen=True)
class AssembleResult:
    """What :func:`assemble` produced."""

    pages: int
    """Total page count."""
    part_pages: tuple[int, ...]
    """Page index where each part starts, in order."""
    pdfa_part: str | None
    """PDF/A part found in the first part's XMP (``"2"`` expected)."""


def assemble(parts: Sequence[PartPdf], out: Path, meta: PackageMetadata,
             now: dt.datetime | None = None) -> AssembleResult:
    """Merge ``parts`` (the first one is cloned to keep its PDF/A identification, output
    intent and document ID) and write ``out``."""
    if not parts:
        raise BuildError("nothing to assemble: no parts")
    assembly = Assembly(parts[0])
    for part in parts[1:]:
        assembly.append(part)
    return assembly.finish(out, meta, now)


class Assembly:
    """A package being assembled part by part, so that a caller can merge each part as
    soon as it is converted (the parts must arrive in package order)."""

    def __init__(self, first: PartPdf) -> None:
        """Clone the first part (the slow step)."""
        self.strict = True
        """Parts are read with pypdf's strict parser until one fails with it: LibreOffice
        writes well-formed files, and the lenient parser re-reads the header of every
        object to find broken cross-reference entries (50 of the 90 ms that merging the
        reference package takes). After a failure everything is merged again leniently."""
        try:
            try:
                self._clone(first)
            except PdfReadError:
                self.strict = False
                self._clone(first)
        except Exception as exc:  # pypdf raises many types on broken files
            raise BuildError(f"cannot read {first.pdf.name}: {exc}") from exc

    def _clone(self, first: PartPdf) -> None:
        self.main = PdfReader(first.pdf, strict=self.strict)
        _drop_structure(self.main.root_object)
        self.writer = PdfWriter(clone_from=self.main)
        _drop_outline(self.writer)
        self.pdfa_part = _pdfa_part(self.main)
        self.parts: list[PartPdf] = [first]
        self.starts: list[int] = [0]

    def append(self, part: PartPdf) -> None:
        """Add the pages of the next part."""
        try:
            try:
                self._append(part)
            except PdfReadError:
                if not self.strict:
                    raise
                # half the part may be merged: start again with the lenient parser
                self.strict, done = False, self.parts
                self._clone(done[0])
                for earlier in [*done[1:], part]:
                    self._append(earlier)
        except Exception as exc:
            raise BuildError(f"cannot merge {part.pdf.name}: {exc}") from exc

    def _append(self, part: PartPdf) -> None:
        start = len(self.writer.pages)
        self.writer.append(PdfReader(part.pdf, strict=self.strict), import_outline=False)
        self.starts.append(start)
        self.parts.append(part)

    def finish(self, out: Path, meta: PackageMetadata, now: dt.datetime | None = None
               ) -> AssembleResult:
        """Add the outline, page labels and metadata; write ``out``."""
        writer = self.writer
        for page in writer.pages:
            for key in ("/StructParents", "/Tabs"):
                if key in page:
                    del page[NameObject(key)]
        _outline_and_labels(writer, self.parts, self.starts)
        _metadata(writer, meta, now or dt.datetime.now(dt.UTC), self.pdfa_part)
        buffer = io.BytesIO()
        writer.write(buffer)
        out.write_bytes(buffer.getvalue())
        return AssembleResult(pages=len(writer.pages), part_pages=tuple(self.starts),
                              pdfa_part=self.pdfa_part)


def _drop_structure(root: DictionaryObject) -> None:
    """Remove the structure tree (tags) of the first part before it is cloned.

    LibreOffice tags every part, but pypdf cannot merge structure trees: the package
    would carry a tree describing the first part only (3,700 of its 4,500 objects),
    which misdescribes the document and slows every merge, signature and verification.
    PDF/A-2b does not require tags; the parts in ``parts/`` keep theirs."""
    for key in ("/StructTreeRoot", "/MarkInfo"):
        if key in root:
            del root[NameObject(key)]


def _pdfa_part(reader: PdfReader) -> str | None:
    xmp = reader.xmp_metadata
    return xmp.pdfaid_part if xmp is not None else None


def _drop_outline(writer: PdfWriter) -> None:
    root = writer.root_object
    if "/Outlines" in root:
        del root[NameObject("/Outlines")]
    writer.page_mode = "/UseOutlines"


def _outline_and_labels(writer: PdfWriter, parts: Sequence[PartPdf], starts: list[int]) -> None:
    ends = starts[1:] + [len(writer.pages)]
    for part, start, end in zip(parts, starts, ends, strict=True):
        writer.add_outline_item(title=part.title, page_number=start)
        writer.set_page_label(start, end - 1, style=PageLabelStyle.DECIMAL,
                              prefix=part.label_prefix or None, start=1)
    # pypdf writes the page labels inside the catalog, which every signature rewrites
    # (and every verification step reads): as an object of their own, they are written
    # once, and the catalog stays the same size whatever the number of communes. pypdf
    # has no public call for "make this an object of its own" (its private
    # PdfWriter._add_object is the one private name left here)
    labels = writer.root_object.get("/PageLabels")
    if isinstance(labels, DictionaryObject):
        writer.root_object[NameObject("/PageLabels")] = writer._add_object(labels)


PRODUCER = VENDOR
"""/Producer and pdf:Producer of the package: pyHanko's own name. pyHanko writes the
signature fields and every signature, and each time it sets XMP's pdf:Producer to this
name and appends it to the info dictionary's /Producer unless already there: starting
from it keeps the two equal in every revision, as PDF/A requires. ctgdocs is named in
/Creator and xmp:CreatorTool."""


def _pdf_date(moment: dt.datetime) -> str:
    return "D:" + moment.strftime("%Y%m%d%H%M%S") + "Z"


def _metadata(writer: PdfWriter, meta: PackageMetadata, now: dt.datetime,
              pdfa_part: str | None) -> None:
    """The same metadata in the info dictionary and in XMP (PDF/A requires them to
    agree), the catalog's /Lang; the file keeps the first part's /ID (cloned)."""
    now = now.astimezone(dt.UTC).replace(microsecond=0)
    writer.add_metadata({
        "/Title": meta.title, "/Subject": meta.subject, "/Author": meta.author,
        "/Keywords": meta.keywords, "/Creator": meta.creator_tool, "/Producer": PRODUCER,
        "/CreationDate": _pdf_date(now), "/ModDate": _pdf_date(now),
    })
    root = writer.root_object
    root[NameObject("/Lang")] = TextStringObject(meta.language)
    old = root.get("/Metadata")
    if old is not None and {"/Filter", "/DecodeParms"} & set(old.get_object()):
        del root[NameObject("/Metadata")]  # PDF/A: an unfiltered metadata stream
    writer.xmp_metadata = _xmp(meta, now, pdfa_part)
    stream = root["/Metadata"]
    assert isinstance(stream, DictionaryObject)
    stream[NameObject("/Type")] = NameObject("/Metadata")
    stream[NameObject("/Subtype")] = NameObject("/XML")


def _xmp(meta: PackageMetadata, now: dt.datetime, pdfa_part: str | None) -> XmpInformation:
    """The XMP packet of the package (pypdf's XMP API)."""
    xmp = XmpInformation.create()
    if pdfa_part:
        xmp.pdfaid_part = pdfa_part
        xmp.pdfaid_conformance = "B"
    xmp.dc_format = "application/pdf"
    xmp.dc_title = {"x-default": meta.title}
    xmp.dc_description = {"x-default": meta.subject}
    xmp.dc_creator = [meta.author]
    xmp.dc_language = [meta.language]
    xmp.pdf_producer = PRODUCER
    xmp.pdf_keywords = meta.keywords
    xmp.xmp_creator_tool = meta.creator_tool
    xmp.xmp_create_date = now
    xmp.xmp_modify_date = now
    xmp.xmp_metadata_date = now
    return xmp
