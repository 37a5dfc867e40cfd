"""Benchmark of ``ctg build`` against naive LibreOffice conversions, in one run.

(a) a separate ``soffice --convert-to pdf`` per rendered .docx;
(b) one ``soffice`` call converting all of them;
(c) ``ctg build`` cold (empty output folder);
(d) rebuild with nothing changed;
(e) rebuild after changing one commune (its diagnostic text) as a coordinator gets it
    while editing: ``ctg build --watch`` running, the time from saving the data to the
    rebuilt package (its summary line printed);
(e') the same change rebuilt by a new ``ctg build``, cold (alternates with (e));
(f) the 50-commune synthetic convention, cold.
(a), (b) and (c) alternate: each of the 5 rounds runs a fifth of (a)'s documents, one (b)
and one (c); (b) and (c) are medians. The method is explained in bench/README.md.
Targets: (c) ≤ 0.7 × (b) and ≤ 0.1 × (a); (d) ≤ 0.1 × (c); (e) ≤ 0.35 × (c);
time per commune in (f) no worse than in (c).
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

REFERENCE = ROOT / "examples" / "vallee-herault" / "convention.yaml"
CTG_RUNNER = (  # the `ctg` program itself (ctgdocs.cli.run), reporting its peak memory
    "import atexit, resource, sys\n"
    "atexit.register(lambda: print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF)"
    ".ru_maxrss, file=sys.stderr))\n"
    "sys.argv[0] = 'ctg'\n"
    "from ctgdocs.cli import run\n"
    "run()\n"
)


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def soffice(profile: Path, outdir: Path, files: list[Path]) -> None:
    """One plain ``soffice --convert-to pdf`` call."""
    subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless",
                    "--convert-to", "pdf", "--outdir", str(outdir), *map(str, files)],
                   check=True, capture_output=True)


def ctg_build(data: Path, out: Path, memory: list[int], converted: int | None = None) -> None:
    """``ctg build`` as a separate process; records its peak RSS in KiB; checks the
    number of parts converted if given."""
    proc = subprocess.run([sys.executable, "-c", CTG_RUNNER, "build", str(data), "-o", str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"ctg build failed ({proc.returncode}):\n{proc.stderr}")
    for line in proc.stderr.splitlines():
        if line.startswith("MAXRSS "):
            memory.append(int(line.split()[1]))
    expected = "(up to date)" if converted == 0 else f"({converted} part(s) converted)"
    if converted is not None and expected not in proc.stdout:
        raise SystemExit(f"expected {converted} part(s) converted:\n{proc.stdout}")


def render_all(data: Path, folder: Path) -> list[Path]:
    """Render every part of ``data`` to .docx in ``folder`` (inputs of (a) and (b))."""
    from ctgdocs import render
    from ctgdocs.load import load_convention
    from ctgdocs.paths import TEMPLATES_DIR

    conv = load_convention(data)
    files = [folder / "convention.docx"]
    render.render_docx(TEMPLATES_DIR / render.MAIN_TEMPLATE, render.main_context(conv), files[0])
    for i, commune in enumerate(conv.communes):
        files.append(folder / render.annex_filename(commune))
        render.render_docx(TEMPLATES_DIR / render.ANNEX_TEMPLATE,
                           render.annex_context(conv, i), files[-1])
    return files


def change_one_commune(src: Path, dst: Path) -> None:
    """Copy the reference data, changing the diagnostic text of the 2nd commune."""
    from ruamel.yaml import YAML

    yaml = YAML()
    data = yaml.load(src.read_text(encoding="utf-8"))
    data["communes"][1]["diagnostic"]["text"] += " (Texte modifié pour le banc d'essai.)"
    with open(dst, "w", encoding="utf-8") as f:
        yaml.dump(data, f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per fast measure")
    args = parser.parse_args()
    from synthetic import synthetic_convention_yaml

    tmp = Path(tempfile.mkdtemp(prefix="ctg-bench-"))
    try:
        rows, memory = run_all(tmp, args.repeat, synthetic_convention_yaml)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(rows, memory)


def run_all(tmp: Path, repeat: int, synth: Callable[..., str]
            ) -> tuple[dict[str, float], list[int]]:
    docx_dir, profile = tmp / "docx", tmp / "profile"
    docx_dir.mkdir()
    files = render_all(REFERENCE, docx_dir)
    soffice(profile, tmp / "warm", files[:1])  # create the profile outside the timings
    rows: dict[str, float] = {}
    memory: list[int] = []
    # (a), (b) and (c) alternate, so that all three see the same machine (a virtual
    # machine's speed drifts by 20 % within minutes): each round runs a share of (a)'s
    # documents, one (b) and one (c); (a) is the sum of its shares
    naive, one_call, cold_runs = 0.0, [], []
    for i in range(repeat):
        share = files[i::repeat]
        naive += timed(lambda share=share: [soffice(profile, tmp / "a", [f])
                                            for f in share], 1)
        one_call.append(timed(lambda: soffice(profile, tmp / "b", files), 1))
        out = tmp / f"c{i}"
        cold_runs.append(timed(lambda out=out: ctg_build(REFERENCE, out, memory,
                                                         converted=len(files)), 1))
    rows["a"], rows["b"], rows["c"] = naive, statistics.median(one_call), \
        statistics.median(cold_runs)
    rows["d"] = timed(lambda: ctg_build(REFERENCE, tmp / "c0", memory, converted=0), repeat)
    changed = tmp / "changed.yaml"
    change_one_commune(REFERENCE, changed)
    # alternate the two data files so that every run really has one changed commune
    versions = iter([changed, REFERENCE] * (2 * repeat))
    texts = iter([changed.read_text(encoding="utf-8"),
                  REFERENCE.read_text(encoding="utf-8")] * (2 * repeat))
    # (e) and (e') alternate too; the watch waits idle while (e') runs
    watched = tmp / "watched" / "convention.yaml"
    watched.parent.mkdir()
    shutil.copy(REFERENCE, watched)
    shutil.copytree(tmp / "c0", tmp / "w")  # its first build is "up to date"
    warm, cold = [], []
    with Watch(watched, tmp / "w") as watch:
        for _ in range(repeat):
            warm.append(watch.rebuild(next(texts)))
            cold.append(timed(lambda: ctg_build(next(versions), tmp / "c0", memory,
                                                converted=1), 1))
        rows["_watch_kib"] = watch.peak_memory()
    rows["e"], rows["e_cold"] = statistics.median(warm), statistics.median(cold)
    big = tmp / "synthetic-50.yaml"
    big.write_text(synth(50), encoding="utf-8")
    rows["f"] = timed(lambda: ctg_build(big, tmp / "f", memory, converted=51), 1)
    rows["_communes_c"] = 13
    rows["_communes_f"] = 50
    rows["_docs"] = len(files)
    return rows, memory


class Watch:
    """``ctg build --watch DATA -o OUT`` running, for (e)."""

    def __init__(self, data: Path, out: Path) -> None:
        self.data = data
        self.proc = subprocess.Popen([sys.executable, "-m", "ctgdocs", "build", "--watch",
                                      str(data), "-o", str(out)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def summary(self) -> str:
        """The next summary line (``  62 pages, 14 parts (…), …``)."""
        while True:
            line = self.lines.get(timeout=300)
            if line is None:
                raise SystemExit(f"ctg build --watch ended ({self.proc.wait()})")
            if " pages, " in line:
                return line

    def rebuild(self, text: str) -> float:
        """Save ``text`` as an editor does (a new file renamed over the data); seconds
        until the rebuilt package's summary line is printed."""
        tmp = self.data.with_name(".convention.yaml.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.data)
        saved = time.perf_counter()
        line = self.summary()
        elapsed = time.perf_counter() - saved
        if "(1 part(s) converted)" not in line:
            raise SystemExit(f"expected 1 part(s) converted: {line}")
        return elapsed

    def peak_memory(self) -> int:
        """Peak RSS in KiB of the watch and its LibreOffice workers."""
        total = 0
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                fields = dict(line.split(":", 1) for line in
                              (proc / "status").read_text().splitlines() if ":" in line)
            except OSError:
                continue
            if str(self.proc.pid) in (proc.name, fields.get("PPid", "").strip()):
                total += int(fields.get("VmHWM", "0 kB").split()[0])
        return total

    def __enter__(self) -> Watch:
        try:
            first = self.summary()
        except BaseException:
            self.__exit__()
            raise
        if "(up to date)" not in first:
            self.__exit__()
            raise SystemExit(f"the watch's first build should be up to date: {first}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def print_table(rows: dict[str, float], memory: list[int]) -> None:
    a, b, c, d, e, f = (rows[k] for k in "abcdef")
    per_c, per_f = c / rows["_communes_c"], f / rows["_communes_f"]
    lines = [
        ("(a) naive: one soffice per document", a, "", ""),
        ("(b) one soffice call for all", b, "", ""),
        ("(c) ctg build, cold", c, f"{c / b:.2f} × (b); {c / a:.3f} × (a)",
         _ok(c <= 0.7 * b and c <= 0.1 * a)),
        ("(d) rebuild, nothing changed", d, f"{d / c:.3f} × (c)", _ok(d <= 0.1 * c)),
        ("(e) rebuild, one commune, --watch", e, f"{e / c:.2f} × (c), save → package",
         _ok(e <= 0.35 * c)),
        ("(e') the same, ctg build cold", rows["e_cold"], f"{rows['e_cold'] / c:.2f} × (c)",
         "(for comparison)"),
        ("(f) 50 communes, cold", f, f"{per_f:.3f} s/commune vs {per_c:.3f} in (c)",
         _ok(per_f <= per_c)),
    ]
    print(f"ctg build benchmark — {int(rows['_docs'])} documents, {os.cpu_count()} CPUs")
    print(f"{'measure':40} {'wall s':>8}  {'ratio':34} target")
    for name, seconds, ratio, ok in lines:
        print(f"{name:40} {seconds:8.2f}  {ratio:34} {ok}")
    targets = "targets: (c) ≤ 0.7×(b) and ≤ 0.1×(a); (d) ≤ 0.1×(c); (e) ≤ 0.35×(c); (f) per"
    print(targets + " commune ≤ (c)")
    if memory:
        print(f"peak memory of the ctg process: {max(memory) / 1024:.0f} MiB; of ctg build "
              f"--watch with its LibreOffice workers: {rows['_watch_kib'] / 1024:.0f} MiB")


def _ok(flag: bool) -> str:
    return "met" if flag else "MISSED"


if __name__ == "__main__":
    main()
