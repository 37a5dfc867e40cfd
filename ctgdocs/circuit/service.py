"""Build the circuit engine, the mailer and the notifier from the settings."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..exceptions import ServiceError

if TYPE_CHECKING:
    from signers.circuit.engine import CircuitEngine

    from .settings import CircuitSettings

__all__ = ["load_settings", "make_engine", "stamp_text"]

log = logging.getLogger(__name__)


def load_settings(**options: Any) -> CircuitSettings:
    """The settings from the environment and the given options (``None``: unset);
    :class:`ServiceError` naming the problem when they are invalid."""
    from .settings import CircuitSettings

    try:
        return CircuitSettings().with_options(**options)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: "
                             f"{e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise ServiceError(f"invalid circuit settings: {problems}") from exc


def stamp_text(name: str, capacity: str | None, when: dt.datetime, seal: bool
               ) -> tuple[str, ...]:
    """The stamp lines of a signature the server finishes, as ``ctg sign`` writes them."""
    from signers.stamp import stamp_lines

    from ..wording import STAMP_WORDING

    return stamp_lines(name, capacity, when, seal=seal, wording=STAMP_WORDING)


def make_engine(settings: CircuitSettings, *, clock: Any = None, checker: Any = None,
                migrate: bool = True) -> CircuitEngine:
    """The engine on the settings' store, secret, trust anchors and TSA."""
    from signers import speedups
    from signers.circuit.acceptance import CheckLimits
    from signers.circuit.engine import CircuitEngine, EngineConfig
    from signers.circuit.sandbox import ProcessChecker
    from signers.circuit.store import open_store
    from signers.exceptions import SignersError

    speedups.enable()  # as ctg sign and ctg verify (unless SIGNERS_SPEEDUPS=off)
    try:
        store = open_store(settings.store, migrate=migrate)
        secret = settings.secret_bytes()
    except SignersError as exc:
        raise ServiceError(str(exc)) from exc
    config = EngineConfig(
        trust_roots=tuple(_der(p) for p in settings.trust), tsa_url=settings.tsa,
        limits=CheckLimits(), lease=dt.timedelta(seconds=settings.lease_seconds),
        lease_wait=settings.lease_wait_seconds)
    checker = checker or ProcessChecker(settings.check_memory_mb * 1024 * 1024,
                                        settings.check_timeout_seconds)
    return CircuitEngine(store, secret, config, clock=clock, checker=checker,
                         stamp_text=stamp_text)


def _der(path: Any) -> bytes:
    from pyhanko.keys import load_cert_from_pemder

    try:
        return bytes(load_cert_from_pemder(str(path)).dump())
    except (OSError, ValueError) as exc:
        raise ServiceError(f"{path}: not a readable PEM or DER certificate ({exc}); pass "
                           "the trust anchor's certificate file with --trust") from exc
