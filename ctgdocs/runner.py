"""One way to run external programs: a timeout that kills the whole process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class ProgramTimeout(Exception):
    """The program ran longer than its timeout and was killed (with its children)."""

    def __init__(self, args: Sequence[str], timeout: float, output: str) -> None:
        super().__init__(f"{args[0]} did not finish within {timeout:g} s")
        self.args_run = list(args)
        self.timeout = timeout
        self.output = output


def run(args: Sequence[str | os.PathLike[str]], *, timeout: float,
        env: Mapping[str, str] | None = None, cwd: Path | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in a new session; on timeout kill its process group and raise
    :class:`ProgramTimeout`. Output is captured as text (stdout and stderr)."""
    argv = [os.fspath(a) for a in args]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=dict(env) if env is not None else None, cwd=cwd,
                          start_new_session=True, errors="replace") as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            out, err = proc.communicate()
            raise ProgramTimeout(argv, timeout, (out or "") + (err or "")) from None
        except BaseException:
            kill_group(proc)
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def kill_group(proc: subprocess.Popen[Any], grace: float = 2.0) -> None:
    """Kill ``proc`` and every process of its group (started with a new session), and
    wait (at most ``grace`` seconds) until the group is gone: when this returns, nothing
    it started is still running (a killed process takes a moment to exit)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)  # reap our own child, or it stays in the group as a zombie
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.005)
