"""Remote signing with the signatory's own key (pyHanko's interrupted signing).

Server side, under a lease on the head: :func:`prepare_revision` writes the signature
revision with a placeholder (field, visible stamp, PAdES metadata, certification for the
first signature) and returns the DER *signed attributes* the key must sign;
:func:`finish_revision` puts the signature value into a CMS container, adds the signature
timestamp from the server's TSA (PAdES B-T) and fills the placeholder. The prepared state
is plain data (:class:`PreparedRevision`), so it can be kept in the database and finished
by any server instance. Client side, :func:`sign_attributes` signs the attributes with
:mod:`signers.credentials` (PKCS#12, PEM or a PKCS#11 token): the key never leaves the
signatory's machine."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms, x509
from cryptography import x509 as crypto_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields as pfields
from pyhanko.sign import signers as psigners
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from .. import stamp as _stamp
from ..credentials import Credentials, open_signer
from .errors import Refused, ServiceUnavailable

__all__ = ["DIGEST", "PreparedRevision", "certificate_chain", "finish_revision",
           "prepare_revision", "sign_attributes", "sign_attributes_with",
           "signature_matches"]

DIGEST = "sha256"
"""Digest algorithm of every remote signature."""
_PLACEHOLDER = 512
"""Bytes reserved for the signature value when sizing the container (RSA 4096 fits)."""


@dataclass(frozen=True)
class PreparedRevision:
    """A signature revision waiting for its signature value."""

    tail: bytes
    """Bytes appended to the head (with the placeholder)."""
    digest: bytes
    """Digest of the byte ranges the signature covers."""
    region: tuple[int, int]
    """Start and end of the reserved /Contents region in the whole file."""
    signed_attrs: bytes
    """DER of the signed attributes (what the key signs)."""
    signing_time: str
    """Signing time written in the signature dictionary (ISO 8601)."""

    def to_json(self) -> dict[str, Any]:
        """JSON form (for the store)."""
        return {"digest": self.digest.hex(), "region": list(self.region),
                "signed_attrs": base64.b64encode(self.signed_attrs).decode(),
                "signing_time": self.signing_time}

    @classmethod
    def from_json(cls, data: dict[str, Any], tail: bytes) -> PreparedRevision:
        """Inverse of :meth:`to_json`."""
        start, end = data["region"]
        return cls(tail, bytes.fromhex(data["digest"]), (int(start), int(end)),
                   base64.b64decode(data["signed_attrs"]), data["signing_time"])


def prepare_revision(head: bytes, field: str, chain: Sequence[x509.Certificate], *,
                     certify: bool, stamp_lines: Sequence[str], reason: str | None,
                     tsa_url: str | None, now: dt.datetime) -> PreparedRevision:
    """Write the signature revision of ``field`` on ``head`` for the certificate
    ``chain[0]``, as :func:`signers.sign.sign_field` would (same metadata, stamp, DocMDP
    for the first signature, FieldMDP from the field's lock), with a placeholder."""
    return asyncio.run(_prepare(head, field, chain, certify, tuple(stamp_lines), reason,
                                tsa_url, now))


async def _prepare(head: bytes, field: str, chain: Sequence[x509.Certificate],
                   certify: bool, lines: tuple[str, ...], reason: str | None,
                   tsa_url: str | None, now: dt.datetime) -> PreparedRevision:
    signer = _external(chain, bytes(_PLACEHOLDER))
    writer = IncrementalPdfFileWriter(io.BytesIO(head), strict=False)
    box = _field_box(writer, field)
    meta = psigners.PdfSignatureMetadata(
        field_name=field, certify=certify, md_algorithm=DIGEST,
        docmdp_permissions=pfields.MDPPerm.FILL_FORMS,
        subfilter=pfields.SigSeedSubFilter.PADES, reason=reason)
    style, params = None, {}
    if box is not None and lines:
        fitted = _stamp.fit(lines, box[2] - box[0], box[3] - box[1])
        style, params = _stamp.stamp_style(fitted), {"stamp": "\n".join(fitted.lines)}
    timestamper = HTTPTimeStamper(tsa_url, timeout=20) if tsa_url else None
    pdf_signer = psigners.PdfSigner(meta, signer, timestamper=timestamper, stamp_style=style)
    try:
        prepared, _, output = await pdf_signer.async_digest_doc_for_signing(
            writer, existing_fields_only=True, appearance_text_params=params,
            bytes_reserved=_reserved(chain, tsa_url))
    except PyHankoSigningError as exc:
        raise Refused("damaged", f"cannot prepare field {field!r}: {exc}") from exc
    except OSError as exc:
        raise ServiceUnavailable("timestamp-unavailable", f"timestamp service "
                                 f"{tsa_url}: {exc}") from exc
    attrs = await signer.signed_attrs(prepared.document_digest, DIGEST, use_pades=True)
    data = output.getvalue() if isinstance(output, io.BytesIO) else output.read()
    return PreparedRevision(bytes(data[len(head):]), prepared.document_digest,
                            (prepared.reserved_region_start, prepared.reserved_region_end),
                            attrs.dump(), now.isoformat())


def _reserved(chain: Sequence[x509.Certificate], tsa_url: str | None) -> int:
    """Bytes reserved for the CMS container (hex, so twice its DER size): the chain, the
    signed attributes and value, and a timestamp token with its authority's chain.
    Fixed instead of pyHanko's estimate, which signs a dummy container and asks the TSA
    for a dummy token at every preparation (a third of the preparation's time)."""
    der = sum(len(c.dump()) for c in chain) + 4096 + (8192 if tsa_url else 0)
    return 2 * der


def _field_box(writer: IncrementalPdfFileWriter, field: str
               ) -> tuple[float, float, float, float] | None:
    """The rectangle of ``field``'s widget, ``None`` when invisible."""
    for name, _, ref in pfields.enumerate_sig_fields(writer, filled_status=False):
        if name == field:
            widget = ref.get_object()
            if "/Rect" not in widget and widget.get("/Kids"):
                widget = widget["/Kids"][0].get_object()
            x1, y1, x2, y2 = (float(v) for v in widget.get("/Rect", (0, 0, 0, 0)))
            box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
            return box if box[2] - box[0] > 1 and box[3] - box[1] > 1 else None
    raise Refused("already-signed", f"no empty signature field {field!r}")


def signature_matches(cert: x509.Certificate, signed_attrs: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``cert``'s signature over ``signed_attrs``."""
    try:
        key = crypto_x509.load_der_x509_certificate(cert.dump()).public_key()
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_attrs, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed_attrs, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def finish_revision(head: bytes, prepared: PreparedRevision,
                    chain: Sequence[x509.Certificate], signature: bytes,
                    tsa_url: str | None) -> bytes:
    """The signed candidate: ``head`` + the prepared tail with the CMS container
    (signature value, signature timestamp) in place."""
    return asyncio.run(_finish(head, prepared, chain, signature, tsa_url))


async def _finish(head: bytes, prepared: PreparedRevision,
                  chain: Sequence[x509.Certificate], signature: bytes,
                  tsa_url: str | None) -> bytes:
    signer = _external(chain, signature)
    attrs = cms.CMSAttributes.load(prepared.signed_attrs)
    timestamper = HTTPTimeStamper(tsa_url, timeout=20) if tsa_url else None
    try:
        container = await signer.async_sign_prescribed_attributes(
            DIGEST, signed_attrs=attrs, timestamper=timestamper)
    except OSError as exc:
        raise ServiceUnavailable("timestamp-unavailable", f"timestamp service "
                                 f"{tsa_url}: {exc}") from exc
    output = io.BytesIO(head + prepared.tail)
    digest = PreparedByteRangeDigest(prepared.digest, *prepared.region)
    try:
        await PdfTBSDocument.async_finish_signing(output, digest, container)
    except PyHankoSigningError as exc:
        raise Refused("invalid-signature", f"the signature container does not fit: "
                      f"{exc}") from exc
    return output.getvalue()


def _external(chain: Sequence[x509.Certificate], value: bytes) -> psigners.ExternalSigner:
    return psigners.ExternalSigner(chain[0], SimpleCertificateStore.from_certs(list(chain)),
                                   signature_value=value)


# -- client side -----------------------------------------------------------------------

def certificate_chain(signer: psigners.Signer) -> list[bytes]:
    """DER certificates of an open signer (:func:`signers.credentials.open_signer`):
    the signer's first, then the CAs it carries."""
    cert = signer.signing_cert
    if cert is None:
        raise Refused("bad-certificate", "the credentials give no signing certificate")
    others = [c for c in (signer.cert_registry or ()) if c.sha256 != cert.sha256]
    return [cert.dump(), *(c.dump() for c in others)]


def sign_attributes(to_sign: bytes, signer: psigners.Signer) -> bytes:
    """The signature of the DER signed attributes ``to_sign`` by an open signer's key
    (hashed with :data:`DIGEST`)."""
    return asyncio.run(signer.async_sign_raw(to_sign, DIGEST))


def sign_attributes_with(to_sign: bytes, credentials: Credentials) -> bytes:
    """:func:`sign_attributes` with ``credentials`` opened for this one signature."""
    with open_signer(credentials) as signer:
        return sign_attributes(to_sign, signer)
