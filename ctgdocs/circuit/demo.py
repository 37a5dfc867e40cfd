"""The signing circuit in the demonstration: start the circuit on the built package,
serve it on 127.0.0.1, have the 13 mayors sign with ``ctg sign-remote`` at the same time
(13 processes: PKCS#12 files and one SoftHSM2 token), then the others in order, export,
``ctg verify --complete`` and ``ctg circuit journal --verify``, and stop the server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import CircuitError, MissingDependencyError
from ..runner import run

__all__ = ["CircuitDemoResult", "run_circuit_demo"]

CTG = [sys.executable, "-m", "ctgdocs"]
SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
PIN = "123456"


@dataclass(frozen=True)
class CircuitDemoResult:
    """What the circuit demonstration did."""

    circuit: str
    """Circuit id."""
    document: Path
    """The exported, completely signed document."""
    mayors_seconds: float
    """Wall time of the 13 simultaneous ``ctg sign-remote``."""
    signatures: int
    """Signatures collected (the seal included)."""
    store: Path
    """The circuit's store."""


def run_circuit_demo(data: Path, package: Path, pki: Any, tsa_url: str, folder: Path,
                     say: Callable[[str], None] = print) -> CircuitDemoResult:
    """The circuit story on ``package`` with the demonstration ``pki`` (its services
    running, ``tsa_url`` among them); everything is written under ``folder``."""
    from ..load import load_convention

    conv = load_convention(data)
    work = folder / "circuit"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**os.environ, "CTGDOCS_STORE": str(work / "store"), "CTG_DEMO_PASS": pki.passphrase,
           "CTG_DEMO_PIN": PIN}
    started = json.loads(_ctg(env, "circuit", "start", str(package), "--data", str(data),
                              "--json", "--id", f"{conv.id}-demo").stdout)
    circuit = started["circuit"]
    links = {s["id"]: s["link"] for s in started["signatories"]}
    say(f"4. signing circuit {circuit} started: {len(links)} signatories invited stage "
        f"by stage (the mails are in {work / 'store' / 'outbox'})")
    server = _Server(env, pki.root_cert, tsa_url)
    try:
        say(f"   circuit service on {server.url}")
        _agent(env, server.link(links["cachet-caf"]), _p12(pki, "cachet-caf"))
        say("5. package sealed (certified) by the Caf through the circuit (ctg sign-remote "
            "with the organisation seal)")
        mayors = [s.id for s in conv.signatories if s.role.value == "maire"]
        token_env = _softhsm(pki, mayors[0], work / "softhsm", env)
        seconds = _all_at_once(env, server, links, mayors, pki, token_env)
        say(f"6. {len(mayors)} mayors signed at the same time, each with ctg sign-remote "
            f"and their own key ({len(mayors) - 1} PKCS#12 files, 1 SoftHSM2 token), "
            f"in {seconds:.1f} s")
        rest = sorted((s["stage"], s["id"]) for s in started["signatories"]
                      if s["id"] != "cachet-caf" and s["id"] not in mayors)
        say("7. then, stage by stage:")
        for _, sid in rest:  # the stages after the mayors', in order
            _agent(env, server.link(links[sid]), _p12(pki, sid))
            say(f"   {sid} signed")
    finally:
        code = server.stop()
    if code != 0:
        raise CircuitError(f"the circuit service ended with {code} on SIGTERM")
    say("   circuit complete; circuit service stopped (SIGTERM)")
    export = work / "export"
    _ctg(env, "circuit", "export", circuit, "-o", str(export))
    _ctg(env, "verify", str(export / "convention-signee.pdf"), "--data", str(data),
         "--complete", "--trust", str(pki.root_cert))
    say(f"8. ctg verify --complete: every signature valid "
        f"({export / 'convention-signee.pdf'})")
    journal = _ctg(env, "circuit", "journal", circuit, "--verify", "--trust",
                   str(pki.root_cert)).stdout.strip().splitlines()[0]
    say(f"9. ctg circuit journal --verify: {journal}")
    return CircuitDemoResult(circuit, export / "convention-signee.pdf", seconds, len(links),
                             work / "store")


