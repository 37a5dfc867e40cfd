"""Verification reports: frozen records, JSON export and a plain-text table."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["DocumentReport", "RevisionReport", "SignatureReport", "render_table"]


@dataclass(frozen=True)
class RevisionReport:
    """What one incremental update changed, judged against the revision before it."""

    revision: int
    """Index of the revision (0 is the original document)."""
    made_by: str | None
    """Field of the signature or document timestamp this revision carries, or ``None``
    for an unsigned update."""
    after: str | None
    """Field of the last signature made before this revision (``None`` if none)."""
    modification_level: str
    """pyHanko modification level of the step: NONE, LTA_UPDATES, FORM_FILLING,
    ANNOTATIONS or OTHER (not explained by any whitelist rule)."""
    changed_fields: tuple[str, ...]
    """Form fields whose value changed in this revision."""
    legitimate: bool
    """Whether the change is one signing, form filling or archiving (DSS, document
    timestamp) may make."""
    detail: str
    """Why the change is illegitimate, or an empty string."""


@dataclass(frozen=True)
class SignatureReport:
    """The verdict on one signature or document timestamp."""

    field: str
    """Name of the signature field."""
    kind: str
    """``signature`` or ``timestamp`` (document timestamp)."""
    revision: int
    """Revision the signature covers (its own incremental update)."""
    expected_signer: str | None
    """Label of the signatory expected in this field, or ``None`` when unknown."""
    signer_matches: bool | None
    """Whether the certificate belongs to the expected signatory (``None`` when no
    expectation was given); ``False`` flags a signature by the wrong person."""
    match_detail: str
    """Which name, e-mail or fingerprint matched, or why none did."""
    signer_name: str
    """Certificate holder name (common name); for a document timestamp, the TSA."""
    subject: str
    """Certificate subject (for a document timestamp: the TSA certificate)."""
    issuer: str
    """Certificate issuer."""
    email: str | None
    """E-mail address found in the certificate."""
    fingerprint: str
    """SHA-256 fingerprint of the certificate (lowercase hex)."""
    signing_time: str | None
    """Signing time claimed by the signer (ISO 8601), unverified."""
    timestamp_time: str | None
    """Time certified by the signature (or document) timestamp (ISO 8601)."""
    tsa: str | None
    """Subject of the timestamp authority's certificate."""
    pades_level: str | None
    """PAdES baseline level reached: B-B, B-T, B-LT, B-LTA (``None``: not PAdES)."""
    intact: bool
    """The digest of the signed byte ranges matches the signed digest."""
    signature_valid: bool
    """The signature value verifies with the certificate's public key."""
    trusted: bool
    """A certification path to one of the explicit trust roots was validated, with
    revocation checked (hard-fail)."""
    revocation: str
    """``good``, ``revoked``, ``unknown`` (status could not be established) or
    ``not checked``."""
    coverage: str
    """``entire file``, ``entire revision`` or a weaker, rejected coverage."""
    modification_level: str | None
    """Strongest modification made after the signature (pyHanko level name)."""
    docmdp_ok: bool | None
    """Later changes are allowed by the document modification policy and locks."""
    changes_after: tuple[int, ...]
    """Revisions made after this signature."""
    tampered_revision: int | None
    """First later revision making an illegitimate change, if any."""
    pyhanko_valid: bool
    """pyHanko's own bottom line (integrity, trust, timestamp, DocMDP)."""
    valid: bool
    """The final verdict: pyHanko's bottom line and every ctgdocs check passed."""
    problems: tuple[str, ...]
    """Why the signature is not valid (empty when it is)."""
    reason: str | None = None
    """The reason the signer gave (the signature's ``/Reason``), e.g. the council
    deliberation authorising a mayor to sign; ``None`` when there is none."""
    qualification: str = "not assessed"
    """Legal qualification of the signature (e.g. from the EU trusted lists); ``not
    assessed`` until something assesses it."""
    certificate_expires: str | None = None
    """When the signer's (for a timestamp: the authority's) certificate expires, ISO
    8601; for the last document timestamp, the date before which it must be renewed."""


