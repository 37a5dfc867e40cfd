"""Signing credentials from PKCS#12, PEM or a PKCS#11 token, opened as a pyHanko Signer.

Every failure (wrong passphrase or PIN, missing key or certificate, locked token,
missing module) becomes a :class:`~signers.exceptions.CredentialsError` whose message
names the file or token and says what to do.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.sign.signers.pdf_cms import Signer, SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from .exceptions import CredentialsError


def read_secret(*, prompt: str | None = None, env: str | None = None,
                file: str | os.PathLike[str] | None = None) -> str:
    """A passphrase or PIN: from the file ``file`` (first line), else the environment
    variable ``env``, else an interactive prompt (only when stdin is a terminal)."""
    if file is not None:
        path = Path(file)
        try:
            return path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size \
                else ""
        except OSError as e:
            raise CredentialsError(f"{path}: cannot read the secret file ({e.strerror}); "
                                   "check the path and its permissions") from e
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise CredentialsError(f"environment variable {env} is not set; export it with "
                                   "the passphrase or PIN, or use a secret file")
        return value
    if prompt is not None and sys.stdin.isatty():
        return getpass.getpass(prompt)
    raise CredentialsError("no passphrase or PIN given and no terminal to ask for it: "
                           "use an environment variable or a secret file")


@dataclass(frozen=True)
class Pkcs12Credentials:
    """A PKCS#12 (.p12 / .pfx) file holding the key, its certificate and the chain."""

    path: Path
    """The PKCS#12 file."""
    passphrase: str | None = field(default=None, repr=False)
    """Its passphrase (``None`` for an unprotected file)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def describe(self) -> str:
        """Where the key is, for messages."""
        return f"PKCS#12 file {self.path}"


@dataclass(frozen=True)
class PemCredentials:
    """A PEM/DER private key plus a certificate chain file (signer certificate first)."""

    key: Path
    """The private key file."""
    chain: Path
    """The certificates: the signer's first, then the CAs."""
    passphrase: str | None = field(default=None, repr=False)
    """Passphrase of an encrypted key, if any."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", Path(self.key))
        object.__setattr__(self, "chain", Path(self.chain))

    @property
    def describe(self) -> str:
        """Where the key is, for messages."""
        return f"key file {self.key}"


@dataclass(frozen=True)
class Pkcs11Credentials:
    """A key and certificate on a PKCS#11 token (smart card, HSM, SoftHSM2)."""

    module: Path
    """The PKCS#11 module (e.g. ``/usr/lib/softhsm/libsofthsm2.so``)."""
    token_label: str
    """Label of the token."""
    pin: str | None = field(default=None, repr=False)
    """User PIN (``None``: the token asks out of band, e.g. a PIN pad)."""
    key_label: str | None = None
    """Label of the private key (or give ``key_id``)."""
    key_id: bytes | None = None
    """CKA_ID of the private key."""
    cert_label: str | None = None
    """Label of the certificate (defaults to the key's)."""
    cert_id: bytes | None = None
    """CKA_ID of the certificate (defaults to the key's)."""
    raw_mechanism: bool | None = None
    """Hash on the host and send a raw signature request (``None``: only for EC keys,
    since many tokens, SoftHSM2 included, lack CKM_ECDSA_SHA256)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "module", Path(self.module))

    @property
    def describe(self) -> str:
        """Where the key is, for messages."""
        what = self.key_label if self.key_label is not None else \
            (self.key_id.hex() if self.key_id else "?")
        return f"key {what!r} on PKCS#11 token {self.token_label!r} ({self.module})"


Credentials = Pkcs12Credentials | PemCredentials | Pkcs11Credentials
"""Any of the three credential sources."""


@contextmanager
def open_signer(creds: Credentials) -> Iterator[Signer]:
    """A pyHanko :class:`Signer` for ``creds``; a PKCS#11 session is closed on exit."""
    if isinstance(creds, Pkcs11Credentials):
        with _pkcs11_signer(creds) as signer:
            yield signer
    elif isinstance(creds, Pkcs12Credentials):
        yield _pkcs12_signer(creds)
    else:
        yield _pem_signer(creds)


# --------------------------------------------------------------------------- files


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise CredentialsError(f"{path}: cannot read the {what} ({e.strerror}); "
                               "check the path") from e


def _pkcs12_signer(creds: Pkcs12Credentials) -> Signer:
    data = _read(creds.path, "PKCS#12 file")
    password = creds.passphrase.encode() if creds.passphrase is not None else None
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)
    except ValueError as e:
        hint = "wrong passphrase" if password else "the file needs a passphrase"
        raise CredentialsError(f"{creds.path}: cannot open the PKCS#12 file ({hint}, or not "
                               "a PKCS#12 file); check the passphrase given") from e
    if key is None or cert is None:
        missing = "private key" if key is None else "certificate"
        raise CredentialsError(f"{creds.path}: the PKCS#12 file holds no {missing}; export "
                               "it again with the key and its certificate")
    return _simple_signer(key, cert, list(extra))


