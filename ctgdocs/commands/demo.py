"""``ctg demo``: the whole story on one convention (what ``make demo`` runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..exceptions import ExitCode


def register(sub: Any) -> None:
    """Add ``ctg demo`` to ``sub``."""
    p = sub.add_parser(
        "demo", help="build, seal, sign by every signatory with a demo PKI, verify",
        description="Build the package, create a DEMONSTRATION PKI (unfit for real "
        "signatures), start local timestamp/OCSP/CRL services on 127.0.0.1, seal the "
        "package as the Caf, have every signatory sign in circuit order (mayors, EPCI "
        "president, partners, Caf board president, Caf director), verify, archive the "
        "signed convention into an evidence bundle (PAdES B-LTA, reports, SEDA 2.3 "
        "bordereau, timestamped manifest), stop the services, verify the bundle offline "
        "and print a summary.")
    p.add_argument("data", type=Path, help="convention YAML file")
    p.add_argument("-o", "--output", type=Path, default=Path("output"), metavar="DIR",
                   help="output root (default: output)")
    p.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """``ctg demo DATA``."""
    from ..demo import run_demo as demo

    result = demo(args.data, args.output, say=lambda line: print(line, file=sys.stderr))
    print(result.report, file=sys.stderr)
    state = "VALID and COMPLETE" if result.valid and result.complete else "NOT VALID"
    print(f"\nSigned package: {result.signed}\n  {result.signatures} signatures "
          f"(seal included), {result.seconds_per_signature:.2f} s per signature, {state}\n"
          f"Archival copy (PAdES B-LTA, verifiable offline): {result.archived}\n"
          f"  trust anchor: {result.trust_anchor} (demonstration only)\n"
          f"  check it yourself: ctg verify {result.archived} --offline --complete "
          f"--trust {result.trust_anchor}\n"
          f"Evidence bundle (ctg archive): {result.bundle}\n"
          f"  check it yourself, offline: ctg archive verify {result.bundle} "
          f"--trust {result.trust_anchor}")
    if not result.valid:
        return ExitCode.VERIFICATION_FAILED
    if not result.bundle_valid:
        return ExitCode.ARCHIVE_INVALID
    return ExitCode.OK if result.complete else ExitCode.INCOMPLETE
