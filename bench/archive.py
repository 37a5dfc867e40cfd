"""Benchmark of the archive, in one run.

(a) ``ctg archive verify`` on the bundle of the reference convention (16 signatures),
    offline;
(b) ``ctg verify --offline`` on the bundle's PDF alone;
(c) ``ctg archive`` of the 16-signature convention (services running);
(d) ``ctg archive`` of the 53-signature synthetic convention (50 communes);
(e) ``ctg archive verify`` on the 53-signature bundle, for information.
Targets: (a) ≤ 1.3 × (b) (the rest is hashing and two small XML files); (d) ≤ 3.5 × (c)
(linear in the number of signatures). (a) and (b) alternate over ``--repeat`` rounds
(9), back to back, in turn first; (c) and (d) over ``--archive-rounds`` rounds (3); each
ratio is the median of the rounds' ratios (a virtual machine's speed drifts within
seconds), each time the best of its runs. Every run is in-process (``ctgdocs.cli.main``)
after an untimed full garbage collection; CPU time counts the forked process that
``ctg archive verify`` judges half of the signatures in.

Packages: the reference convention and ``examples/synthetic.py --communes 50``, built
(incrementally) with the ctgdocs API under ``.bench/packages/``, signed with a
demonstration PKI (as ``ctg demo`` signs) whose services run in a process of their own.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import io
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sign import say, services, synthetic_yaml  # noqa: E402 - bench/sign.py

EXAMPLE = ROOT / "examples" / "vallee-herault" / "convention.yaml"
PACKAGES = ROOT / ".bench" / "packages"
SYNTHETIC53 = ROOT / ".bench" / "synthetic-50.yaml"
WORK = ROOT / ".bench" / "archive"


def build(data: Path) -> tuple[Any, Path]:
    """The convention of ``data`` and its package (built incrementally)."""
    from ctgdocs import BuildOptions, build_package
    from ctgdocs.load import load_convention

    say(f"building the package of {data.name} (LibreOffice, incremental)…")
    built = build_package(data, BuildOptions(output_root=PACKAGES))
    return load_convention(data), built.package


def sign(conv: Any, package: Path, out: Path, pki: Any, tsa: str, prefix: str) -> Path:
    """Every signatory of ``conv`` signs ``package`` in circuit order, into ``out`` (each
    with the PKI subject ``<prefix>-<signatory id>``)."""
    from ctgdocs.demo import circuit_order
    from ctgdocs.signatories import expected_signers
    from ctgdocs.wording import signing_reason
    from signers.credentials import Pkcs12Credentials
    from signers.sign import sign_field

    expected = {e.field: e for e in expected_signers(conv)}
    shutil.copyfile(package, out)
    shutil.copyfile(package.parent / "build.json", out.parent / "build.json")
    for s in circuit_order(conv):
        credentials = Pkcs12Credentials(pki.pkcs12(f"{prefix}-{s.id}"), pki.passphrase)
        sign_field(out, out, s.id, credentials,
                   expected=expected[s.id], tsa_url=tsa, reason=signing_reason(conv, s))
    return out


def quiet(args: list[str]) -> int:
    """``ctg ARGS`` in-process, its output discarded; the exit code."""
    from ctgdocs.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(args)


def timed(fn: Callable[[], int]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``fn`` (after a full collection), CPU counting
    the children it waited for; it must succeed."""
    gc.collect()
    before, started = os.times(), time.perf_counter()
    code = fn()
    wall, after = time.perf_counter() - started, os.times()
    if code != 0:
        raise SystemExit(f"a timed command failed (exit {code})")
    cpu = (after.user + after.system + after.children_user + after.children_system
           - before.user - before.system - before.children_user - before.children_system)
    return wall, cpu


def main() -> int:
    args = _parse()
    from ctgdocs.demo import demo_subjects
    from signers.demo_pki import create_demo_pki
    from signers.services import listening_socket

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    (conv16, pkg16), (conv53, pkg53) = build(EXAMPLE), build(synthetic_yaml(50, SYNTHETIC53))
    # one PKI for both: subject ids are prefixed (different people behind the same ids)
    people = [dataclasses.replace(subject, id=f"p{n}-{subject.id}")
              for n, conv in ((16, conv16), (53, conv53)) for subject in demo_subjects(conv)[0]]
    sock = listening_socket()  # bound before the certificates name its port
    pki = create_demo_pki(people, WORK / "pki",
                          services_url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    rows: dict[str, Any] = {}
    with services(pki.directory, sock):
        signed = {}
        for n, conv, pkg in ((16, conv16, pkg16), (53, conv53, pkg53)):
            say(f"signing the {n}-signature package…")
            (WORK / f"p{n}").mkdir()
            signed[n] = sign(conv, pkg, WORK / f"p{n}" / "convention-signee.pdf", pki,
                             pki.tsa_url, f"p{n}")
        rows.update(_archive_rounds(signed, pki, args.archive_rounds))
    rows.update(_verify_rounds(WORK / "bundle-16-0", WORK / "bundle-53-0", pki.root_cert,
                               args.repeat))
    _print_table(rows)
    return 0


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=9, help="rounds of (a) and (b)")
    p.add_argument("--archive-rounds", type=int, default=3, help="rounds of (c) and (d)")
    return p.parse_args()


