"""Benchmark of the signing circuit, side by side in one run on the reference package.

(a) acceptance of a valid upload at the 16th signature (the check the server runs before
    committing: in the capped worker process as served, and in-process) against
    (b) ``ctg verify`` on the same resulting file (a process, as a user runs it) and
    ``verify_document`` in-process; target (a)/(b) ≤ 0.35;
(c) 13 ``ctg sign-remote`` started at once (the 13 mayors, PKCS#12) against
    (d) 13 ``ctg sign`` run one after another on a copy of the same package; every one
    must succeed; target (c)/(d) ≤ 0.8;
(e) the resident memory of the ``ctg circuit serve`` process, sampled every 0.1 s
    through the whole circuit (its check workers are separate processes); target
    < 300 MiB.

The package is built (incrementally) under ``.bench/circuit/`` with the real LibreOffice;
the demonstration PKI's services run in a process of their own, as remote ones do.
(a) and (b) alternate over ``--repeat`` rounds; the medians are compared.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXAMPLE = ROOT / "examples" / "vallee-herault" / "convention.yaml"
WORK = ROOT / ".bench" / "circuit"
CTG = [sys.executable, "-m", "ctgdocs"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds of (a)/(b)")
    args = parser.parse_args()
    from ctgdocs.build import BuildOptions, build_package
    from ctgdocs.demo import demo_subjects
    from ctgdocs.load import load_convention
    from signers.demo_pki import create_demo_pki

    WORK.mkdir(parents=True, exist_ok=True)
    build = build_package(EXAMPLE, BuildOptions(output_root=WORK / "out", seal_field=True))
    conv = load_convention(EXAMPLE)
    mayors = [s.id for s in conv.signatories if s.role.value == "maire"]
    shutil.rmtree(WORK / "pki", ignore_errors=True)
    from signers.services import listening_socket, running_services

    sock = listening_socket()  # bound before the certificates name its port
    port = sock.getsockname()[1]
    people, seal = demo_subjects(conv)
    pki = create_demo_pki(people, WORK / "pki", organisation_seal=seal,
                          services_url=f"http://127.0.0.1:{port}")
    env = {**os.environ, "PP": pki.passphrase, "CTGDOCS_STORE": str(WORK / "store")}
    # the services answer from this process's threads; everything timed runs in
    # subprocesses, and this process only waits for them
    with running_services(pki.directory, sock=sock) as services:
        sequential = _sequential(build.package, mayors, pki, services.tsa_url, env)
        rows = _circuit(build.package, mayors, pki, services.tsa_url, env, args.repeat)
    _table(rows, sequential)
    return 0


def _sequential(package: Path, mayors: list[str], pki: Any, tsa: str,
                env: dict[str, str]) -> float:
    """(d): the seal, then 13 ``ctg sign`` one after another (the 13 are timed)."""
    copy = WORK / "sequential" / "convention-package.pdf"
    copy.parent.mkdir(exist_ok=True)
    shutil.copy(package, copy)
    shutil.copy(package.parent / "build.json", copy.parent / "build.json")
    _run(env, "seal", str(copy), "--pkcs12", str(pki.pkcs12("cachet-caf")),
         "--passphrase-env", "PP", "--tsa", tsa)
    started = time.perf_counter()
    for sid in mayors:
        _run(env, "sign", str(copy), "--as", sid, "--pkcs12", str(pki.pkcs12(sid)),
             "--passphrase-env", "PP", "--tsa", tsa)
    return time.perf_counter() - started


def _circuit(package: Path, mayors: list[str], pki: Any, tsa: str, env: dict[str, str],
             repeat: int) -> dict[str, Any]:
    shutil.rmtree(WORK / "store", ignore_errors=True)
    started = json.loads(_run(env, "circuit", "start", str(package), "--data", str(EXAMPLE),
                              "--json", "--id", "bench").stdout)
    links = {s["id"]: s for s in started["signatories"]}
    server = subprocess.Popen([*CTG, "circuit", "serve", "--port", "0", "--trust",
                               str(pki.root_cert), "--tsa", tsa], env=env,
                              stdout=subprocess.PIPE, stderr=(WORK / "serve.log").open("w"),
                              text=True)
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    memory = _Sampler(server.pid)
    try:
        def link(sid: str) -> str:
            return url + links[sid]["link"][links[sid]["link"].index("/s/"):]

        _run(env, "sign-remote", link("cachet-caf"), "--pkcs12",
             str(pki.pkcs12("cachet-caf")), "--passphrase-env", "PP", "--yes")
        t0 = time.perf_counter()
        agents = [subprocess.Popen([*CTG, "sign-remote", link(sid), "--pkcs12",
                                    str(pki.pkcs12(sid)), "--passphrase-env", "PP", "--yes",
                                    "--wait", "900"], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True) for sid in mayors]
        failures = [a.communicate()[1][-300:] for a in agents if a.wait() != 0]
        at_once = time.perf_counter() - t0
        _run(env, "sign-remote", link("epci-president"), "--pkcs12",
             str(pki.pkcs12("epci-president")), "--passphrase-env", "PP", "--yes")
        rows = _acceptance(url, links, pki, tsa, env, repeat)
        _run(env, "sign-remote", link("caf-directeur"), "--pkcs12",
             str(pki.pkcs12("caf-directeur")), "--passphrase-env", "PP", "--yes")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        memory.stop()
    return {**rows, "at_once": at_once, "failures": failures, "rss": memory.peak}


def _acceptance(url: str, links: dict[str, Any], pki: Any, tsa: str, env: dict[str, str],
                repeat: int) -> dict[str, Any]:
    """The 16th signature (the Caf board president's after the seal, 13 mayors and the
    EPCI president): its acceptance check against ctg verify on the same file."""
    import httpx

    from signers import speedups
    from signers.circuit.acceptance import check_revision
    from signers.circuit.sandbox import ProcessChecker
    from signers.credentials import Pkcs12Credentials
    from signers.sign import sign_field
    from signers.verify import verify_document

    speedups.enable()  # as ctg circuit serve (make_engine) and ctg verify do
    token = links["caf-president"]["token"]
    api = f"{url}/api/v1/invitations/{token}"
    invitation = httpx.get(api, timeout=60).json()
    head = WORK / "head.pdf"
    head.write_bytes(httpx.get(f"{api}/document", timeout=60).content)
    candidate = WORK / "sixteenth.pdf"
    sign_field(head, candidate, "caf-president", Pkcs12Credentials(
        pki.pkcs12("caf-president"), pki.passphrase), tsa_url=tsa)
    request = _request(candidate.read_bytes(), head.read_bytes(), invitation, pki)
    in_process, worker, command, library = [], [], [], []
    checker = ProcessChecker()
    checker(request)  # warm the fork server, as a running service has
    for _ in range(repeat):
        in_process.append(_timed(lambda: check_revision(request)))
        worker.append(_timed(lambda: checker(request)))
        command.append(_timed(lambda: _run(env, "verify", str(candidate), "--trust",
                                           str(pki.root_cert))))
        library.append(_timed(lambda: verify_document(candidate,
                                                      trust_roots=[pki.root_cert])))
    answer = httpx.post(f"{api}/document", content=candidate.read_bytes(), timeout=120,
                        headers={"Content-Type": "application/pdf"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["signed"] == 16
    return {"in_process": statistics.median(in_process),
            "worker": statistics.median(worker), "ctg_verify": statistics.median(command),
            "verify_document": statistics.median(library)}


def _request(candidate: bytes, head: bytes, invitation: dict[str, Any], pki: Any) -> Any:
    import ssl

    from pyhanko.pdf_utils.reader import PdfFileReader

    from signers import speedups
    from signers.circuit.acceptance import CheckRequest
    from signers.model import ExpectedSigner

    reader = PdfFileReader(io.BytesIO(head), strict=False)
    fields = {str(s.field_name) for s in reader.embedded_regular_signatures}
    from signers.fields import signature_field_names

    (WORK / "h.pdf").write_bytes(head)
    names = {str(n) for n, _ in signature_field_names(WORK / "h.pdf")}
    return CheckRequest(
        candidate=candidate, head_size=len(head),
        head_revisions=reader.xrefs.total_revisions, head_signatures=frozenset(fields),
        fields=frozenset(names), expected=ExpectedSigner(
            "caf-president", invitation["capacity"], (invitation["name"],)),
        trust_roots=(ssl.PEM_cert_to_DER_cert(pki.root_cert.read_text()),),
        speedups=speedups.status().enabled)  # as the engine passes its switch on


def _timed(fn: Any) -> float:
    import gc

    gc.collect()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


class _Sampler:
    """Peak VmRSS of a process, sampled every 0.1 s."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.peak = max(self.peak, int(line.split()[1]) * 1024)
            except OSError:
                return
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CTG, *args], env=env, capture_output=True, text=True,
                          timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"ctg {' '.join(args[:2])} failed: {proc.stderr[-800:]}")
    return proc


