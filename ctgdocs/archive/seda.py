"""``bordereau-seda.xml``: the SEDA 2.3 ``ArchiveTransfer`` an archiving system (As@lae,
Vitam…) ingests.

One ``DataObjectGroup`` per archived object (the signed convention, each report, the
journal and its tokens, the trusted lists, each previous state), each file a
``BinaryDataObject`` with its SHA-512, size and format (PRONOM where it has an id). One
``ArchiveUnit`` describes the convention (title, description, period, territory,
parties, keywords, dates, originating and submission agencies) and holds one unit per
object: the signed convention's carries ``SigningInformation`` (roles signed document,
signature and timestamp; one ``SignatureDescription`` per signature — signer, signing
time, validator and validation time, eIDAS type — and one ``TimestampingInformation``
per timestamp) and a ``LogBook`` of archiving events (creation, renewals); the others
are ``AdditionalProof`` units pointing at it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from lxml import etree

from .layout import (
    HISTORY,
    HUMAN_REPORT,
    JOURNAL,
    JOURNAL_TOKENS,
    LISTS,
    PDF,
    VALIDATION_REPORT,
    Bundle,
)
from .manifest import file_entry
from .model import ArchivedSignature

__all__ = ["SEDA_NS", "Agency", "Transfer", "build_bordereau", "formats", "renew_bordereau"]

SEDA_NS = "fr:gouv:culture:archivesdefrance:seda:v2.3"
_S = f"{{{SEDA_NS}}}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_PDF_GROUP = "GRP-convention-signee"
_SIGNED_UNIT = "AU-convention-signee"


@dataclass(frozen=True)
class Agency:
    """An organisation of the transfer."""

    identifier: str
    """Its identifier for the archiving system (SIREN, agency code…)."""
    name: str = ""
    """Its name (for people; the identifier is what systems match)."""


@dataclass(frozen=True)
class Transfer:
    """What the bordereau says beyond the files."""

    identifier: str
    """``MessageIdentifier``."""
    date: dt.datetime
    """``Date`` of the message."""
    comment: str
    """``Comment`` of the message."""
    title: str
    """Title of the convention."""
    description: str
    """Its description (subject)."""
    reference: str
    """Its identifier in the producing organisation (the convention id)."""
    start: dt.date
    """First day of the period it covers."""
    end: dt.date
    """Last day of that period."""
    territory: str
    """Territory covered."""
    keywords: Sequence[tuple[str, str]]
    """(text, SEDA keyword type) pairs: ``subject``, ``corpname``, ``geogname``."""
    parties: Sequence[str]
    """Organisations party to the convention."""
    originating: Agency
    """Producer of the records (``OriginatingAgency``)."""
    submission: Agency
    """Who submits them (``SubmissionAgency``)."""
    archival: Agency
    """The archives service (``ArchivalAgency``)."""
    transferring: Agency
    """Who transfers them (``TransferringAgency``)."""
    signatures: Sequence[ArchivedSignature]
    """The signatures of the signed convention."""
    signing_types: dict[str, str]
    """Field → legal type of the signature in French (``SigningType``)."""
    validator: str
    """Who validated the signatures."""
    validated: dt.datetime
    """When."""
    archive_timestamps: Sequence[tuple[dt.datetime, str]] = ()
    """(time, authority) of each document timestamp."""
    events: Sequence[tuple[str, dt.datetime, str]] = field(default=())
    """(type, time, detail) of each archiving event, for the LogBook."""


_FORMATS = {".pdf": ("application/pdf", "fmt/476", "PDF/A-2b"),
            ".xml": ("text/xml", "fmt/101", "XML 1.0"),
            ".json": ("application/json", "fmt/817", "JSON"),
            ".jsonl": ("application/jsonl", None, "JSON Lines (un objet JSON par ligne)"),
            ".tsr": ("application/timestamp-reply", None,
                     "Jeton d'horodatage RFC 3161 (TimeStampResp, DER)")}


def formats(name: str) -> tuple[str, str | None, str]:
    """(MIME type, PRONOM id or ``None``, description) of an archived file."""
    for suffix, found in _FORMATS.items():
        if name.endswith(suffix):
            return found
    return ("application/octet-stream", None, "fichier")


def _el(parent: etree._Element, tag: str, text: str | None = None,
        **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, _S + tag, **attrs)
    if text is not None:
        node.text = text
    return node


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def build_bordereau(transfer: Transfer, bundle: Bundle) -> bytes:
    """The ``ArchiveTransfer`` of ``bundle``'s archived files (XML bytes)."""
    root = etree.Element(_S + "ArchiveTransfer", nsmap={None: SEDA_NS})
    _el(root, "Comment", transfer.comment)
    _el(root, "Date", _when(transfer.date))
    _el(root, "MessageIdentifier", transfer.identifier)
    codes = _el(root, "CodeListVersions")
    for tag in ("ReplyCodeListVersion", "MessageDigestAlgorithmCodeListVersion",
                "MimeTypeCodeListVersion", "FileFormatCodeListVersion"):
        _el(codes, tag, f"{tag}0")
    package = _el(root, "DataObjectPackage")
    groups = _groups(bundle)
    for group, names in groups.items():
        _group(package, group, names, bundle)
    units = _el(_el(package, "DescriptiveMetadata"), "ArchiveUnit", id="AU-convention")
    _convention_content(units, transfer)
    _signed_unit(units, transfer)
    for group in groups:
        if group != _PDF_GROUP:
            _proof_unit(units, group, groups[group])
    management = _el(package, "ManagementMetadata")
    _el(management, "OriginatingAgencyIdentifier", transfer.originating.identifier)
    _el(management, "SubmissionAgencyIdentifier", transfer.submission.identifier)
    _el(_el(root, "ArchivalAgency"), "Identifier", transfer.archival.identifier)
    _el(_el(root, "TransferringAgency"), "Identifier", transfer.transferring.identifier)
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# -- data objects ----------------------------------------------------------------------

