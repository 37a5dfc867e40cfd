"""Verify every signature of a multi-signatory PDF, failing closed.

:func:`verify_document` validates each signature and document timestamp with pyHanko
(integrity, trust to explicit roots, hard-fail revocation, timestamp, difference analysis
of every later revision), matches each certificate against the signatory expected in its
field, adds the document-level checks pyHanko does not make (bytes after the last
revision), and returns a :class:`~signers.report.DocumentReport`.

Two paths give the same report. The plain one uses pyHanko's public API only
(``StandardDiffPolicy``, :class:`~signers.revisions.PlainRevisions`) and grows
quadratically with the number of signatures. With the speed-ups
(:mod:`signers.speedups`: ``speedups=True``, or after ``signers.speedups.enable()``) the
same verification runs in linear time; if a speed-up fails, or the verdict is anything
but valid, the document is verified again on the plain path and that report is returned.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DiffPolicy, ModificationLevel
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
    SignatureCoverageLevel,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers import FetcherBackend, Fetchers, OwnedFetcherBackend
from pyhanko_certvalidator.registry import SimpleTrustManager

from . import speedups as _speedups
from .document import one_line, open_pdf, read_file
from .exceptions import SignersError, VerificationError
from .identity import CertIdentity, identity_of, match_signer
from .model import ExpectedSigner
from .report import DocumentReport, RevisionReport, SignatureReport
from .revisions import PlainRevisions, Revisions, Step

__all__ = ["async_verify_document", "verify_document"]

log = logging.getLogger(__name__)

_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire revision",
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: "partial (block from start)",
    SignatureCoverageLevel.UNCLEAR: "unclear",
}
_EOF = re.compile(rb"%%EOF")
CONCURRENT_CHECKS = 8
"""Signatures checked at once on the speed-ups' path. Each usually waits for its signer's
OCSP responder (a remote one answers in 0.1–0.3 s): checked one after another, 16
mayors' signatures would wait for 16 answers in turn. The plain path checks them one at
a time: there pyHanko's difference analysis holds the event loop for a second or more per
signature, and the answers other checks wait for would time out meanwhile (pyHanko's
fetchers give up after 10 s), turning good signatures into "revocation unknown"."""


def verify_document(pdf: str | os.PathLike[str], *,
                    expected: Sequence[ExpectedSigner] | None = None,
                    trust_roots: Sequence[str | os.PathLike[str] | x509.Certificate] = (),
                    offline: bool = False, validation_time: datetime | None = None,
                    speedups: bool | None = None,
                    **validation_context_kwargs: Any) -> DocumentReport:
    """Verify every signature and document timestamp of ``pdf``.

    :param expected: who may sign each field; a signature by anyone else is flagged.
    :param trust_roots: the only trust anchors (PEM/DER files or certificates).
    :param offline: no fetching: revocation comes from the document's DSS only.
    :param validation_time: validate as of this time (default: now).
    :param speedups: ``True``: use :mod:`signers.speedups` (enabling them if they can
        be); ``False``: pyHanko's plain path only; ``None``: as ``signers.speedups``'
        process-wide switch says. The verdict is the same either way.
    :param validation_context_kwargs: passed on to pyHanko's ``ValidationContext``.
    :raises FileAccessError: when the file cannot be read (missing, a directory).
    :raises VerificationError: when the file cannot be read as a PDF at all.
    """
    return asyncio.run(async_verify_document(
        pdf, expected=expected, trust_roots=trust_roots, offline=offline,
        validation_time=validation_time, speedups=speedups, **validation_context_kwargs))


async def async_verify_document(pdf: str | os.PathLike[str], *,
                                expected: Sequence[ExpectedSigner] | None = None,
                                trust_roots: Sequence[str | os.PathLike[str]
                                                      | x509.Certificate] = (),
                                offline: bool = False, validation_time: datetime | None = None,
                                speedups: bool | None = None,
                                **validation_context_kwargs: Any) -> DocumentReport:
    """Asynchronous form of :func:`verify_document`."""
    job = _Job(str(pdf), read_file(pdf), None if expected is None else tuple(expected),
               [_load_root(r) for r in trust_roots], offline, validation_time)
    fetching = _Fetching(offline, validation_context_kwargs)
    try:
        fast = await _fast(job, fetching) if _speedups.wanted(speedups) else None
        if fast is not None and (fast.valid or _untrusted_only(job, fast)):
            return fast
        if fast is not None:
            log.info("%s: not valid with the speed-ups; confirming on pyHanko's plain "
                     "path", job.pdf)
        with _speedups.plain():
            report = await _plain(job, fetching)
        _compare(job, fast, report)
        return report
    finally:
        await fetching.aclose()


@dataclass(frozen=True)
class _Job:
    """One document to verify and how."""

    pdf: str
    data: bytes
    expected: tuple[ExpectedSigner, ...] | None
    roots: list[x509.Certificate]
    offline: bool
    validation_time: datetime | None


async def _fast(job: _Job, fetching: _Fetching) -> DocumentReport | None:
    """The report of the speed-ups' path, or ``None`` when it cannot be trusted."""
    with _speedups.attempt(f"verification of {job.pdf}") as attempt:
        try:
            report = await _verify(job, fetching, fast=True)
        except Exception as exc:  # noqa: BLE001 - the plain path decides
            log.info("%s: verification with the speed-ups stopped (%s); verifying on "
                     "pyHanko's plain path", job.pdf, one_line(exc))
            return None
    if attempt.failed:
        log.warning("%s: a speed-up failed (%s); verifying again on pyHanko's plain path",
                    job.pdf, attempt.failures[0])
        return None
    return report


