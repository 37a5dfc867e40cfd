"""The demonstration PKI: labelled certificates, PKCS#12 files, services, revocation."""

from __future__ import annotations

import datetime as dt
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fixtures_pki import DEMO_SUBJECTS

from ctgdocs.cli import main
from ctgdocs.exceptions import ExitCode
from signers.demo_pki import (
    DEMO_LABEL,
    DemoPki,
    DemoSubject,
    create_demo_pki,
    load_cert,
    load_demo_pki,
    revoke,
)
from signers.services import RunningServices, listening_socket, running_services


def _p12_cert(pki: DemoPki, sid: str) -> x509.Certificate:
    key, cert, chain = pkcs12.load_key_and_certificates(pki.pkcs12(sid).read_bytes(),
                                                        pki.passphrase.encode())
    assert key is not None and cert is not None and len(chain) == 2
    return cert


def test_subject_certificates_are_labelled_and_complete(demo_pki: DemoPki) -> None:
    cert = _p12_cert(demo_pki, "maire-gignac")
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Jean-François Soto"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value \
        == DEMO_LABEL
    assert subject.get_attributes_for_oid(NameOID.TITLE)[0].value == "Le Maire de Gignac"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["jf.soto@gignac.example.fr"]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert aia[0].access_location.value == f"{demo_pki.services_url}/ocsp"
    now = dt.datetime.now(dt.UTC)
    assert cert.not_valid_before_utc < now - dt.timedelta(hours=23)
    assert cert.not_valid_after_utc > now + dt.timedelta(days=3 * 365)


def test_folder_readme_manifest_and_service_certs(demo_pki: DemoPki) -> None:
    readme = (demo_pki.directory / "README.txt").read_text(encoding="utf-8")
    assert DEMO_LABEL.upper() in readme and demo_pki.passphrase in readme
    assert demo_pki.root_cert.name.startswith("DEMO-")
    again = load_demo_pki(demo_pki.directory)
    assert again.seal_id == "cachet-caf" and again.subjects == demo_pki.subjects
    tsa = load_cert(demo_pki.directory / "private" / "tsa.pem")
    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


def test_a_pki_for_53_signatories(tmp_path: Path) -> None:
    """The 50-commune case: one certificate and one PKCS#12 file per signatory (its
    creation time is measured by bench/sign.py, not asserted here)."""
    subjects = [DemoSubject(f"maire-{i}", f"Prénom{i} Nom", f"Commune {i}",
                            f"Le Maire de Commune {i}", f"m{i}@example.fr") for i in range(53)]
    create_demo_pki(subjects, tmp_path / "pki")
    assert len(list((tmp_path / "pki").glob("*.p12"))) == 53


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        create_demo_pki([DEMO_SUBJECTS[0], DEMO_SUBJECTS[0]], tmp_path)


def _ocsp_status(pki: DemoPki, url: str, sid: str) -> ocsp.OCSPCertStatus:
    cert = load_cert(pki.cert(sid))
    issuer = load_cert(pki.directory / "DEMO-intermediaire.pem")
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256()).build()
    http = urllib.request.Request(url, data=req.public_bytes(serialization.Encoding.DER),
                                  headers={"Content-Type": "application/ocsp-request"})
    with urllib.request.urlopen(http, timeout=10) as answer:
        resp = ocsp.load_der_ocsp_response(answer.read())
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return resp.certificate_status


def test_services_answer_tsa_ocsp_crl(demo_pki: DemoPki,
                                      demo_services: RunningServices) -> None:
    assert _ocsp_status(demo_pki, demo_services.ocsp_url, "caf-directeur") \
        == ocsp.OCSPCertStatus.GOOD
    with urllib.request.urlopen(f"{demo_services.url}/crl/intermediaire.crl") as answer:
        crl = x509.load_der_x509_crl(answer.read())
    assert crl.issuer == load_cert(demo_pki.directory / "DEMO-intermediaire.pem").subject
    req = tsp.TimeStampReq({"version": 1, "message_imprint": {
        "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x01" * 32},
        "cert_req": True})
    http = urllib.request.Request(demo_services.tsa_url, data=req.dump(),
                                  headers={"Content-Type": "application/timestamp-query"})
    with urllib.request.urlopen(http, timeout=10) as answer:
        resp = tsp.TimeStampResp.load(answer.read())
    assert resp["status"]["status"].native == "granted"