def _ctg(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = run([*CTG, *args], timeout=600, env=env)
    if proc.returncode != 0:
        raise CircuitError(f"ctg {' '.join(args[:2])} failed ({proc.returncode}): "
                           f"{proc.stderr.strip()[-600:]}")
    return proc


def _p12(pki: Any, sid: str) -> list[str]:
    return ["--pkcs12", str(pki.pkcs12(sid)), "--passphrase-env", "CTG_DEMO_PASS"]


def _agent(env: dict[str, str], link: str, creds: list[str]) -> None:
    _ctg(env, "sign-remote", link, *creds, "--yes")


def _all_at_once(env: dict[str, str], server: _Server, links: dict[str, str],
                 mayors: list[str], pki: Any, token_env: dict[str, str]) -> float:
    token = ["--pkcs11-module", str(SOFTHSM_MODULE), "--token-label", "ctg-demo",
             "--key-label", "signature", "--pin-env", "CTG_DEMO_PIN"]
    started = time.perf_counter()
    agents = [subprocess.Popen(
        [*CTG, "sign-remote", server.link(links[sid]),
         *(token if i == 0 else _p12(pki, sid)), "--yes", "--wait", "600"],
        env=token_env if i == 0 else env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for i, sid in enumerate(mayors)]
    failed = []
    for sid, agent in zip(mayors, agents, strict=True):
        _, err = agent.communicate(timeout=900)
        if agent.returncode != 0:
            failed.append(f"{sid}: {err.strip()[-300:]}")
    if failed:
        raise CircuitError("ctg sign-remote failed: " + "; ".join(failed))
    return time.perf_counter() - started


def _softhsm(pki: Any, sid: str, base: Path, env: dict[str, str]) -> dict[str, str]:
    """A SoftHSM2 token (own configuration) holding ``sid``'s key and certificate."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    for tool in ("softhsm2-util", "pkcs11-tool"):
        if shutil.which(tool) is None:
            raise MissingDependencyError(f"{tool} not found: apt install softhsm2 opensc")
    (base / "tokens").mkdir(parents=True)
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    token_env = {**env, "SOFTHSM2_CONF": str(conf)}
    key, cert, _ = pkcs12.load_key_and_certificates(pki.pkcs12(sid).read_bytes(),
                                                    pki.passphrase.encode())
    assert key is not None and cert is not None
    key_pem, cert_der = base / "key.pem", base / "cert.der"
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    key_pem.chmod(0o600)
    cert_der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    try:
        for args in (["softhsm2-util", "--init-token", "--free", "--label", "ctg-demo",
                      "--pin", PIN, "--so-pin", "12345678"],
                     ["softhsm2-util", "--import", str(key_pem), "--token", "ctg-demo",
                      "--label", "signature", "--id", "01", "--pin", PIN],
                     ["pkcs11-tool", "--module", str(SOFTHSM_MODULE), "--token-label",
                      "ctg-demo", "--login", "--pin", PIN, "--write-object", str(cert_der),
                      "--type", "cert", "--label", "signature", "--id", "01"]):
            proc = run(args, timeout=60, env=token_env)
            if proc.returncode != 0:
                raise CircuitError(f"{args[0]} failed: {proc.stdout}{proc.stderr}")
    finally:
        key_pem.unlink(missing_ok=True)
    return token_env


class _Server:
    """``ctg circuit serve --port 0`` in the background, its URL read from its output."""

    def __init__(self, env: dict[str, str], root: Path, tsa_url: str) -> None:
        self.log = open(Path(env["CTGDOCS_STORE"]).parent / "serve.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*CTG, "circuit", "serve", "--port", "0", "--trust", str(root), "--tsa", tsa_url],
            env=env, stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.stop()
            raise CircuitError("ctg circuit serve did not start; see "
                               f"{Path(env['CTGDOCS_STORE']).parent / 'serve.log'}")

    def link(self, link: str) -> str:
        """``link`` on this server (the links carry the configured base URL)."""
        return self.url + link[link.index("/s/"):]

    def stop(self) -> int:
        """SIGTERM, then wait; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        finally:
            self.log.close()
