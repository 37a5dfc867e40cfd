"""Long-term validation of a PAdES B-LTA file, offline, as pyHanko's AdES LTA validation
(ETSI EN 319 102-1) judges it, and its ETSI TS 119 102-2 validation report.

:func:`validate_long_term` judges every signature with
:func:`pyhanko.sign.validation.ades.ades_lta_validation` from the file's own validation
data only (no network): the chain of document timestamps gives proofs of existence to
everything it covers, each signature is validated at the current time or, when that
fails for time-dependent reasons (an expired or since-revoked certificate), in the past,
at its best signature time. Each document timestamp is checked as of the next one (the
last as of the evaluation time). Nothing can prove offline that the last timestamp's
authority was not revoked after the last validation data was gathered: that one
certificate path is asserted unrevoked (as pyHanko's own simulated future validation
does) — all the rest must be proven by the file.

An evaluation at a time when the last document timestamp's certificate has expired
cannot succeed (nothing is left to prove the timestamps): the file then needs renewal,
and :func:`validate_long_term` reports since when, judging the rest as of just before.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import io
import logging
import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESStatus
from pyhanko.sign.validation import EmbeddedPdfSignature
from pyhanko.sign.validation.ades import (
    AdESBasicValidationResult,
    AdESLTAValidationResult,
    ades_lta_validation,
    ades_timestamp_validation,
)
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.policy_decl import (
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    NonRevokedStatusAssertion,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer

from . import speedups as _speedups
from .exceptions import VerificationError
from .identity import identity_of
from .tokens import TimestampInfo, signature_timestamp, timestamp_info

if TYPE_CHECKING:
    from .qualified import Qualification, TrustedLists

__all__ = ["ArchiveTimestampCheck", "LongTermReport", "LongTermSignature",
           "validate_long_term"]

log = logging.getLogger(__name__)

_HARD_FAIL = RevocationCheckingPolicy(RevocationCheckingRule.CHECK_IF_DECLARED,
                                      RevocationCheckingRule.CHECK_IF_DECLARED)
"""Revocation checked for every certificate that says where (hard-fail)."""
_BEFORE_EXPIRY = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class LongTermSignature:
    """pyHanko's AdES LTA verdict on one signature."""

    field: str
    """Name of the signature field."""
    revision: int
    """Revision the signature covers."""
    indication: str
    """ETSI main indication: ``PASSED``, ``INDETERMINATE`` or ``FAILED``."""
    subindication: str
    """ETSI sub-indication (``OK`` when passed, e.g. ``NO_POE``, ``REVOKED``)."""
    message: str
    """pyHanko's explanation when not passed (empty when passed)."""
    best_signature_time: dt.datetime | None
    """The earliest time the signature is proven to have existed (its timestamp)."""
    claimed_time: dt.datetime | None
    """Signing time claimed by the signer (unproven)."""
    timestamp: TimestampInfo | None
    """The signature timestamp, if any."""
    signer: str
    """Certificate holder (common name)."""
    subject: str
    """Certificate subject."""
    issuer: str
    """Certificate issuer."""
    fingerprint: str
    """SHA-256 fingerprint of the signer's certificate (lowercase hex)."""
    email: str | None
    """E-mail address in the certificate."""
    reason: str | None
    """The signature's /Reason."""
    revoked_at: dt.datetime | None
    """When the signer's certificate was revoked, when the file records a revocation
    (a signature made before it stays valid)."""
    qualification: Qualification | None = None
    """eIDAS qualification, when trusted lists were given."""

    @property
    def passed(self) -> bool:
        """The signature is valid (``PASSED``)."""
        return self.indication == "PASSED"


@dataclass(frozen=True)
class ArchiveTimestampCheck:
    """The check of one document timestamp."""

    field: str
    """Name of its field."""
    revision: int
    """Revision it covers."""
    info: TimestampInfo
    """Its time and authority."""
    checked_at: dt.datetime
    """The time it was validated as of: the next document timestamp's, or for the last
    one the evaluation time."""
    indication: str
    """ETSI main indication."""
    subindication: str
    """ETSI sub-indication."""
    message: str
    """Why it did not pass, if it did not."""

    @property
    def passed(self) -> bool:
        """The timestamp is valid."""
        return self.indication == "PASSED"


