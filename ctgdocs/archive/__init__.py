"""The archive of a signed convention: an evidence bundle a French archivist can ingest
(SEDA 2.3) and anyone can verify offline, years later.

One public function per task: :func:`create_bundle` (``ctg archive``),
:func:`verify_bundle` (``ctg archive verify``), :func:`renew_bundle` (``ctg archive
renew``); results are the records of :mod:`ctgdocs.archive.model`.
"""

from __future__ import annotations

from .create import create_bundle
from .model import (
    ArchivedSignature,
    ArchiveOptions,
    BundleCheck,
    BundleFile,
    BundleResult,
    Failure,
    RenewalResult,
)
from .renew import renew_bundle
from .verify import verify_bundle

__all__ = ["ArchiveOptions", "ArchivedSignature", "BundleCheck", "BundleFile", "BundleResult",
           "Failure", "RenewalResult", "create_bundle", "renew_bundle", "verify_bundle"]
