"""The acceptance rule: one check for every revision offered to a circuit's head.

:func:`check_revision` judges a candidate PDF against the accepted head it claims to
extend. Only what is new is checked in full (the head was accepted before):

1. **incremental**: the candidate starts with the head's bytes exactly, its new
   revisions' cross-reference sections all lie after them and chain onto the head's;
   nothing follows the last ``%%EOF``;
2. **bounded**: the appended bytes and the objects they declare (object streams
   included) are capped *before* anything is parsed, and pyHanko's decode limits apply
   (a decompression bomb is refused, not swallowed);
3. **one signature, the right field**: exactly one new signature (document timestamps
   aside), in the slot's pre-existing field; no earlier signature replaced; no new
   signature field but a document timestamp's;
4. **nothing else changed**: each new revision, judged by pyHanko's difference analysis
   against the one before (:mod:`signers.revisions`: the standard policy's verdicts,
   through the speed-ups when they are on), is the signature's (form filling of that
   one field), validation data (DSS) or a document timestamp; no earlier signature's
   FieldMDP lock nor the certification's DocMDP permission is broken; a new
   certification is refused when the document is already signed or when it would
   forbid the signatures to come;
5. **the right person**: the certificate matches the slot's expected signer
   (:func:`signers.identity.match_signer`) and is a signing certificate (nonRepudiation,
   or digitalSignature for an organisation seal);
6. **valid**: intact, signature value valid, covering its whole revision, chaining to the
   configured trust anchors with revocation checked (hard-fail), its signature timestamp
   (if any) valid and trusted, each document timestamp valid and trusted.

Every refusal is a :class:`~signers.circuit.errors.Refused` (or :class:`TooLarge`)
carrying a stable code. With the speed-ups (:mod:`signers.speedups`), a refusal or a
failure of theirs is checked again on pyHanko's plain path before it counts.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    CatalogModificationRule,
    FormUpdatingRule,
    ModificationLevel,
    StandardDiffPolicy,
)
from pyhanko.sign.diff_analysis.constants import (
    ACROFORM_EXEMPT_STRICT_COMPARISON,
    ROOT_EXEMPT_STRICT_COMPARISON,
)
from pyhanko.sign.fields import MDPPerm, enumerate_sig_fields
from pyhanko.sign.validation import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from .. import speedups as _speedups
from ..document import one_line
from ..identity import identity_of, match_signer
from ..model import ExpectedSigner
from ..revisions import PlainRevisions, Revisions
from .errors import Refused, TooLarge
from .records import Acceptance

__all__ = ["CheckLimits", "CheckRequest", "check_revision", "prescan"]

log = logging.getLogger(__name__)

_OBJ = re.compile(rb"(?<![0-9])[0-9]{1,10}[ \t\r\n\f\x00]+[0-9]{1,5}[ \t\r\n\f\x00]+obj\b")
_OBJSTM = re.compile(rb"/Type\s*+/ObjStm\b")
_N = re.compile(rb"/N\s++([0-9]++)")
_MAX_DIGITS = 12
"""A longer ``/N`` counts as more objects than any limit (and ``int`` would refuse it)."""


@dataclass(frozen=True)
class CheckLimits:
    """Bounds on what an offered revision may contain."""

    max_appended_bytes: int = 8 * 1024 * 1024
    """Bytes a candidate may add to the head (a signature revision is tens of kB;
    validation data a few hundred)."""
    max_new_objects: int = 2000
    """Objects the appended bytes may declare, object streams' contents included (a
    signature revision has about twenty)."""
    max_new_revisions: int = 4
    """Revisions a candidate may add (the signature, DSS, document timestamps)."""


@dataclass(frozen=True)
class CheckRequest:
    """Everything the check needs (picklable: it may run in a worker process)."""

    candidate: bytes
    """The offered PDF."""
    head_size: int
    """Size of the head it must extend (the head is ``candidate[:head_size]``)."""
    head_revisions: int
    """PDF revisions of the head."""
    head_signatures: frozenset[str]
    """Fields signed in the head."""
    fields: frozenset[str]
    """Signature fields of the package."""
    expected: ExpectedSigner
    """Who must sign, and which field."""
    seal: bool = False
    """An organisation seal (digitalSignature suffices)."""
    trust_roots: tuple[bytes, ...] = ()
    """DER trust anchors (nothing else is trusted)."""
    limits: CheckLimits = field(default_factory=CheckLimits)
    """Bounds."""
    fetching: bool = True
    """Fetch revocation information (OCSP, CRLs) from the network."""
    speedups: bool | None = None
    """Check with :mod:`signers.speedups` (``True``), on pyHanko's plain path only
    (``False``), or as the checking process's switch says (``None``); the engine passes
    its own process's switch to the worker."""


