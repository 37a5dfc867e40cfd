"""Local trust services of a demonstration PKI: RFC 3161 TSA, OCSP responder, CRLs.

A small ``http.server`` on 127.0.0.1 only:

* ``POST /tsa``   — RFC 3161 timestamp requests (``application/timestamp-query``)
* ``POST /ocsp`` and ``GET /ocsp/<base64>`` — OCSP (RFC 6960), state read from ``pki.json``
  at every request, so :func:`signers.demo_pki.revoke` takes effect immediately
* ``GET /crl/racine.crl``, ``GET /crl/intermediaire.crl`` — fresh CRLs
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.x509 import ocsp
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from . import demo_pki

log = logging.getLogger(__name__)

LOCALHOST = "127.0.0.1"


@dataclass(frozen=True)
class RunningServices:
    """Services listening on 127.0.0.1."""

    url: str
    """Base URL, e.g. ``http://127.0.0.1:8765``."""
    port: int
    """The TCP port."""

    @property
    def tsa_url(self) -> str:
        """URL of the timestamp service."""
        return f"{self.url}/tsa"

    @property
    def ocsp_url(self) -> str:
        """URL of the OCSP responder."""
        return f"{self.url}/ocsp"


class _Responders:
    """The signing material of the services, loaded once."""

    def __init__(self, pki_dir: Path) -> None:
        self.pki_dir = pki_dir
        priv = pki_dir / "private"
        tsa_cert = demo_pki.load_cert(priv / "tsa.pem")
        tsa_key = demo_pki.load_key(priv / "tsa.key.pem")
        chain = [demo_pki.load_cert(pki_dir / demo_pki.INTERMEDIATE_FILE),
                 demo_pki.load_cert(pki_dir / demo_pki.ROOT_FILE)]
        if not isinstance(tsa_key, RSAPrivateKey):
            raise ValueError(f"{priv / 'tsa.key.pem'}: the demo TSA signs with RSA only")
        self.timestamper = _timestamper(
            tsa_key,
            tsa_cert=_asn1_cert(tsa_cert),
            tsa_key=asn1_keys.PrivateKeyInfo.load(tsa_key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption())),
            certs_to_embed=[_asn1_cert(c) for c in chain],  # type: ignore[arg-type]
        )
        self.issuer = chain[0]
        self.ocsp_cert = demo_pki.load_cert(priv / "ocsp.pem")
        self.ocsp_key = demo_pki.load_key(priv / "ocsp.key.pem")

    def timestamp(self, body: bytes) -> bytes:
        req = tsp.TimeStampReq.load(body)
        return self.timestamper.request_tsa_response(req).dump()  # type: ignore[no-any-return]

    def ocsp(self, body: bytes) -> bytes:
        try:
            req = ocsp.load_der_ocsp_request(body)
        except ValueError:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(
                serialization.Encoding.DER)
        return self._ocsp_answer(req).public_bytes(serialization.Encoding.DER)

    def _ocsp_answer(self, req: Any) -> Any:
        now = dt.datetime.now(dt.UTC)
        known = self._issued()
        if req.serial_number not in known:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED)
        revoked = demo_pki.revoked_serials(self.pki_dir).get(req.serial_number)
        status = ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD
        b = ocsp.OCSPResponseBuilder().add_response(
            cert=known[req.serial_number], issuer=self.issuer, algorithm=hashes.SHA256(),
            cert_status=status, this_update=now - dt.timedelta(minutes=1),
            next_update=now + dt.timedelta(days=1), revocation_time=revoked,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, self.ocsp_cert).certificates(
            [self.ocsp_cert])
        for ext in req.extensions:
            if isinstance(ext.value, x509.OCSPNonce):
                b = b.add_extension(ext.value, critical=False)
        return b.sign(self.ocsp_key, hashes.SHA256())

    def _issued(self) -> dict[int, x509.Certificate]:
        data = demo_pki.read_manifest(self.pki_dir)
        out: dict[int, x509.Certificate] = {}
        for s in data["subjects"]:
            out[int(s["serial"], 16)] = demo_pki.load_cert(self.pki_dir / f"{s['id']}.pem")
        for stem in ("tsa", "ocsp"):
            cert = demo_pki.load_cert(self.pki_dir / "private" / f"{stem}.pem")
            out[cert.serial_number] = cert
        return out


