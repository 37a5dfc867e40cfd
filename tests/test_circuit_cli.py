"""``ctg circuit`` and ``ctg sign-remote`` as real processes on a real built package:
start, serve (port 0, SIGTERM), remote signatures with PKCS#12 and a SoftHSM2 token,
status, replace, journal --verify, export verified with the circuit's expected signers,
no token in the server's output; kill -9 during a burst of uploads, then restart."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures_pki import SOFTHSM_MODULE, SoftHsmToken, _init_token

from ctgdocs.build import BuildOptions, build_package
from ctgdocs.demo import demo_subjects
from ctgdocs.load import load_convention
from ctgdocs.signatories import expected_signers_from_build
from signers.demo_pki import DemoPki, create_demo_pki
from signers.services import RunningServices, listening_socket, running_services
from signers.verify import verify_document

CTG = [sys.executable, "-m", "ctgdocs"]
ALL_AT_ONCE = """  circuit:
    stages:
      - [cachet-caf]
      - [maire-aniane, maire-le-pouget, epci-president, caf-president, caf-directeur]
    coordinator: {name: Service partenariats, email: partenariats@caf34.example.fr}
"""


@dataclass(frozen=True)
class Built:
    """A built package, its data, a demo PKI and its services."""

    data: Path
    package: Path
    pki: DemoPki
    services: RunningServices


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, resources: Path) -> Iterator[Built]:
    base = tmp_path_factory.mktemp("circuit-cli")
    text = (resources / "minimal.yaml").read_text(encoding="utf-8")
    data = base / "convention.yaml"
    data.write_text(text.replace("  place: Gignac\n", "  place: Gignac\n" + ALL_AT_ONCE),
                    encoding="utf-8")
    build = build_package(data, BuildOptions(output_root=base / "out", seal_field=True))
    people, seal = demo_subjects(load_convention(data))
    sock = listening_socket()  # bound before the certificates name its port
    pki = create_demo_pki(people, base / "pki", organisation_seal=seal,
                          services_url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    with running_services(pki.directory, sock=sock) as live:
        yield Built(data, build.package, pki, live)


def env(store: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "CTGDOCS_STORE": str(store), "PP": "demo-ctg", **extra}


def ctg(*args: str, environ: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*CTG, *args], capture_output=True, text=True, timeout=300,
                          env=environ)
    if check and proc.returncode != 0:
        raise AssertionError(f"ctg {' '.join(args)} → {proc.returncode}\n{proc.stderr}")
    return proc


class Server:
    """``ctg circuit serve --port 0`` as a process; its URL read from its stdout."""

    def __init__(self, built: Built, environ: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [*CTG, "-v", "circuit", "serve", "--port", "0", "--trust", str(built.pki.root_cert),
             "--tsa", built.services.tsa_url], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=environ)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url
        self.err: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                if httpx.get(f"{self.url}/api/v1/health").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("server did not answer")

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)

    def link(self, link: str) -> str:
        return self.url + link[link.index("/s/"):]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(60)
        self._reader.join(10)
        return code


def start(built: Built, store: Path, *extra: str) -> dict[str, Any]:
    out = ctg("circuit", "start", str(built.package), "--data", str(built.data), "--json",
              "--id", "cli", *extra, environ=env(store))
    return json.loads(out.stdout)


def test_the_whole_circuit_from_the_command_line(built: Built, tmp_path: Path) -> None:
    store = tmp_path / "store"
    started = start(built, store, "--deadline", "2099-12-31")
    links = {s["id"]: s for s in started["signatories"]}
    assert links["cachet-caf"]["state"] == "invited" and links["cachet-caf"]["stage"] == 1
    assert links["maire-aniane"]["state"] == "waiting"
    assert (store / "secret.key").stat().st_mode & 0o777 == 0o600
    outbox = sorted((store / "outbox").glob("*.eml"))
    assert len(outbox) == 1  # the seal's invitation, to the coordinator (no e-mail)
    assert "Cachet de la Caf" in outbox[0].read_text() or outbox[0].read_bytes()
    server = Server(built, env(store))
    try:
        ctg("sign-remote", server.link(links["cachet-caf"]["link"]), "--pkcs12",
            str(built.pki.pkcs12("cachet-caf")), "--passphrase-env", "PP", "--yes",
            environ=env(store))
        token = SoftHsmToken(SOFTHSM_MODULE, "ctg-circuit", "123456", "signature",
                             b"\x02", built.pki.subject("maire-le-pouget"))
        conf = tmp_path / "softhsm2.conf"
        (tmp_path / "tokens").mkdir()
        conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\n"
                        "objectstore.backend = file\nlog.level = ERROR\n")
        os.environ["SOFTHSM2_CONF"], saved = str(conf), os.environ.get("SOFTHSM2_CONF")
        try:
            _init_token(token, built.pki, tmp_path)
        finally:
            os.environ.pop("SOFTHSM2_CONF")
            if saved:
                os.environ["SOFTHSM2_CONF"] = saved
        agents = [subprocess.Popen(
            [*CTG, "sign-remote", server.link(links[sid]["link"]), *creds, "--yes"],
            env=env(store, SOFTHSM2_CONF=str(conf), PIN="123456"), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
            for sid, creds in [
                ("maire-aniane", ["--pkcs12", str(built.pki.pkcs12("maire-aniane")),
                                  "--passphrase-env", "PP"]),
                ("maire-le-pouget", ["--pkcs11-module", str(SOFTHSM_MODULE), "--token-label",
                                     "ctg-circuit", "--key-label", "signature",
                                     "--pin-env", "PIN"]),
                ("epci-president", ["--pkcs12", str(built.pki.pkcs12("epci-president")),
                                    "--passphrase-env", "PP"])]]
        for agent in agents:
            out, err = agent.communicate(timeout=300)
            assert agent.returncode == 0, err
            assert out.startswith("signed: ")
        deputy = built.pki.subject("maire-aniane")  # the deputy signs with her own key
        proc = ctg("circuit", "replace", "cli", "caf-directeur", "--name", deputy.name,
                   "--email", deputy.email or "", "--capacity",
                   "La Directrice adjointe de la Caf de l'Hérault, par délégation",
                   environ=env(store))
        new_link = proc.stdout.strip().splitlines()[-1].strip()
        dead = ctg("sign-remote", server.link(links["caf-directeur"]["link"]), "--pkcs12",
                   str(built.pki.pkcs12("caf-directeur")), "--passphrase-env", "PP",
                   "--yes", environ=env(store), check=False)
        assert dead.returncode == 14 and "unknown-link" in dead.stderr
        for sid, link in (("caf-president", links["caf-president"]["link"]),
                          ("maire-aniane", new_link)):  # the deputy: Aniane's mayor's key
            ctg("sign-remote", server.link(link), "--pkcs12", str(built.pki.pkcs12(sid)),
                "--passphrase-env", "PP", "--yes", environ=env(store))
        status = json.loads(ctg("circuit", "status", "cli", "--json",
                                environ=env(store)).stdout)
        assert status["state"] == "complete" and status["signed"] == 6
    finally:
        code = server.stop()
    assert code == 0
    log = "".join(server.err)
    assert "ctgdocs.circuit.access" in log and "/signing-sessions/…" in log
    secrets = [s["token"] for s in started["signatories"]] + [started["coordinator"]["token"]]
    assert not any(secret in log for secret in secrets)
    journal = ctg("circuit", "journal", "cli", "--verify", "--trust",
                  str(built.pki.root_cert), environ=env(store))
    assert "chain intact" in journal.stdout and "0 event(s) after the last token" \
        in journal.stdout
    export = tmp_path / "export"
    ctg("circuit", "export", "cli", "-o", str(export), environ=env(store))
    assert sorted(p.name for p in (export / "journal").iterdir())[0].endswith(".tsr")
    expected = expected_signers_from_build(export / "signataires.json")
    report = verify_document(export / "convention-signee.pdf", expected=expected,
                             trust_roots=[built.pki.root_cert])
    assert report.valid and report.complete, [s.problems for s in report.signatures]
    deputy = next(s for s in report.signatures if s.field == "caf-directeur")
    assert deputy.expected_signer.endswith("par délégation") and deputy.signer_matches
    # ctg verify reads the circuit's signataires.json beside the PDF (before build.json,
    # which still names the director): the deputy's signature completes the document
    shutil.copy(built.package.parent / "build.json", export / "build.json")
    ok = ctg("verify", str(export / "convention-signee.pdf"), "--complete", "--trust",
             str(built.pki.root_cert), environ=env(store), check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # the convention data names the director: against it, the deputy is flagged
    plain = ctg("verify", str(export / "convention-signee.pdf"), "--data",
                str(built.data), "--trust", str(built.pki.root_cert), environ=env(store),
                check=False)
    assert plain.returncode == 11 and "wrong signer" in plain.stdout, plain.stdout


def test_kill_9_during_uploads_loses_nothing(built: Built, tmp_path: Path) -> None:
    from signers.credentials import Pkcs12Credentials
    from signers.sign import sign_field

    store = tmp_path / "store"
    started = start(built, store)
    links = {s["id"]: s["link"] for s in started["signatories"]}
    server = Server(built, env(store))
    ctg("sign-remote", server.link(links["cachet-caf"]), "--pkcs12",
        str(built.pki.pkcs12("cachet-caf")), "--passphrase-env", "PP", "--yes",
        environ=env(store))
    answered: list[dict[str, Any]] = []
    lock = threading.Lock()
    killed = threading.Event()

    def burst(sid: str) -> None:
        api = server.link(links[sid]).replace("/s/", "/api/v1/invitations/")
        work = tmp_path / sid
        work.mkdir()
        while not killed.is_set():
            try:
                doc = httpx.get(f"{api}/document", timeout=60)
                (work / "h.pdf").write_bytes(doc.content)
                sign_field(work / "h.pdf", work / "s.pdf", sid, Pkcs12Credentials(
                    built.pki.pkcs12(sid), built.pki.passphrase))
                answer = httpx.post(f"{api}/document", content=(work / "s.pdf").read_bytes(),
                                    headers={"Content-Type": "application/pdf"}, timeout=60)
            except httpx.HTTPError:
                return  # the server is gone
            if answer.status_code == 201:
                with lock:
                    answered.append({"sid": sid, **answer.json()["head"]})
                    if len(answered) == 2:
                        server.proc.kill()  # kill -9 while the others are uploading
                        killed.set()
                return

    threads = [threading.Thread(target=burst, args=(sid,)) for sid in
               ("maire-aniane", "maire-le-pouget", "epci-president", "caf-president",
                "caf-directeur")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert killed.is_set() and server.proc.wait(30) == -signal.SIGKILL
    restarted = Server(built, env(store))
    try:
        api = restarted.link(links["caf-directeur"]).replace("/s/", "/api/v1/invitations/")
        final = httpx.get(f"{api}/document", timeout=60).content
    finally:
        restarted.stop()
    import hashlib

    for accepted in answered:  # every 201 answered before the kill is in the head
        assert hashlib.sha256(final[:accepted["size"]]).hexdigest() == accepted["sha256"]
    (tmp_path / "final.pdf").write_bytes(final)
    report = verify_document(tmp_path / "final.pdf", trust_roots=[built.pki.root_cert])
    assert report.valid, [s.problems for s in report.signatures]
    assert {a["sid"] for a in answered} <= set(report.signed) | {
        s.field for s in report.signatures}