def check_revision(request: CheckRequest) -> Acceptance:
    """Judge ``request.candidate``; return what was accepted or raise :class:`Refused`
    (or :class:`TooLarge`) with the rule broken."""
    prescan(request.candidate, request.head_size, request.limits)
    if _speedups.wanted(request.speedups):
        with _speedups.attempt("acceptance check") as attempt:
            try:
                accepted: Acceptance | None = _check(request, fast=True)
            except Exception as exc:  # noqa: BLE001 - the plain path decides
                log.info("refused or failed with the speed-ups (%s); checking again on "
                         "pyHanko's plain path", one_line(exc))
                accepted = None
        if accepted is not None and not attempt.failed:
            return accepted
        if attempt.failed:
            log.warning("a speed-up failed (%s); checking again on pyHanko's plain path",
                        attempt.failures[0])
    with _speedups.plain():
        return _check(request, fast=False)


def _check(request: CheckRequest, *, fast: bool) -> Acceptance:
    reader = _open(request.candidate, fast)
    new_revisions = _check_structure(reader, request)
    signature, stamps, earlier = _new_signatures(reader, request)
    _check_changes(reader, request, signature, stamps, earlier, new_revisions, fast)
    cert = signature.signer_cert
    match = _check_identity(cert, request)
    return asyncio.run(_check_validity(signature, stamps, cert, match, request,
                                       len(new_revisions)))


# -- 1, 2: bytes and structure ---------------------------------------------------------

def prescan(candidate: bytes, head_size: int, limits: CheckLimits) -> None:
    """Size, object-count and trailer checks on the appended bytes, before parsing."""
    appended = len(candidate) - head_size
    if appended <= 0:
        raise Refused("no-new-signature", "the candidate adds nothing to the head")
    if appended > limits.max_appended_bytes:
        raise TooLarge("too-large", f"{appended} bytes appended, more than "
                       f"{limits.max_appended_bytes}", limit=limits.max_appended_bytes)
    tail = memoryview(candidate)[head_size:].tobytes()
    objects = _declared_objects(tail)
    if objects > limits.max_new_objects:
        raise Refused("too-complex", f"the appended bytes declare {objects} objects, more "
                      f"than {limits.max_new_objects}")
    end = tail.rfind(b"%%EOF")
    if end < 0:
        raise Refused("damaged", "no %%EOF after the appended bytes")
    if tail[end + 5:].strip(b" \t\r\n\x00\x0c"):
        raise Refused("damaged", "bytes follow the last %%EOF")


def _declared_objects(tail: bytes) -> int:
    """Objects ``tail`` declares: ``N G obj`` headers, plus the ``/N`` of every object
    stream (a ``/Type /ObjStm`` and a ``/N`` in one stretch without ``>``). In linear
    time: a hostile upload repeating ``/Type /ObjStm`` must not make this quadratic."""
    objects = len(_OBJ.findall(tail))
    for stretch in tail.split(b">"):
        if _OBJSTM.search(stretch):
            objects += sum(int(n) if len(n) <= _MAX_DIGITS else 10 ** _MAX_DIGITS
                           for n in _N.findall(stretch))
    return objects


def _open(candidate: bytes, fast: bool) -> PdfFileReader:
    try:
        reader = PdfFileReader(io.BytesIO(candidate), strict=False)
    except Exception as exc:  # noqa: BLE001 - any parser failure: not a readable PDF
        raise Refused("damaged", f"not a readable PDF: {exc}") from exc
    if fast:
        from ..speedups.refgraph import accelerate

        accelerate(reader)
    return reader


