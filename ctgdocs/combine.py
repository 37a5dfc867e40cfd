"""Convert the annexes as one document: merge their .docx files, split the PDF again.

Every annex is the same template filled with another commune's data. LibreOffice spends
about 25 ms of each conversion on the document itself (loading the template's styles,
setting up the layout and the PDF export) whatever its length, so the 13 annexes of the
reference convention cost 40 % less LibreOffice time converted as one document than one
by one (0.6 s instead of 1 s of processor time).

:func:`combine_annexes` puts the annexes one after the other, each in a section of its
own that starts on a new page with its page numbers restarting at 1 and with its own
copy of its headers and footers. A footer's "page count" field (``NUMPAGES`` or
``SECTIONPAGES``) becomes a reference to the page of a bookmark placed at the end of the
annex, so that each annex still reads "Page 2 / 3". The PDF is exported with the
bookmarks as named destinations; :func:`split_combined` finds each annex's last page by
them and writes one PDF per annex, page for page what a conversion of the annex alone
gives (a test compares the text of every page).

Only what can be merged this way is: the annexes must differ in their text and their
headers and footers only (same styles, numbering, settings, images and relationships),
with one section each ending on a paragraph, and without what would not restart with
each annex (numbered lists, footnotes, comments, bookmarks, drawings, page-count fields
in the text, fields such as tables of contents or cross-references). Anything else
raises :class:`NotCombinable` and the annexes are converted one by one, as before.

:class:`Combining` is the strategy of a build: which annexes go together, in what order
they are rendered and handed to LibreOffice, and splitting each combined PDF as soon as
it is converted; :class:`CombinedFailed` sends the build back to converting the annexes
one by one.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from lxml import etree

from .convert.base import ConversionJob

if TYPE_CHECKING:
    from pypdf import PdfReader

__all__ = ["END_BOOKMARK", "RUN", "STARTER", "CombinedFailed", "Combining", "NotCombinable",
           "combine_annexes", "split_combined"]

log = logging.getLogger(__name__)

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "http://schemas.openxmlformats.org/package/2006/content-types"
DOCUMENT = "word/document.xml"
DOCUMENT_RELS = "word/_rels/document.xml.rels"
CONTENT_TYPES = "[Content_Types].xml"
END_BOOKMARK = "ctgdocsfin{}"
"""Name of the bookmark closing the n-th annex (letters and digits only: LibreOffice
escapes any other character in the names of the PDF destinations)."""

_VARYING = re.compile(r"word/(header|footer)\d*\.xml|docProps/(core|app)\.xml|word/document\.xml")
"""The parts in which annexes may differ."""
_FORBIDDEN = {f"{{{W}}}{tag}": what for tag, what in (
    ("bookmarkStart", "a bookmark"), ("footnoteReference", "a footnote"),
    ("endnoteReference", "an endnote"), ("commentReference", "a comment"),
    ("drawing", "a drawing or picture"), ("pict", "a drawing or picture"),
    ("object", "an embedded object"), ("sectPr", "a section break"),
    ("altChunk", "an imported document"), ("subDoc", "a subdocument"))}
_PAGE_COUNT = re.compile(r"\b(NUMPAGES|SECTIONPAGES)\b")
_SAME_FIELDS = {"PAGE", "NUMPAGES", "SECTIONPAGES", "DATE", "TIME", "CREATEDATE", "SAVEDATE",
                "PRINTDATE", "AUTHOR", "TITLE", "SUBJECT", "HYPERLINK"}
"""Fields that read the same in an annex alone and in the combined document (the page
counts once changed). Others — tables of contents, indexes, sequences, references, style
references — would reach into the other annexes."""
_BULLETS = {"bullet", "none"}


@dataclass(frozen=True)
class _OwnPart:
    """An annex's copy of one of its headers or footers."""

    rel_id: str
    original: str
    """The template's part it copies (relationship target, e.g. ``footer1.xml``)."""
    xml: bytes


class NotCombinable(Exception):
    """The annexes cannot be converted as one document (the reason is the message)."""


def _w(tag: str) -> str:
    return f"{{{W}}}{tag}"


