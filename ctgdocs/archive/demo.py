"""The archive steps of ``ctg demo``: archive the signed convention (services running),
then verify the bundle offline (services stopped)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .create import create_bundle
from .model import ArchiveOptions, BundleCheck, BundleResult
from .verify import verify_bundle

if TYPE_CHECKING:
    from signers.demo_pki import DemoPki

__all__ = ["BUNDLE_NAME", "archive_signed", "verify_archived"]

BUNDLE_NAME = "archive"
"""Folder of the demonstration bundle, in the convention's output folder."""


def archive_signed(signed: Path, data: Path, pki: DemoPki, tsa_url: str, out: Path,
                   say: Callable[[str], None]) -> BundleResult:
    """``ctg archive`` of ``signed`` into ``out`` on the demonstration: trusted by the
    demonstration root, qualified by the demonstration trusted list, the circuit's
    journal taken beside the document when there is one; a previous demonstration
    bundle is replaced."""
    shutil.rmtree(out, ignore_errors=True)
    result = create_bundle(signed, ArchiveOptions(
        trust=(pki.root_cert,), tsa_url=tsa_url, data=data,
        trusted_lists=(pki.trusted_list,), output=out), say=lambda line: say(f"   {line}"))
    journal = f", journal of {result.journal_events} events" if result.journal_events else ""
    say(f"10. archived (PAdES B-LTA, reports, SEDA 2.3 bordereau, timestamped manifest"
        f"{journal}): {result.path}")
    return result


def verify_archived(bundle: Path, pki: DemoPki, say: Callable[[str], None]) -> BundleCheck:
    """``ctg archive verify`` on the demonstration bundle, with no service running."""
    check = verify_bundle(bundle, trust=(pki.root_cert,))
    state = "holds" if check.valid else f"DOES NOT HOLD ({len(check.failures)} failures)"
    say(f"12. bundle verified offline: {state}; renew before {check.renewal_due:%Y-%m-%d}"
        if check.renewal_due else f"12. bundle verified offline: {state}")
    for failure in check.failures:
        say(f"   {failure}")
    return check
