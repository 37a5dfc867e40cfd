"""The build server: Python (with its libraries loaded) and LibreOffice kept warm between
the builds of one user, so that a rebuild after an edit takes a fraction of a second.

``ctg build`` answers "up to date" by itself. Otherwise it hands the build to this user's
server when one is running, and after building by itself it starts one in the background
for the next time. The server runs exactly what ``ctg build`` runs (same code, messages
and exit codes), one build at a time, and exits after 15 idle minutes.

- It listens on a Unix socket in a folder only the user can open, and serves only
  processes of the same user (checked with ``SO_PEERCRED``).
- The socket's name is a hash of the code, the Python interpreter and the environment
  that chooses LibreOffice (``PATH``, ``CTGDOCS_*``): after an upgrade or with another
  LibreOffice, a new server is used and the old one idles out.
- ``CTGDOCS_SERVER=off`` or ``ctg build --no-server`` builds in the calling process and
  starts no server; ``ctg server status`` and ``ctg server stop`` manage it.

Protocol: the client sends one JSON line ``{"argv": [...], "cwd": ..., "tty": ...}`` (or
``{"command": "status" | "stop"}``); the server answers with JSON lines ``{"out": text}``,
``{"err": text}`` and finally ``{"exit": code}``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

IDLE_SECONDS = 900.0
"""A server with no request for this long stops (``CTGDOCS_SERVER_IDLE`` overrides)."""
_ENVIRONMENT = ("PATH", "CTGDOCS_SOFFICE", "CTGDOCS_CONVERT_MODE", "CTGDOCS_CACHE")
"""Variables that change what a build does: a different value means a different server."""
_MAX_SOCKET_PATH = 100
_CONNECT_TIMEOUT = 2.0


def enabled() -> bool:
    """False when ``CTGDOCS_SERVER`` is ``off`` (or ``0``, ``no``, ``false``)."""
    from .paths import switched_off

    return not switched_off("CTGDOCS_SERVER")


def runtime_dir() -> Path:
    """``$XDG_RUNTIME_DIR/ctgdocs``, else ``<cache>/run``; created with mode 0700."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base:
        folder = Path(base) / "ctgdocs"
    else:
        from .paths import cache_dir

        folder = cache_dir() / "run"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def socket_path() -> Path | None:
    """This user's server socket for this code and environment; ``None`` when the
    folder is not private to the user or the path is too long for a socket."""
    from .build import code_key
    from .paths import is_private

    try:
        folder = runtime_dir()
        private = is_private(folder)
    except OSError:
        return None
    if not private:
        log.warning("%s is not private to this user: the build server is not used", folder)
        return None
    digest = hashlib.sha256("\0".join(
        [code_key(), sys.executable, *(os.environ.get(v, "") for v in _ENVIRONMENT)]
    ).encode()).hexdigest()[:16]
    path = folder / f"build-{digest}.sock"
    return path if len(os.fsencode(path)) <= _MAX_SOCKET_PATH else None


# --- client ---------------------------------------------------------------------------------

def _connect(path: Path) -> socket.socket | None:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(_CONNECT_TIMEOUT)
    try:
        client.connect(os.fspath(path))
    except OSError:
        client.close()
        return None
    client.settimeout(None)
    return client


def remote(request: dict[str, Any], out: IO[str] | None = None,
           err: IO[str] | None = None) -> int | None:
    """Send ``request`` to the running server and relay its answer to ``out``/``err``
    (default: stdout/stderr); the exit code, or ``None`` when no server answered (the
    caller then builds by itself)."""
    path = socket_path()
    if path is None or not path.exists():
        return None
    client = _connect(path)
    if client is None:
        return None
    out, err = out or sys.stdout, err or sys.stderr
    with client, client.makefile("rwb") as stream:
        try:
            stream.write(json.dumps(request).encode() + b"\n")
            stream.flush()
            for line in stream:
                frame = json.loads(line)
                if "exit" in frame:
                    return int(frame["exit"])
                target = out if "out" in frame else err
                target.write(frame.get("out", frame.get("err", "")))
                target.flush()
        except KeyboardInterrupt:
            print("ctg: interrupted", file=err)
            return 130
        except (OSError, ValueError):
            pass
    print("ctg: the build server stopped before answering; building here", file=err)
    return None


def build_remotely(argv: Sequence[str]) -> int | None:
    """Run ``ctg <argv>`` (a build) on the server; ``None`` when there is none."""
    from signers.atomic import umask

    tty = sys.stderr.isatty()
    return remote({"argv": list(argv), "cwd": os.getcwd(), "tty": tty, "umask": umask()})


def spawn() -> None:
    """Start a server in the background (detached; returns at once). Nothing happens if
    one is already running or the socket cannot be placed."""
    path = socket_path()
    if path is None:
        return
    idle = os.environ.get("CTGDOCS_SERVER_IDLE", str(IDLE_SECONDS))
    with open(path.with_suffix(".log"), "ab") as log_file:
        subprocess.Popen([sys.executable, "-m", "ctgdocs.server", "--socket", os.fspath(path),
                          "--idle", idle], stdin=subprocess.DEVNULL, stdout=log_file,
                         stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)


