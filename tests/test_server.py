"""The build server: rebuilds served by a warm Python and LibreOffice, same results."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctgdocs.cli import ExitCode

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "examples" / "vallee-herault" / "convention.yaml"

pytestmark = pytest.mark.slow


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    """An environment with the server on and a private runtime folder (short path: a
    socket path is limited to ~100 bytes); every server started is stopped after."""
    runtime = Path(tempfile.mkdtemp(prefix="ctg-xdg-", dir="/tmp"))
    runtime.chmod(0o700)
    environ = {**os.environ, "CTGDOCS_SERVER": "on", "XDG_RUNTIME_DIR": str(runtime)}
    yield environ
    _ctg(environ, "server", "stop")
    for lock in runtime.glob("ctgdocs/*.lock"):
        _wait(lambda lock=lock: _unlocked(lock), 10)
    shutil.rmtree(runtime, ignore_errors=True)


def _ctg(env: dict[str, str], *args: str, cwd: Path | None = None, umask: int = 0o022
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ctgdocs", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: os.umask(umask))  # noqa: PLW1509


def _wait(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def _unlocked(lock: Path) -> bool:
    import fcntl

    with lock.open("ab") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
    return True


def _status(env: dict[str, str]) -> str:
    return _ctg(env, "server", "status").stdout


def _served(env: dict[str, str]) -> int:
    text = _status(env)
    return int(text.split(" build(s) served")[0].rsplit(";", 1)[-1].strip()) \
        if "served" in text else -1


def _changed(tmp_path: Path, suffix: str) -> Path:
    data = tmp_path / "convention.yaml"
    text = REFERENCE.read_text(encoding="utf-8")
    marker = "Commune-centre du nord du territoire"
    assert marker in text
    data.write_text(text.replace(marker, f"{marker} {suffix}", 1), encoding="utf-8")
    return data


def _text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout


def test_rebuild_is_served_warm_with_the_same_result(env, tmp_path) -> None:
    out, alone = tmp_path / "out", tmp_path / "alone"
    first = _ctg(env, "build", str(REFERENCE), "-o", str(out))
    assert first.returncode == 0, first.stderr
    assert _wait(lambda: "2 local workers" in _status(env), 30), _status(env)
    data = _changed(tmp_path, "(modifiée)")
    served = _ctg(env, "build", str(data), "-o", "out", cwd=tmp_path,  # relative path
                  umask=0o027)
    assert served.returncode == 0, served.stderr
    assert "1 part(s) converted" in served.stdout
    assert _served(env) == 1
    # files are written as the client would have written them
    parts = out / "vallee-herault-2022-2026" / "parts"
    assert (parts / "annexe-aniane.pdf").stat().st_mode & 0o777 == 0o640
    assert (parts / "annexe-gignac.pdf").stat().st_mode & 0o777 == 0o644
    local = _ctg({**env, "CTGDOCS_SERVER": "off"}, "build", str(data), "-o", str(alone))
    assert local.returncode == 0, local.stderr
    conv_id = "vallee-herault-2022-2026"
    records = [json.loads((d / conv_id / "build.json").read_text(encoding="utf-8"))
               for d in (out, alone)]
    for key in ("inputs_key", "quick_key", "fields", "templates"):
        assert records[0][key] == records[1][key], key
    assert [p["key"] for p in records[0]["parts"]] == [p["key"] for p in records[1]["parts"]]
    assert _text(out / conv_id / "convention-package.pdf") == \
        _text(alone / conv_id / "convention-package.pdf")
    assert "(modifiée)" in _text(out / conv_id / "convention-package.pdf")


def test_errors_come_back_with_their_exit_code(env, tmp_path) -> None:
    assert _ctg(env, "build", str(REFERENCE), "-o", str(tmp_path / "out")).returncode == 0
    assert _wait(lambda: "served" in _status(env), 30)
    bad = tmp_path / "bad.yaml"
    bad.write_text(REFERENCE.read_text(encoding="utf-8").replace("period:", "periode:", 1),
                   encoding="utf-8")
    served = _ctg(env, "build", str(bad), "-o", str(tmp_path / "out"))
    local = _ctg({**env, "CTGDOCS_SERVER": "off"}, "build", str(bad), "-o",
                 str(tmp_path / "out"))
    assert served.returncode == local.returncode == ExitCode.DATA_ERROR
    assert served.stderr == local.stderr and "bad.yaml:" in served.stderr
    assert _served(env) == 1


def test_stop_and_idle_timeout_leave_no_process(env, tmp_path) -> None:
    env = {**env, "CTGDOCS_SERVER_IDLE": "3"}
    assert _ctg(env, "build", str(REFERENCE), "-o", str(tmp_path / "out")).returncode == 0
    assert _wait(lambda: "served" in _status(env), 30)
    pid = int(_status(env).split()[2])
    sock = next(Path(env["XDG_RUNTIME_DIR"]).glob("ctgdocs/*.sock"))
    assert sock.stat().st_mode & 0o077 == 0
    assert _wait(lambda: not sock.exists(), 15), "the idle server did not stop"
    assert _wait(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), 10)
    assert "no build server" in _status(env)
    assert _ctg(env, "build", str(REFERENCE), "-o", str(tmp_path / "out"), "--force"
                ).returncode == 0
    assert _wait(lambda: "served" in _status(env), 30)
    pid = int(_status(env).split()[2])
    workers = _children(pid)
    assert len(workers) == 2
    os.kill(pid, signal.SIGTERM)  # `kill` stops its LibreOffice workers too
    assert _wait(lambda: all(_zombie(p) for p in [pid, *workers]), 15)
    assert _ctg(env, "build", str(REFERENCE), "-o", str(tmp_path / "out"), "--force"
                ).returncode == 0
    assert _wait(lambda: "served" in _status(env), 30)
    stop = _ctg(env, "server", "stop")
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert _wait(lambda: not any(Path(env["XDG_RUNTIME_DIR"]).glob("ctgdocs/*.sock")), 10)
    assert "no build server" in _status(env)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(pid):
            found.append(int(stat.parent.name))
    return found


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def test_no_server_when_disabled_or_the_folder_is_not_private(env, tmp_path) -> None:
    runtime = Path(env["XDG_RUNTIME_DIR"])
    off = _ctg(env, "build", str(REFERENCE), "-o", str(tmp_path / "a"), "--no-server")
    assert off.returncode == 0 and not any(runtime.glob("ctgdocs/*.sock"))
    (runtime / "ctgdocs").mkdir(exist_ok=True)
    (runtime / "ctgdocs").chmod(0o755)
    shared = _ctg(env, "build", str(REFERENCE), "-o", str(tmp_path / "b"))
    assert shared.returncode == 0, shared.stderr
    time.sleep(1)
    assert not any(runtime.glob("ctgdocs/*.sock"))
    start = _ctg(env, "server", "start")
    assert start.returncode == ExitCode.INTERNAL_ERROR
    assert f"{runtime / 'ctgdocs'} is shared with other users (chmod 700 it)" in start.stderr
    assert not any(runtime.glob("ctgdocs/*.sock"))


def test_a_server_that_dies_mid_answer_means_building_here(env, tmp_path) -> None:
    """A stand-in server accepts the request and hangs up: the client builds itself."""
    env = {**env, "CTGDOCS_SERVER_IDLE": "1"}
    code = "from ctgdocs.server import socket_path; print(socket_path())"
    path = Path(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                               text=True, check=True).stdout.strip())
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def hang_up() -> None:
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    result = _ctg(env, "build", str(REFERENCE), "-o", str(tmp_path / "out"))
    thread.join(5)
    listener.close()
    assert result.returncode == 0, result.stderr
    assert "building here" in result.stderr and "14 part(s) converted" in result.stdout


def test_a_worker_that_fails_to_start_is_replaced(env, tmp_path) -> None:
    """A LibreOffice worker of the server that fails to start (here the first start of a
    stand-in) is replaced at once: `ctg server start` does not wait for it in vain, the
    server's log says why, and builds are served."""
    real = Path(shutil.which("soffice") or "soffice").resolve().with_name("soffice.bin")
    env = {**env, "CTGDOCS_SOFFICE": str(ROOT / "tests/resources/stand-ins/fail-once/soffice"),
           "REAL_SOFFICE": str(real), "STAND_IN_STATE": str(tmp_path)}
    try:
        started = _ctg(env, "server", "start")
        assert started.returncode == 0, started.stderr
        assert (tmp_path / "failed-once").is_dir()  # one start did fail
        assert "(starting)" not in _status(env)
        log = next(Path(env["XDG_RUNTIME_DIR"]).glob("ctgdocs/*.log")).read_text()
        assert "a LibreOffice worker failed to start" in log
        assert "exited with status 1 before it was ready" in log and "simulated" in log
        built = _ctg(env, "build", str(REFERENCE), "-o", str(tmp_path / "out"))
        assert built.returncode == 0, built.stderr
        assert _served(env) == 1
    finally:  # another soffice is another server: the fixture's stop would not reach it
        _ctg(env, "server", "stop")