@dataclass(frozen=True)
class LongTermReport:
    """The verdict on a PAdES B-LTA file at one time."""

    path: str
    """The file."""
    requested_time: dt.datetime
    """The time the evaluation was asked for."""
    evaluated_time: dt.datetime
    """The time it was made as of: the requested time, or just before the last
    document timestamp's certificate expired when renewal is needed."""
    signatures: tuple[LongTermSignature, ...]
    """Every signature, in revision order."""
    timestamps: tuple[ArchiveTimestampCheck, ...]
    """Every document timestamp, in revision order."""
    renewal_due: dt.datetime | None
    """When the last document timestamp's certificate expires: a newer timestamp must
    be added before then (``None`` without document timestamp)."""
    problems: tuple[str, ...] = ()
    """File-level problems (no document timestamp, unreadable signatures)."""
    etsi_report: str = field(default="", repr=False)
    """The ETSI TS 119 102-2 validation report (XML), when asked for."""

    @property
    def renewal_needed(self) -> bool:
        """The requested time is at or after :attr:`renewal_due`."""
        return self.renewal_due is not None and self.requested_time >= self.renewal_due

    @property
    def valid(self) -> bool:
        """Every signature and timestamp holds (as of :attr:`evaluated_time`)."""
        return (not self.problems and bool(self.signatures)
                and all(s.passed for s in self.signatures)
                and all(t.passed for t in self.timestamps))


def validate_long_term(pdf: str | os.PathLike[str], *,
                       trust_roots: Sequence[asn1_x509.Certificate],
                       at: dt.datetime | None = None, etsi_report: bool = False,
                       trusted_lists: TrustedLists | None = None,
                       seals: Iterable[str] = (), processes: int | None = None,
                       speedups: bool | None = None) -> LongTermReport:
    """Judge every signature and document timestamp of ``pdf`` offline, as of ``at``
    (default: now), with ``trust_roots`` as the only trust anchors.

    With ``etsi_report``, :attr:`LongTermReport.etsi_report` holds the ETSI TS 119 102-2
    report; with ``trusted_lists``, each signature's eIDAS qualification is assessed
    (``seals``: fields signed for an organisation). The signatures are judged
    independently, in ``processes`` processes (default: one per CPU, at most
    :data:`MAX_PROCESSES`, one per :data:`PER_PROCESS` signatures; forked, each reading
    the file again). ``speedups`` as for :func:`signers.verify.verify_document`: on the
    speed-ups' path, a failure of theirs or a verdict other than valid is judged again on
    pyHanko's plain path, whose report is returned. Raises :class:`VerificationError`
    when the file cannot be read as a signed PDF."""
    job = _Job(Path(pdf), tuple(trust_roots), at or dt.datetime.now(dt.UTC), at is not None,
               etsi_report, trusted_lists, frozenset(seals))
    with _quiet_pyhanko():
        if _speedups.wanted(speedups):
            with _speedups.attempt(f"long-term validation of {pdf}") as attempt:
                try:
                    fast: LongTermReport | None = job.run(processes)
                except Exception as exc:  # noqa: BLE001 - the plain path decides
                    _speedups.failed("long-term validation", exc)
                    fast = None
            if fast is not None and fast.valid and not attempt.failed:
                return fast
            if attempt.failed:
                log.warning("%s: a speed-up failed (%s); judging again on pyHanko's plain "
                            "path", pdf, attempt.failures[0])
        with _speedups.plain():
            return job.run(processes)


MAX_PROCESSES = 4
"""Most processes judging the signatures of one file."""
PER_PROCESS = 6
"""A process is worth forking for this many signatures (it reads the file again)."""