def combine_annexes(annexes: Sequence[Path], out: Path) -> None:
    """Write ``out``: the .docx files ``annexes`` as one document (see the module)."""
    if len(annexes) < 2:
        raise NotCombinable("fewer than two annexes")
    zips = [zipfile.ZipFile(path) for path in annexes]
    try:
        first = zips[0]
        _check_same_package(first, zips[1:])
        targets = _relationship_targets(first)
        bodies, parts = [], {}
        for index, z in enumerate(zips, start=1):
            body, own_parts = _annex_body(z, index, targets)
            bodies.append(body)
            parts.update(own_parts)
        _check_numbering(first, [e for body in bodies for e in body])
        _write(first, out, bodies, parts)
    except (KeyError, ValueError, etree.XMLSyntaxError, zipfile.BadZipFile) as exc:
        raise NotCombinable(f"unexpected document structure: {exc}") from exc
    finally:
        for z in zips:
            z.close()


def _check_same_package(first: zipfile.ZipFile, others: Sequence[zipfile.ZipFile]) -> None:
    names = sorted(first.namelist())
    fixed = [n for n in names if not _VARYING.fullmatch(n)]
    if any(n.startswith("word/_rels/") and n != DOCUMENT_RELS for n in names):
        raise NotCombinable("a header or footer has relationships of its own")
    reference = {name: first.read(name) for name in fixed}
    for other in others:
        if sorted(other.namelist()) != names:
            raise NotCombinable("the annexes do not hold the same parts")
        for name in fixed:
            if other.read(name) != reference[name]:
                raise NotCombinable(f"the annexes differ in {name}")


def _check_numbering(first: zipfile.ZipFile, bodies: Sequence[etree._Element]) -> None:
    """Numbered lists would go on counting from one annex to the next: the lists the
    annexes use (directly or through their paragraph styles) must be bullet lists."""
    used = {n.get(_w("val")) for body in bodies for n in body.iter(_w("numId"))}
    styles_used = {s.get(_w("val")) for body in bodies for s in body.iter(_w("pStyle"))}
    if "word/styles.xml" in first.namelist():
        used |= _style_numbering(etree.fromstring(first.read("word/styles.xml")), styles_used)
    used.discard("0")  # "no numbering"
    if not used:
        return
    if "word/numbering.xml" not in first.namelist():
        raise NotCombinable("the annexes use lists without numbering definitions")
    numbering = etree.fromstring(first.read("word/numbering.xml"))
    abstract = {a.get(_w("abstractNumId")): a for a in numbering.iter(_w("abstractNum"))}
    for num in numbering.iter(_w("num")):
        if num.get(_w("numId")) not in used:
            continue
        ref = num.find(_w("abstractNumId"))
        definition = abstract.get(ref.get(_w("val")) if ref is not None else None)
        if definition is None or definition.find(_w("numStyleLink")) is not None:
            raise NotCombinable("the annexes use a list defined elsewhere")
        formats = {f.get(_w("val")) for tree in (definition, num)
                   for f in tree.iter(_w("numFmt"))}
        if not formats <= _BULLETS:
            raise NotCombinable("the annexes use numbered lists")


def _style_numbering(styles: etree._Element, used: set[str | None]) -> set[str | None]:
    """The numbering ids the paragraph styles ``used`` (and the styles they are based
    on) carry."""
    by_id = {s.get(_w("styleId")): s for s in styles.iter(_w("style"))}
    found, seen = set(), set()
    todo = list(used)
    while todo:
        style = by_id.get(todo.pop())
        if style is None or id(style) in seen:
            continue
        seen.add(id(style))
        found |= {n.get(_w("val")) for n in style.iter(_w("numId"))}
        based = style.find(_w("basedOn"))
        if based is not None:
            todo.append(based.get(_w("val")))
    return found


def _relationship_targets(first: zipfile.ZipFile) -> dict[str, str]:
    rels = etree.fromstring(first.read(DOCUMENT_RELS))
    return {rel.get("Id"): rel.get("Target") for rel in rels.iter(f"{{{PKG_REL}}}Relationship")}