def _untrusted_only(job: _Job, report: DocumentReport) -> bool:
    """Whether ``report`` is invalid only because nothing can be trusted: no trust anchor
    was given (so no path, plain or not, can find one), and every signature is intact,
    valid, covers its revision, matches its signatory and allows what came after it.
    pyHanko's plain path would then give the same verdict for the same reason: it need
    not confirm it (a confirmation costs seconds for 16 signatures)."""
    if job.roots or report.tampered or report.problems:
        return False
    return all(s.intact and s.signature_valid and s.tampered_revision is None
               and s.coverage in ("entire file", "entire revision")
               and s.signer_matches is not False and s.docmdp_ok is not False
               for s in report.signatures)


async def _plain(job: _Job, fetching: _Fetching) -> DocumentReport:
    try:
        return await _verify(job, fetching, fast=False)
    except SignersError:
        raise
    except Exception as exc:  # noqa: BLE001 - fail closed, with one clear line
        log.debug("verification of %s failed", job.pdf, exc_info=True)
        raise VerificationError(f"{job.pdf}: cannot be verified ({one_line(exc)}); the "
                                "file is damaged") from exc


def _compare(job: _Job, fast: DocumentReport | None, plain: DocumentReport) -> None:
    if fast is None:
        return
    if fast.valid != plain.valid or fast.tampered != plain.tampered:
        log.warning("%s: the speed-ups' verdict (valid=%s, tampered=%s) differs from "
                    "pyHanko's plain path (valid=%s, tampered=%s); reporting the plain "
                    "path's: please report this", job.pdf, fast.valid, fast.tampered,
                    plain.valid, plain.tampered)


async def _verify(job: _Job, fetching: _Fetching, *, fast: bool) -> DocumentReport:
    """One verification of the document, with or without the speed-ups."""
    reader = open_pdf(job.pdf, job.data, VerificationError)
    if fast:
        from .speedups.refgraph import accelerate

        accelerate(reader)
    embedded, broken = _collect(reader)
    if fast:
        _prime_digests(embedded, job.data)
    dss = _dss_data(_read_dss(reader))
    doc = _DocFacts.of(reader, _revisions(reader, fast), dss, embedded)
    try:
        by_field = {e.field: e for e in job.expected or ()}
        pending = deque(enumerate(embedded))  # each signature's data is freed once checked
        del embedded
        reports = await _check_all(pending, _Contexts(job, dss, fetching), doc, by_field,
                                   job.expected is not None, CONCURRENT_CHECKS if fast else 1)
        reports += [_broken_report(name, reason, by_field) for name, reason in broken]
        return _summarise(job.pdf, job.data, doc, reports, job.expected)
    finally:
        doc.close()


def _revisions(reader: PdfFileReader, fast: bool) -> Revisions:
    if fast:
        from .speedups.diffcache import FastRevisions

        return FastRevisions(reader)
    return PlainRevisions(reader)


