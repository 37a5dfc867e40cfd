"""The signing agent's key: its certificate chain, and its signature of the signed
attributes the server prepared — the key never leaves the signatory's machine.

A key file (PKCS#12 or PEM) is used through ``cryptography`` alone: the agent then
starts without importing pyHanko (most of a second of CPU, paid by every agent of 13
mayors signing at once). A card or token goes through pyHanko's PKCS#11 signer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ..credentials import (
    Credentials,
    KeyMaterial,
    Pkcs11Credentials,
    load_key_material,
    open_signer,
)
from .errors import Refused

__all__ = ["AgentKey", "open_agent_key"]

DIGEST = "sha256"
"""The digest of the signed attributes (the server's :data:`signers.circuit.remote.DIGEST`)."""


class AgentKey(Protocol):
    """What the agent needs of a key."""

    def chain(self) -> list[bytes]:
        """DER certificates: the signer's first, then the CAs it carries."""

    def sign(self, to_sign: bytes) -> bytes:
        """The signature of the DER signed attributes ``to_sign`` (hashed with SHA-256:
        ECDSA, or RSA PKCS#1 v1.5, as the server declares it)."""


@contextmanager
def open_agent_key(credentials: Credentials) -> Iterator[AgentKey]:
    """The key of ``credentials`` (a PKCS#11 session is closed on exit)."""
    if isinstance(credentials, Pkcs11Credentials):
        with open_signer(credentials) as signer:
            yield _TokenKey(signer)
    else:
        yield _FileKey(load_key_material(credentials))


@dataclass(frozen=True)
class _FileKey:
    material: KeyMaterial

    def chain(self) -> list[bytes]:
        own = self.material.cert
        others = [c for c in self.material.chain if c != own]
        return [c.public_bytes(serialization.Encoding.DER) for c in (own, *others)]

    def sign(self, to_sign: bytes) -> bytes:
        key = self.material.key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(to_sign, ec.ECDSA(hashes.SHA256()))
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
        raise Refused("unsuitable-certificate", f"a {type(key).__name__} key cannot sign "
                      "here: use an RSA or an elliptic-curve (ECDSA) signing key")


@dataclass(frozen=True)
class _TokenKey:
    signer: Any
    """pyHanko's signer of the token."""

    def chain(self) -> list[bytes]:
        cert = self.signer.signing_cert
        if cert is None:
            raise Refused("bad-certificate", "the token gives no signing certificate")
        others = [c for c in (self.signer.cert_registry or ()) if c.sha256 != cert.sha256]
        return [cert.dump(), *(c.dump() for c in others)]

    def sign(self, to_sign: bytes) -> bytes:
        return bytes(asyncio.run(self.signer.async_sign_raw(to_sign, DIGEST)))
