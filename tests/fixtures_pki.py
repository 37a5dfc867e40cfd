"""pytest plugin: a demonstration PKI, its local TSA/OCSP/CRL services, a SoftHSM2 token,
and the speed-ups switch of the verification, tamper and signing tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from signers import speedups
from signers.demo_pki import DemoPki, DemoSubject, create_demo_pki
from signers.services import RunningServices, listening_socket, running_services

SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")

CAF = "Caf de l'Hérault"
DEMO_SUBJECTS: tuple[DemoSubject, ...] = (
    DemoSubject("caf-directeur", "Marie-Hélène Lefèvre", CAF,
                "La Directrice de la Caf de l'Hérault", "mh.lefevre@caf34.example.fr"),
    DemoSubject("caf-president", "Gérard Bénézech", CAF,
                "Le Président du conseil d'administration de la Caf",
                "g.benezech@caf34.example.fr"),
    DemoSubject("maire-gignac", "Jean-François Soto", "Commune de Gignac",
                "Le Maire de Gignac", "jf.soto@gignac.example.fr"),
    DemoSubject("maire-aniane", "Élodie Carrière", "Commune d'Aniane",
                "La Maire d'Aniane", "e.carriere@aniane.example.fr"),
    DemoSubject("revoque", "Paul Révoqué", "Commune du Pouget", "Le Maire du Pouget",
                "p.revoque@lepouget.example.fr"),
)
"""Subjects of the session PKI (``revoque`` is for the revocation test only)."""

SEAL = DemoSubject("cachet-caf", CAF, CAF)


def services_url(sock: socket.socket) -> str:
    """The base URL of services that will listen on ``sock``."""
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="session")
def services_socket() -> Iterator[socket.socket]:
    """A listening socket on 127.0.0.1 (port chosen by the system) for ``demo_services``:
    bound before the PKI's certificates name its port, so no other process can take it."""
    sock = listening_socket()
    yield sock
    sock.close()


@pytest.fixture(scope="session")
def demo_pki(tmp_path_factory: pytest.TempPathFactory,
             services_socket: socket.socket) -> DemoPki:
    """A demonstration PKI for :data:`DEMO_SUBJECTS` + the Caf seal; its certificates
    point at the services ``demo_services`` runs on ``services_socket``."""
    out = tmp_path_factory.mktemp("pki")
    return create_demo_pki(DEMO_SUBJECTS, out, organisation_seal=SEAL,
                           services_url=services_url(services_socket))


@pytest.fixture(scope="session")
def demo_services(demo_pki: DemoPki,
                  services_socket: socket.socket) -> Iterator[RunningServices]:
    """TSA, OCSP and CRLs of ``demo_pki`` on 127.0.0.1, stopped at the end of the session."""
    with running_services(demo_pki.directory, sock=services_socket) as services:
        yield services


@pytest.fixture(scope="module")
def speedups_switch() -> Iterator[bool]:
    """The speed-ups on for a test module, as ``ctg sign``/``ctg verify`` turn them on —
    unless ``SIGNERS_SPEEDUPS=off``: ``make test`` runs the verification, tamper and
    signing modules once each way. Yields whether they are on."""
    before = speedups.status().enabled
    on = speedups.enable().enabled
    yield on
    if on and not before:
        speedups.disable()


@dataclass(frozen=True)
class SoftHsmToken:
    """A SoftHSM2 token holding one subject's key and certificate."""

    module: Path
    """The PKCS#11 module."""
    label: str
    """Token label."""
    pin: str
    """User PIN."""
    key_label: str
    """Label of the key and of the certificate."""
    key_id: bytes
    """CKA_ID of the key and of the certificate."""
    subject: DemoSubject
    """Whose key it is."""


@pytest.fixture(scope="session")
def softhsm_token(demo_pki: DemoPki, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[SoftHsmToken]:
    """A real SoftHSM2 token (own SOFTHSM2_CONF in a tmp dir) with the key and certificate
    of ``maire-gignac`` imported by softhsm2-util and pkcs11-tool."""
    for tool in ("softhsm2-util", "pkcs11-tool"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} missing: apt install softhsm2 opensc")
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    mp = pytest.MonkeyPatch()
    mp.setenv("SOFTHSM2_CONF", str(conf))
    subject = demo_pki.subject("maire-gignac")
    token = SoftHsmToken(SOFTHSM_MODULE, "ctg-test", "123456", "signature", b"\x01", subject)
    _init_token(token, demo_pki, base)
    yield token
    mp.undo()


def _run(args: list[str]) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ))
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {proc.stdout}{proc.stderr}")


def _init_token(token: SoftHsmToken, pki: DemoPki, base: Path) -> None:
    key, cert, _ = pkcs12.load_key_and_certificates(
        pki.pkcs12(token.subject.id).read_bytes(), pki.passphrase.encode())
    assert key is not None and cert is not None
    key_pem, cert_der = base / "key.pem", base / "cert.der"
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    cert_der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    _run(["softhsm2-util", "--init-token", "--free", "--label", token.label,
          "--pin", token.pin, "--so-pin", "12345678"])
    _run(["softhsm2-util", "--import", str(key_pem), "--token", token.label,
          "--label", token.key_label, "--id", token.key_id.hex(), "--pin", token.pin])
    _run(["pkcs11-tool", "--module", str(token.module), "--token-label", token.label,
          "--login", "--pin", token.pin, "--write-object", str(cert_der), "--type", "cert",
          "--label", token.key_label, "--id", token.key_id.hex()])
    key_pem.unlink()