def _annex_body(z: zipfile.ZipFile, index: int, targets: dict[str, str]
                ) -> tuple[list[etree._Element], dict[str, _OwnPart]]:
    """The body elements of annex ``index``, ending with its section, and the copies of
    its headers and footers by new part name."""
    document = etree.fromstring(z.read(DOCUMENT))
    body = document.find(_w("body"))
    if body is None or len(body) < 2:
        raise NotCombinable("an annex has no body")
    children = list(body)
    sect, last = children[-1], children[-2]
    if sect.tag != _w("sectPr") or last.tag != _w("p"):
        raise NotCombinable("an annex does not end with a paragraph and its section")
    for element in children[:-1]:
        for node in element.iter():
            if node.tag in _FORBIDDEN:
                raise NotCombinable(f"an annex holds {_FORBIDDEN[node.tag]}")
    instructions = _instructions(body)
    if any(_PAGE_COUNT.search(text) for text in [*instructions, "".join(instructions)]):
        raise NotCombinable("an annex's text holds a page-count field")
    _check_fields(body)
    own_parts = _own_headers_and_footers(z, sect, index, targets)
    _restart_section(sect)
    bookmark = str(9000 + index)
    etree.SubElement(last, _w("bookmarkStart"), {_w("id"): bookmark,
                                                 _w("name"): END_BOOKMARK.format(index)})
    etree.SubElement(last, _w("bookmarkEnd"), {_w("id"): bookmark})
    return children, own_parts


def _own_headers_and_footers(z: zipfile.ZipFile, sect: etree._Element, index: int,
                             targets: dict[str, str]) -> dict[str, _OwnPart]:
    parts: dict[str, _OwnPart] = {}
    for ref in sect:
        if ref.tag not in (_w("headerReference"), _w("footerReference")):
            continue
        target = targets[ref.get(f"{{{R}}}id")]
        part = etree.fromstring(z.read(f"word/{target}"))
        _count_own_pages(part, END_BOOKMARK.format(index))
        rel_id = f"rIdCtgdocs{index}x{len(parts) + 1}"
        ref.set(f"{{{R}}}id", rel_id)
        parts[f"ctgdocs-{index}-{Path(target).name}"] = _OwnPart(
            rel_id, target, etree.tostring(part, xml_declaration=True, encoding="UTF-8",
                                           standalone=True))
    return parts


def _count_own_pages(part: etree._Element, bookmark: str) -> None:
    """Make the page-count fields of a header or footer count the annex's pages: the
    page of the bookmark closing it, numbered from the annex's first page."""
    if _split_page_count(part):
        raise NotCombinable("a header or footer has a page-count field split across runs")
    _check_fields(part)
    reference = f"PAGEREF {bookmark}"
    for node in part.iter(_w("instrText")):
        node.text = _PAGE_COUNT.sub(reference, node.text or "")
    for node in part.iter(_w("fldSimple")):
        node.set(_w("instr"), _PAGE_COUNT.sub(reference, node.get(_w("instr"), "")))


def _check_fields(tree: etree._Element) -> None:
    """Only fields of :data:`_SAME_FIELDS` (a piece of a field instruction that starts
    with anything else, even a field name cut in two, is refused)."""
    words = (text.split()[0] for text in _instructions(tree) if text.split())
    unknown = sorted({w.upper() for w in words if not w.startswith(("\\", '"'))}
                     - _SAME_FIELDS)
    if unknown:
        raise NotCombinable(f"a field {unknown[0]} would read differently in one document")


def _instructions(tree: etree._Element) -> list[str]:
    """The pieces of field instructions in ``tree``: complex fields' ``instrText`` runs,
    then simple fields' ``instr``."""
    return [node.text or "" for node in tree.iter(_w("instrText"))] + [
        node.get(_w("instr"), "") for node in tree.iter(_w("fldSimple"))]


def _split_page_count(tree: etree._Element) -> bool:
    """Whether a field instruction naming a page count is spread over several pieces
    (then it was neither found nor changed piece by piece)."""
    pieces = _instructions(tree)
    return len(_PAGE_COUNT.findall("".join(pieces))) > sum(
        len(_PAGE_COUNT.findall(piece)) for piece in pieces)


def _restart_section(sect: etree._Element) -> None:
    """Each annex starts on a new page, numbered from its own first page number."""
    kind = sect.find(_w("type"))
    if kind is not None and kind.get(_w("val")) not in (None, "nextPage", "continuous"):
        raise NotCombinable(f"an annex's section starts on an {kind.get(_w('val'))}")
    if kind is None:
        kind = etree.Element(_w("type"))
        refs = [c for c in sect if c.tag in (_w("headerReference"), _w("footerReference"),
                                             _w("footnotePr"), _w("endnotePr"))]
        sect.insert(len(refs), kind)
    kind.set(_w("val"), "nextPage")
    numbers = sect.find(_w("pgNumType"))
    if numbers is not None and (numbers.get(_w("start"), "1") != "1"
                                or numbers.get(_w("fmt"), "decimal") != "decimal"
                                or numbers.get(_w("chapStyle")) is not None):
        # the last page's number would then not be the number of pages
        raise NotCombinable("an annex's pages are not numbered 1, 2, 3…")
    if numbers is None:
        numbers = etree.Element(_w("pgNumType"))
        after = [_w(t) for t in ("cols", "formProt", "vAlign", "noEndnote", "titlePg",
                                 "textDirection", "bidi", "rtlGutter", "docGrid",
                                 "printerSettings", "sectPrChange")]
        place = next((i for i, c in enumerate(sect) if c.tag in after), len(sect))
        sect.insert(place, numbers)
    numbers.set(_w("start"), "1")


