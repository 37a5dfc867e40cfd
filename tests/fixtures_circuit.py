"""pytest plugin for the signing circuit: a real PostgreSQL cluster (Unix socket only),
stores on SQLite and PostgreSQL, a small package with fields, engines with an injected
clock, a real SMTP server (aiosmtpd) and a uvicorn server in a thread."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import uvicorn  # now: LibreOffice's uno import hook (other tests) breaks its later import
from fixtures_pki import DEMO_SUBJECTS
from pypdf import PdfWriter

from signers.circuit.engine import CircuitEngine, EngineConfig
from signers.circuit.records import CircuitSpec, SlotSpec
from signers.circuit.sandbox import InProcessChecker
from signers.circuit.store import open_store
from signers.demo_pki import DemoPki
from signers.fields import add_signature_fields
from signers.model import FieldSpec
from signers.services import RunningServices

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PEOPLE = ("caf-directeur", "caf-president", "maire-gignac", "maire-aniane", "revoque")
SECRET = b"0123456789abcdef0123456789abcdef-test-secret"


class FakeClock:
    """A clock the tests move (never sleeps)."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move forward."""
        self.now += dt.timedelta(**delta)


@dataclass
class PgCluster:
    """A PostgreSQL cluster listening on a Unix socket only."""

    socket_dir: Path
    counter: Any = field(default_factory=lambda: itertools.count(1))

    def new_database(self) -> str:
        """A fresh empty database; its SQLAlchemy URL."""
        name = f"circuit_{os.getpid()}_{next(self.counter)}"
        _psql(self.socket_dir, f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@/{name}?host={self.socket_dir}"


def _psql(socket_dir: Path, sql: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "psql"), "-h",
                    str(socket_dir), "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql],
                   check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgCluster]:
    """A real PostgreSQL (Debian's) in a temporary folder, no TCP port, stopped at the
    end of the session."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL 15 server binaries missing: apt install postgresql")
    base = Path(tempfile_dir(tmp_path_factory))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    shutil.chown(base, "postgres")
    shutil.chown(sock, "postgres")
    run = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*run, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U",
                    "postgres", "--no-sync"], check=True, capture_output=True, timeout=120)
    try:  # stopped even when the start fails or times out after the server came up
        subprocess.run([*run, str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l",
                        str(base / "log"), "-o",
                        f"-c listen_addresses='' -c unix_socket_directories='{sock}' "
                        "-c fsync=off -c max_connections=200", "start"],
                       check=True, capture_output=True, timeout=120)
        yield PgCluster(sock)
    finally:
        subprocess.run([*run, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def tempfile_dir(factory: pytest.TempPathFactory) -> Path:
    """A folder outside root's private tmp tree, reachable by the postgres user."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="ctg-pg-", dir="/tmp"))
    path.chmod(0o755)
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store: a folder (SQLite) or a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "store")
    return request.getfixturevalue("pg_cluster").new_database()


@pytest.fixture(scope="session")
def circuit_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-page PDF with a visible field per test signatory and the invisible seal."""
    base = tmp_path_factory.mktemp("circuit-package")
    writer = PdfWriter()
    for _ in range(2):
        writer.add_blank_page(595, 842)
    writer.write(base / "blank.pdf")
    specs = [FieldSpec(name, 1, (40 + (i % 2) * 280, 60 + (i // 2) * 100,
                                 290 + (i % 2) * 280, 130 + (i // 2) * 100), name)
             for i, name in enumerate(PEOPLE)]
    specs.append(FieldSpec("cachet-caf", 0, (0, 0, 0, 0), "Cachet de la Caf"))
    add_signature_fields(base / "blank.pdf", base / "package.pdf", specs)
    return base / "package.pdf"


def slot_for(sid: str, stage: int) -> SlotSpec:
    """The slot of a test signatory (names and e-mails from the demo subjects)."""
    s = next(s for s in DEMO_SUBJECTS if s.id == sid)
    return SlotSpec(sid, sid, stage, s.title or sid, s.name, s.email,
                    reason="Délibération du conseil municipal n° 2022-071 du 8 décembre 2022",
                    details={"organisation": s.organisation})


def der_root(pki: DemoPki) -> bytes:
    """The PKI's root certificate, DER."""
    return ssl.PEM_cert_to_DER_cert(pki.root_cert.read_text())