@dataclass
class _DocFacts:
    """Per-document facts shared by the checks of every signature."""

    reader: PdfFileReader
    revisions: Revisions
    dss: _DssData
    made_by: dict[int, str] = field(default_factory=dict)
    """Field of the signature or document timestamp each signed revision carries."""
    timestamped: tuple[int, ...] = ()
    """Revisions carrying a document timestamp."""

    @classmethod
    def of(cls, reader: PdfFileReader, revisions: Revisions, dss: _DssData,
           embedded: Iterable[EmbeddedPdfSignature]) -> _DocFacts:
        made_by, timestamped = {}, []
        for emb in embedded:
            try:
                made_by[emb.signed_revision] = str(emb.field_name)
                if emb.sig_object_type == "/DocTimeStamp":
                    timestamped.append(emb.signed_revision)
            except Exception:  # noqa: BLE001 - a broken signature names no revision
                log.debug("cannot locate the revision of %s", emb.field_name, exc_info=True)
        return cls(reader, revisions, dss, made_by, tuple(timestamped))

    @property
    def policy(self) -> DiffPolicy:
        """The difference-analysis policy pyHanko's validation uses."""
        return self.revisions.policy

    def close(self) -> None:
        """Free what the analysis keeps of the document (the report holds plain values)."""
        self.revisions.close()

    def steps(self) -> list[Step]:
        """The analysed steps after the first signed revision."""
        total = self.reader.xrefs.total_revisions
        first = min(self.made_by, default=total)
        return [self.revisions.step(r) for r in range(first + 1, total)]

    @cached_property
    def dss_revisions(self) -> list[int]:
        """Revisions after the first signed one whose catalog has a document security
        store."""
        return [step.revision for step in self.steps() if step.dss]


# -- reading ---------------------------------------------------------------------------

def _collect(reader: PdfFileReader
             ) -> tuple[list[EmbeddedPdfSignature], list[tuple[str, str]]]:
    """Every filled signature field, in revision order; (field, reason) for those whose
    signature cannot even be parsed (pyHanko's own enumeration would crash on them)."""
    found, broken = [], []
    try:
        fields = list(enumerate_sig_fields(reader, filled_status=True))
    except Exception as exc:  # noqa: BLE001
        raise VerificationError(f"the signature fields cannot be read ({exc}); the file "
                                "is damaged") from exc
    for name, _, field_ref in fields:
        try:
            emb = EmbeddedPdfSignature(reader, field_ref.get_object(), str(name))
            found.append((emb.signed_revision, emb))
        except Exception as exc:  # noqa: BLE001 - fail closed on that signature only
            broken.append((str(name), f"the signature cannot be parsed: {exc}"))
    found.sort(key=lambda item: item[0])
    return [emb for _, emb in found], broken


def _prime_digests(embedded: list[EmbeddedPdfSignature], data: bytes) -> None:
    """Byte-range digests of all signatures at once (pyHanko computes any left out)."""
    from .speedups.digests import prime_digests

    try:
        prime_digests(embedded, data)
    except Exception as exc:  # noqa: BLE001 - recorded: the plain path verifies again
        _speedups.failed("shared digests", exc)


def _read_dss(reader: PdfFileReader) -> DocumentSecurityStore | None:
    try:
        return DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return None
    except Exception:  # noqa: BLE001 - an unreadable DSS only loses validation data
        log.warning("the document security store cannot be read; ignoring it", exc_info=True)
        return None


class _Fetching:
    """The network side of a verification, made once per document and shared by every
    signature's check and by both paths: the fetchers (an OCSP response or a CRL fetched
    for one signature serves the others) and the backend behind them."""

    def __init__(self, offline: bool, extra: dict[str, Any]) -> None:
        self.extra = dict(extra)
        # the fetchers are shared, so no context may own the backend (none is closed)
        given = self.extra.pop("fetcher_backend", None)
        owned = isinstance(given, OwnedFetcherBackend)
        backend: FetcherBackend | None = given.backend if owned else given
        self.backend = backend if owned else None  # ours to close; a lent one is not
        self.fetchers: Fetchers | None = None
        if offline or self.extra.get("fetchers") is not None:
            return
        if backend is None:
            from pyhanko_certvalidator.fetchers.aiohttp_fetchers import (
                AIOHttpFetcherBackend,  # imports aiohttp: only when fetching
            )

            backend = self.backend = AIOHttpFetcherBackend()
        self.fetchers = backend.get_fetchers()

    async def aclose(self) -> None:
        """Close the network sessions opened for this document."""
        if self.backend is not None:
            await self.backend.close()


