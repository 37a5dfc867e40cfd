"""What ``ctg archive`` reads besides the signed PDF: trust anchors, the convention data,
the circuit's journal and trusted lists — each refused with a message naming the file."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..exceptions import ArchiveError, DataError, InputError
from .layout import JOURNAL, JOURNAL_TOKENS

if TYPE_CHECKING:
    from asn1crypto import x509

    from signers.qualified import TrustedLists

    from ..model import Convention

__all__ = ["ArchivedJournal", "anchor_lines", "convention_for", "journal_for",
           "load_roots", "trusted_lists_for"]


def load_roots(paths: Sequence[Path]) -> list[x509.Certificate]:
    """The trust anchors (PEM or DER). Raises :class:`ArchiveError` without any (nothing
    can be judged trusted) and :class:`InputError` for an unreadable file."""
    from pyhanko.keys import load_cert_from_pemder

    if not paths:
        raise ArchiveError("no trust anchor given: pass the root certificate(s) the "
                           "signatures must chain to with --trust ROOT.pem")
    roots = []
    for path in paths:
        try:
            roots.append(load_cert_from_pemder(str(path)))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a readable PEM or DER certificate ({exc}); pass "
                             "the trust root certificate file") from exc
    return roots


def anchor_lines(roots: Sequence[x509.Certificate]) -> list[dict[str, str]]:
    """Subject and SHA-256 fingerprint of each anchor."""
    return [{"subject": str(r.subject.human_friendly), "sha256": r.sha256.hex()}
            for r in roots]


def convention_for(pdf: Path, data: Path | None) -> tuple[Convention, Path]:
    """The convention data of ``pdf``: ``data`` if given, else the file ``build.json``
    beside the PDF names, provided it has not changed since the package was built."""
    from ..load import load_convention

    if data is not None:
        return load_convention(data), data
    build = pdf.parent / "build.json"
    try:
        record = json.loads(build.read_text(encoding="utf-8"))["data"]
        path = Path(record["resolved"])
        current = hashlib.sha256(path.read_bytes()).hexdigest()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{pdf}: no convention data found (no usable build.json beside it: "
                        f"{exc}); pass --data convention.yaml") from exc
    if current != record.get("sha256"):
        raise DataError(f"{path}: changed since the package was built ({build}); pass the "
                        "data the package was built from with --data")
    return load_convention(path), path


@dataclass(frozen=True)
class ArchivedJournal:
    """A verified circuit journal to put in the bundle."""

    source: Path
    """The journal file."""
    files: dict[str, bytes]
    """Bundle name → bytes (``journal.jsonl`` and ``journal/<seq>.tsr``)."""
    events: int
    """Events."""
    tokens: int
    """Timestamp tokens."""
    head: str
    """Hash of the last event."""


def journal_for(pdf: Path, given: Path | None,
                roots: Sequence[x509.Certificate]) -> ArchivedJournal | None:
    """The journal to archive: ``given``, else ``journal.jsonl`` beside the PDF, if any;
    its tokens in ``journal/`` beside it. Refused (:class:`ArchiveError`) when its chain
    or a token does not hold, naming the event."""
    from signers.journal import JournalError, read_journal, read_tokens, verify_journal

    path = given if given is not None else pdf.parent / JOURNAL
    if given is None and not path.is_file():
        return None
    try:
        events = read_journal(path)
        tokens = read_tokens(path.parent / JOURNAL_TOKENS)
    except JournalError as exc:
        raise ArchiveError(f"the journal cannot be archived: {exc}") from exc
    check = verify_journal(events, tokens, trust_roots=list(roots))
    if not check.valid:
        raise ArchiveError(f"the journal {path} does not hold: " + "; ".join(check.problems))
    if not events:
        raise ArchiveError(f"{path}: the journal is empty")
    files = {JOURNAL: path.read_bytes()}
    for seq in sorted(tokens):
        files[f"{JOURNAL_TOKENS}/{seq:06d}.tsr"] = tokens[seq]
    return ArchivedJournal(path, files, len(events), len(tokens), check.head or "")


def trusted_lists_for(paths: Sequence[Path],
                      roots: Sequence[x509.Certificate]) -> TrustedLists | None:
    """The verified trusted lists, or ``None`` without any; a list that cannot be
    verified refuses the archive (:class:`ArchiveError`)."""
    if not paths:
        return None
    from signers.qualified import TrustedListError, load_trusted_lists

    try:
        return load_trusted_lists(paths, trust_roots=roots)
    except TrustedListError as exc:
        raise ArchiveError(f"trusted list refused: {exc}") from exc


def default_output(pdf: Path, zip_form: bool) -> Path:
    """``archive`` (``archive.zip``) beside the signed PDF."""
    return pdf.parent / ("archive.zip" if zip_form else "archive")


def require_file(path: Path) -> None:
    """:class:`InputError` unless ``path`` is a readable file."""
    if not path.is_file() or not os.access(path, os.R_OK):
        raise InputError(f"{path}: no such readable file; check the path of the signed PDF")