def start_and_wait(timeout: float = 60.0) -> str | None:
    """Start a server unless one runs; wait until it answers with LibreOffice started.
    ``None`` when it runs, else why it does not."""
    path = socket_path()
    if path is None:
        return (f"the build server needs a folder only you can open: {runtime_dir()} is "
                "shared with other users (chmod 700 it) or its path is too long for a "
                "socket (set XDG_RUNTIME_DIR to a short private folder)")
    buffer = io.StringIO()
    if remote({"command": "status"}, out=buffer, err=buffer) is None:
        spawn()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        buffer = io.StringIO()
        if remote({"command": "status"}, out=buffer, err=buffer) == 0 \
                and "starting" not in buffer.getvalue():
            return None
        time.sleep(0.1)
    return (f"the build server did not answer within {timeout:g} s; see its log "
            f"{path.with_suffix('.log')}")


# --- server ---------------------------------------------------------------------------------

class _Frames(io.TextIOBase):
    """A text stream that sends what is written as ``{"<key>": text}`` lines."""

    def __init__(self, stream: io.BufferedIOBase, key: str, tty: bool) -> None:
        self.stream = stream
        self.key = key
        self.tty = tty

    def write(self, text: str) -> int:
        if text:
            self.stream.write(json.dumps({self.key: text}).encode() + b"\n")
            self.stream.flush()
        return len(text)

    def isatty(self) -> bool:
        return self.tty


class Server:
    """Serves builds on ``path`` until idle for ``idle`` seconds or asked to stop."""

    def __init__(self, path: Path, idle: float) -> None:
        self.path = path
        self.idle = idle
        self.builds = 0
        self.started = time.time()
        self.converter: Any = None

    def run(self) -> int:
        """Serve; 0 when it stopped normally, 1 when another server holds the socket."""
        os.environ["CTGDOCS_SERVER"] = "off"  # a build run here never calls a server
        # `kill` stops it cleanly: LibreOffice workers included (they have their own
        # sessions, so nothing else would stop them)
        signal.signal(signal.SIGTERM, _exit_on_signal)
        signal.signal(signal.SIGINT, _exit_on_signal)
        with open(self.path.with_suffix(".lock"), "ab") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 1
            self._warm_up()
            listener = self._listen()
            try:
                self._loop(listener)
            finally:
                listener.close()
                with contextlib.suppress(OSError):
                    self.path.unlink()
                if self.converter is not None:
                    self.converter.close()
        return 0

    def _warm_up(self) -> None:
        """Import what a build uses and start LibreOffice (if it can be found)."""
        import importlib

        from . import build
        from .convert import make_converter
        from .exceptions import ConversionError, MissingDependencyError

        for module in ("ctgdocs.load", "ctgdocs.render", "ctgdocs.assemble",
                       "ctgdocs.layout", "signers.fields"):
            importlib.import_module(module)
        try:
            self.converter = make_converter(None)
            self.converter.start()
        except (MissingDependencyError, ConversionError) as exc:
            log.warning("no warm LibreOffice: %s", exc)
            return
        build.keep_converter(self.converter)

    def _listen(self) -> socket.socket:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a stale socket: its server holds no lock any more
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        try:
            listener.bind(os.fspath(self.path))
        finally:
            os.umask(old)
        listener.listen(8)
        listener.settimeout(self.idle)
        return listener

    def _loop(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                return
            with conn:
                conn.settimeout(None)
                if not self._same_user(conn):
                    continue
                with conn.makefile("rwb") as stream:
                    if self._serve(stream) == "stop":
                        return

    @staticmethod
    def _same_user(conn: socket.socket) -> bool:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        return uid == os.getuid()

    def _serve(self, stream: io.BufferedIOBase) -> str | None:
        try:
            request = json.loads(stream.readline())
            command = request.get("command", "build")
            if command == "build":
                code = self._build(stream, request)
            elif command == "status":
                code = self._status(stream)
            else:
                code = 0
            stream.write(json.dumps({"exit": code}).encode() + b"\n")
            stream.flush()
            return str(command)
        except (OSError, ValueError, AttributeError):
            return None  # the client went away or sent nonsense

    def _status(self, stream: io.BufferedIOBase) -> int:
        warm = "no LibreOffice"
        if self.converter is not None:
            ready = getattr(self.converter, "warm", lambda: True)()
            if not ready:  # a worker that failed to start is not waited for in vain
                for reason in getattr(self.converter, "restart_failed", list)():
                    log.warning("a LibreOffice worker failed to start, another one is "
                                "starting: %s", reason)
            warm = self.converter.describe() + ("" if ready else " (starting)")
        _Frames(stream, "out", False).write(
            f"build server {os.getpid()} on {self.path}\n  {warm}; {self.builds} build(s) "
            f"served; up {time.time() - self.started:.0f} s; stops after "
            f"{self.idle:.0f} idle seconds\n")
        return 0

    def _build(self, stream: io.BufferedIOBase, request: dict[str, Any]) -> int:
        from .cli import ExitCode, main

        argv = [str(a) for a in request["argv"]]
        if "build" not in argv:
            return int(ExitCode.USAGE)
        out = _Frames(stream, "out", bool(request.get("tty")))
        err = _Frames(stream, "err", bool(request.get("tty")))
        here = os.getcwd()
        umask = os.umask(int(request.get("umask", 0o022)) & 0o777)  # the client's files
        self.builds += 1
        try:
            os.chdir(request["cwd"])
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                return main(argv)
        except (BrokenPipeError, ConnectionResetError):
            raise
        except BaseException:  # a bug: report it, keep serving
            err.write(traceback.format_exc())
            return int(ExitCode.INTERNAL_ERROR)
        finally:
            os.chdir(here)
            os.umask(umask)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ctgdocs.server --socket PATH [--idle S]`` (started by ``ctg build``)."""
    parser = argparse.ArgumentParser(prog="python -m ctgdocs.server",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--idle", type=float, default=IDLE_SECONDS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return Server(args.socket, args.idle).run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