def _archive(pdf: Path, out: Path, pki: Any) -> int:
    return quiet(["archive", str(pdf), "--trust", str(pki.root_cert), "--tsa", pki.tsa_url,
                  "-o", str(out)])


def _archive_rounds(signed: dict[int, Path], pki: Any, rounds: int) -> dict[str, Any]:
    say("timing ctg archive (16 and 53 signatures)…")
    times: dict[int, list[tuple[float, float]]] = {16: [], 53: []}
    ratios = []
    for i in range(rounds):
        order = (16, 53) if i % 2 == 0 else (53, 16)
        for n in order:
            out = WORK / f"bundle-{n}-{i}"
            times[n].append(timed(lambda n=n, out=out: _archive(signed[n], out, pki)))
        ratios.append(times[53][-1][0] / times[16][-1][0])
        say(f"  round {i + 1}: 16 signatures {times[16][-1][0]:.2f} s, "
            f"53 signatures {times[53][-1][0]:.2f} s")
    return {"c": min(times[16]), "d": min(times[53]), "cd": statistics.median(ratios)}


def _verify_rounds(bundle16: Path, bundle53: Path, root: Path, repeat: int
                   ) -> dict[str, Any]:
    pdf = bundle16 / "convention-signee-lta.pdf"
    verify = ["verify", str(pdf), "--offline", "--trust", str(root), "--json"]
    archive_verify = ["archive", "verify", str(bundle16), "--trust", str(root), "--json"]
    quiet(verify), quiet(archive_verify)  # warm-up: imports
    say("timing ctg archive verify and ctg verify --offline (16 signatures)…")
    a, b, ratios = [], [], []
    for i in range(repeat):
        pair = [(a, archive_verify), (b, verify)]
        for store, command in pair if i % 2 == 0 else pair[::-1]:
            store.append(timed(lambda command=command: quiet(command)))
        ratios.append(a[-1][0] / b[-1][0])
        say(f"  round {i + 1}: archive verify {a[-1][0]:.2f} s, verify {b[-1][0]:.2f} s")
    e = min(timed(lambda: quiet(["archive", "verify", str(bundle53), "--trust", str(root)]))
            for _ in range(2))
    return {"a": min(a), "b": min(b), "ab": statistics.median(ratios), "e": e}


def _print_table(rows: dict[str, Any]) -> None:
    lines = [
        "",
        "| measure | wall (s) | CPU (s) | ratio | target |",
        "|---|---:|---:|---:|---|",
        f"| (a) ctg archive verify, 16-signature bundle | {rows['a'][0]:.2f} | "
        f"{rows['a'][1]:.2f} | | |",
        f"| (b) ctg verify --offline, its PDF alone | {rows['b'][0]:.2f} | "
        f"{rows['b'][1]:.2f} | | |",
        f"| (a)/(b), median of rounds | | | {rows['ab']:.2f} | ≤ 1.3 "
        f"{_verdict(rows['ab'] <= 1.3)} |",
        f"| (c) ctg archive, 16 signatures | {rows['c'][0]:.2f} | {rows['c'][1]:.2f} | | |",
        f"| (d) ctg archive, 53 signatures | {rows['d'][0]:.2f} | {rows['d'][1]:.2f} | | |",
        f"| (d)/(c), median of rounds | | | {rows['cd']:.2f} | ≤ 3.5 "
        f"{_verdict(rows['cd'] <= 3.5)} |",
        f"| (e) ctg archive verify, 53-signature bundle | {rows['e'][0]:.2f} | "
        f"{rows['e'][1]:.2f} | {rows['e'][0] / rows['a'][0]:.2f} × (a) | (information) |",
    ]
    print("\n".join(lines))


def _verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


if __name__ == "__main__":
    sys.exit(main())
