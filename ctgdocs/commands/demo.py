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
        "demo", help="the whole story with a demo PKI: build, circuit, verify, archive",
        description="The whole story on the convention DATA, with a DEMONSTRATION PKI "
        "(unfit for real signatures): build the package; start local timestamp, OCSP and "
        "CRL services on 127.0.0.1; start a signing circuit and serve it on 127.0.0.1; "
        "the Caf seals, the 13 mayors sign at the same time with ctg sign-remote and "
        "their own keys (one on a SoftHSM2 token), then the EPCI president, the Caf "
        "board president and the Caf director; ctg verify --complete and ctg circuit "
        "journal --verify; archive the signed convention into an evidence bundle (PAdES "
        "B-LTA, reports, SEDA 2.3 bordereau, timestamped manifest, journal); stop the "
        "services; verify the bundle offline; print where everything is.")
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
    anchor = result.trust_anchor
    print(f"\nSigned through the circuit {result.circuit}: {result.signed}\n"
          f"  {result.signatures} signatures (seal included), {state}; the 13 mayors in "
          f"{result.mayors_seconds:.1f} s at the same time\n"
          f"  circuit store: {result.store} (ctg circuit status {result.circuit} "
          f"--store {result.store})\n"
          f"Evidence bundle (ctg archive): {result.bundle}\n"
          f"  check it yourself, offline: ctg archive verify {result.bundle} "
          f"--trust {anchor}\n"
          f"Archival copy (PAdES B-LTA): {result.archived}\n"
          f"  check it yourself: ctg verify {result.archived} --offline --complete "
          f"--trust {anchor}\n"
          f"Trust anchor: {anchor} (demonstration only)")
    if not result.valid:
        return ExitCode.VERIFICATION_FAILED
    if not result.bundle_valid:
        return ExitCode.ARCHIVE_INVALID
    return ExitCode.OK if result.complete else ExitCode.INCOMPLETE