def _groups(bundle: Bundle) -> dict[str, list[str]]:
    """Group id → archived file names, in a stable order."""
    names = [bundle.name(p) for p in bundle.content()]
    groups: dict[str, list[str]] = {_PDF_GROUP: [PDF]}
    groups["GRP-rapport-validation"] = [VALIDATION_REPORT]
    groups["GRP-rapport-signatures"] = [HUMAN_REPORT]
    journal = [n for n in names if n == JOURNAL or n.startswith(JOURNAL_TOKENS + "/")]
    if journal:
        groups["GRP-journal"] = sorted(journal, key=lambda n: (n != JOURNAL, n))
    lists = sorted(n for n in names if n.startswith(LISTS + "/"))
    if lists:
        groups["GRP-listes-de-confiance"] = lists
    for number in sorted({n.split("/")[1] for n in names if n.startswith(HISTORY + "/")},
                         key=int):
        groups[f"GRP-historique-{number}"] = sorted(
            n for n in names if n.startswith(f"{HISTORY}/{number}/"))
    listed = {n for group in groups.values() for n in group}
    missing = [n for n in names if n not in listed]
    if missing:
        raise ValueError(f"files the bordereau cannot place: {', '.join(missing)}")
    return {g: [n for n in ns if bundle.get(n) is not None] for g, ns in groups.items()}


def _group(package: etree._Element, group: str, names: list[str], bundle: Bundle) -> None:
    node = _el(package, "DataObjectGroup", id=group)
    for index, name in enumerate(names, 1):
        data = bundle.get(name)
        assert data is not None
        entry = file_entry(bundle.path(name), data)
        bdo = _el(node, "BinaryDataObject", id=f"BDO-{group[4:]}-{index}")
        _el(bdo, "DataObjectVersion", f"BinaryMaster_{index}")
        _el(bdo, "Uri", entry.path)
        _el(bdo, "MessageDigest", entry.sha512, algorithm="SHA-512")
        _el(bdo, "Size", str(entry.size))
        mime, pronom, label = formats(name)
        ident = _el(bdo, "FormatIdentification")
        _el(ident, "FormatLitteral", label)
        _el(ident, "MimeType", mime)
        if pronom:
            _el(ident, "FormatId", pronom)
        _el(_el(bdo, "FileInfo"), "Filename", name.rsplit("/", 1)[-1])


# -- archive units ---------------------------------------------------------------------

