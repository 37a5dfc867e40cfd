"""Long-term validation: embed validation data (DSS) for every signature, then seal the
whole file with a document timestamp (PAdES B-LTA), so it verifies offline later."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers import PdfTimeStamper
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation import add_validation_info
from pyhanko_certvalidator import ValidationContext

from .atomic import atomic_write_bytes
from .exceptions import SigningError, VerificationError


def add_long_term_validation(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                             tsa_url: str,
                             trust_roots: Sequence[asn1_x509.Certificate]) -> None:
    """Write ``dst``: ``src`` + one DSS update per signature (certificates, OCSP
    responses, CRLs fetched now, revocation checked hard-fail) + a document timestamp.

    Raises :class:`VerificationError` if some signature's validation data cannot be
    gathered (e.g. revoked, or the OCSP responder is unreachable) — nothing is written —
    and :class:`SigningError` if the timestamp service fails."""
    def context() -> ValidationContext:
        return ValidationContext(trust_roots=list(trust_roots), allow_fetching=True,
                                 revocation_mode="hard-fail")

    buf = io.BytesIO(Path(src).read_bytes())
    count = len(PdfFileReader(buf, strict=False).embedded_signatures)
    if count == 0:
        raise VerificationError(f"{src}: no signature to preserve")
    for i in range(count):
        sig = PdfFileReader(buf, strict=False).embedded_signatures[i]
        try:
            buf = add_validation_info(sig, context(), output=io.BytesIO())
        except Exception as exc:  # pyHanko raises validation errors of many kinds
            raise VerificationError(f"{src}: cannot gather validation data for signature "
                                    f"{sig.field_name!r} ({exc}); check that the "
                                    "revocation services are reachable") from exc
    out = io.BytesIO()
    try:
        PdfTimeStamper(HTTPTimeStamper(tsa_url)).timestamp_pdf(
            IncrementalPdfFileWriter(buf, strict=False), "sha256",
            validation_context=context(), output=out)
    except Exception as exc:
        raise SigningError(f"document timestamp from {tsa_url} failed ({exc}); check "
                           "that the timestamp service is running") from exc
    atomic_write_bytes(dst, out.getvalue())