class _Contexts:
    """A new pyHanko validation context for each signature, as pyHanko's own validation
    uses: a signature's certification path is built from its own certificates, those of
    the document security store and the trust roots — never from those another
    signature carried, so that its verdict does not depend on which signature was checked
    first (they are checked concurrently). What does not depend on the signature is made
    once: the trust roots, the parsed validation data, and the fetchers."""

    def __init__(self, job: _Job, embedded: _DssData, fetching: _Fetching) -> None:
        self.kwargs: dict[str, Any] = {
            "trust_manager": SimpleTrustManager.build(trust_roots=job.roots),
            "allow_fetching": not job.offline, "revocation_mode": "hard-fail",
            "other_certs": embedded.certs,
            "ocsps": embedded.ocsps,  # offline + nothing embedded: all unknown
            "crls": embedded.crls,
        }
        if job.validation_time is not None:
            self.kwargs["moment"] = job.validation_time
        self.kwargs.update(fetching.extra)
        if fetching.fetchers is not None:
            self.kwargs["fetchers"] = fetching.fetchers

    def new(self) -> ValidationContext:
        """A validation context for one signature."""
        return ValidationContext(**self.kwargs)


@dataclass(frozen=True)
class _DssData:
    """The validation data embedded in the document security store, parsed."""

    certs: tuple[x509.Certificate, ...] = ()
    ocsps: tuple[asn1_ocsp.OCSPResponse, ...] = ()
    crls: tuple[asn1_crl.CertificateList, ...] = ()


def _dss_data(dss: DocumentSecurityStore | None) -> _DssData:
    if dss is None:
        return _DssData()
    try:
        return _DssData(
            tuple(dss.load_certs()),
            tuple(asn1_ocsp.OCSPResponse.load(_stream(r, DecodePurpose.OCSP_RESPONSE))
                  for r in dss.ocsps),
            tuple(asn1_crl.CertificateList.load(_stream(r, DecodePurpose.CRL))
                  for r in dss.crls))
    except Exception:  # noqa: BLE001 - unreadable validation data is no validation data
        log.warning("the document security store cannot be parsed; ignoring it",
                    exc_info=True)
        return _DssData()


def _stream(ref: Any, purpose: DecodePurpose) -> bytes:
    return bytes(ref.get_object().read_data(purpose))


def _load_root(root: str | os.PathLike[str] | x509.Certificate) -> x509.Certificate:
    if isinstance(root, x509.Certificate):
        return root
    try:
        return load_cert_from_pemder(str(root))
    except Exception as exc:  # noqa: BLE001
        raise VerificationError(f"{root}: not a PEM or DER certificate ({exc}); pass the "
                                "trust root certificate file") from exc


async def _check_all(pending: deque[tuple[int, EmbeddedPdfSignature]],
                     contexts: _Contexts,
                     doc: _DocFacts, by_field: dict[str, ExpectedSigner],
                     have_expectations: bool, at_once: int) -> list[SignatureReport]:
    """Check the signatures ``at_once`` at a time: while one waits for an OCSP responder,
    a CRL or a timestamp authority's certificate status, the others are checked. Reports
    come in the order of ``pending``."""
    reports: dict[int, SignatureReport] = {}
    count = len(pending)

    async def checker() -> None:
        while pending:
            index, emb = pending.popleft()
            reports[index] = await _check_one(emb, contexts.new(), doc, by_field,
                                              have_expectations)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(at_once, count)):
            group.create_task(checker())
    return [reports[index] for index in range(count)]


# -- one signature ---------------------------------------------------------------------

async def _check_one(emb: EmbeddedPdfSignature, vc: ValidationContext, doc: _DocFacts,
                     by_field: dict[str, ExpectedSigner],
                     have_expectations: bool) -> SignatureReport:
    try:
        status = await _validate(emb, vc, doc.policy)
        return _report(emb, status, doc, by_field, have_expectations)
    except Exception as exc:  # noqa: BLE001 - fail closed, never crash
        log.debug("verification of %s failed", _safe_field(emb), exc_info=True)
        return _failed_report(emb, doc, by_field, f"verification failed: {exc}")


async def _validate(emb: EmbeddedPdfSignature, vc: ValidationContext,
                    policy: DiffPolicy) -> PdfSignatureStatus | DocumentTimestampStatus:
    if emb.sig_object_type == "/DocTimeStamp":
        return await async_validate_pdf_timestamp(emb, vc, diff_policy=policy)
    return await async_validate_pdf_signature(emb, vc, diff_policy=policy)


