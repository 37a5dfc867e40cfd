"""``ctg build --watch`` as a real process: saves of the data and of a template are built
again with LibreOffice kept warm, errors do not end the watch, a burst of saves gives one
build, and SIGTERM or Ctrl-C leave nothing running."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ctgdocs.build import BuildOptions, build_package
from ctgdocs.exceptions import ExitCode

if TYPE_CHECKING:
    from conftest import ProcessMarker

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "examples" / "vallee-herault" / "convention.yaml"
CONV_ID = "vallee-herault-2022-2026"
WAIT = 300.0
"""Seconds to wait for a line before giving up (never an assertion on durations)."""
SUMMARY = re.compile(r"^  \d+ pages, 14 parts \((.+)\), 16 signature fields")
MARKER = "Commune-centre du nord du territoire"
"""A sentence of the second commune's diagnostic (its annex is ``annexe-aniane``)."""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference package built once: each test starts from a copy (up to date)."""
    out = tmp_path_factory.mktemp("built")
    build_package(REFERENCE, BuildOptions(output_root=out))
    return out


@pytest.fixture
def workspace(reference_build: Path, tmp_path: Path) -> Path:
    """``tmp_path`` with ``convention.yaml``, ``templates/`` and ``out/`` (a copy of the
    reference build, which the data and templates are up to date with)."""
    shutil.copy(REFERENCE, tmp_path / "convention.yaml")
    shutil.copytree(ROOT / "templates", tmp_path / "templates",
                    ignore=shutil.ignore_patterns("src", "*.md"))
    shutil.copytree(reference_build, tmp_path / "out")
    return tmp_path


class Watch:
    """A ``ctg build --watch`` process whose output lines are read as they come."""

    def __init__(self, workspace: Path, marker: ProcessMarker, *extra: str) -> None:
        self.marker = marker
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ctgdocs", "-v", "build", "--watch",
             str(workspace / "convention.yaml"), "-o", str(workspace / "out"),
             "--templates", str(workspace / "templates"), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=marker.env)
        self.lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self.seen: list[tuple[str, str]] = []
        """Every line read so far, ``("out" | "err", line)``, in the order they came."""
        self.readers = [threading.Thread(target=self._read, args=(name, stream), daemon=True)
                        for name, stream in (("out", self.proc.stdout),
                                             ("err", self.proc.stderr))]
        for reader in self.readers:
            reader.start()

    def _read(self, name: str, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put((name, line.rstrip("\n")))
        self.lines.put((name, None))

    def expect(self, pattern: str | re.Pattern[str], stream: str = "out") -> re.Match[str]:
        """Wait for the next line of ``stream`` matching ``pattern``."""
        deadline = time.monotonic() + WAIT
        ended = set()
        while True:
            try:
                name, line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r} within {WAIT:g} s: {self.seen}")
            if line is None:
                ended.add(name)
                if len(ended) == 2:
                    pytest.fail(f"ctg ended ({self.proc.wait()}) before printing a line "
                                f"matching {pattern!r}: {self.seen}")
                continue
            self.seen.append((name, line))
            match = re.search(pattern, line) if name == stream else None
            if match:
                return match

    def built(self) -> str:
        """Wait for the next build's summary; what it says, e.g. "1 part(s) converted"."""
        return self.expect(SUMMARY).group(1)

    def stop(self, signum: int) -> int:
        """Send ``signum``; the exit code, once every line is read."""
        self.proc.send_signal(signum)
        code = self.proc.wait(WAIT)
        for reader in self.readers:
            reader.join(WAIT)
        while not self.lines.empty():
            name, line = self.lines.get_nowait()
            if line is not None:
                self.seen.append((name, line))
        return code

    def errors(self) -> list[str]:
        """The lines read from stderr."""
        return [line for name, line in self.seen if name == "err"]

    def kill(self) -> None:
        """After a failed test: kill the watch and whatever it started."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for entry in self.marker.alive():
            os.kill(int(entry.split()[0]), signal.SIGKILL)


@pytest.fixture
def watching(workspace: Path, marker: ProcessMarker) -> Iterator[type[Watch]]:
    """Start watches with ``watching(workspace, marker, *options)``; any left running by
    a failed test is killed."""
    started: list[Watch] = []

    class Started(Watch):
        def __init__(self, *args: object) -> None:
            super().__init__(*args)  # type: ignore[arg-type]
            started.append(self)

    yield Started
    for watch in started:
        watch.kill()


def _save_by_rename(path: Path, text: str) -> None:
    """Save as most editors do: a new file, renamed over the old one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _recorded_data(workspace: Path) -> str:
    record = json.loads((workspace / "out" / CONV_ID / "build.json").read_text("utf-8"))
    return str(record["data"]["sha256"])


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _part_text(workspace: Path, name: str) -> str:
    pdf = workspace / "out" / CONV_ID / "parts" / f"{name}.pdf"
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout


def _assert_nothing_left(watch: Watch) -> None:
    assert watch.marker.alive() == []
    pid = watch.proc.pid
    assert not [p for p in Path("/tmp").glob(f"OSL_PIPE_{os.getuid()}_ctgdocs-{pid}-*")]


def test_saves_of_the_data_and_a_template_are_built_warm(workspace, marker, watching) -> None:
    watch = watching(workspace, marker)
    assert watch.built() == "up to date"
    workers = [p for p in marker.alive() if "soffice" in p]
    assert workers, "LibreOffice is not kept warm"
    data = workspace / "convention.yaml"
    text = data.read_text(encoding="utf-8")
    assert MARKER in text
    _save_by_rename(data, text.replace(MARKER, f"{MARKER} (renommé)", 1))
    assert watch.built() == "1 part(s) converted"
    assert "(renommé)" in _part_text(workspace, "annexe-aniane")
    data.write_text(text.replace(MARKER, f"{MARKER} (sur place)", 1), encoding="utf-8")
    assert watch.built() == "1 part(s) converted"
    assert "(sur place)" in _part_text(workspace, "annexe-aniane")
    # the same LibreOffice workers converted both
    assert [p for p in marker.alive() if "soffice" in p] == workers
    template = workspace / "templates" / "annexe-commune.docx"
    edited = workspace / "edited.docx"
    with zipfile.ZipFile(template) as src, zipfile.ZipFile(edited, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            if item.filename == "word/document.xml":
                assert b"Engagements de la commune" in body
                body = body.replace(b"Engagements de la commune",
                                    b"Engagements pris par la commune")
            dst.writestr(item, body)
    os.replace(edited, template)
    assert watch.built() == "13 part(s) converted"
    assert "Engagements pris par la commune" in _part_text(workspace, "annexe-gignac")
    assert watch.stop(signal.SIGTERM) == ExitCode.INTERRUPTED
    assert "ctg: interrupted" in watch.errors()
    _assert_nothing_left(watch)


def test_a_data_error_is_printed_with_its_place_and_the_watch_goes_on(workspace, marker,
                                                                      watching) -> None:
    watch = watching(workspace, marker)
    assert watch.built() == "up to date"
    data = workspace / "convention.yaml"
    text = data.read_text(encoding="utf-8")
    _save_by_rename(data, text.replace("period:", "periode:", 1))
    watch.expect(r"^ctg: error: ", stream="err")
    watch.expect(rf"^  {re.escape(str(data))}:\d+:\d+ ", stream="err")
    _save_by_rename(data, text.replace(MARKER, f"{MARKER} (corrigé)", 1))
    assert watch.built() == "1 part(s) converted"
    assert watch.proc.poll() is None
    assert watch.stop(signal.SIGINT) == ExitCode.INTERRUPTED  # Ctrl-C
    _assert_nothing_left(watch)


def test_a_burst_of_saves_gives_one_build(workspace, marker, watching) -> None:
    """A half-written save, seen by the watch, then the finished one within the 3 s
    asked for with --debounce: one build, of the finished file, and no error."""
    watch = watching(workspace, marker, "--debounce", "3")
    assert watch.built() == "up to date"
    data = workspace / "convention.yaml"
    text = data.read_text(encoding="utf-8")
    final = text.replace(MARKER, f"{MARKER} (version finale)", 1)
    data.write_text(final[:len(final) // 3], encoding="utf-8")  # invalid YAML, cut short
    watch.expect(rf"saved: {re.escape(str(data))}; building once unchanged for 3 s",
                 stream="err")
    data.write_text(final, encoding="utf-8")
    assert watch.built() == "1 part(s) converted"
    assert _recorded_data(workspace) == _sha(final)
    # the next save is the next build: nothing was left over from the burst
    later = final.replace(MARKER, f"{MARKER} (suite)", 1)
    _save_by_rename(data, later)
    assert watch.built() == "1 part(s) converted"
    assert _recorded_data(workspace) == _sha(later)
    assert len([line for name, line in watch.seen if name == "out" and SUMMARY.search(line)]) == 3
    assert not [line for line in watch.errors() if "ctg: error" in line]
    assert watch.stop(signal.SIGTERM) == ExitCode.INTERRUPTED
    _assert_nothing_left(watch)


def test_debounce_goes_with_watch(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "ctgdocs", "build", str(REFERENCE), "-o",
                           str(tmp_path), "--debounce", "1"], capture_output=True, text=True)
    assert proc.returncode == ExitCode.USAGE
    assert "--debounce goes with --watch" in proc.stderr