@dataclass
class CircuitKit:
    """An engine on a store, its clock, and how to start circuits."""

    engine: CircuitEngine
    clock: FakeClock
    package: Path
    pki: DemoPki
    services: RunningServices

    def start(self, stages: list[list[str]], circuit: str = "c1", **spec: Any) -> Any:
        """Start a circuit with these stages of test signatories."""
        slots = tuple(slot_for(sid, n) for n, stage in enumerate(stages, 1) for sid in stage)
        return self.engine.start(CircuitSpec(
            id=circuit, title="Convention de test", package=self.package.read_bytes(),
            slots=slots, deadline=self.clock() + dt.timedelta(days=20),
            coordinator_name="Coordination", coordinator_email="coord@caf34.example.fr",
            base_url="http://127.0.0.1:9", **spec))


@pytest.fixture
def make_kit(demo_pki: DemoPki, demo_services: RunningServices, circuit_package: Path
             ) -> Iterator[Callable[..., CircuitKit]]:
    """Build an engine on a store location (in-process checks, injected clock)."""
    made: list[CircuitKit] = []

    def make(location: str, *, checker: Any = None, tsa: str | None = "default",
             **config: Any) -> CircuitKit:
        clock = FakeClock()
        engine = CircuitEngine(
            open_store(location), SECRET,
            EngineConfig(trust_roots=(der_root(demo_pki),),
                         tsa_url=demo_services.tsa_url if tsa == "default" else tsa,
                         **config),
            clock=clock, checker=checker or InProcessChecker(),
            stamp_text=lambda n, c, w, s: _stamp(n, c, w, s))
        kit = CircuitKit(engine, clock, circuit_package, demo_pki, demo_services)
        made.append(kit)
        return kit

    yield make
    for kit in made:
        kit.engine.store.dispose()


def _stamp(name: str, capacity: str | None, when: dt.datetime, seal: bool) -> tuple[str, ...]:
    from ctgdocs.wording import STAMP_WORDING
    from signers.stamp import stamp_lines

    return stamp_lines(name, capacity, when, seal=seal, wording=STAMP_WORDING)


@pytest.fixture
def kit(make_kit: Callable[..., CircuitKit], store_location: str) -> CircuitKit:
    """An engine on a fresh store, SQLite then PostgreSQL."""
    return make_kit(store_location)


# -- SMTP --------------------------------------------------------------------------------

class MailServer:
    """aiosmtpd on 127.0.0.1, on a socket bound to port 0 before it starts (no race for
    the port), in a thread of its own; collects the messages it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smtp", daemon=True)
        self._server: Any = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """``smtp://127.0.0.1:port``."""
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> MailServer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()

    async def _serve(self) -> Any:
        from aiosmtpd.smtp import SMTP

        server = self

        class Collect:
            async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                message = message_from_bytes(envelope.content, policy=policy.default)
                with server._lock:
                    server.messages.append(message)  # type: ignore[arg-type]
                return "250 OK"

        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: SMTP(Collect(), hostname="127.0.0.1"),
                                        sock=self._sock)

    def wait_for(self, to: str, subject: str, count: int = 1, *, text: str = "",
                 timeout: float = 60) -> list[EmailMessage]:
        """The first ``count`` messages to ``to`` whose subject contains ``subject`` and
        whose text contains ``text`` (e.g. a link's token)."""
        end = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [m for m in self.messages
                         if to in str(m["To"]) and subject in str(m["Subject"])
                         and text in mail_text(m)]
            if len(found) >= count or time.monotonic() > end:
                assert len(found) >= count, (
                    f"{count} mail(s) to {to} about {subject!r} expected, got {len(found)}: "
                    f"{[(str(m['To']), str(m['Subject'])) for m in self.messages]}")
                return found[:count]
            time.sleep(0.05)

    def wait_for_count(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        """Every message received, once there are at least ``count`` (or the timeout)."""
        end = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self.messages) >= count or time.monotonic() > end:
                    return list(self.messages)
            time.sleep(0.05)


def mail_text(message: EmailMessage) -> str:
    """The plain-text body of ``message``."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


@pytest.fixture
def smtp_sink() -> Iterator[MailServer]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, stopped after the test."""
    with MailServer() as server:
        yield server


# -- uvicorn in a thread ---------------------------------------------------------------

@dataclass
class LiveServer:
    """The circuit app served by uvicorn on 127.0.0.1."""

    url: str
    server: Any
    thread: threading.Thread


def serve_app(app: Any) -> LiveServer:
    """Serve ``app`` with uvicorn in a thread on a socket bound to port 0."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not server.started and time.monotonic() < end:
        time.sleep(0.02)
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    return LiveServer(f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread)


def stop_server(live: LiveServer) -> None:
    """Stop a server from :func:`serve_app`."""
    live.server.should_exit = True
    live.thread.join(30)