def _report(emb: EmbeddedPdfSignature, status: PdfSignatureStatus | DocumentTimestampStatus,
            doc: _DocFacts, by_field: dict[str, ExpectedSigner],
            have_expectations: bool) -> SignatureReport:
    is_ts = isinstance(status, DocumentTimestampStatus)
    who = identity_of(status.signing_cert)
    name = str(emb.field_name)
    exp = by_field.get(name)
    matches, match_detail = _match(who, exp, have_expectations, is_ts)
    tampered = _tampered_revision(emb, doc)
    problems = _problems(status, matches, match_detail, tampered, doc)
    mod = status.modification_level
    return SignatureReport(
        field=name, kind="timestamp" if is_ts else "signature",
        revision=emb.signed_revision, expected_signer=exp.label if exp else None,
        signer_matches=matches, match_detail=match_detail,
        signer_name=who.names[0] if who.names else who.subject,
        subject=who.subject, issuer=who.issuer, email=who.emails[0] if who.emails else None,
        fingerprint=who.fingerprint,
        signing_time=_iso(None if is_ts else getattr(status, "signer_reported_dt", None)),
        timestamp_time=_iso(_ts_time(status)), tsa=_tsa(status),
        pades_level=None if is_ts else _pades_level(emb, status, doc),
        intact=status.intact, signature_valid=status.valid, trusted=status.trusted,
        revocation=_revocation(status), coverage=_coverage(status.coverage),
        modification_level=mod.name if mod is not None else None,
        docmdp_ok=status.docmdp_ok, changes_after=_later(emb, doc),
        tampered_revision=tampered, pyhanko_valid=_bottom_line(status),
        valid=not problems, problems=tuple(problems), reason=_reason(emb),
        certificate_expires=_expires(emb))


def _expires(emb: EmbeddedPdfSignature) -> str | None:
    """When the signer's certificate expires (``None`` if it cannot be read)."""
    try:
        return _iso(emb.signer_cert.not_valid_after)
    except Exception:  # noqa: BLE001 - a damaged certificate gives none
        return None


def _reason(emb: EmbeddedPdfSignature) -> str | None:
    """The signature's ``/Reason``, as text."""
    try:
        value = emb.sig_object.get("/Reason")
    except Exception:  # noqa: BLE001 - a damaged signature dictionary gives none
        return None
    return None if value is None else str(value)


def _coverage(level: SignatureCoverageLevel | None) -> str:
    return _COVERAGE.get(level, "unclear") if level is not None else "unclear"


def _bottom_line(status: PdfSignatureStatus | DocumentTimestampStatus) -> bool:
    if isinstance(status, PdfSignatureStatus):
        return bool(status.bottom_line)
    # a document timestamp restricts nothing: later revisions must merely be ones the
    # difference analysis explains (not OTHER)
    return bool(status.valid and status.intact and status.trusted
                and status.modification_level is not ModificationLevel.OTHER)


def _match(who: CertIdentity, exp: ExpectedSigner | None, have_expectations: bool,
           is_ts: bool) -> tuple[bool | None, str]:
    if is_ts or not have_expectations:
        return None, ""
    if exp is None:
        return None, "no signatory is expected in this field (listed as unexpected)"
    result = match_signer(who, exp)
    return result.matches, result.detail


def _problems(status: PdfSignatureStatus | DocumentTimestampStatus, matches: bool | None,
              match_detail: str, tampered: int | None, doc: _DocFacts) -> list[str]:
    out: list[str] = []
    if not status.intact:
        out.append("the signed bytes were altered (digest mismatch)")
    if not status.valid:
        out.append("the signature value does not verify")
    if status.revoked:
        out.append("the signer's certificate is revoked")
    elif not status.trusted:
        out.append(_trust_problem(status))
    ts = getattr(status, "timestamp_validity", None)
    if ts is not None and not (ts.valid and ts.intact and ts.trusted):
        out.append("the signature timestamp is not valid or not trusted")
    if status.coverage is None or status.coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        out.append("the signature does not cover a whole revision of this file")
    if tampered is not None:
        out.append(f"illegitimate change in revision {tampered} "
                   f"({_describe_revision(tampered, doc)})")
    elif status.docmdp_ok is False:
        out.append("a later change is not allowed by the document modification policy")
    if isinstance(status, PdfSignatureStatus) and not status.seed_value_ok:
        out.append("the signature violates the field's seed value constraints")
    if matches is False:
        out.append(f"wrong signer: {match_detail}")
    if not out and not _bottom_line(status):
        out.append(f"rejected by pyHanko: {status.summary()}")
    return out


