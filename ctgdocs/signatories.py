"""Map CTG signatories onto the generic ``signers`` vocabulary (expected signers)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from signers.model import ExpectedSigner

from .exceptions import DataError
from .model import Convention, signatories

__all__ = ["expected_signers", "expected_signers_from_build"]


def expected_signers(conv: Convention) -> list[ExpectedSigner]:
    """One expected signer per signatory: field = signatory id, names = the person's
    full name, e-mails = the person's e-mail, label = the capacity line."""
    return [
        ExpectedSigner(
            field=s.id, label=s.capacity, names=(s.person.full_name,),
            emails=(s.person.email,) if s.person.email else (),
            extra={"organisation": s.organisation, "role": s.role.value})
        for s in signatories(conv)
    ]


def expected_signers_from_build(build_json: str | os.PathLike[str]) -> list[ExpectedSigner]:
    """The expected signers recorded in a ``build.json`` (``"fields"`` entries with
    ``id``, ``field``, ``name``, ``email``, ``capacity``)."""
    path = Path(build_json)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))["fields"]
        return [_from_record(r) for r in records]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: unreadable build record ({exc}); rebuild the package or "
                        "pass --data convention.yaml") from exc


def _from_record(record: dict[str, Any]) -> ExpectedSigner:
    field = record.get("field") or record["id"]
    email = record.get("email")
    return ExpectedSigner(field=field, label=record.get("capacity", ""),
                          names=(record["name"],), emails=(email,) if email else (),
                          extra={k: str(record[k]) for k in ("organisation", "role")
                                 if record.get(k)})