def _timestamper(key: RSAPrivateKey, **kwargs: Any) -> DummyTimeStamper:
    """pyHanko's test timestamping authority; the speed-ups' one (key parsed once, same
    tokens) unless they are unavailable (``SIGNERS_SPEEDUPS=off``, other versions)."""
    from . import speedups

    if speedups.available().enabled:
        from .speedups.demotsa import KeyOnceTimeStamper

        return KeyOnceTimeStamper(key, **kwargs)
    return DummyTimeStamper(**kwargs)


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _handler_class(responders: _Responders) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "ctgdocs-demo-services"

        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/tsa":
                self._answer(responders.timestamp, body, "application/timestamp-reply")
            elif path == "/ocsp":
                self._answer(responders.ocsp, body, "application/ocsp-response")
            else:
                self.send_error(404)

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path.startswith("/ocsp/"):
                raw = base64.b64decode(urllib.parse.unquote(path[len("/ocsp/"):]))
                self._answer(responders.ocsp, raw, "application/ocsp-response")
            elif path in ("/crl/racine.crl", "/crl/intermediaire.crl"):
                which = path.rsplit("/", 1)[1].removesuffix(".crl")
                self._send(demo_pki.make_crl(responders.pki_dir, which), "application/pkix-crl")
            else:
                self.send_error(404)

        def _answer(self, fn: object, body: bytes, ctype: str) -> None:
            try:
                payload = fn(body)  # type: ignore[operator]
            except Exception:  # a bad request must not kill the server
                log.exception("demo service failed on %s", self.path)
                self.send_error(400)
                return
            self._send(payload, ctype)

        def _send(self, payload: bytes, ctype: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            log.debug("%s " + format, self.address_string(), *args)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    """Connections waiting to be accepted. The standard library's 5 is soon exceeded: one
    verification opens up to 8 connections at once (it checks 8 signatures at a time),
    and a connection the queue cannot hold waits a second for its retransmission."""


def listening_socket(port: int = 0) -> socket.socket:
    """A TCP socket bound to 127.0.0.1 and listening (``port=0``: a free port the system
    picks; read it with ``sock.getsockname()[1]``).

    Bind it *before* creating the demonstration PKI whose certificates carry the
    services' URL, then hand it to :func:`running_services` or :func:`make_server`: no
    other process can take the port in between, as it could if a port found free were
    bound again later."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((LOCALHOST, port))
        sock.listen(_Server.request_queue_size)
    except OSError:
        sock.close()
        raise
    return sock


def make_server(pki_dir: str | os.PathLike[str], port: int = 0, *,
                sock: socket.socket | None = None) -> ThreadingHTTPServer:
    """A (not yet started) HTTP server for the services of ``pki_dir`` on 127.0.0.1,
    listening on ``sock`` (from :func:`listening_socket`) if given, else on ``port``."""
    handler = _handler_class(_Responders(Path(pki_dir)))
    if sock is None:
        return _Server((LOCALHOST, port), handler)
    server = _Server((LOCALHOST, 0), handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.server_address = sock.getsockname()
    server.server_name, server.server_port = LOCALHOST, int(server.server_address[1])
    return server


def serve(pki_dir: str | os.PathLike[str], host: str = LOCALHOST, port: int = 8765, *,
          sock: socket.socket | None = None) -> None:
    """Serve TSA, OCSP and CRLs of ``pki_dir`` in the foreground until interrupted."""
    if host != LOCALHOST:
        raise ValueError("the demonstration services only listen on 127.0.0.1")
    server = make_server(pki_dir, port, sock=sock)
    try:
        server.serve_forever()
    finally:
        server.server_close()


@contextmanager
def running_services(pki_dir: str | os.PathLike[str], port: int = 0, *,
                     sock: socket.socket | None = None) -> Iterator[RunningServices]:
    """Run the services of ``pki_dir`` in a background thread; stop them on exit.

    The certificates carry the URL given to :func:`create_demo_pki`: bind the port first
    with :func:`listening_socket`, create the PKI with that port, and pass ``sock`` here
    (``port=0`` without a socket picks a free port, see :attr:`RunningServices.port`)."""
    server = make_server(pki_dir, port, sock=sock)
    thread = threading.Thread(target=server.serve_forever, name="demo-services", daemon=True)
    thread.start()
    actual = server.server_address[1]
    try:
        yield RunningServices(f"http://{LOCALHOST}:{actual}", int(actual))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