def _table(rows: dict[str, Any], sequential: float) -> None:
    mib = rows["rss"] / (1024 * 1024)
    lines = [
        ("(a) acceptance at the 16th signature, worker process (as served)",
         rows["worker"], ""),
        ("    same check in-process", rows["in_process"], ""),
        ("(b) ctg verify on the resulting file (process)", rows["ctg_verify"], ""),
        ("    verify_document in-process", rows["verify_document"], ""),
        ("(a)/(b) worker vs ctg verify", rows["worker"] / rows["ctg_verify"], "≤ 0.35"),
        ("    in-process check vs verify_document",
         rows["in_process"] / rows["verify_document"], "(for information)"),
        ("(c) 13 ctg sign-remote at once", rows["at_once"],
         "all succeed" if not rows["failures"] else f"{len(rows['failures'])} FAILED"),
        ("(d) 13 ctg sign one after another", sequential, ""),
        ("(c)/(d)", rows["at_once"] / sequential, "≤ 0.8"),
        ("(e) serve resident memory, peak (MiB)", mib, "< 300"),
    ]
    print(f"{'measure':<66} {'value':>9}  target")
    for name, value, target in lines:
        print(f"{name:<66} {value:>9.3f}  {target}")
    for failure in rows["failures"]:
        print(f"  failure: {failure}")


if __name__ == "__main__":
    raise SystemExit(main())