def _convention_content(unit: etree._Element, t: Transfer) -> None:
    content = _el(unit, "Content")
    _el(content, "DescriptionLevel", "File")
    _el(content, "Title", t.title, **{_XML_LANG: "fr"})
    _el(content, "OriginatingAgencyArchiveUnitIdentifier", t.reference)
    _el(content, "Description", t.description, **{_XML_LANG: "fr"})
    _el(content, "DocumentType", "Convention territoriale globale")
    _el(content, "Language", "fr")
    _el(content, "DescriptionLanguage", "fr")
    for text, kind in t.keywords:
        keyword = _el(content, "Keyword")
        _el(keyword, "KeywordContent", text)
        _el(keyword, "KeywordType", kind)
    coverage = _el(content, "Coverage")
    _el(coverage, "Spatial", t.territory)
    _el(coverage, "Temporal", f"{t.start.year}-{t.end.year}")
    _agency(content, "OriginatingAgency", t.originating)
    _agency(content, "SubmissionAgency", t.submission)
    for party in t.parties:
        _el(_el(content, "Addressee"), "Corpname", party)
    dates = sorted(when for s in t.signatures
                   if (when := s.timestamp_time or s.claimed_time) is not None)
    if dates:
        _el(content, "CreatedDate", dates[0].date().isoformat())
        _el(content, "TransactedDate", dates[-1].date().isoformat())
    _el(content, "StartDate", t.start.isoformat())
    _el(content, "EndDate", t.end.isoformat())


def _agency(parent: etree._Element, tag: str, agency: Agency) -> None:
    node = _el(parent, tag)
    _el(node, "Identifier", agency.identifier)


def _signed_unit(parent: etree._Element, t: Transfer) -> None:
    unit = _el(parent, "ArchiveUnit", id=_SIGNED_UNIT)
    if t.events:
        book = _el(_el(unit, "Management"), "LogBook")
        for number, event in enumerate(t.events, 1):
            _event(book, f"{t.reference}-archivage-{number}", event)
    content = _el(unit, "Content")
    _el(content, "DescriptionLevel", "Item")
    _el(content, "Title", f"{t.title} — exemplaire signé (PAdES B-LTA)", **{_XML_LANG: "fr"})
    _el(content, "Description", f"{len(t.signatures)} signatures électroniques, validation "
        "et horodatage d'archive intégrés au document", **{_XML_LANG: "fr"})
    _el(content, "DocumentType", "Convention signée")
    _el(content, "Language", "fr")
    info = _el(content, "SigningInformation")
    for role in ("SignedDocument", "Signature", "Timestamp"):
        _el(info, "SigningRole", role)
    for signature in t.signatures:
        _signature(info, signature, t)
    for signature in t.signatures:
        if signature.timestamp_time:
            stamp = _el(info, "TimestampingInformation")
            _el(stamp, "TimeStamp", _when(signature.timestamp_time))
            _el(stamp, "AdditionalTimestampingInformation",
                f"Horodatage de la signature {signature.field} par {signature.tsa}")
    for archived in t.archive_timestamps:
        info.append(_archive_stamp(archived))
    _el(_el(unit, "DataObjectReference"), "DataObjectGroupReferenceId", _PDF_GROUP)


def _event(book: etree._Element, identifier: str,
           event: tuple[str, dt.datetime, str]) -> None:
    kind, when, detail = event
    node = _el(book, "Event")
    _el(node, "EventIdentifier", identifier)
    _el(node, "EventType", kind)
    _el(node, "EventDateTime", _when(when))
    _el(node, "EventDetail", detail, **{_XML_LANG: "fr"})
    _el(node, "Outcome", "OK")


def _archive_stamp(stamp: tuple[dt.datetime, str]) -> etree._Element:
    node = etree.Element(_S + "TimestampingInformation")
    _el(node, "TimeStamp", _when(stamp[0]))
    _el(node, "AdditionalTimestampingInformation",
        f"Horodatage d'archive du document (PAdES B-LTA) par {stamp[1]}")
    return node