def _revisions(reader: PdfFileReader, fast: bool,
               policy: StandardDiffPolicy = DEFAULT_DIFF_POLICY) -> Revisions:
    if fast:
        from ..speedups.diffcache import FastRevisions

        return FastRevisions(reader, policy)
    return PlainRevisions(reader, policy)


def _check_structure(reader: PdfFileReader, request: CheckRequest) -> list[int]:
    """The new revisions' numbers; refused unless they chain onto the head's."""
    try:
        total = reader.xrefs.total_revisions
        infos = [reader.xrefs.get_xref_container_info(r) for r in range(total)]
    except Exception as exc:  # noqa: BLE001
        raise Refused("damaged", f"cross-reference sections unreadable: {exc}") from exc
    old = [i for i in infos if i.end_location <= request.head_size]
    new = [r for r, i in enumerate(infos) if i.start_location >= request.head_size]
    if len(old) != request.head_revisions or len(old) + len(new) != total \
            or new != list(range(request.head_revisions, total)):
        raise Refused("not-incremental", "the new cross-reference sections do not chain "
                      "onto the head's revisions")
    if not new:
        raise Refused("no-new-signature", "no new revision")
    if len(new) > request.limits.max_new_revisions:
        raise Refused("forbidden-change", f"{len(new)} revisions added (at most "
                      f"{request.limits.max_new_revisions}: the signature, validation "
                      "data, document timestamps)")
    return new


# -- 3: the signatures -----------------------------------------------------------------

def _new_signatures(reader: PdfFileReader, request: CheckRequest
                    ) -> tuple[EmbeddedPdfSignature, list[EmbeddedPdfSignature],
                               list[EmbeddedPdfSignature]]:
    """(the new signature, new document timestamps, signatures of the head)."""
    new_sigs, stamps, earlier = [], [], []
    try:
        filled = list(enumerate_sig_fields(reader, filled_status=True))
        for name, _, ref in filled:
            emb = EmbeddedPdfSignature(reader, ref.get_object(), str(name))
            if emb.signed_revision < request.head_revisions:
                earlier.append(emb)
            elif emb.sig_object_type == "/DocTimeStamp":
                stamps.append(emb)
            else:
                new_sigs.append(emb)
    except Exception as exc:  # noqa: BLE001
        raise Refused("damaged", f"a signature cannot be read: {exc}") from exc
    names = {str(e.field_name) for e in earlier}
    replaced = sorted(request.head_signatures - names)
    if replaced:
        raise Refused("forbidden-change", f"earlier signature(s) {', '.join(replaced)} "
                      "replaced or removed")
    wanted = request.expected.field
    if not new_sigs:
        raise Refused("no-new-signature", "no new signature", field=wanted)
    if len(new_sigs) > 1:
        raise Refused("several-signatures", f"{len(new_sigs)} new signatures: "
                      + ", ".join(sorted(str(s.field_name) for s in new_sigs)))
    signature = new_sigs[0]
    if str(signature.field_name) != wanted:
        raise Refused("wrong-field", f"signed in field {signature.field_name!r}, not "
                      f"{wanted!r}", field=wanted, signed=str(signature.field_name))
    return signature, stamps, earlier


# -- 4: what changed -------------------------------------------------------------------

def _check_changes(reader: PdfFileReader, request: CheckRequest,
                   signature: EmbeddedPdfSignature, stamps: list[EmbeddedPdfSignature],
                   earlier: list[EmbeddedPdfSignature], new_revisions: list[int],
                   fast: bool) -> None:
    made_by = {signature.signed_revision: str(signature.field_name)}
    made_by.update({s.signed_revision: str(s.field_name) for s in stamps})
    present = {str(name) for name, _, _ in enumerate_sig_fields(reader)}
    created = present - request.fields - {str(s.field_name) for s in stamps}
    if created:
        raise Refused("forbidden-change", f"new signature field(s) {sorted(created)}")
    revisions = _revisions(reader, fast)
    locks = [(e.fieldmdp, e.docmdp_level) for e in earlier]
    permission = next((level for _, level in locks if level is not None), None)
    certifying = _check_new_certification(reader, signature, earlier)
    if not earlier:
        _check_sig_flags(reader, signature.signed_revision)
    for revision in new_revisions:
        own = not earlier and revision == signature.signed_revision
        judge = _revisions(reader, fast, _first_signature_policy(certifying)) if own \
            else revisions
        _judge_step(judge, revision, made_by.get(revision), locks, permission)


