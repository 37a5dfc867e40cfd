"""``ctg archive verify``: check an evidence bundle offline, as of now or a given date.

Every check runs, whatever the others found, and each failure names its place: a file
(changed, missing, added), the manifest or its token, the bordereau (schema, a digest), a
revision, signature or document timestamp of the PDF (as ``ctg verify --offline``
judges it as of the evaluation time, and where that does not hold, as pyHanko's
long-term validation judges it in the past, from the file's own validation data), a
journal event or token, a previous state.
Nothing is fetched: the bundle and the trust anchors given are all there is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .layout import (
    BORDEREAU,
    ENVELOPE,
    HISTORY,
    JOURNAL,
    JOURNAL_TOKENS,
    MANIFEST,
    MANIFEST_TOKEN,
    PDF,
    Bundle,
    read_bundle,
)
from .manifest import file_entry, read_manifest
from .model import ArchivedSignature, BundleCheck, Failure

__all__ = ["RENEWAL_WARNING", "check_bundle", "verify_bundle"]

RENEWAL_WARNING = dt.timedelta(days=365)
"""A bundle whose renewal falls due within this delay gets a warning."""
_SEDA = "{fr:gouv:culture:archivesdefrance:seda:v2.3}"


class _Checks:
    """Failures and the list of what was checked, accumulated."""

    def __init__(self) -> None:
        self.failures: list[Failure] = []
        self.checked: list[str] = []
        self.due: list[dt.datetime] = []

    def fail(self, where: str, message: str) -> None:
        self.failures.append(Failure(where, message))


def verify_bundle(path: str | os.PathLike[str], *, trust: Sequence[Path] = (),
                  at: dt.datetime | None = None) -> BundleCheck:
    """Check the bundle folder or ZIP ``path`` offline with the trust anchors ``trust``,
    as of ``at`` (default: now). Raises :class:`~ctgdocs.exceptions.InputError` when
    ``path`` does not exist and :class:`~ctgdocs.exceptions.ArchiveInvalid` when it is not
    a bundle at all; everything else is reported in the result."""
    checks = _Checks()
    roots = _roots(trust, checks)
    return check_bundle(read_bundle(path), roots, at or dt.datetime.now(dt.UTC), str(path),
                        checks)


def check_bundle(bundle: Bundle, roots: list[Any], when: dt.datetime, label: str,
                 checks: _Checks | None = None) -> BundleCheck:
    """Check ``bundle`` (read already) with the trust anchors ``roots`` (certificates)
    as of ``when``; ``label`` names it in the result."""
    checks = checks or _Checks()
    manifest = _manifest(bundle, roots, checks)
    _files(bundle, manifest, checks)
    _bordereau(bundle, checks)
    signatures = _pdf(bundle, manifest, roots, when, checks)
    events = _journal(bundle, manifest, roots, checks)
    renewals = _history(bundle, manifest, roots, checks)
    due = min(checks.due) if checks.due else None
    warnings = []
    if due is not None and when < due <= when + RENEWAL_WARNING:
        warnings.append(f"the archive timestamp must be renewed before {due.date()} "
                        "(ctg archive renew)")
    return BundleCheck(label, when, tuple(checks.checked), tuple(checks.failures),
                       tuple(signatures), due, tuple(warnings), events, renewals)


def _roots(trust: Sequence[Path], checks: _Checks) -> list[Any]:
    from pyhanko.keys import load_cert_from_pemder

    roots = []
    for path in trust:
        try:
            roots.append(load_cert_from_pemder(str(path)))
        except (OSError, ValueError) as exc:
            checks.fail(str(path), f"not a readable PEM or DER certificate ({exc})")
    if not trust:
        checks.fail("trust", "no trust anchor given: pass the root certificate(s) with "
                    "--trust ROOT.pem (the manifest names those the bundle was archived "
                    "with); nothing can be judged trusted without")
    return roots


def _manifest(bundle: Bundle, roots: list[Any], checks: _Checks) -> dict[str, Any] | None:
    from signers.tokens import check_timestamp_token

    from ..exceptions import ArchiveInvalid

    data, token = bundle.files.get(MANIFEST), bundle.files.get(MANIFEST_TOKEN)
    if data is None:
        checks.fail(MANIFEST, "missing: without it no file can be checked")
        return None
    try:
        manifest = read_manifest(data)
    except ArchiveInvalid as exc:
        checks.fail(MANIFEST, str(exc).removeprefix(f"{MANIFEST}: "))
        return None
    if token is None:
        checks.fail(MANIFEST_TOKEN, "missing: the manifest is not timestamped")
    elif roots:
        info, problem = check_timestamp_token(token, data, roots)
        if problem:
            checks.fail(MANIFEST_TOKEN, problem)
        if info is not None:
            checks.due.append(info.tsa_expires)
            checks.checked.append(f"manifest timestamped on {info.time.isoformat()} by "
                                  f"{info.tsa}")
    return manifest


def _files(bundle: Bundle, manifest: dict[str, Any] | None, checks: _Checks) -> None:
    if manifest is None:
        return
    listed = {f["path"]: f for f in manifest["files"]}
    for name, entry in listed.items():
        data = bundle.files.get(name)
        if data is None:
            checks.fail(name, "missing (listed in the manifest)")
            continue
        actual = file_entry(name, data)
        for key in ("size", "sha256", "sha512"):
            if getattr(actual, key) != entry[key]:
                checks.fail(name, f"changed since it was archived ({key} differs from the "
                            "manifest)")
                break
    for name in bundle.files:
        if name not in listed and name not in (MANIFEST, MANIFEST_TOKEN):
            checks.fail(name, "not in the manifest (added after archiving)")
    checks.checked.append(f"{len(listed)} files: size, SHA-256 and SHA-512 against the "
                          "manifest")


def _bordereau(bundle: Bundle, checks: _Checks) -> None:
    from .schemas import XmlInvalid, parse, seda_schema, validate

    data = bundle.files.get(BORDEREAU)
    if data is None:
        checks.fail(BORDEREAU, "missing")
        return
    try:
        root = parse(data, BORDEREAU)
        validate(root, seda_schema(), BORDEREAU)
    except XmlInvalid as exc:
        for problem in exc.problems[:20]:
            checks.fail(BORDEREAU, f"not valid SEDA 2.3: {problem}")
        return
    declared = set()
    for bdo in root.iter(_SEDA + "BinaryDataObject"):
        uri = bdo.findtext(_SEDA + "Uri") or ""
        declared.add(uri)
        data_ = bundle.files.get(uri)
        digest = bdo.find(_SEDA + "MessageDigest")
        if data_ is None:
            checks.fail(BORDEREAU, f"declares {uri}, which the bundle does not hold")
        elif digest is None or digest.get("algorithm") != "SHA-512" \
                or digest.text != hashlib.sha512(data_).hexdigest() \
                or bdo.findtext(_SEDA + "Size") != str(len(data_)):
            checks.fail(BORDEREAU, f"its SHA-512 or size of {uri} is not the file's")
    for name in bundle.content():
        if name not in declared and name not in ENVELOPE:
            checks.fail(BORDEREAU, f"does not declare {name}")
    checks.checked.append(f"bordereau: SEDA 2.3 schema, {len(declared)} data objects' "
                          "SHA-512 and size")


def _pdf(bundle: Bundle, manifest: dict[str, Any] | None, roots: list[Any],
         when: dt.datetime, checks: _Checks, *, current_first: bool = True
         ) -> list[ArchivedSignature]:
    """The PDF judged as ``ctg verify --offline`` judges it (every revision analysed, so
    that a change after the signatures is named), as of ``when``; if anything does not
    hold then — a certificate expired or revoked since, validation data too old, the
    last archive timestamp due for renewal —, pyHanko's long-term validation judges the
    signatures and timestamps in the past, from the proofs of existence the document
    timestamps give (``current_first=False``: always)."""
    from signers.exceptions import VerificationError
    from signers.verify import verify_document

    data = bundle.get(PDF)
    if data is None:
        checks.fail(bundle.path(PDF), "missing")
        return []
    if not roots:
        return []
    with tempfile.TemporaryDirectory(prefix="ctg-verify-") as tmp:
        pdf = Path(tmp) / PDF
        pdf.write_bytes(data)
        try:
            now = verify_document(pdf, trust_roots=roots, offline=True, validation_time=when)
        except VerificationError as exc:
            checks.fail(bundle.path(PDF), str(exc).replace(str(pdf), PDF))
            return []
        for change in now.tampering:
            checks.fail(bundle.path(PDF), f"changed after its signatures: {change}")
        held = _held_now(now, when) if current_first else None
        if held is not None:
            return _current(now, held, when, manifest, checks)
        return _long_term(pdf, bundle, manifest, roots, when, checks)


def _held_now(report: Any, when: dt.datetime) -> dt.datetime | None:
    """When the last document timestamp must be renewed, if every signature and
    timestamp of ``report`` holds as of ``when`` and that is not yet due; else ``None``."""
    stamps = [s for s in report.signatures if s.kind == "timestamp"]
    if not (report.valid and stamps and stamps[-1].certificate_expires
            and any(s.kind == "signature" for s in report.signatures)):
        return None
    due = dt.datetime.fromisoformat(stamps[-1].certificate_expires)
    return due if when < due else None


def _current(report: Any, due: dt.datetime, when: dt.datetime,
             manifest: dict[str, Any] | None, checks: _Checks) -> list[ArchivedSignature]:
    signatures = [s for s in report.signatures if s.kind == "signature"]
    stamps = len(report.signatures) - len(signatures)
    checks.due.append(due)
    _against_manifest(signatures, manifest, checks)
    checks.checked.append(
        f"{len(signatures)} signatures and {stamps} document timestamp"
        f"{'s' if stamps > 1 else ''}: valid as of {when.isoformat()} (trust, revocation "
        "and every revision checked as ctg verify does), offline, from the PDF's own "
        "validation data; no past validation needed")
    return [_verified(s) for s in signatures]


def _long_term(pdf: Path, bundle: Bundle, manifest: dict[str, Any] | None,
               roots: list[Any], when: dt.datetime, checks: _Checks
               ) -> list[ArchivedSignature]:
    from signers.exceptions import VerificationError
    from signers.ltv_validation import validate_long_term

    try:
        report = validate_long_term(pdf, trust_roots=roots, at=when)
    except VerificationError as exc:
        checks.fail(bundle.path(PDF), str(exc).replace(str(pdf), PDF))
        return []
    for problem in report.problems:
        checks.fail(bundle.path(PDF), problem)
    for s in report.signatures:
        if not s.passed:
            checks.fail(f"signature {s.field}", f"{s.indication}/{s.subindication}: "
                        f"{s.message}")
    for t in report.timestamps:
        if not t.passed:
            checks.fail(f"document timestamp {t.field}", f"{t.indication}/"
                        f"{t.subindication}: {t.message}")
    if report.renewal_due is not None:
        checks.due.append(report.renewal_due)
    _against_manifest(report.signatures, manifest, checks)
    stamps = len(report.timestamps)
    checks.checked.append(
        f"{len(report.signatures)} signatures and {stamps} document "
        f"timestamp{'s' if stamps > 1 else ''}: long-term validation as of "
        f"{report.evaluated_time.isoformat()}, "
        "offline, from the PDF's own validation data")
    return [_archived(s) for s in report.signatures]


def _against_manifest(signatures: Sequence[Any], manifest: dict[str, Any] | None,
                      checks: _Checks) -> None:
    if manifest is None:
        return
    recorded = {s.get("field"): s.get("fingerprint") for s in manifest.get("signatures", [])}
    found = {s.field: s.fingerprint for s in signatures}
    for field in sorted(set(recorded) | set(found)):
        if field not in found:
            checks.fail(f"signature {field}", "archived, but not in the PDF")
        elif field not in recorded:
            checks.fail(f"signature {field}", "in the PDF, but not among those archived")
        elif recorded[field] != found[field]:
            checks.fail(f"signature {field}", "its certificate is not the one archived")


def _archived(s: Any) -> ArchivedSignature:
    return ArchivedSignature(
        field=s.field, signatory=None, organisation=None, holder=s.signer, subject=s.subject,
        issuer=s.issuer, fingerprint=s.fingerprint, reason=s.reason,
        claimed_time=s.claimed_time, timestamp_time=s.timestamp.time if s.timestamp else None,
        tsa=s.timestamp.tsa if s.timestamp else None, level=None, indication=s.indication,
        subindication=s.subindication, revoked_at=s.revoked_at,
        qualification="not assessed")


def _verified(s: Any) -> ArchivedSignature:
    """An :class:`ArchivedSignature` from ``ctg verify``'s report of a valid signature."""
    return ArchivedSignature(
        field=s.field, signatory=None, organisation=None, holder=s.signer_name,
        subject=s.subject, issuer=s.issuer, fingerprint=s.fingerprint, reason=s.reason,
        claimed_time=_when(s.signing_time), timestamp_time=_when(s.timestamp_time),
        tsa=s.tsa, level=s.pades_level, indication="PASSED", subindication="OK",
        revoked_at=None, qualification="not assessed")