def _signature(info: etree._Element, s: ArchivedSignature, t: Transfer) -> None:
    description = _el(info, "SignatureDescription")
    signer = _el(description, "Signer")
    if s.field == "cachet-caf" or (s.qualification or "").endswith("Seal"):
        _el(signer, "Corpname", s.holder)
    else:
        _el(signer, "FullName", s.holder)
    _el(signer, "Identifier", f"sha256:{s.fingerprint}")
    when = s.timestamp_time or s.claimed_time
    _el(signer, "SigningTime", _when(when) if when else _when(t.validated))
    if s.signatory:
        _el(signer, "Position", s.signatory)
    validator = _el(description, "Validator")
    _el(validator, "Corpname", t.validator)
    _el(validator, "ValidationTime", _when(t.validated))
    _el(description, "SigningType", t.signing_types.get(s.field, "avancée"))


def _proof_unit(parent: etree._Element, group: str, names: Iterable[str]) -> None:
    titles = {"GRP-rapport-validation": "Rapport de validation des signatures "
              "(ETSI TS 119 102-2)",
              "GRP-rapport-signatures": "Rapport des signatures (lisible)",
              "GRP-journal": "Journal du circuit de signature et jetons d'horodatage",
              "GRP-listes-de-confiance": "Listes de confiance (ETSI TS 119 612) utilisées "
              "pour la qualification"}
    title = titles.get(group) or f"État précédent du paquet (renouvellement {group[16:]})"
    unit = _el(parent, "ArchiveUnit", id="AU" + group[3:])
    content = _el(unit, "Content")
    _el(content, "DescriptionLevel", "Item")
    _el(content, "Title", title, **{_XML_LANG: "fr"})
    _el(content, "Description", ", ".join(names), **{_XML_LANG: "fr"})
    _el(content, "Language", "fr")
    info = _el(content, "SigningInformation")
    _el(info, "SigningRole", "AdditionalProof")
    _el(info, "SignedDocumentReferenceId", _SIGNED_UNIT)
    _el(_el(info, "AdditionalProof"), "AdditionalProofInformation", title)
    _el(_el(unit, "DataObjectReference"), "DataObjectGroupReferenceId", group)


def renew_bordereau(bordereau: bytes, bundle: Bundle, *, date: dt.datetime,
                    identifier: str, event: tuple[str, dt.datetime, str],
                    archive_timestamp: tuple[dt.datetime, str]) -> bytes:
    """The bordereau after a renewal: every file's digest and size as in ``bundle``,
    the previous state's files as a new object and unit, the new archive timestamp,
    ``event`` in the signed convention's log book, a new date and identifier."""
    from .schemas import parse

    root = parse(bordereau, "bordereau-seda.xml")
    root.find(_S + "Date").text = _when(date)
    root.find(_S + "MessageIdentifier").text = identifier
    package = root.find(_S + "DataObjectPackage")
    descriptive = package.find(_S + "DescriptiveMetadata")
    for bdo in package.iter(_S + "BinaryDataObject"):
        data = bundle.files.get(bdo.findtext(_S + "Uri") or "")
        if data is not None:
            entry = file_entry("", data)
            bdo.find(_S + "MessageDigest").text = entry.sha512
            bdo.find(_S + "Size").text = str(entry.size)
    known = {g.get("id") for g in package.iter(_S + "DataObjectGroup")}
    top = descriptive.find(_S + "ArchiveUnit")
    for group, names in _groups(bundle).items():
        if group not in known:
            holder = etree.Element(_S + "Holder")
            _group(holder, group, names, bundle)
            descriptive.addprevious(holder[0])
            _proof_unit(top, group, names)
    _log_renewal(top, event, archive_timestamp)
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _log_renewal(top: etree._Element, event: tuple[str, dt.datetime, str],
                 archive_timestamp: tuple[dt.datetime, str]) -> None:
    unit = next(u for u in top.iter(_S + "ArchiveUnit") if u.get("id") == _SIGNED_UNIT)
    management = unit.find(_S + "Management")
    if management is None:
        management = etree.Element(_S + "Management")
        unit.insert(0, management)
    book = management.find(_S + "LogBook")
    if book is None:
        book = _el(management, "LogBook")
    reference = unit.getparent().findtext(
        f"{_S}Content/{_S}OriginatingAgencyArchiveUnitIdentifier")
    _event(book, f"{reference}-archivage-{len(book) + 1}", event)
    info = unit.find(f"{_S}Content/{_S}SigningInformation")
    stamp = _archive_stamp(archive_timestamp)
    last = info.findall(_S + "TimestampingInformation")
    (last[-1] if last else info[-1]).addnext(stamp)