def _pem_signer(creds: PemCredentials) -> Signer:
    key_data = _read(creds.key, "private key")
    certs = _load_certs(creds.chain, _read(creds.chain, "certificate file"))
    password = creds.passphrase.encode() if creds.passphrase is not None else None
    try:
        load = serialization.load_pem_private_key if b"-----BEGIN" in key_data \
            else serialization.load_der_private_key
        key = load(key_data, password)
    except (ValueError, TypeError) as e:
        raise CredentialsError(f"{creds.key}: cannot load the private key (wrong or missing "
                               "passphrase, or not a key file)") from e
    return _simple_signer(key, certs[0], certs[1:])


def _load_certs(path: Path, data: bytes) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data \
            else [x509.load_der_x509_certificate(data)]
    except ValueError as e:
        raise CredentialsError(f"{path}: no certificate could be read; give the signer's "
                               "certificate (PEM) followed by its CA chain") from e
    return certs


def _simple_signer(key: PrivateKeyTypes, cert: x509.Certificate,
                   chain: Sequence[x509.Certificate]) -> Signer:
    key_der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    a_cert = _asn1(cert)
    store = SimpleCertificateStore.from_certs([a_cert, *(_asn1(c) for c in chain)])
    return SimpleSigner(signing_cert=a_cert, signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
                        cert_registry=store)


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


# --------------------------------------------------------------------------- PKCS#11


@contextmanager
def _pkcs11_signer(creds: Pkcs11Credentials) -> Iterator[Signer]:
    try:
        import pkcs11
        from pyhanko.sign.pkcs11 import PKCS11Signer
    except ImportError as e:  # pragma: no cover - installed with pyHanko[pkcs11]
        raise CredentialsError("python-pkcs11 is not installed: pip install "
                               "'pyHanko[pkcs11]'") from e
    session = _open_session(creds, pkcs11)
    try:
        signer = PKCS11Signer(session, key_label=creds.key_label, key_id=creds.key_id,
                              cert_label=creds.cert_label, cert_id=creds.cert_id,
                              other_certs_to_pull=None)
        _load_objects(signer, creds)
        algorithm = signer.signing_cert.public_key.algorithm
        signer.use_raw_mechanism = creds.raw_mechanism if creds.raw_mechanism is not None \
            else algorithm == "ec"
        yield signer
    finally:
        session.close()


def _open_session(creds: Pkcs11Credentials, pkcs11: Any) -> Any:
    from pkcs11 import exceptions as px

    if not creds.module.is_file():
        raise CredentialsError(f"PKCS#11 module {creds.module} not found; install the "
                               "middleware of the card or token (e.g. apt install softhsm2)")
    try:
        lib = pkcs11.lib(str(creds.module))
        token = lib.get_token(token_label=creds.token_label)
    except px.NoSuchToken as e:
        raise CredentialsError(f"no PKCS#11 token labelled {creds.token_label!r} in "
                               f"{creds.module}; plug the card in or check the label "
                               "(pkcs11-tool --module M -L)") from e
    except (RuntimeError, OSError) as e:
        raise CredentialsError(f"cannot load PKCS#11 module {creds.module} ({e})") from e
    return _login(creds, token, px)


def _login(creds: Pkcs11Credentials, token: Any, px: Any) -> Any:
    where = f"PKCS#11 token {creds.token_label!r}"
    try:
        if creds.pin is None:
            return token.open()
        return token.open(user_pin=creds.pin)
    except px.PinIncorrect as e:
        raise CredentialsError(f"wrong PIN for {where}; check it (the token locks after "
                               "a few wrong attempts)") from e
    except px.PinLocked as e:
        raise CredentialsError(f"{where} is locked (CKR_PIN_LOCKED: too many wrong PINs); "
                               "have it unlocked with the PUK / SO PIN") from e
    except (px.PinInvalid, px.PinLenRange) as e:
        raise CredentialsError(f"the PIN given for {where} is not a valid PIN "
                               "(bad length or characters)") from e
    except px.PKCS11Error as e:
        raise CredentialsError(f"cannot open a session on {where}: "
                               f"{type(e).__name__} {e}") from e


def _load_objects(signer: Any, creds: Pkcs11Credentials) -> None:
    from pkcs11 import exceptions as px

    try:
        signer.signing_cert  # noqa: B018 - the public property loads the key and cert
    except px.PKCS11Error as e:
        raise CredentialsError(f"{creds.describe}: {e}; list the token's objects with "
                               "pkcs11-tool --module M --token-label L -O") from e