def _judge_step(revisions: Revisions, revision: int, made_by: str | None,
                locks: Sequence[tuple[Any, MDPPerm | None]],
                permission: MDPPerm | None) -> None:
    step = revisions.step(revision)
    if step.suspicious:
        raise Refused("forbidden-change", f"revision {revision}: {step.detail}",
                      revision=revision)
    allowed = ModificationLevel.FORM_FILLING if made_by else ModificationLevel.LTA_UPDATES
    if permission == MDPPerm.NO_CHANGES and step.level > ModificationLevel.LTA_UPDATES:
        raise Refused("forbidden-change", f"revision {revision}: the certification "
                      "forbids any change", revision=revision)
    if step.level > allowed:
        what = "changes more than its signature" if made_by else \
            "is neither a signature, validation data nor a document timestamp"
        raise Refused("forbidden-change", f"revision {revision} {what} "
                      f"({step.level.name})", revision=revision)
    outside = sorted(step.changed_fields - ({made_by} if made_by else set()))
    if outside:
        raise Refused("forbidden-change", f"revision {revision} changes form field(s) "
                      f"{', '.join(outside)}", revision=revision)
    for field_mdp, doc_mdp in locks:
        if revisions.violates(revision, field_mdp, doc_mdp):
            raise Refused("forbidden-change", f"revision {revision} breaks the lock of "
                          "an earlier signature (a locked form field, or a change the "
                          "certification does not permit)", revision=revision)


def _check_new_certification(reader: PdfFileReader, signature: EmbeddedPdfSignature,
                             earlier: list[EmbeddedPdfSignature]) -> bool:
    """Whether the new signature certifies (allowed only as the first signature, with a
    permission that lets the others sign, and with ``/Perms`` naming it alone)."""
    level = signature.docmdp_level
    if level is None:
        return False
    if earlier:
        raise Refused("forbidden-change", "a certification signature on a document "
                      "already signed (only the first signature may certify)")
    if level == MDPPerm.NO_CHANGES:
        raise Refused("forbidden-change", "the certification forbids any change: the "
                      "other signatories could no longer sign")
    for revision in range(signature.signed_revision, reader.xrefs.total_revisions):
        perms = reader.get_historical_resolver(revision).root.get("/Perms")
        perms = perms.get_object() if perms is not None else None
        target = perms.raw_get("/DocMDP") if perms is not None and set(perms) == {
            "/DocMDP"} else None
        own = signature.sig_field.raw_get("/V")
        if target is None or getattr(target, "reference", None) != own.reference:
            raise Refused("forbidden-change", f"revision {revision}: the catalog's /Perms "
                          "does not name the certification signature alone")
    return True


def _first_signature_policy(certifying: bool) -> StandardDiffPolicy:
    """pyHanko's default policy for the revision of the document's FIRST signature,
    which pyHanko's rules never judge (they judge revisions after a signature): the
    form's ``/SigFlags`` may change (checked apart), and when it certifies, the
    catalog's ``/Perms`` may appear (checked apart)."""
    form = DEFAULT_DIFF_POLICY.form_rule
    assert form is not None
    rules = [CatalogModificationRule(ROOT_EXEMPT_STRICT_COMPARISON | {"/Perms"})
             if certifying and isinstance(r, CatalogModificationRule) else r
             for r in DEFAULT_DIFF_POLICY.global_rules]
    return StandardDiffPolicy(global_rules=rules, form_rule=FormUpdatingRule(
        field_rules=form.field_rules,
        ignored_acroform_keys=ACROFORM_EXEMPT_STRICT_COMPARISON | {"/SigFlags"}))


