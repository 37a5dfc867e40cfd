"""Benchmark of signing and of ``ctg verify`` against pyHanko's plain validation, in one run.

(a) time per signature, signing the 16 fields of the reference package one after the other
    (PAdES B-T, local TSA, visible stamp; ``signers.sign.sign_field``);
(b) ``ctg verify`` on the complete 16-signature package;
(c) baseline on the same file: pyHanko's plain ``validate_pdf_signature`` with the standard
    diff policy on each embedded signature (fresh ValidationContext per signature);
(d) ``ctg verify`` on a 53-signature package; (e) the baseline on it;
(f) verdict parity between ``ctg verify`` (pyHanko's judgment inside it) and the baseline,
    on both packages and on a tampered copy of the 16-signature one;
(g) (b) and (c) again with an OCSP responder that answers in 0.1 s, as a remote one does
    (for information: ``ctg verify`` checks several signatures at once);
(h) ``ctg verify`` on the 53-signature package as it stood after its 16th, 32nd and last
    signature (the file cut at the end of that signature's revision), over 5 rounds: the
    time each added signature costs in one document (for information: the growth (d)/(b)
    also compares two documents of different sizes);
(i) the speed-ups' effect: (a), (b) and (d) again on pyHanko's plain path
    (``SIGNERS_SPEEDUPS=off``; each verification once), for information.
Targets: (b) ≤ 0.6 × (c); (d) ≤ 3.5 × (b); (f) no mismatch. (b) and (d) alternate over
``--repeat`` rounds (15), (c) joins every third round; (b), (d) and (c) are the best of
their runs; (d)/(b) is the
median of the rounds' ratios (each round times the two sizes back to back, in turn first:
a virtual machine's speed drifts within seconds, and the best time of the short run dips
further below its typical time than the long run's does). Every timed run starts after
an untimed full garbage collection, so that no run pays for the garbage of the one before.

Packages (each with its ``build.json``): ``--package PDF`` / ``--package53 PDF`` when given;
otherwise the real LibreOffice packages built (incrementally) with the ctgdocs API under
``.bench/packages/``: ``vallee-herault-2022-2026/`` (the example convention, 62 pages,
16 fields) and ``synthetique-50-0/`` (50 synthetic communes, 53 fields); and if a build
fails (no LibreOffice), generated PDFs with 16 and
53 fields (``--generated`` forces those).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXAMPLE = ROOT / "examples" / "vallee-herault" / "convention.yaml"
PACKAGES = ROOT / ".bench" / "packages"
REAL16 = PACKAGES / "vallee-herault-2022-2026" / "convention-package.pdf"
REAL53 = PACKAGES / "synthetique-50-0" / "convention-package.pdf"
SYNTHETIC53 = ROOT / ".bench" / "synthetic-50.yaml"
WORK = ROOT / ".bench" / "sign"


@dataclass(frozen=True)
class Signatory:
    """One field to sign and who signs it."""

    field: str
    name: str
    email: str
    capacity: str
    organisation: str


# --------------------------------------------------------------------------- packages


def signatories_of(package: Path) -> list[Signatory]:
    """The signatories recorded in the ``build.json`` next to ``package``."""
    records = json.loads((package.parent / "build.json").read_text(encoding="utf-8"))
    return [Signatory(r["field"], r["name"], r.get("email") or f"{r['field']}@example.fr",
                      r.get("capacity", ""), r.get("organisation", "")) for r in
            records["fields"]]


def synthetic_signatories(n: int) -> list[Signatory]:
    """``n`` invented signatories (mayors of numbered communes)."""
    return [Signatory(f"maire-commune-{i:02d}", f"Prénom{i:02d} Nom{i:02d}",
                      f"maire{i:02d}@commune{i:02d}.example.fr", f"Le Maire de Commune {i:02d}",
                      f"Commune {i:02d}") for i in range(1, n + 1)]


def make_package(folder: Path, people: list[Signatory], pages: int) -> Path:
    """A generated package: ``pages`` text pages, one field per signatory, build.json."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    from signers.fields import add_signature_fields
    from signers.model import FieldSpec

    folder.mkdir(parents=True, exist_ok=True)
    w = PdfFileWriter()
    font = w.add_object(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Font"),
        generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
        generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica")}))
    for i in range(pages):
        res = generic.DictionaryObject({generic.NameObject("/Font"): generic.DictionaryObject(
            {generic.NameObject("/F1"): font})})
        lines = " ".join(f"0 -14 Td (Article {i}.{k} : texte de la convention.) Tj"
                         for k in range(40))
        text = f"BT /F1 11 Tf 60 780 Td {lines} ET".encode()
        w.insert_page(PageObject(contents=w.add_object(generic.StreamObject(stream_data=text)),
                                 media_box=[0, 0, 595, 842], resources=res))
    raw = folder / "raw.pdf"
    with raw.open("wb") as f:
        w.write(f)
    specs = [FieldSpec(p.field, pages - 1 - k // 12 % pages,
                       (40 + 180 * (k % 3), 40 + 190 * (k // 3 % 4),
                        210 + 180 * (k % 3), 150 + 190 * (k // 3 % 4)), p.capacity)
             for k, p in enumerate(people)]
    package = folder / "convention-package.pdf"
    add_signature_fields(raw, package, specs)
    raw.unlink()
    records = [{"id": p.field, "field": p.field, "name": p.name, "email": p.email,
                "capacity": p.capacity, "organisation": p.organisation, "page": 1,
                "rect": [0, 0, 0, 0]} for p in people]
    (folder / "build.json").write_text(json.dumps({"fields": records}, ensure_ascii=False))
    return package


# --------------------------------------------------------------------------- signing


def real_package(target: Path, data: Callable[[], Path]) -> Path | None:
    """``target`` built (incrementally: unchanged parts are reused) from the convention
    YAML ``data()`` with the ctgdocs API; ``None`` if the build fails."""
    from ctgdocs import BuildOptions, build_package

    say(f"building {target} (LibreOffice, incremental)…")
    try:
        built = build_package(data(), BuildOptions(output_root=target.parent.parent)).package
    except Exception as e:  # noqa: BLE001 - the generated fallback takes over
        say(f"cannot build {target} ({e}); using a generated package instead")
        return None
    return built if built == target else None


def synthetic_yaml(communes: int, path: Path) -> Path:
    """The synthetic convention of ``examples/synthetic.py`` written to ``path``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ctg_synthetic",
                                                  ROOT / "examples" / "synthetic.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(module.synthetic_convention_yaml(communes), encoding="utf-8")
    return path


SERVICES = (  # the demonstration services, each POST answer (OCSP, TSA) DELAY s late
    "import socket, sys, time\n"
    "from signers.services import make_server\n"
    "sock = socket.socket(fileno=int(sys.argv[2]))\n"
    "server = make_server(sys.argv[1], sock=sock)\n"
    "delay = float(sys.argv[3])\n"
    "class Late(server.RequestHandlerClass):\n"
    "    def do_POST(self):\n"
    "        time.sleep(delay)\n"
    "        super().do_POST()\n"
    "if delay:\n"
    "    server.RequestHandlerClass = Late\n"
    "print('ready', flush=True)\n"
    "server.serve_forever()\n"
)


@contextlib.contextmanager
def services(pki_dir: Path, sock: socket.socket, delay: float = 0.0) -> Iterator[None]:
    """The demonstration services (TSA, OCSP, CRL) on the listening socket ``sock`` (bound
    before the PKI named its port) in a process of their own, as remote services are: in
    the benchmark's process, their threads would compete with the verification for
    Python's global lock."""
    proc = subprocess.Popen([sys.executable, "-c", SERVICES, str(pki_dir),
                             str(sock.fileno()), str(delay)], stdout=subprocess.PIPE,
                            text=True, pass_fds=(sock.fileno(),),
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("the demonstration services did not start")
        yield
    finally:
        proc.terminate()
        proc.wait()


def sign_all(package: Path, out: Path, people: list[Signatory], pki: Any, tsa: str,
             prefix: str, speedups: bool = True) -> list[float]:
    """Sign every field in turn into ``out`` (each person's key is the PKI subject
    ``<prefix>-<field>``), with the French stamp; the seconds each signature took."""
    from ctgdocs.wording import STAMP_WORDING
    from signers.credentials import Pkcs12Credentials
    from signers.model import ExpectedSigner
    from signers.sign import sign_field

    shutil.copyfile(package, out)
    times = []
    for p in people:
        expected = ExpectedSigner(p.field, p.capacity, (p.name,), (p.email,))
        credentials = Pkcs12Credentials(pki.pkcs12(f"{prefix}-{p.field}"), pki.passphrase)
        started = time.perf_counter()
        sign_field(out, out, p.field, credentials, expected=expected, tsa_url=tsa,
                   wording=STAMP_WORDING, speedups=speedups)
        times.append(time.perf_counter() - started)
    return times


# --------------------------------------------------------------------------- verifying


def ctg_verify(pdf: Path, root: Path, speedups: bool = True) -> dict[str, Any]:
    """``ctg verify PDF --trust ROOT --json`` in-process (with ``SIGNERS_SPEEDUPS=off``
    unless ``speedups``); the parsed report."""
    from ctgdocs.cli import main

    buf = io.StringIO()
    saved = os.environ.pop("SIGNERS_SPEEDUPS", None)
    if not speedups:
        os.environ["SIGNERS_SPEEDUPS"] = "off"
    try:
        with contextlib.redirect_stdout(buf):
            main(["verify", str(pdf), "--trust", str(root), "--json"])
    finally:
        os.environ.pop("SIGNERS_SPEEDUPS", None)
        if saved is not None:
            os.environ["SIGNERS_SPEEDUPS"] = saved
    return dict(json.loads(buf.getvalue()))


def baseline(pdf: Path, root: Path) -> list[tuple[str, bool]]:
    """pyHanko's plain per-signature validation with the standard diff policy."""
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    anchor = load_cert_from_pemder(str(root))
    verdicts = []
    with pdf.open("rb") as f:
        reader = PdfFileReader(f, strict=False)
        for emb in reader.embedded_regular_signatures:
            vc = ValidationContext(trust_roots=[anchor], allow_fetching=True,
                                   revocation_mode="hard-fail")
            status = validate_pdf_signature(emb, vc, diff_policy=DEFAULT_DIFF_POLICY)
            verdicts.append((str(emb.field_name), bool(status.bottom_line)))
    return verdicts


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Smallest wall time of ``repeat`` runs, and the last result.

    Each run starts after a full garbage collection (not timed): otherwise a run pays,
    whenever its allocations trigger a full collection, for freeing what the previous
    one left in reference cycles (pyHanko's plain validation leaves about a million
    objects), and which run pays depends on the order and on luck."""
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def parity(report: dict[str, Any], base: list[tuple[str, bool]]) -> tuple[int, int]:
    """(signatures compared, mismatches) between ctg verify and the baseline."""
    ours = [(s["field"], bool(s["pyhanko_valid"])) for s in report["signatures"]
            if s["kind"] == "signature"]
    if [f for f, _ in ours] != [f for f, _ in base]:
        return len(base), len(base)
    return len(base), sum(a != b for (_, a), (_, b) in zip(ours, base, strict=True))


def tamper(src: Path, dst: Path) -> Path:
    """Append an incremental update rewriting the text of page 1."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(src.read_bytes()), strict=False)
    page = w.root["/Pages"]["/Kids"][0].get_object()
    contents = page.raw_get("/Contents")
    ref = contents[0] if isinstance(contents, list) else contents
    stream = ref.get_object()
    stream._data = b"BT /F1 14 Tf 72 760 Td (Montant : 1 000 000 EUR) Tj ET"
    stream._encoded_data = None
    w.mark_update(ref)
    out = io.BytesIO()
    w.write(out)
    dst.write_bytes(out.getvalue())
    return dst


# --------------------------------------------------------------------------- main


def main() -> int:
    args = _parse()
    import logging

    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)
    from signers import speedups
    from signers.demo_pki import DemoSubject, create_demo_pki
    from signers.services import listening_socket

    on = speedups.enable()
    if not on.enabled:
        raise SystemExit(f"the speed-ups are off ({on.reason}): nothing to compare")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    pkg16, people16, origin16 = _package16(args)
    pkg53, people53, origin53 = _package53(args)
    # one PKI for both packages: subject ids are prefixed, the two conventions have
    # different people behind the same signatory ids
    subjects = [DemoSubject(f"{prefix}-{p.field}", p.name, p.organisation or "Commune",
                            p.capacity, p.email)
                for prefix, people in (("p16", people16), ("p53", people53)) for p in people]
    sock = listening_socket()  # bound before the certificates name its port
    pki = create_demo_pki(subjects, WORK / "pki",
                          services_url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    root = pki.root_cert
    tsa_url = pki.tsa_url
    with services(pki.directory, sock):
        say("signing the 16-signature package (B-T, visible stamps)…")
        signed16 = WORK / "p16" / "convention-package.pdf"
        signed16.parent.mkdir(exist_ok=True)
        shutil.copyfile(pkg16.parent / "build.json", signed16.parent / "build.json")
        times16 = sign_all(pkg16, signed16, people16, pki, tsa_url, "p16")
        say("signing the 53-signature package…")
        signed53 = WORK / "p53" / "convention-package.pdf"
        signed53.parent.mkdir(exist_ok=True)
        shutil.copyfile(pkg53.parent / "build.json", signed53.parent / "build.json")
        times53 = sign_all(pkg53, signed53, people53, pki, tsa_url, "p53")
        tampered = tamper(signed16, signed16.parent / "tampered.pdf")
        rows = _measure(signed16, signed53, tampered, root, args.repeat)
        rows["prefixes"] = _prefix_times(signed53, root, (16, 32), rounds=5)
        rows.update(_without_speedups(pkg16, signed16, signed53, people16, pki, root,
                                      tsa_url))
    say("timing with an OCSP responder answering in 0.1 s…")
    with services(pki.directory, sock, delay=0.1):
        rows["slow_v16"] = best_of(lambda: ctg_verify(signed16, root), 3)[0]
        rows["slow_b16"] = best_of(lambda: baseline(signed16, root), 1)[0]
    _print_table(origin16, origin53, times16, times53, rows)
    return 0


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--package", type=Path, help="16-signatory package (with build.json)")
    p.add_argument("--package53", type=Path, help="53-signatory package (with build.json)")
    p.add_argument("--repeat", type=int, default=15, help="rounds of verification timings")
    p.add_argument("--generated", action="store_true",
                   help="use generated packages instead of the real ones")
    return p.parse_args()


def _package16(args: argparse.Namespace) -> tuple[Path, list[Signatory], str]:
    given = args.package
    if given is None and not args.generated:
        given = real_package(REAL16, lambda: EXAMPLE)
    if given is not None and (given.parent / "build.json").is_file():
        return given, signatories_of(given), str(given.relative_to(ROOT)
                                                  if given.is_relative_to(ROOT) else given)
    people = synthetic_signatories(16)
    return make_package(WORK / "gen16", people, pages=30), people, "generated, 30 pages"


def _package53(args: argparse.Namespace) -> tuple[Path, list[Signatory], str]:
    given = args.package53
    if given is None and not args.generated:
        given = real_package(REAL53, lambda: synthetic_yaml(50, SYNTHETIC53))
    if given is not None:
        return given, signatories_of(given), str(given)
    people = synthetic_signatories(53)
    return make_package(WORK / "gen53", people, pages=100), people, "generated, 100 pages"


def _measure(signed16: Path, signed53: Path, tampered: Path, root: Path,
             repeat: int) -> dict[str, Any]:
    ctg_verify(signed16, root)  # warm-up: imports, first connections
    baseline(signed16, root)
    say("timing ctg verify and the baseline…")
    v16 = v53 = b16 = float("inf")
    ratios = []
    for i in range(repeat):  # interleaved, so that drift affects both sizes alike
        if i % 2:
            t53, r53 = best_of(lambda: ctg_verify(signed53, root), 1)
            t16, r16 = best_of(lambda: ctg_verify(signed16, root), 1)
        else:
            t16, r16 = best_of(lambda: ctg_verify(signed16, root), 1)
            t53, r53 = best_of(lambda: ctg_verify(signed53, root), 1)
        if i % 3 == 0:  # a 2 s run, 8 times ctg verify's: a third of the rounds suffice
            tb, base16 = best_of(lambda: baseline(signed16, root), 1)
            b16 = min(b16, tb)
        v16, v53 = min(v16, t16), min(v53, t53)
        ratios.append(t53 / t16)
        say(f"  round {i + 1}: 16 signatures {t16:.3f} s, 53 signatures {t53:.3f} s")
    b53, base53 = best_of(lambda: baseline(signed53, root), 1)
    rt = ctg_verify(tampered, root)
    bt = baseline(tampered, root)
    return {"v16": v16, "b16": b16, "v53": v53, "b53": b53, "ratios": ratios,
            "valid16": r16["valid"], "valid53": r53["valid"], "validt": rt["valid"],
            "parity": [parity(r16, base16), parity(r53, base53), parity(rt, bt)]}


def _without_speedups(pkg16: Path, signed16: Path, signed53: Path, people16: list[Signatory],
                      pki: Any, root: Path, tsa_url: str) -> dict[str, Any]:
    """(i) signing and verifying on pyHanko's plain path (``SIGNERS_SPEEDUPS=off``), for
    the effect of the speed-ups: the 16 signatures again, each verification once."""
    say("signing the 16-signature package again without the speed-ups…")
    plain16 = signed16.parent / "plain.pdf"
    times = sign_all(pkg16, plain16, people16, pki, tsa_url, "p16", speedups=False)
    say("timing ctg verify without the speed-ups…")
    v16, r16 = best_of(lambda: ctg_verify(signed16, root, speedups=False), 1)
    v53, r53 = best_of(lambda: ctg_verify(signed53, root, speedups=False), 1)
    return {"plain_sign": times, "plain_v16": v16, "plain_v53": v53,
            "plain_valid": (r16["valid"], r53["valid"])}


def _prefix_times(pdf: Path, root: Path, counts: tuple[int, ...], rounds: int
                  ) -> dict[int, float]:
    """Median ``ctg verify`` time of ``pdf`` cut after each of its first ``counts``
    signatures, and of the whole file."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    data = pdf.read_bytes()
    with pdf.open("rb") as f:
        ends = sorted(int(emb.byte_range[2]) + int(emb.byte_range[3])
                      for emb in PdfFileReader(f, strict=False).embedded_regular_signatures)
    files = {}
    for n in counts:
        files[n] = pdf.parent / f"first-{n}.pdf"
        files[n].write_bytes(data[:ends[n - 1]])
    files[len(ends)] = pdf
    say("timing the 53-signature package after 16, 32 and 53 signatures…")
    times: dict[int, list[float]] = {n: [] for n in files}
    for i in range(rounds):
        for n in (sorted(files) if i % 2 else sorted(files, reverse=True)):
            elapsed, report = best_of(lambda n=n: ctg_verify(files[n], root), 1)
            if not report["valid"] or len(report["signatures"]) != n:
                raise SystemExit(f"{files[n]}: expected {n} valid signatures")
            times[n].append(elapsed)
    return {n: statistics.median(t) for n, t in times.items()}


def _print_table(origin16: str, origin53: str, times16: list[float], times53: list[float],
                 m: dict[str, Any]) -> None:
    ratio_b = m["v16"] / m["b16"]
    ratio_d = statistics.median(m["ratios"])
    n16, n53 = len(times16), len(times53)
    compared = sum(n for n, _ in m["parity"])
    mismatches = sum(x for _, x in m["parity"])
    rows = [
        ("package (16)", origin16, ""),
        ("package (53)", origin53, ""),
        ("(a) sign, per signature (16)", f"mean {statistics.mean(times16):.3f} s, median "
         f"{statistics.median(times16):.3f} s, max {max(times16):.3f} s", ""),
        ("    sign, per signature (53)", f"mean {statistics.mean(times53):.3f} s "
         "(pre-sign check with CachingDiffPolicy)", ""),
        ("(b) ctg verify, 16 signatures", f"{m['v16']:.3f} s (valid={m['valid16']})", ""),
        ("(c) baseline, 16 signatures", f"{m['b16']:.3f} s", ""),
        ("    (b)/(c)", f"{ratio_b:.2f}", _verdict(ratio_b <= 0.6, "≤ 0.60")),
        ("(d) ctg verify, 53 signatures", f"{m['v53']:.3f} s (valid={m['valid53']})", ""),
        ("(e) baseline, 53 signatures", f"{m['b53']:.3f} s", ""),
        ("    (d)/(b)", f"{ratio_d:.2f}: median of {len(m['ratios'])} rounds (range "
         f"{min(m['ratios']):.2f}–{max(m['ratios']):.2f}; best times: "
         f"{m['v53'] / m['v16']:.2f})", _verdict(ratio_d <= 3.5, "≤ 3.50")),
        ("    per signature", f"{m['v16'] / n16 * 1000:.1f} ms with {n16}, "
         f"{m['v53'] / n53 * 1000:.1f} ms with {n53} (linear growth: "
         f"{n53}/{n16} = {n53 / n16:.2f})", ""),
        ("    (e)/(c)  (baseline growth)", f"{m['b53'] / m['b16']:.2f}", ""),
        ("(f) verdict parity", f"{compared - mismatches}/{compared} signatures agree "
         f"(16, 53, tampered-16; tampered valid={m['validt']})",
         _verdict(mismatches == 0, "no mismatch")),
        ("(g) OCSP answers in 0.1 s: (b)", f"{m['slow_v16']:.3f} s", ""),
        ("                           (c)", f"{m['slow_b16']:.3f} s", ""),
        ("    (b)/(c)", f"{m['slow_v16'] / m['slow_b16']:.2f}", "(for information)"),
        ("(i) speed-ups off: sign (16)", f"mean {statistics.mean(m['plain_sign']):.3f} s "
         f"per signature (on: {statistics.mean(times16):.3f} s)", "(for information)"),
        ("    speed-ups off: ctg verify 16", f"{m['plain_v16']:.3f} s (on: {m['v16']:.3f} s, "
         f"× {m['plain_v16'] / m['v16']:.1f})", "(for information)"),
        ("    speed-ups off: ctg verify 53", f"{m['plain_v53']:.3f} s (on: {m['v53']:.3f} s, "
         f"× {m['plain_v53'] / m['v53']:.1f}; valid={m['plain_valid']})",
         "(for information)"),
        ("(h) 53-signature package after", ", ".join(
            f"{n}: {t:.3f} s" for n, t in sorted(m["prefixes"].items())), ""),
        ("    each added signature", ", ".join(
            f"{(t1 - t0) / (n1 - n0) * 1000:.1f} ms ({n0}→{n1})" for (n0, t0), (n1, t1)
            in itertools.pairwise(sorted(m["prefixes"].items()))), "(for information)"),
    ]
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'value'.ljust(vwidth)}  target")
    print(f"{'-' * width}  {'-' * vwidth}  ------")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value.ljust(vwidth)}  {target}".rstrip())


def _verdict(ok: bool, target: str) -> str:
    return f"{target}  {'OK' if ok else 'MISSED'}"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
