"""Long-term validation: bring a signed PDF to PAdES B-LTA, renew its archive timestamp,
and timestamp any file with an RFC 3161 token.

:func:`add_long_term_validation` writes, as incremental updates, one document security
store (DSS) holding the validation data — certificates, OCSP responses, CRLs — of every
signature, every signature timestamp and every earlier document timestamp, then a document
timestamp (PAdES B-LTA). Each signature's data is gathered *as of its own timestamp*
(point-in-time validation, revocation hard-fail): a certificate revoked after the
signature was timestamped still yields the data that proves it was good then; one
revoked before is refused. :func:`renew_long_term_validation` adds the validation data of
the last document timestamp and a new document timestamp (ETSI EN 319 142-1 "LTA"
renewal), before that timestamp's certificate expires.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.model import VENDOR
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers import PdfTimeStamper
from pyhanko.sign.signers.pdf_signer import TimestampDSSContentSettings
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation import EmbeddedPdfSignature
from pyhanko.sign.validation.dss import DocumentSecurityStore, collect_validation_info
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers import Fetchers
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.path import ValidationPath

from .atomic import atomic_write_bytes
from .exceptions import SigningError, VerificationError
from .tokens import (
    TimestampInfo,
    gen_time,
    signature_timestamp,
    timestamp_info,
)

__all__ = ["ARCHIVE_TIMESTAMP_FIELD", "LtvResult", "add_long_term_validation",
           "document_certificates", "renew_long_term_validation", "timestamp_data"]

log = logging.getLogger(__name__)

ARCHIVE_TIMESTAMP_FIELD = "archive-timestamp-{n}"
"""Field name of the n-th document timestamp added by this module (n from 1)."""
DIGEST = "sha256"


@dataclass(frozen=True)
class LtvResult:
    """What :func:`add_long_term_validation` or :func:`renew_long_term_validation` did."""

    path: Path
    """The file written."""
    covered: tuple[str, ...]
    """Fields whose signature or timestamp got its validation data in the DSS."""
    timestamp_field: str
    """Field of the new document timestamp."""
    timestamp: TimestampInfo
    """The new document timestamp."""


def add_long_term_validation(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                             tsa_url: str, trust_roots: Sequence[asn1_x509.Certificate],
                             timeout: float = 30.0) -> LtvResult:
    """Write ``dst``: ``src`` + one DSS update with the validation data of every
    signature and timestamp (each as of its own timestamp, revocation hard-fail) + a
    document timestamp from ``tsa_url`` (PAdES B-LTA).

    Raises :class:`VerificationError` naming the signature whose validation data cannot
    be gathered (revoked before it was timestamped, a revocation service unreachable…) —
    nothing is written — and :class:`SigningError` if the timestamp service fails."""
    return asyncio.run(_lta(src, dst, tsa_url, trust_roots, timeout, renew=False))


def renew_long_term_validation(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                               tsa_url: str, trust_roots: Sequence[asn1_x509.Certificate],
                               timeout: float = 30.0) -> LtvResult:
    """Write ``dst``: ``src`` + a DSS update with the validation data of its last document
    timestamp (as of that timestamp) + a new document timestamp from ``tsa_url``.

    Raises :class:`VerificationError` when ``src`` has no document timestamp or the last
    one's validation data cannot be gathered, :class:`SigningError` if the timestamp
    service fails; nothing is written then."""
    return asyncio.run(_lta(src, dst, tsa_url, trust_roots, timeout, renew=True))


async def _lta(src: str | os.PathLike[str], dst: str | os.PathLike[str], tsa_url: str,
               trust_roots: Sequence[asn1_x509.Certificate], timeout: float,
               renew: bool) -> LtvResult:
    data = _read(src)
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    _refuse_trailing_bytes(data, reader, src)
    targets = _targets(reader, src, renew)
    backend = AIOHttpFetcherBackend(per_request_timeout=int(timeout))
    try:
        fetchers = backend.get_fetchers()
        evidence = _Evidence()
        pool = document_certificates(reader)
        for emb in targets:
            await _gather(emb, trust_roots, pool, fetchers, evidence, src)
        await _revocation_lists(evidence, fetchers, src)
        with_dss = _write_dss(reader, evidence)
        field = ARCHIVE_TIMESTAMP_FIELD.format(n=_archive_timestamps(reader) + 1)
        # fetchers of its own: pyHanko adds everything its context fetched to the DSS
        out = await _timestamp(with_dss, field, tsa_url, timeout,
                               _context(trust_roots, pool, backend.get_fetchers(), None))
    finally:
        await backend.close()
    atomic_write_bytes(dst, out)
    last = PdfFileReader(io.BytesIO(out), strict=False).embedded_timestamp_signatures[-1]
    return LtvResult(Path(dst), tuple(str(e.field_name) for e in targets), field,
                     timestamp_info(last.signed_data))


def _read(src: str | os.PathLike[str]) -> bytes:
    try:
        return Path(src).read_bytes()
    except OSError as exc:
        raise VerificationError(f"{src}: cannot read the file ({exc.strerror})") from exc


def _refuse_trailing_bytes(data: bytes, reader: PdfFileReader,
                           src: str | os.PathLike[str]) -> None:
    """Bytes after the last revision's ``%%EOF`` are covered by no signature; appending
    revisions after them would make them part of the preserved file."""
    try:
        end = reader.xrefs.get_xref_container_info(reader.xrefs.total_revisions - 1)\
            .end_location
    except Exception as exc:  # noqa: BLE001 - an unreadable structure is not preservable
        raise VerificationError(f"{src}: its revisions cannot be read ({exc})") from exc
    eof = data.find(b"%%EOF", end)
    rest = data[eof + 5:] if eof >= 0 else data[end:]
    if eof < 0 or rest.strip(b" \t\r\n\x00\x0c"):
        raise VerificationError(f"{src}: {len(rest)} bytes were appended after the end of "
                                "its last revision; they are covered by no signature")


def _targets(reader: PdfFileReader, src: str | os.PathLike[str],
             renew: bool) -> list[EmbeddedPdfSignature]:
    try:
        embedded = list(reader.embedded_signatures)
    except Exception as exc:  # noqa: BLE001 - any parser failure: not preservable
        raise VerificationError(f"{src}: the signatures cannot be read ({exc})") from exc
    if renew:
        stamps = [e for e in embedded if e.sig_object_type == "/DocTimeStamp"]
        if not stamps:
            raise VerificationError(f"{src}: no document timestamp to renew; archive the "
                                    "file first (PAdES B-LTA)")
        return stamps[-1:]
    if not any(e.sig_object_type != "/DocTimeStamp" for e in embedded):
        raise VerificationError(f"{src}: no signature to preserve")
    return embedded


def _archive_timestamps(reader: PdfFileReader) -> int:
    names = {str(e.field_name) for e in reader.embedded_timestamp_signatures}
    n = 0
    while ARCHIVE_TIMESTAMP_FIELD.format(n=n + 1) in names:
        n += 1
    return n


def document_certificates(reader: PdfFileReader) -> list[asn1_x509.Certificate]:
    """Every certificate the document carries (in any signature or in its DSS): a
    signature made on a token may carry its signer's certificate alone, its issuer
    travelling in the other signatures. They only help build paths; trust still comes
    from the roots."""
    certs: dict[bytes, asn1_x509.Certificate] = {}
    for emb in reader.embedded_signatures:
        for choice in emb.signed_data["certificates"]:
            if choice.name == "certificate":
                certs[choice.chosen.dump()] = choice.chosen
    dss = DocumentSecurityStore.read_dss(reader) if "/DSS" in reader.root else None
    if dss is not None:
        for cert in dss.load_certs():
            certs[cert.dump()] = cert
    return list(certs.values())


def _context(trust_roots: Sequence[asn1_x509.Certificate],
             pool: Sequence[asn1_x509.Certificate], fetchers: Fetchers,
             moment: dt.datetime | None) -> ValidationContext:
    """Hard-fail revocation, fetching through the shared ``fetchers`` (an OCSP response
    or a CRL is fetched once for every signature), ``pool`` helping to build paths. With
    ``moment``, validation as of then; revocation data issued later (fetched now) still
    speaks for that moment."""
    return ValidationContext(trust_roots=list(trust_roots), other_certs=list(pool),
                             allow_fetching=True,
                             revocation_mode="hard-fail", fetchers=fetchers, moment=moment,
                             retroactive_revinfo=moment is not None)


@dataclass
class _Evidence:
    """Validation data gathered for the DSS: issuer certificates, OCSP responses, CRLs."""

    certs: dict[bytes, asn1_x509.Certificate] = field(default_factory=dict)
    ocsps: dict[bytes, asn1_ocsp.OCSPResponse] = field(default_factory=dict)
    crls: dict[bytes, asn1_crl.CertificateList] = field(default_factory=dict)
    revoked: dict[bytes, asn1_x509.Certificate] = field(default_factory=dict)
    """Certificates an OCSP response says are revoked (after the time of their use:
    revoked before, gathering fails)."""
    listed: dict[bytes, asn1_x509.Certificate] = field(default_factory=dict)
    """Certificates of the paths that name a CRL distribution point."""

    def add(self, paths: list[ValidationPath], vc: ValidationContext) -> None:
        for path in paths:
            for cert in path:
                if cert is not path.leaf:  # a leaf travels in its own signature
                    self.certs[cert.dump()] = cert
                if cert.crl_distribution_points_value is not None:
                    self.listed[cert.dump()] = cert
            for cert in path:
                for status in _revoked_statuses(vc.ocsps, cert):
                    self.revoked[cert.dump()] = cert
                    self.ocsps.pop(status, None)
        for resp in vc.ocsps:
            if not any(_says_revoked(resp, c) for c in self.revoked.values()):
                self.ocsps[resp.dump()] = resp
        for crl in vc.crls:
            self.crls[crl.dump()] = crl


def _revoked_statuses(ocsps: list[asn1_ocsp.OCSPResponse],
                      cert: asn1_x509.Certificate) -> list[bytes]:
    return [r.dump() for r in ocsps if _says_revoked(r, cert)]


def _says_revoked(resp: asn1_ocsp.OCSPResponse, cert: asn1_x509.Certificate) -> bool:
    try:
        basic = resp["response_bytes"]["response"].parsed
        singles = basic["tbs_response_data"]["responses"]
    except (KeyError, ValueError, TypeError):
        return False
    return any(s["cert_id"]["serial_number"].native == cert.serial_number
               and s["cert_status"].name == "revoked" for s in singles)


async def _gather(emb: EmbeddedPdfSignature, trust_roots: Sequence[asn1_x509.Certificate],
                  pool: Sequence[asn1_x509.Certificate], fetchers: Fetchers,
                  evidence: _Evidence, src: str | os.PathLike[str]) -> None:
    moment = _proven_time(emb)
    vc = _context(trust_roots, pool, fetchers, moment)
    try:
        paths = await collect_validation_info(emb, vc)
    except Exception as exc:  # noqa: BLE001 - pyHanko raises validation errors of many kinds
        when = f" as of its timestamp {moment.isoformat()}" if moment else ""
        raise VerificationError(
            f"{src}: signature {emb.field_name!r}: cannot gather its validation data"
            f"{when} ({exc}); a certificate revoked before that time cannot be preserved, "
            "otherwise check that the revocation services are reachable") from exc
    evidence.add(paths, vc)


async def _revocation_lists(evidence: _Evidence, fetchers: Fetchers,
                            src: str | os.PathLike[str]) -> None:
    """The CRLs of every certificate that names one, besides its OCSP responses.

    pyhanko-certvalidator 0.33 needs them in two cases. (1) Years later, a signer's OCSP
    response is stale; pyHanko's long-term validation then validates the signature in
    the past — but only when the revocation check failed for staleness alone, and an
    OCSP response of another signer of the same CA counts as another failure, while
    the CRL check reports staleness as such. (2) It holds a certificate whose OCSP
    response says "revoked at R" as revoked at R itself, where its CRL check (and ETSI
    EN 319 102-1's past validation) holds it valid until R, so that the time-slide of a
    later validation never succeeds: for a certificate revoked after its use, the DSS
    keeps the CRL, which proves the same revocation with its date, and not the OCSP
    response."""
    for cert in evidence.listed.values():
        try:
            for crl in await fetchers.crl_fetcher.fetch(cert):
                evidence.crls[crl.dump()] = crl
        except Exception as exc:  # noqa: BLE001 - network and parse errors alike
            raise VerificationError(
                f"{src}: cannot fetch the CRL of {cert.subject.human_friendly} ({exc}); "
                "check that the CRL service is reachable") from exc


def _proven_time(emb: EmbeddedPdfSignature) -> dt.datetime | None:
    """The time a timestamp proves for ``emb``: its signature timestamp, or for a
    document timestamp its own time; ``None`` for a signature without timestamp."""
    if emb.sig_object_type == "/DocTimeStamp":
        return gen_time(emb.signed_data)
    token = signature_timestamp(emb)
    return gen_time(token) if token is not None else None


def _write_dss(reader: PdfFileReader, evidence: _Evidence) -> bytes:
    writer = IncrementalPdfFileWriter.from_reader(reader)
    DocumentSecurityStore.supply_dss_in_writer(
        writer, None, certs=list(evidence.certs.values()),
        ocsps=list(evidence.ocsps.values()), crls=list(evidence.crls.values()))
    _align_producer(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _align_producer(writer: IncrementalPdfFileWriter) -> None:
    """PDF/A requires the information dictionary's /Producer to equal the XMP
    ``pdf:Producer``, which pyHanko sets to its own name at every update while it only
    appends that name to the dictionary's: make the dictionary say the same."""
    info_ref = writer.trailer.raw_get("/Info") if "/Info" in writer.trailer else None
    if info_ref is None or "/Metadata" not in writer.root:
        return
    info = info_ref.get_object()
    if info.get("/Producer") != VENDOR:
        info["/Producer"] = generic.TextStringObject(VENDOR)
        writer.mark_update(info_ref)


async def _timestamp(pdf: bytes, field: str, tsa_url: str, timeout: float,
                     vc: ValidationContext) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    out = io.BytesIO()
    try:
        await PdfTimeStamper(HTTPTimeStamper(tsa_url, timeout=int(timeout)),
                             field_name=field).async_timestamp_pdf(
            writer, DIGEST, validation_context=vc, output=out,
            dss_settings=TimestampDSSContentSettings(include_vri=False))
    except Exception as exc:  # noqa: BLE001 - network, HTTP and validation errors alike
        raise SigningError(f"document timestamp from {tsa_url} failed ({exc}); check that "
                           "the timestamp service is running and trusted") from exc
    return out.getvalue()


# -- RFC 3161 tokens over any data ------------------------------------------------------

def timestamp_data(data: bytes, tsa_url: str, timeout: float = 30.0) -> bytes:
    """A DER ``TimeStampResp`` over the SHA-256 of ``data`` from ``tsa_url`` (what
    ``openssl ts -verify -data FILE -in FILE.tsr -CAfile root.pem`` checks).

    Raises :class:`SigningError` when the service fails."""
    digest = hashlib.sha256(data).digest()
    try:
        token = asyncio.run(HTTPTimeStamper(tsa_url, timeout=int(timeout))
                            .async_timestamp(digest, DIGEST))
    except Exception as exc:  # noqa: BLE001
        raise SigningError(f"timestamp from {tsa_url} failed ({exc}); check that the "
                           "timestamp service is running") from exc
    response = tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})
    return bytes(response.dump())