def _check_sig_flags(reader: PdfFileReader, first: int) -> None:
    """From the first signature's revision on, ``/SigFlags`` says "signatures exist,
    append only" (3) or "signatures exist" (1), nothing else."""
    for revision in range(first, reader.xrefs.total_revisions):
        form = reader.get_historical_resolver(revision).root.get("/AcroForm")
        flags = form.get_object().get("/SigFlags") if form is not None else None
        if flags not in (1, 3):
            raise Refused("forbidden-change", f"revision {revision}: /SigFlags {flags}")


# -- 5: the person ---------------------------------------------------------------------

def _check_identity(cert: x509.Certificate, request: CheckRequest) -> str:
    match = match_signer(identity_of(cert), request.expected)
    if not match.matches:
        raise Refused("signer-mismatch", match.detail, field=request.expected.field,
                      expected=request.expected.label)
    usage = cert.key_usage_value.native if cert.key_usage_value is not None else set()
    if "non_repudiation" not in usage and not (request.seal and "digital_signature" in usage):
        raise Refused("unsuitable-certificate", "the certificate lacks the nonRepudiation "
                      "key usage (an authentication certificate?)")
    return match.detail


# -- 6: validity -----------------------------------------------------------------------

async def _check_validity(signature: EmbeddedPdfSignature,
                          stamps: list[EmbeddedPdfSignature], cert: x509.Certificate,
                          match: str, request: CheckRequest, added: int) -> Acceptance:
    roots = [x509.Certificate.load(der) for der in request.trust_roots]
    backend = AIOHttpFetcherBackend() if request.fetching else None
    kwargs: dict[str, Any] = {"trust_roots": roots, "allow_fetching": request.fetching,
                              "revocation_mode": "hard-fail"}
    if backend is not None:
        kwargs["fetchers"] = backend.get_fetchers()
    try:
        return await _validate(signature, stamps, cert, match, request, added, kwargs)
    finally:
        if backend is not None:
            await backend.close()


async def _validate(signature: EmbeddedPdfSignature, stamps: list[EmbeddedPdfSignature],
                    cert: x509.Certificate, match: str, request: CheckRequest, added: int,
                    kwargs: dict[str, Any]) -> Acceptance:
    try:
        status = await async_validate_pdf_signature(signature, ValidationContext(**kwargs),
                                                    skip_diff=True)
    except Exception as exc:  # noqa: BLE001 - a CMS structure pyHanko cannot handle
        raise Refused("invalid-signature", f"the signature cannot be validated: {exc}"
                      ) from exc
    if not status.intact or not status.valid:
        raise Refused("invalid-signature", "the signed bytes were changed (digest "
                      "mismatch)" if not status.intact else "the signature value is invalid")
    if status.coverage is None or status.coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        raise Refused("invalid-signature", "the signature does not cover its whole revision")
    if status.revoked:
        raise Refused("revoked", "the signer's certificate is revoked")
    if not status.trusted:
        raise Refused("untrusted", f"certification path not validated "
                      f"({getattr(status.trust_problem_indic, 'name', 'unknown')})")
    ts = status.timestamp_validity
    if ts is not None and not (ts.intact and ts.valid and ts.trusted):
        raise Refused("invalid-signature", "the signature timestamp is not valid or "
                      "not trusted")
    for stamp in stamps:
        await _check_document_timestamp(stamp, ValidationContext(**kwargs))
    who = identity_of(cert)
    return Acceptance(
        field=str(signature.field_name), signer=who.names[0] if who.names else who.subject,
        subject=who.subject, fingerprint=who.fingerprint,
        level="B-T" if ts is not None else "B-B",
        certified=signature.docmdp_level is not None, revisions=added,
        signing_time=_iso(status.signer_reported_dt),
        timestamp_time=_iso(ts.timestamp if ts is not None else None), match=match)


async def _check_document_timestamp(stamp: EmbeddedPdfSignature,
                                    vc: ValidationContext) -> None:
    try:
        status = await async_validate_pdf_timestamp(stamp, vc)
    except Exception as exc:  # noqa: BLE001
        raise Refused("invalid-signature", f"document timestamp {stamp.field_name!r} "
                      f"cannot be validated: {exc}") from exc
    if not (status.intact and status.valid and status.trusted):
        raise Refused("invalid-signature", f"document timestamp {stamp.field_name!r} is "
                      "not valid or not trusted")


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None
