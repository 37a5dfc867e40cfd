"""Speed-ups of pyHanko, pyhanko-certvalidator and asn1crypto, in one switchable place.

Verification and signing are fast because of the code in this package, and it is the
only code of ``signers`` that reaches into private names of those libraries (see
``docs/verification.md`` for what each module does and which names it touches). It is:

* **explicit**: nothing is applied when it is imported; :func:`enable` applies the
  patches (:mod:`signers.speedups._patches`) once for the process. ``ctg sign``,
  ``ctg seal`` and ``ctg verify`` call it at start-up; a library caller calls it, or
  passes ``speedups=True`` to :func:`signers.verify.verify_document` /
  :func:`signers.sign.sign_field` (``speedups=False`` takes the plain path whatever the
  switch says);
* **gated**: enabled only when the installed versions are exactly :data:`TESTED_WITH`,
  and never when ``SIGNERS_SPEEDUPS=off``; otherwise off, with one log line saying why;
* **safe**: a document's verification or pre-signing check runs the speed-ups inside an
  :func:`attempt`; if any of them raises, or the verdict is not "valid" (a refusal, for
  signing), the caller runs it again on pyHanko's plain public path and reports that
  result. A broken speed-up can cost time, never a verdict;
* **removable**: :func:`disable` puts the original functions back.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from dataclasses import dataclass
from importlib import metadata

from ._attempt import Attempt, attempt, current, failed, guarded, plain

__all__ = ["ENV_VAR", "TESTED_WITH", "Attempt", "Status", "attempt", "available", "current",
           "disable", "enable", "failed", "guarded", "plain", "status", "wanted"]

log = logging.getLogger(__name__)

TESTED_WITH: dict[str, str] = {
    "pyHanko": "0.38.0",
    "pyhanko-certvalidator": "0.33.0",
    "asn1crypto": "1.5.1",
}
"""The exact versions the speed-ups were written and tested against (distribution name →
version). Any other installed version turns them off. Keep in step with the upper
bounds in ``pyproject.toml``."""

ENV_VAR = "SIGNERS_SPEEDUPS"
"""``SIGNERS_SPEEDUPS=off`` (or ``0``, ``false``, ``no``) turns every speed-up off."""

_MODULES = ("skelscan", "fastread", "nameprep", "refgraph", "formlist", "diffcache",
            "digests", "demotsa", "ocspcache", "voident")


@dataclass(frozen=True)
class Status:
    """Whether the speed-ups are in use, and why not."""

    enabled: bool
    """The patches are applied and allowed: documents take the fast path."""
    reason: str
    """Why they are off (empty when enabled)."""


_state = {"applied": False}
_told: set[str] = set()
_lock = threading.Lock()


def switched_off() -> bool:
    """Whether ``SIGNERS_SPEEDUPS`` turns the speed-ups off."""
    return os.environ.get(ENV_VAR, "").strip().lower() in ("off", "0", "false", "no")


def version_mismatch() -> str | None:
    """Why the installed dependencies are not those of :data:`TESTED_WITH`, or ``None``."""
    for name, tested in TESTED_WITH.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "none"
        if installed != tested:
            return (f"{name} {installed} is installed, the speed-ups were tested with "
                    f"{tested} only")
    return None


def available() -> Status:
    """Whether the speed-ups may be used here (environment and installed versions), applied
    or not. The demonstration timestamping authority, which patches nothing, follows this
    (see :mod:`signers.speedups.demotsa`)."""
    if switched_off():
        return Status(False, f"{ENV_VAR}=off")
    mismatch = version_mismatch()
    return Status(False, mismatch) if mismatch is not None else Status(True, "")


def status() -> Status:
    """The current state of the switch."""
    if switched_off():
        return Status(False, f"{ENV_VAR}=off")
    if not _state["applied"]:
        return Status(False, "not enabled (signers.speedups.enable() was not called)")
    return Status(True, "")


def enable() -> Status:
    """Apply the speed-ups for this process, if the environment and the installed
    versions allow it (idempotent). When they are off, one log line says why (once
    per reason and process)."""
    with _lock:
        allowed = available()
        if not allowed.enabled:
            level = logging.INFO if switched_off() else logging.WARNING
            return _off(allowed.reason, level)
        if not _state["applied"]:
            from ._patches import apply_all

            try:
                for name in _MODULES:
                    importlib.import_module(f"{__name__}.{name}")
                apply_all()
            except Exception as exc:  # noqa: BLE001 - a conflict, a module gone: stay off
                return _off(f"{type(exc).__name__}: {exc}", logging.WARNING)
            _state["applied"] = True
        return status()


def disable() -> None:
    """Remove the speed-ups (the original functions are put back)."""
    from ._patches import remove_all

    with _lock:
        _state["applied"] = False
        remove_all()


def wanted(option: bool | None) -> bool:
    """Whether a call given ``speedups=option`` takes the fast path: ``False`` never,
    ``True`` if :func:`enable` succeeds, ``None`` as the process-wide switch says."""
    if option is False:
        return False
    if option is True:
        return enable().enabled
    return status().enabled


def _off(reason: str, level: int) -> Status:
    if reason not in _told:
        _told.add(reason)
        log.log(level, "speed-ups off: %s; verification and signing take pyHanko's plain "
                "path (same verdicts, slower)", reason)
    return Status(False, reason)