def _write(first: zipfile.ZipFile, out: Path, bodies: list[list[etree._Element]],
           parts: dict[str, _OwnPart]) -> None:
    document = etree.fromstring(first.read(DOCUMENT))
    body = document.find(_w("body"))
    assert body is not None
    body[:] = []
    for n, annex in enumerate(bodies):
        *content, sect = annex
        last = content[-1]
        if n < len(bodies) - 1:  # a section ends with the paragraph that carries it
            props = last.find(_w("pPr"))
            if props is None:
                props = etree.Element(_w("pPr"))
                last.insert(0, props)
            change = props.find(_w("pPrChange"))
            if change is not None:
                change.addprevious(sect)
            else:
                props.append(sect)
            body.extend(content)
        else:
            body.extend([*content, sect])
    rels = etree.fromstring(first.read(DOCUMENT_RELS))
    types = etree.fromstring(first.read(CONTENT_TYPES))
    overrides = {o.get("PartName"): o.get("ContentType")
                 for o in types.iter(f"{{{CT}}}Override")}
    kinds = {rel.get("Target"): rel.get("Type")
             for rel in rels.iter(f"{{{PKG_REL}}}Relationship")}
    for name, part in parts.items():
        etree.SubElement(rels, f"{{{PKG_REL}}}Relationship", {
            "Id": part.rel_id, "Target": name, "Type": kinds[part.original]})
        etree.SubElement(types, f"{{{CT}}}Override", {
            "PartName": f"/word/{name}", "ContentType": overrides[f"/word/{part.original}"]})
    replaced = {DOCUMENT: document, DOCUMENT_RELS: rels, CONTENT_TYPES: types}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in first.infolist():
            tree = replaced.get(item.filename)
            z.writestr(item, first.read(item.filename) if tree is None else
                       etree.tostring(tree, xml_declaration=True, encoding="UTF-8",
                                      standalone=True))
        for name, part in parts.items():
            z.writestr(f"word/{name}", part.xml)


