"""``ctg archive renew``: extend the evidence before the archive timestamp expires.

The bundle is checked first (with the trust anchors it was archived with, found by
fingerprint among the PDF's own certificates): a bundle that does not hold is not
renewed, nor one whose last archive timestamp has already expired (the chain of proofs
is broken then, and a new timestamp cannot mend it). The PDF gets the validation data
of its last document timestamp and a new document timestamp; the previous manifest, its
token and the previous bordereau are kept under ``historique/<n>/`` (the previous PDF is
the first bytes of the new one, which that manifest's digests prove); the bordereau is
updated (digests, the previous state as an object, an event in the log book) and a new
manifest, recording the renewal, gets a new token.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..exceptions import ArchiveError, ArchiveInvalid
from .layout import (
    BORDEREAU,
    HISTORY,
    MANIFEST,
    MANIFEST_TOKEN,
    PDF,
    Bundle,
    read_bundle,
    write_bundle,
)
from .manifest import build_manifest, read_manifest
from .model import RenewalResult
from .seda import renew_bordereau
from .verify import check_bundle

__all__ = ["renew_bundle"]


def renew_bundle(path: str | Path, *, tsa_url: str, output: Path | None = None,
                 say: Callable[[str], None] = lambda _: None) -> RenewalResult:
    """Renew the bundle folder or ZIP ``path`` with the timestamping authority at
    ``tsa_url``; write it at ``output`` (same form) or, by default, replace it
    atomically. Raises :class:`ArchiveInvalid` when the bundle does not hold,
    :class:`ArchiveError` when its archive timestamp already expired."""
    source = Path(path)
    if output is not None and output.exists():
        from ..exceptions import InputError

        raise InputError(f"{output}: already exists; choose another output (-o)")
    bundle = read_bundle(source)
    manifest = _manifest(bundle)
    roots = _archived_roots(bundle, manifest)
    now = dt.datetime.now(dt.UTC)
    check = check_bundle(bundle, roots, now, str(source))
    if not check.valid:
        raise ArchiveInvalid(f"{source} does not hold, it is not renewed:\n  "
                             + "\n  ".join(map(str, check.failures)))
    if check.renewal_needed:
        raise ArchiveError(f"{source}: its archive timestamp expired on "
                           f"{check.renewal_due}; renewal is too late (nothing proves the "
                           "timestamps any more): keep the bundle as it is")
    number = len(manifest.get("renewals") or []) + 1
    history = _keep_previous(bundle, number)
    stamp = _renew_pdf(bundle, tsa_url, roots)
    say(f"validation data of the last archive timestamp and a new document timestamp "
        f"added ({stamp.time.isoformat()}, {stamp.tsa})")
    _renew_bordereau(bundle, number, stamp)
    _renew_manifest(bundle, manifest, number, stamp, tsa_url, roots, now)
    write_bundle(bundle, output or source, replace=output is None)
    return RenewalResult(output or source, number, stamp.time, stamp.tsa, stamp.tsa_expires,
                         tuple(history))


def _manifest(bundle: Bundle) -> dict[str, Any]:
    data = bundle.files.get(MANIFEST)
    if data is None:
        raise ArchiveInvalid(f"no {MANIFEST}: not an evidence bundle")
    return read_manifest(data)


def _archived_roots(bundle: Bundle, manifest: dict[str, Any]) -> list[Any]:
    """The trust anchors recorded in the manifest, found by fingerprint among the
    certificates the PDF carries (its DSS and signatures)."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError

    wanted = {a.get("sha256") for a in manifest.get("trust_anchors") or []}
    pdf = bundle.get(PDF)
    if pdf is None:
        raise ArchiveInvalid(f"no {PDF} in the bundle")
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    certs = []
    try:
        certs += list(DocumentSecurityStore.read_dss(reader).load_certs())
    except NoDSSFoundError:
        pass
    for emb in reader.embedded_signatures:
        certs += [emb.signer_cert, *emb.other_embedded_certs]
    roots = {c.sha256.hex(): c for c in certs if c.sha256.hex() in wanted}
    if not roots:
        raise ArchiveInvalid("the trust anchors the manifest records are not among the "
                             "PDF's certificates; the bundle cannot be renewed")
    return list(roots.values())


def _keep_previous(bundle: Bundle, number: int) -> list[str]:
    kept = []
    for name in (MANIFEST, MANIFEST_TOKEN, BORDEREAU):
        data = bundle.files.get(name)
        if data is not None:
            kept.append(bundle.put(f"{HISTORY}/{number}/{name}", data))
    return kept


def _renew_pdf(bundle: Bundle, tsa_url: str, roots: list[Any]) -> Any:
    from signers.exceptions import VerificationError
    from signers.ltv import renew_long_term_validation

    data = bundle.get(PDF)
    assert data is not None
    with tempfile.TemporaryDirectory(prefix="ctg-renew-") as tmp:
        src, dst = Path(tmp) / "avant.pdf", Path(tmp) / PDF
        src.write_bytes(data)
        try:
            result = renew_long_term_validation(src, dst, tsa_url=tsa_url, trust_roots=roots)
        except VerificationError as exc:
            raise ArchiveError(f"the archive timestamp cannot be renewed: {exc}") from exc
        bundle.put(PDF, dst.read_bytes())
    return result.timestamp


def _renew_bordereau(bundle: Bundle, number: int, stamp: Any) -> None:
    from .schemas import parse, seda_schema, validate

    old = bundle.files[BORDEREAU]
    identifier = (parse(old, BORDEREAU).findtext(
        "{fr:gouv:culture:archivesdefrance:seda:v2.3}MessageIdentifier") or "ctg")
    base = identifier.split("-renouvellement-")[0]
    detail = (f"Renouvellement n° {number} de l'horodatage d'archive : données de validation "
              f"du précédent horodatage intégrées et nouvel horodatage par {stamp.tsa} "
              f"(certificat valable jusqu'au {stamp.tsa_expires.date().isoformat()})")
    new = renew_bordereau(old, bundle, date=dt.datetime.now(dt.UTC),
                          identifier=f"{base}-renouvellement-{number}",
                          event=("Renouvellement", stamp.time, detail),
                          archive_timestamp=(stamp.time, stamp.tsa))
    validate(new, seda_schema(), BORDEREAU)
    bundle.files[BORDEREAU] = new


def _renew_manifest(bundle: Bundle, manifest: dict[str, Any], number: int, stamp: Any,
                    tsa_url: str, roots: list[Any], now: dt.datetime) -> None:
    from signers.ltv import timestamp_data
    from signers.tokens import check_timestamp_token

    record = dict(manifest)
    record["document"] = {**(manifest.get("document") or {}), "path": PDF,
                          "archive_timestamp": stamp.time.isoformat(), "tsa": stamp.tsa,
                          "renew_before": stamp.tsa_expires.isoformat()}
    record["renewals"] = [*(manifest.get("renewals") or []), {
        "number": number, "at": now.isoformat(), "archive_timestamp": stamp.time.isoformat(),
        "tsa": stamp.tsa, "renew_before": stamp.tsa_expires.isoformat(),
        "previous_state": f"{HISTORY}/{number}/"}]
    data = build_manifest(bundle, record)
    token = timestamp_data(data, tsa_url)
    _, problem = check_timestamp_token(token, data, roots)
    if problem:
        raise ArchiveError(f"the manifest token from {tsa_url} does not hold: {problem}")
    bundle.files[MANIFEST] = data
    bundle.files[MANIFEST_TOKEN] = token