def test_demo_tsa_tokens_are_those_of_pyhankos_dummy_timestamper(
        demo_pki: DemoPki, monkeypatch: pytest.MonkeyPatch) -> None:
    """The services' TSA signs with a key parsed once (pyHanko's parses it at every
    token, 36 ms); for the same request, time and serial number its answer is pyHanko's,
    byte for byte (RSA PKCS#1 v1.5 signatures are deterministic)."""
    from pyhanko.sign.timestamps import dummy_client
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    from signers.services import _Responders

    monkeypatch.setattr(dummy_client, "get_nonce", lambda: 123456789)
    ours = _Responders(demo_pki.directory).timestamper
    when = dt.datetime(2023, 2, 6, 16, 0, tzinfo=dt.UTC)
    ours.fixed_dt = when
    theirs = DummyTimeStamper(tsa_cert=ours.tsa_cert, tsa_key=ours.tsa_key,
                              certs_to_embed=ours.certs_to_embed, fixed_dt=when)
    req = tsp.TimeStampReq({"version": 1, "message_imprint": {
        "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x02" * 32},
        "nonce": 42, "cert_req": True})
    with monkeypatch.context() as patched:  # ours never parses the key again
        patched.setattr(dummy_client.serialization, "load_der_private_key", None)
        answer = ours.request_tsa_response(req)
    assert answer["status"]["status"].native == "granted"
    assert answer.dump() == theirs.request_tsa_response(req).dump()


def test_demo_tsa_refuses_a_key_it_cannot_sign_with(demo_pki: DemoPki, tmp_path: Path) -> None:
    """The services' TSA signs RSA PKCS#1 v1.5, as pyHanko's: another key is refused when
    the services start, naming the file, instead of failing every timestamp request."""
    import shutil

    from cryptography.hazmat.primitives.asymmetric import ec

    from signers.services import _Responders

    copy = tmp_path / "pki"
    shutil.copytree(demo_pki.directory, copy)
    key = ec.generate_private_key(ec.SECP256R1())
    (copy / "private" / "tsa.key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(ValueError, match=r"tsa\.key\.pem: the demo TSA signs with RSA only"):
        _Responders(copy)


def test_revoke_updates_crl_and_ocsp(tmp_path: Path) -> None:
    sock = listening_socket()  # bound before the certificates name its port
    port = sock.getsockname()[1]
    pki = create_demo_pki(DEMO_SUBJECTS[:2], tmp_path / "pki",
                          services_url=f"http://127.0.0.1:{port}")
    with running_services(pki.directory, sock=sock) as svc:
        assert _ocsp_status(pki, svc.ocsp_url, "caf-president") == ocsp.OCSPCertStatus.GOOD
        pki = revoke(pki, "caf-president")
        assert pki.revoked == ("caf-president",)
        assert _ocsp_status(pki, svc.ocsp_url, "caf-president") \
            == ocsp.OCSPCertStatus.REVOKED
        assert _ocsp_status(pki, svc.ocsp_url, "caf-directeur") == ocsp.OCSPCertStatus.GOOD
    crl = x509.load_der_x509_crl((pki.directory / "crl" / "intermediaire.crl").read_bytes())
    serial = load_cert(pki.cert("caf-president")).serial_number
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    with pytest.raises(KeyError):
        revoke(pki, "nobody")


def test_cli_demo_pki_from_convention_data(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "pki"
    code = main(["demo-pki", str(root / "examples" / "vallee-herault" / "convention.yaml"),
                 "-o", str(out)])
    assert code == ExitCode.OK
    pki = load_demo_pki(out)
    assert pki.seal_id == "cachet-caf"
    assert {"caf-directeur", "caf-president", "epci-president", "maire-gignac"} \
        <= {s.id for s in pki.subjects}
    assert main(["demo-revoke", str(out), "maire-gignac"]) == ExitCode.OK
    assert load_demo_pki(out).revoked == ("maire-gignac",)


def test_cli_demo_services_runs_until_interrupted(demo_pki: DemoPki) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "ctgdocs", "demo-services",
                             str(demo_pki.directory), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # the port the system gave, once it listens
        url = re.search(r"http://127\.0\.0\.1:[0-9]+", first)
        assert url, first
        crl = _fetch_with_retry(f"{url.group(0)}/crl/racine.crl")
        assert x509.load_der_x509_crl(crl).issuer == load_cert(demo_pki.root_cert).subject
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert proc.returncode in (0, ExitCode.INTERRUPTED)


def _fetch_with_retry(url: str, attempts: int = 50) -> bytes:
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return bytes(answer.read())
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def test_services_queue_many_connections(demo_pki: DemoPki) -> None:
    """Connections that arrive while the services are busy wait in the listen queue.
    The standard library's queue of 5 drops the 7th, which then waits a second for its
    retransmission; one verification alone opens 8 at once."""
    import socket
    from concurrent.futures import ThreadPoolExecutor
    from http.server import ThreadingHTTPServer

    from signers.services import make_server

    def connected(port: int, count: int) -> int:
        def one(_: int) -> socket.socket | None:
            try:
                return socket.create_connection(("127.0.0.1", port), timeout=0.3)
            except OSError:
                return None

        with ThreadPoolExecutor(count) as pool:
            sockets = list(pool.map(one, range(count)))
        for s in sockets:
            if s is not None:
                s.close()
        return sum(s is not None for s in sockets)

    # neither server accepts (not started): the queue alone holds the connections
    ours = make_server(demo_pki.directory)
    stdlib = ThreadingHTTPServer(("127.0.0.1", 0), ours.RequestHandlerClass)
    try:
        assert connected(ours.server_address[1], 40) == 40
        assert connected(stdlib.server_address[1], 40) < 40
    finally:
        ours.server_close()
        stdlib.server_close()
