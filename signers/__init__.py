"""signers — generic multi-signatory PAdES signing and verification for any PDF.

Never imports ``ctgdocs``. Public names are imported on first use (pyHanko is slow to
import), so ``import signers.exceptions`` stays cheap. Verification and signing take
pyHanko's plain public path unless the speed-ups are enabled (``signers.speedups``:
``enable()``, or ``speedups=True`` per call)."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SignersError": "signers.exceptions",
    "CredentialsError": "signers.exceptions",
    "SigningRefused": "signers.exceptions",
    "SigningError": "signers.exceptions",
    "VerificationError": "signers.exceptions",
    "FieldError": "signers.exceptions",
    "FileAccessError": "signers.exceptions",
    "MissingDependencyError": "signers.exceptions",
    "FieldSpec": "signers.model",
    "ExpectedSigner": "signers.model",
    "StampWording": "signers.model",
    "add_signature_fields": "signers.fields",
    "signature_field_names": "signers.fields",
    "atomic_output": "signers.atomic",
    "atomic_write_bytes": "signers.atomic",
    "sign_field": "signers.sign",
    "seal_package": "signers.sign",
    "SignResult": "signers.sign",
    "Credentials": "signers.credentials",
    "Pkcs12Credentials": "signers.credentials",
    "PemCredentials": "signers.credentials",
    "Pkcs11Credentials": "signers.credentials",
    "open_signer": "signers.credentials",
    "read_secret": "signers.credentials",
    "create_demo_pki": "signers.demo_pki",
    "load_demo_pki": "signers.demo_pki",
    "DemoSubject": "signers.demo_pki",
    "DemoPki": "signers.demo_pki",
    "revoke": "signers.demo_pki",
    "running_services": "signers.services",
    "listening_socket": "signers.services",
    "add_long_term_validation": "signers.ltv",
    "verify_document": "signers.verify",
    "DocumentReport": "signers.report",
    "SignatureReport": "signers.report",
    "render_table": "signers.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import public names lazily."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'signers' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