def split_combined(pdf: Path, outputs: Sequence[Path]) -> list[int]:
    """Write the pages of each annex of the combined ``pdf`` to ``outputs`` (in order,
    each atomically), each a PDF/A file of its own; the number of pages of each."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.errors import PdfReadError
    from pypdf.generic import NameObject

    from signers.atomic import atomic_write_bytes

    try:  # LibreOffice writes well-formed files: the lenient parser re-reads every object
        reader = PdfReader(pdf, strict=True)
        ends = _annex_ends(reader, len(outputs))
    except PdfReadError:
        reader = PdfReader(pdf)
        ends = _annex_ends(reader, len(outputs))
    root = reader.root_object
    counts, start = [], 0
    for end, out in zip(ends, outputs, strict=True):
        writer = PdfWriter()
        writer.append(reader, pages=(start, end + 1), import_outline=False)
        writer.root_object.pop(NameObject("/Names"), None)  # the closing bookmarks
        # PDF/A: the same output intent, XMP and info (which must agree), a file ID
        for key in ("/OutputIntents", "/Metadata", "/Lang", "/ViewerPreferences"):
            if key in root:
                writer.root_object[NameObject(key)] = root.raw_get(key).clone(writer)
        if reader.metadata is not None:
            writer.add_metadata(reader.metadata)
        writer.generate_file_identifiers()
        data = io.BytesIO()
        writer.write(data)
        atomic_write_bytes(out, data.getvalue())
        counts.append(end + 1 - start)
        start = end + 1
    return counts


def _annex_ends(reader: PdfReader, count: int) -> list[int]:
    """The index of the last page of each annex, from the bookmarks closing them."""
    destinations = reader.named_destinations
    ends = []
    for index in range(1, count + 1):
        name = END_BOOKMARK.format(index)
        dest = destinations.get(name) or destinations.get(f"/{name}")
        if dest is None:
            raise NotCombinable(f"the combined PDF has no destination {name}")
        page = reader.get_destination_page_number(dest)
        if page is None:
            raise NotCombinable(f"the destination {name} of the combined PDF has no page")
        ends.append(page)
    if ends != sorted(set(ends)) or ends[0] < 0 or ends[-1] != len(reader.pages) - 1:
        raise NotCombinable(f"the annexes' last pages are not in order: {ends} of "
                            f"{len(reader.pages)} pages")
    return ends


# --- the strategy of a build ------------------------------------------------------------------

STARTER = 3
"""Annexes combined first, for the worker that does not convert the convention, so that
it starts while the other annexes are rendered."""
RUN = 8
"""Most annexes in one combined document after the first: the workers take the next
document as soon as they are free, so shorter runs keep them evenly busy, and each
document costs LibreOffice about 25 ms of its own."""

T = TypeVar("T")


class CombinedFailed(Exception):
    """Annexes converted as one document could not be split again, or that conversion
    failed: the build starts again, converting them one by one."""


@dataclass(frozen=True)
class CombinedJob:
    """Annexes converted as one document."""

    job: ConversionJob
    """The conversion of the combined document."""
    annexes: list[ConversionJob]
    """The annexes it holds, in order (their PDFs are split out of the job's)."""


class Combining:
    """Which annexes a build converts together, and their PDFs split out again.

    ``workers`` is the number of documents LibreOffice converts at once; combined
    documents are written in ``folder``."""

    def __init__(self, folder: Path, workers: int) -> None:
        self.folder = folder
        self.workers = workers
        self.groups: dict[str, CombinedJob] = {}
        """The combined jobs handed out so far, by name."""

    def jobs(self, main: Sequence[T], annexes: Sequence[T],
             render: Callable[[T], ConversionJob]) -> Iterator[ConversionJob]:
        """Render (with ``render``) and yield what to convert: ``main`` first (the
        longest conversion), then a few annexes as one document for the next worker,
        then the other annexes in runs of at most :data:`RUN`, each as one document, at
        least one run per worker. Each run is yielded as soon as it is rendered; a run
        that cannot be combined is yielded annex by annex, and so are the next ones (the
        reason is the template's: it is logged once)."""
        yield from (render(m) for m in main)
        starter = annexes[:STARTER] if self.workers > 1 and len(annexes) > STARTER + 1 else []
        rest = annexes[len(starter):]
        count = min(len(rest), max(self.workers, -(-len(rest) // RUN)))
        runs = [starter] + [rest[len(rest) * i // count:len(rest) * (i + 1) // count]
                            for i in range(count)]
        combining = True
        for run in runs:
            if not run:
                continue
            jobs = [render(annex) for annex in run]
            queued = self._queue(jobs) if combining else jobs
            combining = combining and (len(queued) == 1 or len(jobs) == 1)
            yield from queued

    def _queue(self, members: list[ConversionJob]) -> list[ConversionJob]:
        """``members`` (rendered annexes) as one combined job; one by one if they are
        fewer than two or cannot be combined."""
        if len(members) < 2:
            return members
        docx = self.folder / f"annexes-{len(self.groups) + 1}.docx"
        try:
            combine_annexes([m.docx for m in members], docx)
        except NotCombinable as exc:
            log.info("annexes converted one by one: %s", exc)
            return members
        name = f"{members[0].name} to {members[-1].name} (as one document)"
        group = CombinedJob(ConversionJob(name, docx, docx.with_suffix(".pdf"),
                                          destinations=True), members)
        self.groups[name] = group
        return [group.job]

    def finished(self, job: ConversionJob) -> list[ConversionJob]:
        """The jobs whose PDF is in place now that ``job`` is converted: ``job``, or the
        annexes of a combined job, split out of its PDF. Whatever keeps it from being
        split (no closing bookmarks, a PDF pypdf cannot read) raises
        :class:`CombinedFailed`."""
        group = self.groups.get(job.name)
        if group is None:
            return [job]
        try:
            split_combined(group.job.pdf, [a.pdf for a in group.annexes])
        except Exception as exc:  # noqa: BLE001 - the annexes are converted again one by one
            raise CombinedFailed(f"{group.job.name}: {exc}") from exc
        return group.annexes

    def holds(self, name: str | None) -> bool:
        """``name`` is the name of a combined job."""
        return name in self.groups