def _trust_problem(status: PdfSignatureStatus | DocumentTimestampStatus) -> str:
    if _revocation(status) == "unknown":
        return ("the certification path could not be validated: revocation status "
                "unknown (hard-fail) or another path failure")
    return "the certificate does not chain to a trusted root"


def _revocation(status: PdfSignatureStatus | DocumentTimestampStatus) -> str:
    if status.revoked:
        return "revoked"
    if status.trusted:
        return "good"
    name = getattr(status.trust_problem_indic, "name", "")
    if name in ("NO_CERTIFICATE_CHAIN_FOUND", ""):
        return "not checked"  # no path to a trust root: revocation never looked at
    return "unknown"


def _ts_time(status: PdfSignatureStatus | DocumentTimestampStatus) -> datetime | None:
    if isinstance(status, DocumentTimestampStatus):
        return status.timestamp
    ts = status.timestamp_validity
    return ts.timestamp if ts is not None else None


def _tsa(status: PdfSignatureStatus | DocumentTimestampStatus) -> str | None:
    if isinstance(status, DocumentTimestampStatus):
        return str(status.signing_cert.subject.human_friendly)
    ts = status.timestamp_validity
    return str(ts.signing_cert.subject.human_friendly) if ts is not None else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _pades_level(emb: EmbeddedPdfSignature, status: PdfSignatureStatus | DocumentTimestampStatus,
                 doc: _DocFacts) -> str | None:
    if emb.sig_object.get("/SubFilter") != "/ETSI.CAdES.detached":
        return None
    ts = getattr(status, "timestamp_validity", None)
    if ts is None or not (ts.valid and ts.intact and ts.trusted):
        return "B-B"
    dss_revs = [r for r in doc.dss_revisions if r > emb.signed_revision]
    if not dss_revs or not _dss_covers(doc.dss, status.signing_cert):
        return "B-T"
    archived = any(r > dss_revs[0] for r in doc.timestamped)
    return "B-LTA" if archived else "B-LT"


def _dss_covers(data: _DssData, cert: x509.Certificate) -> bool:
    for resp in data.ocsps:
        basic = resp["response_bytes"]["response"].parsed["tbs_response_data"]
        if any(s["cert_id"]["serial_number"].native == cert.serial_number
               for s in basic["responses"]):
            return True
    return any(c.issuer == cert.issuer for c in data.crls)


def _later(emb: EmbeddedPdfSignature, doc: _DocFacts) -> tuple[int, ...]:
    return tuple(range(emb.signed_revision + 1, doc.reader.xrefs.total_revisions))


def _tampered_revision(emb: EmbeddedPdfSignature, doc: _DocFacts) -> int | None:
    fieldmdp, docmdp = emb.fieldmdp, emb.docmdp_level
    for revision in _later(emb, doc):
        if doc.revisions.violates(revision, fieldmdp, docmdp):
            return revision
    return None


def _failed_report(emb: EmbeddedPdfSignature, doc: _DocFacts,
                   by_field: dict[str, ExpectedSigner], reason: str) -> SignatureReport:
    name = _safe_field(emb)
    exp = by_field.get(name)
    who = _safe_identity(emb)
    try:
        revision = emb.signed_revision
    except Exception:  # noqa: BLE001
        revision = -1
    return SignatureReport(
        field=name, kind="signature", revision=revision,
        expected_signer=exp.label if exp else None, signer_matches=None, match_detail="",
        signer_name=who.names[0] if who and who.names else "?",
        subject=who.subject if who else "?", issuer=who.issuer if who else "?",
        email=who.emails[0] if who and who.emails else None,
        fingerprint=who.fingerprint if who else "", signing_time=None, timestamp_time=None,
        tsa=None, pades_level=None, intact=False, signature_valid=False, trusted=False,
        revocation="not checked", coverage="unclear", modification_level=None,
        docmdp_ok=None, changes_after=(), tampered_revision=None, pyhanko_valid=False,
        valid=False, problems=(reason,), reason=_reason(emb))


