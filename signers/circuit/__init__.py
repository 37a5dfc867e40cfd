"""The signing circuit engine: one head per circuit, append-only revisions, one
acceptance rule for uploads and remote signatures, a hash-chained journal.

Generic (no CTG names, no French): the caller gives the slots, their stages and the
stamp wording, and words the messages for the error codes. Modules:

* :mod:`~signers.circuit.store` — SQLAlchemy Core tables, SQLite or PostgreSQL, Alembic
  migrations shipped in ``migrations/``;
* :mod:`~signers.circuit.engine` — :class:`CircuitEngine` (token actions, commit);
  :mod:`~signers.circuit.lifecycle` — coordinator actions, sweeps, the outbox;
* :mod:`~signers.circuit.acceptance` — the acceptance rule; :mod:`~signers.circuit.sandbox`
  runs it in a capped worker process;
* :mod:`~signers.circuit.remote` — interrupted signing (server prepare/finish, client
  signature of the signed attributes);
* :mod:`~signers.circuit.tokens`, :mod:`~signers.circuit.reminders`,
  :mod:`~signers.circuit.journaling`, :mod:`~signers.circuit.client`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CircuitEngine": "signers.circuit.engine",
    "EngineConfig": "signers.circuit.engine",
    "open_store": "signers.circuit.store",
    "Store": "signers.circuit.store",
    "CheckLimits": "signers.circuit.acceptance",
    "CheckRequest": "signers.circuit.acceptance",
    "check_revision": "signers.circuit.acceptance",
    "ProcessChecker": "signers.circuit.sandbox",
    "InProcessChecker": "signers.circuit.sandbox",
    "CircuitSpec": "signers.circuit.records",
    "SlotSpec": "signers.circuit.records",
    "ReminderPolicy": "signers.circuit.records",
    "CircuitState": "signers.circuit.records",
    "SlotState": "signers.circuit.records",
    "CircuitRefusal": "signers.circuit.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import public names lazily."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'signers.circuit' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
