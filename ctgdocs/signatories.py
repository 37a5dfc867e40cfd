"""Map CTG signatories onto the generic ``signers`` vocabulary (expected signers)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signers.model import ExpectedSigner

from .exceptions import DataError

if TYPE_CHECKING:
    from .model import Convention

__all__ = ["expected_for_package", "expected_signers", "expected_signers_from_build",
           "seal_expected"]

CIRCUIT_SIGNERS = "signataires.json"
"""The expected signers a circuit export writes beside the PDF (``build.json``'s
``fields`` and ``seal`` entries, with the circuit's replacements)."""
SEAL_FIELD = "cachet-caf"
"""Field of the Caf's organisation seal (``ctg build --seal-field``)."""


def seal_expected(conv: Convention, field: str = SEAL_FIELD) -> ExpectedSigner:
    """The Caf's organisation seal: the certificate names the Caf."""
    from .model import de_article

    return ExpectedSigner(field=field, label=f"Cachet {de_article(conv.caf.short_name)}",
                          names=(conv.caf.short_name, conv.caf.name),
                          extra={"organisation": conv.caf.name, "role": "cachet"})


def expected_for_package(pdf: str | os.PathLike[str], data: str | os.PathLike[str] | None,
                         seal_field: bool | None = None) -> list[ExpectedSigner] | None:
    """Who must sign ``pdf``: from the convention data ``data`` if given, else from the
    ``signataires.json`` next to the package (written by ``ctg circuit export``: the
    signatories as the circuit knows them, a replacement included), else from the
    ``build.json`` next to it; ``None`` when none is available. With ``data``, the Caf
    seal is expected when ``seal_field`` is true (default: when the package has a
    ``cachet-caf`` field)."""
    if data is not None:
        from .load import load_convention

        conv = load_convention(Path(data))
        result = expected_signers(conv)
        if seal_field is None:
            seal_field = _has_seal_field(pdf)
        return result + ([seal_expected(conv)] if seal_field else [])
    for record in (CIRCUIT_SIGNERS, "build.json"):
        path = Path(pdf).parent / record
        if path.is_file():
            return expected_signers_from_build(path)
    return None


def _has_seal_field(pdf: str | os.PathLike[str]) -> bool:
    """Whether ``pdf`` has the Caf seal field; ``False`` for a damaged PDF (signing or
    verifying it then refuses it, saying why). A missing file is an error here."""
    from signers.exceptions import FieldError
    from signers.fields import signature_field_names

    try:
        return SEAL_FIELD in {name for name, _ in signature_field_names(pdf)}
    except FieldError:
        return False


def expected_signers(conv: Convention) -> list[ExpectedSigner]:
    """One expected signer per signatory: field = signatory id, names = the person's
    full name, e-mails = the person's e-mail, label = the capacity line."""
    from .model import signatories

    return [
        ExpectedSigner(
            field=s.id, label=s.capacity, names=(s.person.full_name,),
            emails=(s.person.email,) if s.person.email else (),
            fingerprints=tuple(s.person.certificates),
            extra={"organisation": s.organisation, "role": s.role.value})
        for s in signatories(conv)
    ]


def expected_signers_from_build(build_json: str | os.PathLike[str]) -> list[ExpectedSigner]:
    """The expected signers recorded in a ``build.json`` (``"fields"`` entries with
    ``id``, ``field``, ``name``, ``email``, ``capacity``; the ``"seal"`` entry, if any)."""
    path = Path(build_json)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        result = [_from_record(r) for r in record["fields"]]
        seal = record.get("seal")
        if seal:
            result.append(ExpectedSigner(field=seal["field"], label=seal["label"],
                                         names=tuple(seal["names"]),
                                         extra={"role": "cachet"}))
        return result
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: unreadable build record ({exc}); rebuild the package or "
                        "pass --data convention.yaml") from exc


def _from_record(record: dict[str, Any]) -> ExpectedSigner:
    field = record.get("field") or record["id"]
    email = record.get("email")
    return ExpectedSigner(field=field, label=record.get("capacity", ""),
                          names=(record["name"],), emails=(email,) if email else (),
                          fingerprints=tuple(record.get("certificates") or ()),
                          extra={k: str(record[k]) for k in ("organisation", "role")
                                 if record.get(k)})