def _when(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _journal(bundle: Bundle, manifest: dict[str, Any] | None, roots: list[Any],
             checks: _Checks) -> int:
    from signers.journal import JournalError, parse_jsonl, verify_journal

    data = bundle.get(JOURNAL)
    expected = (manifest or {}).get("journal")
    if data is None:
        if expected:
            checks.fail(bundle.path(JOURNAL), "missing (the manifest records a journal)")
        return 0
    try:
        events = parse_jsonl(data, JOURNAL)
    except JournalError as exc:
        checks.fail(bundle.path(JOURNAL), str(exc))
        return 0
    prefix = bundle.path(JOURNAL_TOKENS + "/")
    tokens = {}
    for name, der in bundle.files.items():
        if name.startswith(prefix):
            stem = name[len(prefix):].removesuffix(".tsr")
            if stem.isdigit():
                tokens[int(stem)] = der
            else:
                checks.fail(name, "not a journal token (<seq:6 digits>.tsr)")
    check = verify_journal(events, tokens, trust_roots=roots)
    for problem in check.problems:
        checks.fail(bundle.path(JOURNAL), problem)
    if expected and (expected.get("head") != check.head or
                     expected.get("events") != check.events):
        checks.fail(bundle.path(JOURNAL), "its events are not those archived (head or count "
                    "differs from the manifest)")
    checks.checked.append(f"journal: {check.events} chained events, {len(tokens)} tokens")
    return check.events


def _history(bundle: Bundle, manifest: dict[str, Any] | None, roots: list[Any],
             checks: _Checks) -> int:
    from signers.tokens import check_timestamp_token

    from ..exceptions import ArchiveInvalid

    renewals = (manifest or {}).get("renewals") or []
    pdf = bundle.get(PDF) or b""
    for number in range(1, len(renewals) + 1):
        where = f"{HISTORY}/{number}"
        old, token = bundle.get(f"{where}/{MANIFEST}"), bundle.get(f"{where}/{MANIFEST_TOKEN}")
        if old is None or token is None:
            checks.fail(bundle.path(where), "previous state missing (manifest or its token)")
            continue
        if roots:
            _, problem = check_timestamp_token(token, old, roots)
            if problem:
                checks.fail(bundle.path(f"{where}/{MANIFEST_TOKEN}"), problem)
        try:
            entries = {f["path"]: f for f in read_manifest(old, where)["files"]}
        except ArchiveInvalid as exc:
            checks.fail(bundle.path(f"{where}/{MANIFEST}"), str(exc))
            continue
        before = entries.get(bundle.path(PDF))
        if before is None or hashlib.sha512(pdf[:before["size"]]).hexdigest() != \
                before["sha512"]:
            checks.fail(bundle.path(where), "the PDF does not extend the one of that state "
                        "(its first bytes differ)")
    if renewals:
        checks.checked.append(f"{len(renewals)} previous state(s): manifest token and PDF "
                              "prefix")
    return len(renewals)
