"""Records of the archive: options, bundle files, archived signatures, check results."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ArchiveOptions", "ArchivedSignature", "BundleCheck", "BundleFile", "BundleResult",
           "Failure", "RenewalResult"]


@dataclass(frozen=True)
class ArchiveOptions:
    """What ``ctg archive`` is asked to do besides the signed PDF."""

    trust: tuple[Path, ...] = ()
    """Trust anchors (PEM/DER root certificates): the only ones signatures may chain to."""
    tsa_url: str | None = None
    """RFC 3161 timestamping authority for the archive timestamp and the manifest token."""
    data: Path | None = None
    """The convention data (default: the one ``build.json`` beside the PDF names)."""
    trusted_lists: tuple[Path, ...] = ()
    """ETSI TS 119 612 trusted lists assessing each signature's eIDAS qualification."""
    journal: Path | None = None
    """The circuit's journal (``journal.jsonl``, its tokens in ``journal/`` beside it);
    default: a ``journal.jsonl`` beside the PDF, if any."""
    archival_agency: str | None = None
    """SEDA ``ArchivalAgency`` identifier (default: the Caf)."""
    transferring_agency: str | None = None
    """SEDA ``TransferringAgency`` identifier (default: the Caf)."""
    output: Path | None = None
    """The bundle folder (or ZIP file with :attr:`zip`) to create; default ``archive``
    (``archive.zip``) beside the PDF."""
    zip: bool = False
    """Write one ZIP (bordereau at its root, files under ``content/``)."""
    allow_incomplete: bool = False
    """Archive even when an expected signatory has not signed."""


@dataclass(frozen=True)
class BundleFile:
    """One file of a bundle, as the manifest and the bordereau describe it."""

    path: str
    """Path inside the bundle (``/`` separators)."""
    size: int
    """Size in bytes."""
    sha256: str
    """SHA-256 (hex)."""
    sha512: str
    """SHA-512 (hex)."""


@dataclass(frozen=True)
class ArchivedSignature:
    """One signature as the archive reports it (from the long-term validation)."""

    field: str
    """Signature field (the signatory id)."""
    signatory: str | None
    """Expected signatory's capacity line, e.g. "Le Maire de Gignac"."""
    organisation: str | None
    """Organisation the signatory represents."""
    holder: str
    """Certificate holder (common name)."""
    subject: str
    """Certificate subject."""
    issuer: str
    """Certificate issuer."""
    fingerprint: str
    """SHA-256 fingerprint of the signer's certificate."""
    reason: str | None
    """The signature's /Reason (the council deliberation for a mayor)."""
    claimed_time: dt.datetime | None
    """Signing time the signer claimed."""
    timestamp_time: dt.datetime | None
    """Time of the signature timestamp."""
    tsa: str | None
    """Authority of the signature timestamp."""
    level: str | None
    """PAdES level (B-LTA once archived)."""
    indication: str
    """ETSI indication (``PASSED``…)."""
    subindication: str
    """ETSI sub-indication."""
    revoked_at: dt.datetime | None
    """Revocation of the signer's certificate after the signature, if recorded."""
    qualification: str
    """eIDAS status (``QESig``, ``AdESig-QC``, ``AdESig``, the seal equivalents, or
    ``not assessed``)."""


@dataclass(frozen=True)
class BundleResult:
    """What :func:`~ctgdocs.archive.create_bundle` wrote."""

    path: Path
    """The bundle folder or ZIP file."""
    files: tuple[BundleFile, ...]
    """Every file of the bundle but the manifest and its token."""
    signatures: tuple[ArchivedSignature, ...]
    """Every signature, in revision order."""
    archive_timestamp: dt.datetime
    """Time of the document timestamp."""
    renewal_due: dt.datetime
    """When the archive timestamp's certificate expires (renew before)."""
    complete: bool
    """Every expected signatory signed."""
    missing: tuple[str, ...]
    """Expected signatories who did not sign (with ``allow_incomplete``)."""
    journal_events: int
    """Events of the archived journal (0 without journal)."""


@dataclass(frozen=True)
class Failure:
    """One thing that does not hold in a bundle."""

    where: str
    """The file, signature (``signature maire-gignac``), timestamp or journal event."""
    message: str
    """What is wrong."""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class BundleCheck:
    """What :func:`~ctgdocs.archive.verify_bundle` found."""

    path: str
    """The bundle checked."""
    at: dt.datetime
    """The time it was evaluated for."""
    checked: tuple[str, ...]
    """What was checked, one line each."""
    failures: tuple[Failure, ...]
    """Everything that does not hold (empty when valid)."""
    signatures: tuple[ArchivedSignature, ...] = ()
    """The signatures as judged."""
    renewal_due: dt.datetime | None = None
    """When the last archive timestamp (or manifest token) certificate expires."""
    warnings: tuple[str, ...] = ()
    """What holds but deserves attention (renewal due soon)."""
    journal_events: int = 0
    """Events of the journal checked (0 without journal)."""
    renewals: int = 0
    """Renewals recorded (each previous state checked too)."""

    @property
    def valid(self) -> bool:
        """Nothing failed (the renewal may still be needed)."""
        return not self.failures

    @property
    def renewal_needed(self) -> bool:
        """The evaluation time is at or after :attr:`renewal_due`."""
        return self.renewal_due is not None and self.at >= self.renewal_due

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-compatible data."""
        data = dataclasses.asdict(self)
        data.update(valid=self.valid, renewal_needed=self.renewal_needed)
        return data

    def to_json(self) -> str:
        """The result as JSON text."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=_iso)


@dataclass(frozen=True)
class RenewalResult:
    """What :func:`~ctgdocs.archive.renew_bundle` did."""

    path: Path
    """The renewed bundle."""
    number: int
    """Renewal number (1 for the first)."""
    archive_timestamp: dt.datetime
    """Time of the new document timestamp."""
    tsa: str
    """Its authority."""
    renewal_due: dt.datetime
    """When its certificate expires."""
    history: tuple[str, ...] = field(default=())
    """Files keeping the previous state."""


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)
