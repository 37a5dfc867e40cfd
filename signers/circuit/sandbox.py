"""Run the acceptance check in a short-lived worker process with a memory cap and a
time limit.

An upload is untrusted input for a PDF parser. The check runs in a process forked from
a *fork server* (started once, single-threaded, with pyHanko already imported), whose
address space is capped with ``RLIMIT_AS`` and which is killed when it runs past its
time: a decompression bomb or a pathological file costs one worker, never the server's
memory or its responsiveness (the server's threads keep answering, free of the check's
CPU-bound work under the GIL). A worker that dies, runs out of memory or out of time is
a refusal (``too-complex``), never an acceptance."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .acceptance import CheckRequest, check_revision
from .errors import CircuitRefusal, Refused
from .records import Acceptance

__all__ = ["Checker", "InProcessChecker", "ProcessChecker"]

log = logging.getLogger(__name__)

Checker = Callable[[CheckRequest], Acceptance]
"""Anything that runs :func:`~signers.circuit.acceptance.check_revision`."""

_PRELOAD = ["signers.circuit.acceptance", "pyhanko.sign.validation",
            "pyhanko_certvalidator.fetchers.aiohttp_fetchers"]
_CONTEXT_LOCK = threading.Lock()
_CONTEXT: Any = None


class InProcessChecker:
    """Runs the check in the calling thread (tests, tools; no isolation)."""

    def __call__(self, request: CheckRequest) -> Acceptance:
        return check_revision(request)


@dataclass(frozen=True)
class ProcessChecker:
    """Runs each check in a fresh worker forked from the fork server."""

    memory_bytes: int = 1024 * 1024 * 1024
    """Address-space cap of a worker (RLIMIT_AS)."""
    timeout: float = 60.0
    """Seconds a check may take."""

    def __call__(self, request: CheckRequest) -> Acceptance:
        ctx = _context()
        parent, child = ctx.Pipe(duplex=False)
        worker = ctx.Process(target=_work, args=(child, request, self.memory_bytes),
                             daemon=True, name="circuit-check")
        worker.start()
        child.close()
        try:
            return _collect(parent, worker, self.timeout)
        finally:
            parent.close()
            if worker.is_alive():
                worker.kill()
            worker.join(5)
            worker.close()

    def warm_up(self) -> None:
        """Start the fork server now (its imports take a second)."""
        _context().Process(target=_noop, daemon=True).start()


def _context() -> Any:
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(_PRELOAD)
            _CONTEXT = ctx
        return _CONTEXT


def _noop() -> None:
    """Nothing: starts the fork server."""


def _collect(conn: multiprocessing.connection.Connection, worker: Any,
             timeout: float) -> Acceptance:
    if not conn.poll(timeout):
        worker.kill()
        raise Refused("too-complex", f"the check took more than {timeout:.0f} s")
    try:
        kind, payload = conn.recv()
    except (EOFError, OSError) as exc:
        worker.join(5)
        raise Refused("too-complex", f"the check's worker died (exit code "
                      f"{worker.exitcode}): out of memory?") from exc
    if kind == "ok":
        return payload  # type: ignore[no-any-return]
    if kind == "refused":
        cls, code, detail, details = payload
        raise cls(code, detail, **details)
    raise Refused("damaged", f"the check failed: {payload}")


def _work(conn: multiprocessing.connection.Connection, request: CheckRequest,
          memory: int) -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        for name in ("pyhanko", "pyhanko_certvalidator"):  # refusals are our report
            logging.getLogger(name).setLevel(logging.CRITICAL)
        try:
            result: tuple[str, Any] = ("ok", check_revision(request))
        except CircuitRefusal as exc:
            result = ("refused", (type(exc), exc.code, exc.detail, exc.details))
        except MemoryError:
            result = ("refused", (Refused, "too-complex", "out of memory", {}))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, fail closed
            result = ("error", f"{type(exc).__name__}: {exc}")
            log.debug("check failed: %s", traceback.format_exc())
        conn.send(result)
    finally:
        conn.close()
        os._exit(0)  # no atexit handlers of the fork server's modules
