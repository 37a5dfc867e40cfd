"""The signing agent's key: a key file signs the server's signed attributes with
``cryptography`` alone, as the server verifies them (EC and RSA), and the agent starts
without importing pyHanko."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from signers.circuit.agent_key import open_agent_key
from signers.circuit.errors import Refused
from signers.circuit.remote import signature_matches
from signers.credentials import Pkcs12Credentials


def _p12(tmp_path: Path, key: object) -> Path:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Élodie Carrière")])
    now = dt.datetime.now(dt.UTC)
    signing_key = ec.generate_private_key(ec.SECP256R1())  # the self-signature's key
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)  # type: ignore[attr-defined]
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(signing_key, hashes.SHA256()))
    path = tmp_path / "cle.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"x", key, cert, None, serialization.BestAvailableEncryption(b"pp")))  # type: ignore[arg-type]
    return path


@pytest.mark.parametrize("make", [lambda: ec.generate_private_key(ec.SECP256R1()),
                                  lambda: rsa.generate_private_key(65537, 2048)],
                         ids=["ec", "rsa"])
def test_a_key_file_signs_as_the_server_verifies(tmp_path: Path, make) -> None:
    with open_agent_key(Pkcs12Credentials(_p12(tmp_path, make()), "pp")) as key:
        chain = key.chain()
        attrs = b"\x31\x03\x02\x01\x01"  # any DER bytes stand for the signed attributes
        signature = key.sign(attrs)
    cert = asn1_x509.Certificate.load(chain[0])
    assert signature_matches(cert, attrs, signature)
    assert not signature_matches(cert, attrs + b"\x00", signature)


def test_an_unsupported_key_is_refused_with_the_fix(tmp_path: Path) -> None:
    with open_agent_key(Pkcs12Credentials(_p12(tmp_path, ed25519.Ed25519PrivateKey.generate()),
                                          "pp")) as key, \
            pytest.raises(Refused, match="use an RSA or an elliptic-curve"):
        key.sign(b"data")


def test_the_agent_starts_without_pyhanko() -> None:
    code = ("import sys, ctgdocs.cli, ctgdocs.circuit.agent, signers.circuit.agent_key, "
            "signers.circuit.client; ctgdocs.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.startswith('pyhanko')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