def _broken_report(name: str, reason: str,
                   by_field: dict[str, ExpectedSigner]) -> SignatureReport:
    exp = by_field.get(name)
    return SignatureReport(
        field=name, kind="signature", revision=-1,
        expected_signer=exp.label if exp else None, signer_matches=None, match_detail="",
        signer_name="?", subject="?", issuer="?", email=None, fingerprint="",
        signing_time=None, timestamp_time=None, tsa=None, pades_level=None, intact=False,
        signature_valid=False, trusted=False, revocation="not checked", coverage="unclear",
        modification_level=None, docmdp_ok=None, changes_after=(), tampered_revision=None,
        pyhanko_valid=False, valid=False, problems=(reason,))


def _safe_field(emb: EmbeddedPdfSignature) -> str:
    try:
        return str(emb.field_name)
    except Exception:  # noqa: BLE001
        return "?"


def _safe_identity(emb: EmbeddedPdfSignature) -> CertIdentity | None:
    try:
        return identity_of(emb.signer_cert)
    except Exception:  # noqa: BLE001 - the CMS structure itself may be corrupt
        return None


# -- the document ----------------------------------------------------------------------

def _revision_reports(doc: _DocFacts) -> list[RevisionReport]:
    out = []
    for step in doc.steps():
        legit = not step.suspicious and step.level <= ModificationLevel.FORM_FILLING
        detail = step.detail or (f"{step.level.name} changes go beyond what signing and "
                                 "form filling may change")
        out.append(RevisionReport(
            revision=step.revision, made_by=doc.made_by.get(step.revision),
            after=_signature_before(step.revision, doc),
            modification_level=step.level.name,
            changed_fields=tuple(sorted(str(f) for f in step.changed_fields)),
            legitimate=legit, detail="" if legit else detail))
    return out


def _signature_before(revision: int, doc: _DocFacts) -> str | None:
    earlier = [r for r in doc.made_by if r < revision]
    return doc.made_by[max(earlier)] if earlier else None


def _describe_revision(revision: int, doc: _DocFacts) -> str:
    made_by = doc.made_by.get(revision)
    if made_by is not None:
        return f"the revision of signature {made_by!r}"
    before = _signature_before(revision, doc)
    ordinal = sorted(doc.made_by).index(max(r for r in doc.made_by if r < revision)) + 1 \
        if before else 0
    return (f"unsigned update after signature #{ordinal} {before!r}" if before
            else "unsigned update before any signature")


def _trailing_garbage(data: bytes, reader: PdfFileReader) -> str | None:
    total = reader.xrefs.total_revisions
    try:
        end = reader.xrefs.get_xref_container_info(total - 1).end_location
    except Exception:  # noqa: BLE001
        end = 0
    eof = _EOF.search(data, end)
    if eof is None:
        return "no %%EOF marker after the last revision"
    rest = data[eof.end():]
    if rest.strip(b" \t\r\n\x00\x0c"):
        return (f"{len(rest)} bytes were appended after the end of the last revision "
                f"(revision {total - 1}); they are not covered by any signature")
    return None


def _summarise(path: str, data: bytes, doc: _DocFacts, sigs: list[SignatureReport],
               expected: Sequence[ExpectedSigner] | None) -> DocumentReport:
    revisions = _revision_reports(doc)
    tampering = [f"revision {r.revision} ({_describe_revision(r.revision, doc)}): "
                 f"{r.modification_level} — {r.detail}" for r in revisions if not r.legitimate]
    tampering += [f"signature {s.field!r}: {p}" for s in sigs for p in s.problems
                  if p.startswith(("the signed bytes", "the signature does not cover"))]
    problems = []
    garbage = _trailing_garbage(data, doc.reader)
    if garbage:
        problems.append(garbage)
    fields = [e.field for e in expected or ()]
    signed = tuple(f for f in fields if any(s.field == f and s.valid for s in sigs))
    missing = tuple(f for f in fields if f not in signed)
    unexpected = tuple(s.field for s in sigs if expected is not None and s.kind == "signature"
                       and s.field not in fields)
    tampered = bool(tampering) or garbage is not None
    return DocumentReport(
        path=path, revisions=tuple(revisions), signatures=tuple(sigs), signed=signed,
        missing=missing, unexpected=unexpected, tampered=tampered,
        tampering=tuple(tampering), problems=tuple(problems),
        valid=all(s.valid for s in sigs) and not tampered and not problems,
        complete=bool(fields) and not missing)

