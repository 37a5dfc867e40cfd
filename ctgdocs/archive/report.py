"""``rapport-signatures.pdf``: the French report a person reads, made from the Word
template ``templates/rapport-signatures.docx`` through the convention's own path (render,
then LibreOffice to PDF/A-2b).

Times are in Europe/Paris ("6 février 2023 à 17 h 00"); every value is plain text, so
the template only prints strings (see ``templates/README.md``).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model import Convention
from ..paths import TEMPLATES_DIR
from ..render import french_date, french_datetime, french_list, french_number
from .model import ArchivedSignature, BundleFile

__all__ = ["REPORT_TEMPLATE", "ReportFacts", "french_time", "qualification_label",
           "render_report", "report_context", "sample_context"]

REPORT_TEMPLATE = "rapport-signatures.docx"
"""File name of the report template, inside the templates folder."""
_QUALIFICATION = {
    "QESig": "signature électronique qualifiée",
    "AdESig-QC": "signature électronique avancée reposant sur un certificat qualifié",
    "AdESig": "signature électronique avancée",
    "QESeal": "cachet électronique qualifié",
    "AdESeal-QC": "cachet électronique avancé reposant sur un certificat qualifié",
    "AdESeal": "cachet électronique avancé",
    "not AdES": "non valide",
    "not assessed": "qualification non évaluée",
}


def french_time(moment: dt.datetime | None) -> str:
    """:func:`~ctgdocs.render.french_datetime`, or "—" when there is none."""
    return french_datetime(moment) if moment is not None else "—"


def qualification_label(code: str) -> str:
    """The French wording of an eIDAS status code (``QESig``…)."""
    return _QUALIFICATION.get(code, code)


@dataclass(frozen=True)
class ReportFacts:
    """What the report states besides the convention and the signatures."""

    document: BundleFile
    """The archived PDF."""
    pages: int
    """Its page count."""
    archived_at: dt.datetime
    """Time of the archive timestamp."""
    tsa: str
    """Its authority."""
    renewal_due: dt.datetime
    """When that authority's certificate expires."""
    anchors: Sequence[tuple[str, str]]
    """Trust anchors: (subject, SHA-256 fingerprint)."""
    lists: Sequence[str]
    """Trusted lists used, one line each (empty: not assessed)."""
    missing: Sequence[str]
    """Expected signatories who did not sign."""
    journal: tuple[int, int, str] | None
    """(events, tokens, head hash) of the archived journal, if any."""


def report_context(conv: Convention, signatures: Sequence[ArchivedSignature],
                   facts: ReportFacts) -> dict[str, Any]:
    """The plain-data context of the report template."""
    doc = facts.document
    return {
        "title": conv.title, "territory": conv.territory, "reference": conv.id,
        "period": f"{conv.period.start}-{conv.period.end}",
        "archived_at": french_time(facts.archived_at),
        "tsa": _short_name(facts.tsa), "renewal_due": french_time(facts.renewal_due),
        "document": {"file": doc.path.rsplit("/", 1)[-1],
                     "size": f"{french_number(doc.size)} octets",
                     "pages": str(facts.pages), "sha256": _wrap(doc.sha256),
                     "sha512": _wrap(doc.sha512)},
        "anchors": "\n".join(f"{_short_name(subject)}, SHA-256 : {_wrap(sha)}"
                             for subject, sha in facts.anchors) or "—",
        "count": str(len(signatures)),
        "valid": str(sum(s.indication == "PASSED" for s in signatures)),
        "complete": "oui" if not facts.missing else
        f"non : manque{'nt' if len(facts.missing) > 1 else ''} "
        f"{french_list(facts.missing)}",
        "qualification_note": _lists_note(facts.lists),
        "signatures": [_signature(i, s, conv) for i, s in enumerate(signatures, 1)],
        "journal": None if facts.journal is None else {
            "events": str(facts.journal[0]), "tokens": str(facts.journal[1]),
            "head": _wrap(facts.journal[2])},
    }


def _lists_note(lists: Sequence[str]) -> str:
    if not lists:
        return ("Qualification non évaluée : aucune liste de confiance (ETSI TS 119 612) "
                "n'a été fournie.")
    return "Qualification évaluée d'après : " + " ; ".join(lists) + "."


def _wrap(digest: str, width: int = 8) -> str:
    """Hex in blocks of ``width`` characters, so that it wraps between blocks."""
    return " ".join(digest[i:i + width] for i in range(0, len(digest), width))