@dataclass(frozen=True)
class DocumentReport:
    """The verdict on a whole signed document."""

    path: str
    """The file that was verified."""
    revisions: tuple[RevisionReport, ...]
    """Every incremental update after the original document."""
    signatures: tuple[SignatureReport, ...]
    """Every signature and document timestamp, in revision order."""
    signed: tuple[str, ...]
    """Expected signatories (fields) holding a valid signature by the right person."""
    missing: tuple[str, ...]
    """Expected signatories (fields) without a valid signature."""
    unexpected: tuple[str, ...]
    """Signed fields for which no signatory was expected."""
    tampered: bool
    """The document was changed illegitimately after a signature (or rewritten)."""
    tampering: tuple[str, ...]
    """Each illegitimate change, naming the revision and the signature it followed."""
    problems: tuple[str, ...]
    """Document-level problems (bytes after the last revision, unreadable parts)."""
    valid: bool
    """Every signature present is valid and the document was not tampered with."""
    complete: bool
    """Every expected signatory has signed validly (always ``False`` without
    expectations)."""

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-compatible data."""
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        """The report as a JSON document."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


_COLUMNS = ("#", "field", "signer", "match", "level", "intact", "trust", "revocation",
            "coverage", "after", "verdict")


def render_table(report: DocumentReport) -> str:
    """A plain-text table of the signatures followed by the document summary."""
    rows = [_row(i, s) for i, s in enumerate(report.signatures, 1)]
    widths = [max(len(c), *(len(r[k]) for r in rows)) if rows else len(c)
              for k, c in enumerate(_COLUMNS)]
    lines = [_fmt(_COLUMNS, widths), _fmt(tuple("-" * w for w in widths), widths)]
    lines += [_fmt(r, widths) for r in rows]
    lines.append("")
    lines += _detail_lines(report)
    lines += _problem_lines(report)
    lines += _summary_lines(report)
    return "\n".join(lines) + "\n"


def _row(index: int, s: SignatureReport) -> tuple[str, ...]:
    match = {None: "-", True: "yes", False: "NO"}[s.signer_matches]
    after = "none" if s.modification_level in (None, "NONE") else s.modification_level
    if s.tampered_revision is not None:
        after = f"TAMPERED r{s.tampered_revision}"
    return (str(index), s.field, _short(s.signer_name), match, s.pades_level or "-",
            "yes" if s.intact and s.signature_valid else "NO",
            "yes" if s.trusted else "NO", s.revocation, s.coverage, after,
            "VALID" if s.valid else "INVALID")


def _short(subject: str, width: int = 32) -> str:
    return subject if len(subject) <= width else subject[: width - 1] + "…"


def _fmt(cells: tuple[str, ...], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def _problem_lines(report: DocumentReport) -> list[str]:
    lines = [f"problem: {p}" for p in report.problems]
    lines += [f"tampering: {t}" for t in report.tampering]
    for s in report.signatures:
        lines += [f"{s.field}: {p}" for p in s.problems]
    return lines + ([""] if lines else [])


_MEANING = {
    "QESig": "qualified electronic signature",
    "AdESig-QC": "advanced electronic signature based on a qualified certificate",
    "AdESig": "advanced electronic signature",
    "QESeal": "qualified electronic seal",
    "AdESeal-QC": "advanced electronic seal based on a qualified certificate",
    "AdESeal": "advanced electronic seal",
    "not AdES": "not a valid advanced signature",
}
"""What the ETSI TS 119 172-4 names of a qualification mean (eIDAS)."""


def _detail_lines(report: DocumentReport) -> list[str]:
    """The reason each signer gave, and the legal qualification when it was assessed."""
    lines = [f"{s.field}: reason: {s.reason}" for s in report.signatures if s.reason]
    assessed = [s for s in report.signatures if s.qualification != "not assessed"]
    lines += [f"{s.field}: qualification: {s.qualification}"
              + (f" ({_MEANING[s.qualification]})" if s.qualification in _MEANING else "")
              for s in assessed]
    if report.signatures and not assessed:
        lines.append("qualification: not assessed (no trusted list consulted)")
    return lines + ([""] if lines else [])


def _summary_lines(report: DocumentReport) -> list[str]:
    return [
        f"document:  {report.path}",
        f"signed:    {len(report.signed)} ({', '.join(report.signed) or '-'})",
        f"missing:   {len(report.missing)} ({', '.join(report.missing) or '-'})",
        f"tampered:  {'YES' if report.tampered else 'no'}",
        f"valid:     {'yes' if report.valid else 'NO'}",
        f"complete:  {'yes' if report.complete else 'no'}",
    ]
