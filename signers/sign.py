"""Sign one pre-created signature field of a PDF (PAdES B-T, or B-B without a TSA).

The first signature of a package certifies it (DocMDP, form filling and signing
allowed); later ones are approval signatures honouring the field's /Lock (FieldMDP).
Nothing is written unless every check passes: the field exists and is empty, every
earlier signature is intact and the revisions after it are allowed, no bytes follow the
last ``%%EOF``, and the certificate is valid now, carries nonRepudiation and belongs to
the expected signer. The output is written atomically, so signing in place
(``src == dst``) leaves a valid file at every moment.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.generic import ArrayObject, DictionaryObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields as pfields
from pyhanko.sign import signers as psigners
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    DiffPolicy,
    DiffResult,
    ModificationLevel,
)
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.generic_cms import validate_sig_integrity
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from . import speedups as _speedups
from . import stamp as _stamp
from .atomic import atomic_write_bytes
from .credentials import Credentials, open_signer
from .document import one_line, open_pdf, read_file
from .exceptions import SignersError, SigningError, SigningRefused
from .identity import identity_of, match_signer
from .model import ExpectedSigner, StampWording

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class SignResult:
    """What :func:`sign_field` did."""

    path: Path
    """The signed file written."""
    field: str
    """The field signed."""
    signer: str
    """Common name of the signing certificate."""
    fingerprint: str
    """SHA-256 fingerprint of the signing certificate (hex, lower case)."""
    certified: bool
    """Whether this signature certifies the document (DocMDP)."""
    level: str
    """``PAdES-B-T`` (with a signature timestamp) or ``PAdES-B-B``."""
    signing_time: dt.datetime
    """Signing time claimed (the stamp shows it in the wording's time zone)."""
    stamp: tuple[str, ...]
    """Lines of the visible stamp (empty for an invisible field)."""
    seconds: float
    """Wall-clock duration of the whole operation."""
    warnings: tuple[str, ...] = ()
    """Things the caller should know (e.g. no timestamp: B-B only)."""


@dataclass(frozen=True)
class _Field:
    name: str
    box: tuple[float, float, float, float] | None
    label: str | None


def sign_field(src: str | os.PathLike[str], dst: str | os.PathLike[str], field: str,
               credentials: Credentials, *, expected: ExpectedSigner | None = None,
               tsa_url: str | None = None, certify: bool | None = None, seal: bool = False,
               trust_roots: Sequence[asn1_x509.Certificate] = (),
               validation_context: ValidationContext | None = None,
               now: dt.datetime | None = None, reason: str | None = None,
               location: str | None = None, diff_policy: DiffPolicy | None = None,
               wording: StampWording | None = None,
               speedups: bool | None = None) -> SignResult:
    """Sign the empty field ``field`` of ``src`` with ``credentials``, write ``dst``.

    ``certify=None`` certifies when the document has no signature yet. ``trust_roots``
    or ``validation_context`` make the pre-sign check of earlier signatures also
    require a trusted chain; ``diff_policy`` (default: pyHanko's standard policy, or the
    speed-ups' linear-time one, same verdicts) judges the revisions after the earliest
    signature, once. ``wording`` gives the words of the visible stamp (default: English,
    UTC). ``speedups``: as for :func:`signers.verify.verify_document` (with them, a
    refusal or a failure is checked again on pyHanko's plain path before it counts).
    Raises :class:`SigningRefused` (nothing written), :class:`FileAccessError` or
    :class:`SigningError`."""
    return _sign_field(src, dst, field, credentials, _Options(
        expected, tsa_url, certify, seal, trust_roots, validation_context, now, reason,
        location, diff_policy, wording, speedups))


def seal_package(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                 credentials: Credentials, *, field: str | None = None,
                 expected: ExpectedSigner | None = None, tsa_url: str | None = None,
                 trust_roots: Sequence[asn1_x509.Certificate] = (),
                 now: dt.datetime | None = None, reason: str | None = None,
                 wording: StampWording | None = None,
                 speedups: bool | None = None) -> SignResult:
    """Certify the unsigned package with an organisation seal in the pre-created
    (normally invisible) field ``field`` — by default the document's only empty
    invisible signature field — before any person signs."""
    return _sign_field(src, dst, field, credentials, _Options(
        expected, tsa_url, True, True, trust_roots, None, now, reason, None, None, wording,
        speedups))


@dataclass(frozen=True)
class _Options:
    expected: ExpectedSigner | None
    tsa_url: str | None
    certify: bool | None
    seal: bool
    trust_roots: Sequence[asn1_x509.Certificate]
    validation_context: ValidationContext | None
    now: dt.datetime | None
    reason: str | None
    location: str | None
    diff_policy: DiffPolicy | None
    wording: StampWording | None
    speedups: bool | None


def _sign_field(src: str | os.PathLike[str], dst: str | os.PathLike[str], field: str | None,
                credentials: Credentials, opts: _Options) -> SignResult:
    started = time.perf_counter()
    src, dst = Path(src), Path(dst)
    now = opts.now or dt.datetime.now(dt.UTC)
    data = read_file(src)
    fast = _speedups.wanted(opts.speedups)
    check = _Check(src, data, field, opts.certify,
                   _pre_sign_context(opts.trust_roots, opts.validation_context),
                   opts.diff_policy)
    target, certify = _checked(check, fast)
    with open_signer(credentials) as signer:
        cert = signer.signing_cert
        if cert is None:
            raise SigningError(f"{src}: the credentials give no signing certificate")
        check_certificate(cert, now, opts.expected, field=target.name, src=src,
                          seal=opts.seal)
        lines = _stamp_lines(cert, opts.expected, now, seal=opts.seal,
                             wording=opts.wording) if target.box else ()
        job = _Signing(src, data, target, signer, lines, certify, opts.tsa_url,
                       opts.reason, opts.location)
        out = _signed(job, fast)
    _check_unchanged(src, data)
    atomic_write_bytes(dst, out)
    warnings = () if opts.tsa_url else ("no timestamp service given: PAdES-B-B only (the "
                                        "signing time is the signer's own claim)",)
    return SignResult(dst, target.name, _common_name(cert), cert.sha256.hex(), certify,
                      "PAdES-B-T" if opts.tsa_url else "PAdES-B-B", now, lines,
                      time.perf_counter() - started, warnings)


# --------------------------------------------------------------------------- document


@dataclass(frozen=True)
class _Check:
    """What the pre-signing check needs."""

    src: Path
    data: bytes
    field: str | None
    certify: bool | None
    vc: tuple[ValidationContext, bool]
    policy: DiffPolicy | None


def _checked(check: _Check, fast: bool) -> tuple[_Field, bool]:
    """The field to sign and whether to certify, once the document passed the checks;
    with the speed-ups, a refusal or a failure is checked again on the plain path."""
    if fast:
        with _speedups.attempt(f"pre-signing check of {check.src}") as attempt:
            try:
                result: tuple[_Field, bool] | None = _check_once(check, fast=True)
            except Exception as exc:  # noqa: BLE001 - the plain path decides
                log.info("%s: refused or failed with the speed-ups (%s); checking again "
                         "on pyHanko's plain path", check.src, one_line(exc))
                result = None
        if result is not None and not attempt.failed:
            return result
        if attempt.failed:
            log.warning("%s: a speed-up failed (%s); checking again on pyHanko's plain "
                        "path", check.src, attempt.failures[0])
    with _speedups.plain():
        try:
            return _check_once(check, fast=False)
        except SignersError:
            raise
        except Exception as exc:  # noqa: BLE001 - pyHanko raises many kinds
            raise SigningRefused(f"{check.src}: the document cannot be read "
                                 f"({one_line(exc)}); it is damaged: nothing was "
                                 "signed") from exc


def _check_once(check: _Check, *, fast: bool) -> tuple[_Field, bool]:
    reader = open_pdf(check.src, check.data, SigningRefused)
    policy = check.policy
    if fast:
        from .speedups.diffcache import CachingDiffPolicy
        from .speedups.refgraph import accelerate

        accelerate(reader)
        policy = policy or CachingDiffPolicy()
    target = _target_field(reader, check.src, check.field)
    certify = _check_document(reader, check.src, check.data, check.certify, check.vc,
                              policy or DEFAULT_DIFF_POLICY)
    return target, certify


def _check_unchanged(src: Path, data: bytes) -> None:
    """Refuse to write if someone else updated ``src`` while we were signing (two
    signatories signing the same file in place): their signature would be lost."""
    try:
        unchanged = src.stat().st_size == len(data) and src.read_bytes() == data
    except OSError:
        unchanged = False
    if not unchanged:
        raise SigningError(f"{src} changed while it was being signed (another signature?); "
                           "nothing was written: sign again")


def _target_field(reader: PdfFileReader, src: Path, name: str | None) -> _Field:
    """The empty field ``name`` (``None``: the document's only empty invisible one)."""
    found = {n: (v, ref) for n, v, ref in pfields.enumerate_sig_fields(reader)}
    if name is None:
        name = _only_invisible_field(found, src)
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise SigningRefused(f"{src}: no signature field named {name!r} "
                             f"(fields: {known})")
    value, ref = found[name]
    if value is not None:
        raise SigningRefused(f"{src}: field {name!r} is already signed; each field is "
                             "signed once")
    field_dict = ref.get_object()
    return _Field(name, _box(field_dict), _text(field_dict.get("/TU")))


def _only_invisible_field(found: dict[str, tuple[object, Any]], src: Path) -> str:
    empty = [n for n, (value, ref) in found.items()
             if value is None and _box(ref.get_object()) is None]
    if len(empty) != 1:
        raise SigningRefused(f"{src}: {len(empty) or 'no'} empty invisible signature "
                             f"fields ({', '.join(sorted(empty)) or 'none'}); name the "
                             "field to seal")
    return empty[0]


def _box(field_dict: DictionaryObject) -> tuple[float, float, float, float] | None:
    widget = field_dict
    if "/Rect" not in widget and "/Kids" in widget:
        kids = widget["/Kids"]
        widget = kids[0].get_object() if isinstance(kids, ArrayObject) and kids else widget
    rect = widget.get("/Rect")
    if rect is None:
        return None
    x1, y1, x2, y2 = (float(v) for v in rect)
    box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    return box if box[2] - box[0] > 1 and box[3] - box[1] > 1 else None


def _text(value: object) -> str | None:
    return str(value) if value is not None else None


def _check_document(reader: PdfFileReader, src: Path, data: bytes, certify: bool | None,
                    vc: tuple[ValidationContext, bool], policy: DiffPolicy) -> bool:
    _check_trailer(src, data)
    sigs = list(reader.embedded_regular_signatures)
    if certify and sigs:
        raise SigningRefused(f"{src}: already signed; only the first signature can "
                             "certify the document (sign as an approval instead)")
    # The difference analysis runs once, from the EARLIEST signature on: every later
    # revision is then judged once (linear, not quadratic). This is sound because the
    # changes after any signature are a suffix of those after the first one: if that
    # whole suffix only fills signature fields, no later signature's FieldMDP lock
    # (which excludes the other signature fields) can be broken either.
    sigs.sort(key=lambda sig: sig.signed_revision)
    for i, sig in enumerate(sigs):
        _check_signature(sig, src, policy, vc, diff=i == 0)
    _check_docmdp(reader, src)
    return not sigs if certify is None else certify


def _check_trailer(src: Path, data: bytes) -> None:
    end = data.rfind(b"%%EOF")
    if end < 0 or data[end + 5:].strip(b"\r\n\t \x00"):
        raise SigningRefused(f"{src}: bytes follow the last %%EOF (the file was altered "
                             "or truncated); refusing to sign on top of it")


def _pre_sign_context(trust_roots: Sequence[asn1_x509.Certificate],
                      vc: ValidationContext | None) -> tuple[ValidationContext, bool]:
    if vc is not None:
        return vc, True
    return ValidationContext(trust_roots=list(trust_roots), allow_fetching=False,
                             revocation_mode="soft-fail"), bool(trust_roots)


def _check_signature(sig: EmbeddedPdfSignature, src: Path, policy: DiffPolicy,
                     vc: tuple[ValidationContext, bool], diff: bool = True) -> None:
    who = f"signature {sig.field_name!r} of {src}"
    try:
        problems = _signature_problems(sig, policy, vc, diff)
    except Exception as e:  # pyHanko raises many kinds on broken structures
        raise SigningRefused(f"{who} cannot be checked ({e}); refusing to sign a "
                             "document whose signatures do not verify") from e
    if problems:
        raise SigningRefused(f"{who}: {'; '.join(problems)}; refusing to sign on top of a "
                             "tampered or invalid document")


def _signature_problems(sig: EmbeddedPdfSignature, policy: DiffPolicy,
                        vc: tuple[ValidationContext, bool], diff: bool) -> list[str]:
    """Integrity, signature value, coverage and (with ``diff``) the difference analysis
    of every later revision (cheap, no path building); with a trust context, also
    pyHanko's full validation for the trust verdict."""
    digest = sig.compute_digest()
    intact, valid = validate_sig_integrity(sig.signer_info, sig.signer_cert, "data", digest)
    problems = []
    if not intact:
        problems.append("the signed bytes were changed")
    if not valid:
        problems.append("the signature value is invalid")
    coverage = sig.evaluate_signature_coverage()
    if coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        problems.append("the signature does not cover its whole revision")
    if diff:
        sig.compute_integrity_info(diff_policy=policy)
        integrity = sig.summarise_integrity_info()
        result = integrity["diff_result"]
        level = result.modification_level if isinstance(result, DiffResult) else None
        if (level is None or level > ModificationLevel.FORM_FILLING
                or not integrity["docmdp_ok"]):
            problems.append("a later revision makes changes the signature does not allow "
                            f"({level.name if level is not None else 'unexplained changes'})")
    if vc[1] and not problems:
        status = validate_pdf_signature(sig, vc[0], diff_policy=policy, skip_diff=not diff)
        if not status.trusted:
            problems.append("the signer's certificate is not trusted")
    return problems


def _check_docmdp(reader: PdfFileReader, src: Path) -> None:
    from pyhanko.sign.validation.pdf_embedded import read_certification_data

    info = read_certification_data(reader)
    if info is not None and info.permission == pfields.MDPPerm.NO_CHANGES:
        raise SigningRefused(f"{src}: the certification signature forbids any change; "
                             "no further signature can be added")


# --------------------------------------------------------------------------- certificate


def check_certificate(cert: asn1_x509.Certificate, now: dt.datetime,
                      expected: ExpectedSigner | None, *, field: str, src: Path | str = "",
                      seal: bool = False) -> None:
    """Refuse (SigningRefused) a certificate not valid at ``now``, without
    nonRepudiation, or not matching ``expected``."""
    who = f"{_common_name(cert)!r} for field {field!r} of {src}"
    start, end = cert.not_valid_before, cert.not_valid_after
    if now < start:
        raise SigningRefused(f"certificate of {who} is not valid yet (from "
                             f"{start:%Y-%m-%d %H:%M} UTC)")
    if now > end:
        raise SigningRefused(f"certificate of {who} expired on {end:%Y-%m-%d %H:%M} UTC; "
                             "renew it")
    usage = cert.key_usage_value.native if cert.key_usage_value is not None else set()
    if "non_repudiation" not in usage and not (seal and "digital_signature" in usage):
        raise SigningRefused(f"certificate of {who} lacks the nonRepudiation key usage: "
                             "it is not a signature certificate (use the signing "
                             "certificate, not the authentication one)")
    if expected is not None:
        _check_expected(cert, expected, who)


def _check_expected(cert: asn1_x509.Certificate, expected: ExpectedSigner, who: str) -> None:
    """Same rule as verification (:func:`signers.identity.match_signer`)."""
    match = match_signer(identity_of(cert), expected)
    if not match.matches:
        raise SigningRefused(f"certificate of {who} does not belong to the expected "
                             f"signatory {expected.label!r}: {match.detail}")


def _common_name(cert: asn1_x509.Certificate) -> str:
    return str(cert.subject.native.get("common_name", cert.subject.human_friendly))


# --------------------------------------------------------------------------- signing


def _stamp_lines(cert: asn1_x509.Certificate, expected: ExpectedSigner | None,
                 now: dt.datetime, *, seal: bool,
                 wording: StampWording | None) -> tuple[str, ...]:
    capacity = expected.label if expected is not None else \
        cert.subject.native.get("title")
    return _stamp.stamp_lines(_common_name(cert), capacity, now, seal=seal,
                              wording=wording)


@dataclass(frozen=True)
class _Signing:
    """One signature to write."""

    src: Path
    data: bytes
    target: _Field
    signer: psigners.Signer
    lines: tuple[str, ...]
    certify: bool
    tsa_url: str | None
    reason: str | None
    location: str | None


def _signed(job: _Signing, fast: bool) -> bytes:
    """The signed file's bytes; with the speed-ups, written again on pyHanko's plain
    path if one of them failed meanwhile."""
    if fast:
        with _speedups.attempt(f"signing {job.src}") as attempt:
            try:
                out: bytes | None = _sign(job)
            except Exception:
                if not attempt.failed:
                    raise  # not the speed-ups' doing (a timestamp service down…)
                out = None
        if out is not None and not attempt.failed:
            return out
        log.warning("%s: a speed-up failed while signing (%s); signing again on "
                    "pyHanko's plain path", job.src, attempt.failures[0])
    with _speedups.plain():
        return _sign(job)


def _sign(job: _Signing) -> bytes:
    target, tsa_url = job.target, job.tsa_url
    meta = psigners.PdfSignatureMetadata(
        field_name=target.name, certify=job.certify, md_algorithm="sha256",
        docmdp_permissions=pfields.MDPPerm.FILL_FORMS,
        subfilter=pfields.SigSeedSubFilter.PADES, reason=job.reason, location=job.location)
    style = None
    params: dict[str, str] = {}
    if target.box is not None and job.lines:
        x1, y1, x2, y2 = target.box
        fitted = _stamp.fit(job.lines, x2 - x1, y2 - y1)
        style = _stamp.stamp_style(fitted)
        params = {"stamp": "\n".join(fitted.lines)}
    timestamper = HTTPTimeStamper(tsa_url, timeout=20) if tsa_url else None
    writer = IncrementalPdfFileWriter(io.BytesIO(job.data), strict=False)
    out = io.BytesIO()
    try:
        psigners.PdfSigner(meta, job.signer, timestamper=timestamper,
                           stamp_style=style).sign_pdf(
            writer, existing_fields_only=True, output=out, appearance_text_params=params)
    except PyHankoSigningError as e:
        raise SigningError(f"{job.src}: signing field {target.name!r} failed: {e}") from e
    except OSError as e:
        where = f" (timestamp service {tsa_url})" if tsa_url else ""
        raise SigningError(f"{job.src}: signing field {target.name!r} failed{where}: {e}; "
                           "check that the service is running") from e
    except Exception as e:  # noqa: BLE001 - a damaged document pyHanko cannot update
        raise SigningError(f"{job.src}: signing field {target.name!r} failed "
                           f"({one_line(e)}); the document may be damaged; nothing was "
                           "written") from e
    return out.getvalue()