def _short_name(subject: str) -> str:
    """"Common Name: X, Organization: Y" → "X"."""
    for part in subject.split(", "):
        if part.startswith("Common Name: "):
            return part[len("Common Name: "):]
    return subject


def _signature(number: int, s: ArchivedSignature, conv: Convention) -> dict[str, str]:
    signatory = next((x for x in conv.signatories if x.id == s.field), None)
    return {
        "number": str(number), "field": s.field,
        "capacity": s.signatory or (signatory.capacity if signatory else s.field),
        "name": signatory.person.formal_name if signatory else s.holder,
        "organisation": s.organisation or (signatory.organisation if signatory else "—"),
        "deliberation": _deliberation(s, conv),
        "holder": _short_name(s.holder), "issuer": _short_name(s.issuer),
        "fingerprint": _wrap(s.fingerprint),
        "signing_time": french_time(s.claimed_time),
        "timestamp_time": french_time(s.timestamp_time),
        "timestamp_tsa": _short_name(s.tsa) if s.tsa else "—",
        "level": s.level or "—",
        "trust": "valide : chaîne de certification jusqu'à l'ancre de confiance"
        if s.indication == "PASSED" else f"NON VALIDE ({s.indication}, {s.subindication})",
        "revocation": _revocation(s),
        "qualification": qualification_label(s.qualification),
    }


def _deliberation(s: ArchivedSignature, conv: Convention) -> str:
    if s.reason:
        return s.reason
    delib = None
    for commune in conv.communes:
        if s.field == f"maire-{commune.slug}":
            delib = commune.deliberation
    if s.field == "epci-president":
        delib = conv.epci.deliberation
    elif s.field == "caf-president":
        delib = conv.caf.board_deliberation
    if delib is None:
        return "—"
    return (f"délibération du {delib.body} n° {delib.number} du {french_date(delib.date)} "
            "(d'après les données de la convention ; la signature n'en cite pas)")


def _revocation(s: ArchivedSignature) -> str:
    if s.revoked_at is not None:
        return (f"certificat révoqué le {french_time(s.revoked_at)}, après la signature "
                "horodatée : sans effet sur sa validité")
    return ("non révoqué à la date de la signature (réponses OCSP et listes de révocation "
            "intégrées au document)")


def render_report(context: dict[str, Any], out: Path, *, templates: Path = TEMPLATES_DIR,
                  timeout: float = 120.0) -> None:
    """Render the report template with ``context`` and convert it to PDF/A-2b at
    ``out`` (with ``ctgdocs.render.render_docx`` and the converter of
    ``ctgdocs.convert.make_converter``, one local LibreOffice worker)."""
    from ..convert import ConversionJob, make_converter
    from ..render import render_docx

    with tempfile.TemporaryDirectory(prefix="ctg-rapport-") as work:
        docx = Path(work) / "rapport-signatures.docx"
        render_docx(templates / REPORT_TEMPLATE, context, docx)
        with make_converter(None, jobs=1, timeout=timeout) as converter:
            converter.convert([ConversionJob("rapport-signatures", docx, out)])


def sample_context() -> dict[str, Any]:
    """The report context of a sample convention, one signature of each kind and a
    journal: every key the template may use (what ``ctg check-templates`` should check
    ``rapport-signatures.docx`` against)."""
    from ..samples import sample_convention

    conv = sample_convention()
    when = dt.datetime(2023, 2, 6, 16, 0, tzinfo=dt.UTC)
    signature = ArchivedSignature(
        field=conv.signatories[0].id, signatory=conv.signatories[0].capacity,
        organisation=conv.signatories[0].organisation, holder="Common Name: X",
        subject="Common Name: X", issuer="Common Name: AC", fingerprint="0" * 64,
        reason="Délibération", claimed_time=when, timestamp_time=when,
        tsa="Common Name: TSA", level="B-LTA", indication="PASSED", subindication="OK",
        revoked_at=None, qualification="QESig")
    facts = ReportFacts(document=BundleFile("convention-signee-lta.pdf", 1, "0" * 64,
                                            "0" * 128),
                        pages=1, archived_at=when, tsa="Common Name: TSA", renewal_due=when,
                        anchors=[("Common Name: Racine", "0" * 64)], lists=["liste.xml"],
                        missing=["Le Maire"], journal=(3, 1, "0" * 64))
    return report_context(conv, [signature], facts)