def _shares(count: int, processes: int | None) -> list[list[int]]:
    """Signature indexes per process, the first share the caller's. A process with
    other threads running is not forked (a child could inherit a lock they hold)."""
    if processes is None and threading.active_count() > 1:
        processes = 1
    wanted = processes or min(os.cpu_count() or 1, MAX_PROCESSES)
    n = max(1, min(wanted, count // PER_PROCESS if processes is None else count))
    return [list(range(i, count, n)) for i in range(n)]


class _Child:
    """A forked child computing ``work``; :meth:`result` waits for its pickled result,
    or ``None`` when the child failed (the caller then does the work itself)."""

    def __init__(self, work: Callable[[], Any]) -> None:
        read, write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # compute, send, exit without running the parent's cleanups
            try:
                os.close(read)
                try:
                    payload = pickle.dumps(work())
                except BaseException:  # noqa: BLE001 - reported to the parent as "no result"
                    payload = b""
                with os.fdopen(write, "wb") as pipe:
                    pipe.write(payload)
            finally:  # even if the parent is gone (broken pipe): never return into its code
                os._exit(0)
        os.close(write)
        self.pipe = os.fdopen(read, "rb")
        self.reaped = False

    def result(self) -> Any:
        with self.pipe:
            payload = self.pipe.read()
        os.waitpid(self.pid, 0)
        self.reaped = True
        if not payload:
            log.warning("a process judging signatures failed; judging them here")
            return None
        return pickle.loads(payload)  # noqa: S301 - our own child's output

    def stop(self) -> None:
        """The caller gives up (interrupted, failed): end the child now."""
        self.pipe.close()
        if not self.reaped:  # (a reaped pid may already name another process)
            self.reaped = True
            with suppress(ChildProcessError, ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)


@dataclass(frozen=True)
class _Doc:
    """The parsed file and what is shared by every signature's judgment."""

    reader: PdfFileReader
    signatures: list[EmbeddedPdfSignature]
    stamps: list[EmbeddedPdfSignature]
    infos: list[TimestampInfo]
    due: dt.datetime | None
    evaluated: dt.datetime
    spec: PdfSignatureValidationSpec
    problems: tuple[str, ...]


_Judged = tuple[int, tuple["LongTermSignature", str]]


@dataclass(frozen=True)
class _Job:
    """One validation: what every process needs (a forked child inherits it)."""

    path: Path
    roots: tuple[asn1_x509.Certificate, ...]
    requested: dt.datetime
    point_in_time: bool
    etsi: bool
    lists: TrustedLists | None
    seals: frozenset[str]

    def run(self, processes: int | None) -> LongTermReport:
        """The whole validation, on the path (speed-ups or plain) the caller chose."""
        doc = self.open()
        shares = _shares(len(doc.signatures), processes)
        children: list[_Child] = []
        try:
            for share in shares[1:]:
                children.append(_Child(functools.partial(self.judge_share, share)))
            checks, mine = asyncio.run(self.judge(doc, shares[0]))
            judged = dict(mine)
            for share, child in zip(shares[1:], children, strict=True):
                judged.update(child.result() or asyncio.run(self.judge_signatures(doc, share)))
        except BaseException:  # interrupted or failed: no child outlives the caller
            for child in children:
                child.stop()
            raise
        results = [judged[i] for i in range(len(doc.signatures))]
        xml = ""
        if self.etsi:
            from .etsi_report import merge_reports

            xml = merge_reports([x for _, x in results],
                                list(zip(doc.stamps, checks, strict=True)))
        return LongTermReport(str(self.path), self.requested, doc.evaluated,
                              tuple(s for s, _ in results), tuple(c for c, _ in checks),
                              doc.due, doc.problems, xml)

    def open(self) -> _Doc:
        reader, signatures, stamps = _open(self.path)
        infos = [timestamp_info(s.signed_data) for s in stamps]
        due = infos[-1].tsa_expires if infos else None
        evaluated = min(self.requested, due - _BEFORE_EXPIRY) if due else self.requested
        spec = _spec(self.roots, _dss_knowledge(reader, stamps, evaluated))
        problems = () if stamps else ("no document timestamp: the file is not PAdES B-LTA",)
        return _Doc(reader, signatures, stamps, infos, due, evaluated, spec, problems)

    async def judge(self, doc: _Doc, share: list[int]
                    ) -> tuple[list[tuple[ArchiveTimestampCheck, AdESBasicValidationResult]],
                               list[_Judged]]:
        checks = [await _check_stamp(s, info, _stamp_time(doc.infos, i, doc.evaluated),
                                     doc.spec)
                  for i, (s, info) in enumerate(zip(doc.stamps, doc.infos, strict=True))]
        return checks, await self.judge_signatures(doc, share)

    async def judge_signatures(self, doc: _Doc, share: list[int]) -> list[_Judged]:
        timing = ValidationTimingInfo(validation_time=doc.evaluated,
                                      best_signature_time=doc.evaluated,
                                      point_in_time_validation=self.point_in_time)
        out = []
        for index in share:
            emb = doc.signatures[index]
            result = await ades_lta_validation(emb, doc.spec, timing_info=timing)
            record = _signature(emb, result, self.lists, str(emb.field_name) in self.seals)
            xml = ""
            if self.etsi:
                from pyhanko.sign.validation.report.tools import generate_report

                xml = generate_report(emb, result)
            out.append((index, (record, xml)))
        return out

    def judge_share(self, share: list[int]) -> list[_Judged]:
        """In a child process: open the file again and judge ``share`` (on the parent's
        path; a speed-up failing here fails the child, the parent judges the share
        itself)."""
        judged = asyncio.run(self.judge_signatures(self.open(), share))
        attempt = _speedups.current()
        if attempt is not None and attempt.failed:
            raise RuntimeError(attempt.failures[0])
        return judged


@contextmanager
def _quiet_pyhanko() -> Iterator[None]:
    """pyHanko logs each validation step that fails — many do on the way to a verdict,
    e.g. the current-time check before a past validation — as a warning with its
    traceback; the verdicts are in the report. Shown with debug logging only."""
    loggers = [logging.getLogger(name) for name in ("pyhanko", "pyhanko_certvalidator")]
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        yield
        return
    saved = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, saved, strict=True):
            logger.setLevel(level)


def _open(pdf: str | os.PathLike[str]
          ) -> tuple[PdfFileReader, list[EmbeddedPdfSignature], list[EmbeddedPdfSignature]]:
    try:
        reader = PdfFileReader(io.BytesIO(Path(pdf).read_bytes()), strict=False)
        embedded = list(reader.embedded_signatures)
    except OSError as exc:
        raise VerificationError(f"{pdf}: cannot read the file ({exc.strerror})") from exc
    except Exception as exc:  # noqa: BLE001 - any parser failure: not verifiable
        raise VerificationError(f"{pdf}: not a readable signed PDF ({exc})") from exc
    stamps = [e for e in embedded if e.sig_object_type == "/DocTimeStamp"]
    signatures = [e for e in embedded if e.sig_object_type != "/DocTimeStamp"]
    if not signatures:
        raise VerificationError(f"{pdf}: no signature")
    return reader, signatures, stamps


def _stamp_time(infos: list[TimestampInfo], index: int, evaluated: dt.datetime) -> dt.datetime:
    """A document timestamp is checked as of the next one, the last as of ``evaluated``."""
    return infos[index + 1].time if index + 1 < len(infos) else evaluated


def _dss_knowledge(reader: PdfFileReader, stamps: list[EmbeddedPdfSignature],
                   evaluated: dt.datetime) -> LocalKnowledge:
    """The validation data of the DSS, and the assertion that the last document
    timestamp's certificates (below the root) were not revoked at ``evaluated``."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
        certs = list(dss.load_certs())
        ocsps = [c for r in dss.ocsps for c in OCSPContainer.load_multi(
            asn1_ocsp.OCSPResponse.load(_data(r, DecodePurpose.OCSP_RESPONSE)))]
        crls = [CRLContainer(asn1_crl.CertificateList.load(_data(r, DecodePurpose.CRL)))
                for r in dss.crls]
    except NoDSSFoundError:
        certs, ocsps, crls = [], [], []
    assertions = []
    if stamps:
        last = stamps[-1]
        chain = [last.signer_cert, *last.other_embedded_certs]
        assertions = [NonRevokedStatusAssertion(c.sha256, at=evaluated) for c in chain
                      if c.self_signed == "no"]
    return LocalKnowledge(known_ocsps=ocsps, known_crls=crls, known_certs=certs,
                          nonrevoked_assertions=assertions)


def _data(ref: Any, purpose: DecodePurpose) -> bytes:
    return bytes(ref.get_object().read_data(purpose))


def _spec(trust_roots: Sequence[asn1_x509.Certificate],
          knowledge: LocalKnowledge) -> PdfSignatureValidationSpec:
    """Hard-fail revocation from the file's data only. Revocation data issued after
    the time it is asked about still speaks for it (``retroactive_revinfo``), as ETSI EN
    319 102-1 reads it: the DSS is gathered at archiving, after the signatures (and a
    certificate revoked after its signature is judged as of its revocation)."""
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=list(trust_roots)),
        revinfo_policy=CertRevTrustPolicy(_HARD_FAIL, retroactive_revinfo=True))
    return PdfSignatureValidationSpec(
        SignatureValidationSpec(
            policy, local_knowledge=knowledge,
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                RevinfoOnlineFetchingRule.LOCAL_ONLY)),
        diff_policy=None)  # the revisions are judged by verify_document, once


async def _check_stamp(emb: EmbeddedPdfSignature, info: TimestampInfo, when: dt.datetime,
                       spec: PdfSignatureValidationSpec
                       ) -> tuple[ArchiveTimestampCheck, AdESBasicValidationResult]:
    timing = ValidationTimingInfo(validation_time=when, best_signature_time=when,
                                  point_in_time_validation=True)
    result = await ades_timestamp_validation(
        emb.signed_data, spec.signature_validation_spec, emb.compute_digest,
        timing_info=timing)
    indication, sub = _indication(result)
    return ArchiveTimestampCheck(
        str(emb.field_name), emb.signed_revision, info, when, indication, sub,
        "" if indication == "PASSED" else str(result.failure_msg or sub)), result


def _indication(result: AdESBasicValidationResult) -> tuple[str, str]:
    sub = result.ades_subindic
    return {AdESStatus.PASSED: "PASSED", AdESStatus.FAILED: "FAILED",
            AdESStatus.INDETERMINATE: "INDETERMINATE"}[sub.status], str(sub.standard_name)


def _signature(emb: EmbeddedPdfSignature, result: AdESLTAValidationResult,
               lists: TrustedLists | None, seal: bool) -> LongTermSignature:
    indication, sub = _indication(result)
    who = identity_of(emb.signer_cert)
    status = result.api_status
    revoked = status.revocation_details if status is not None else None
    qualification = None
    if lists is not None:
        from .qualified import assess_path

        path = status.validation_path if status is not None else None
        qualification = assess_path(path, lists, result.best_signature_time,
                                    passed=indication == "PASSED", seal=seal)
    return LongTermSignature(
        field=str(emb.field_name), revision=emb.signed_revision, indication=indication,
        subindication=sub,
        message="" if indication == "PASSED" else str(result.failure_msg or sub),
        best_signature_time=result.best_signature_time,
        claimed_time=emb.self_reported_timestamp,
        timestamp=timestamp_info(token) if (token := signature_timestamp(emb)) else None,
        signer=who.names[0] if who.names else who.subject, subject=who.subject,
        issuer=who.issuer, fingerprint=who.fingerprint,
        email=who.emails[0] if who.emails else None,
        reason=_text(emb, "/Reason"),
        revoked_at=revoked.revocation_date if revoked and not revoked.ca_revoked else None,
        qualification=qualification)


def _text(emb: EmbeddedPdfSignature, key: str) -> str | None:
    value = emb.sig_object.get(key)
    return str(value) if value is not None else None
