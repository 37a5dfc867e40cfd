"""RFC 3161 timestamp tokens: what one says about itself, the signature timestamp of a
PDF signature, and the offline check of a token over any data (a manifest)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.general import NonexistentAttributeError, find_unique_cms_attribute
from pyhanko.sign.validation import EmbeddedPdfSignature
from pyhanko_certvalidator import ValidationContext

from .exceptions import VerificationError

__all__ = ["TimestampInfo", "check_timestamp_token", "gen_time", "signature_timestamp",
           "timestamp_info"]


@dataclass(frozen=True)
class TimestampInfo:
    """What an RFC 3161 timestamp token says about itself."""

    time: dt.datetime
    """The time it certifies (``genTime``)."""
    tsa: str
    """Subject of the timestamping authority's certificate."""
    tsa_expires: dt.datetime
    """When that certificate expires: the token must be renewed (covered by a newer
    timestamp) before then."""
    tsa_fingerprint: str
    """SHA-256 fingerprint of that certificate (lowercase hex)."""


def signature_timestamp(emb: EmbeddedPdfSignature) -> cms.SignedData | None:
    """The ``SignedData`` of ``emb``'s signature timestamp token, if it has one."""
    try:
        token = find_unique_cms_attribute(emb.signer_info["unsigned_attrs"],
                                          "signature_time_stamp_token")
    except (NonexistentAttributeError, KeyError, ValueError):
        return None
    return token["content"]  # type: ignore[no-any-return]


def gen_time(signed_data: cms.SignedData) -> dt.datetime:
    """The time a timestamp token (its ``SignedData``) certifies."""
    return signed_data["encap_content_info"]["content"].parsed["gen_time"].native  # type: ignore[no-any-return]


def timestamp_info(signed_data: cms.SignedData) -> TimestampInfo:
    """Time and authority of a timestamp token (its ``SignedData``)."""
    cert = _signer_cert(signed_data)
    return TimestampInfo(time=gen_time(signed_data), tsa=str(cert.subject.human_friendly),
                         tsa_expires=cert.not_valid_after,
                         tsa_fingerprint=cert.sha256.hex())


def _signer_cert(signed_data: cms.SignedData) -> asn1_x509.Certificate:
    sid = signed_data["signer_infos"][0]["sid"]
    for choice in signed_data["certificates"]:
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (cert.issuer == wanted["issuer"]
                    and cert.serial_number == wanted["serial_number"].native):
                return cert  # type: ignore[no-any-return]
        elif cert.key_identifier == sid.chosen.native:
            return cert  # type: ignore[no-any-return]
    raise VerificationError("the timestamp token does not carry its signer's certificate")




def check_timestamp_token(der: bytes, data: bytes,
                          trust_roots: Sequence[asn1_x509.Certificate]
                          ) -> tuple[TimestampInfo | None, str]:
    """Check a DER ``TimeStampResp`` over ``data`` offline: granted, message imprint of
    ``data``, signature valid, authority chaining to ``trust_roots`` at the token's own
    time (its revocation cannot be checked offline). Returns what the token says (when
    it can be read) and the problem found (empty when it holds)."""
    try:
        response = tsp.TimeStampResp.load(der)
        if response["status"]["status"].native != "granted":
            return None, "not a granted timestamp response"
        signed = response["time_stamp_token"]["content"]
        info = timestamp_info(signed)
    except Exception as exc:  # noqa: BLE001 - any parse failure: not a token
        return None, f"not an RFC 3161 timestamp token ({exc})"
    try:
        status = asyncio.run(_validate_token(signed, data, info.time, trust_roots))
    except Exception as exc:  # noqa: BLE001 - fail closed
        return info, f"the token cannot be validated ({exc})"
    if not status.intact:
        return info, "its message imprint is not the digest of the file (the file changed)"
    if not status.valid:
        return info, "its signature does not verify"
    if not status.trusted:
        return info, "its timestamping authority does not chain to a trust anchor"
    return info, ""


async def _validate_token(signed: cms.SignedData, data: bytes, when: dt.datetime,
                          trust_roots: Sequence[asn1_x509.Certificate]) -> Any:
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus

    vc = ValidationContext(trust_roots=list(trust_roots), allow_fetching=False,
                           revocation_mode="soft-fail", moment=when)
    kwargs = await validate_tst_signed_data(
        signed, vc, lambda algorithm: hashlib.new(algorithm, data).digest())
    return TimestampSignatureStatus(**kwargs)
