"""``ctg verify``: check every signature of a signed convention package."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signers.model import ExpectedSigner

if TYPE_CHECKING:  # pyHanko is slow to import: only when the command runs
    from signers.report import DocumentReport

from ..collector import fewer_collections
from ..exceptions import ExitCode


def register(sub: Any) -> None:
    """Add ``verify`` to ``sub``."""
    p = sub.add_parser("verify", help="verify every signature of a signed package")
    p.add_argument("pdf", type=Path, help="the signed package (PDF)")
    p.add_argument("--data", type=Path, help="convention YAML giving the expected "
                   "signatories (default: build.json next to the PDF, if present)")
    p.add_argument("--trust", type=Path, action="append", default=[], metavar="ROOT.pem",
                   help="trust anchor certificate (repeatable); nothing else is trusted")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--complete", action="store_true",
                   help="also require every expected signatory to have signed")
    p.add_argument("--offline", action="store_true", help="no network: revocation data "
                   "must be embedded in the document (DSS)")
    p.add_argument("--trusted-list", type=Path, action="append", default=[],
                   metavar="TL.xml", help="ETSI TS 119 612 trusted list, e.g. the EU list "
                   "of lists and a member state's list (repeatable): each signature is "
                   "then said qualified, advanced based on a qualified certificate, or "
                   "advanced (eIDAS); without one, qualification is not assessed")
    p.set_defaults(run=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """Verify ``args.pdf``, print the report, return the exit code."""
    if not args.verbose:
        logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
        logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)
    from signers import speedups

    speedups.enable()
    expected = _expected(args.pdf, args.data)
    from signers.report import render_table
    from signers.verify import verify_document

    # The libraries just imported live until the end: keep the cyclic garbage collector
    # from walking their objects again at every full collection of the verification,
    # and run it less often.
    gc.freeze()
    try:
        with fewer_collections():
            report = verify_document(args.pdf, expected=expected, trust_roots=args.trust,
                                     offline=args.offline)
    finally:
        gc.unfreeze()
    if args.trusted_list:
        report = with_qualification(report, args.pdf, args.trusted_list, args.trust)
    sys.stdout.write(report.to_json() + "\n" if args.json else render_table(report))
    return int(exit_code(report, complete=args.complete))


def exit_code(report: DocumentReport, *, complete: bool) -> ExitCode:
    """OK only if every signature is valid (and, with ``complete``, nobody is missing)."""
    if not report.valid:
        return ExitCode.VERIFICATION_FAILED
    if complete and not report.complete:
        return ExitCode.INCOMPLETE
    return ExitCode.OK


def with_qualification(report: DocumentReport, pdf: Path, trusted_lists: list[Path],
                       trust: list[Path]) -> DocumentReport:
    """``report`` with each signature's eIDAS qualification assessed from the trusted
    lists (read and verified offline; a list that does not verify is an error, exit
    11). An invalid signature has none ("not AdES")."""
    import dataclasses

    from pyhanko.keys import load_cert_from_pemder

    from signers.qualified import QualificationStatus, assess_document, load_trusted_lists

    from ..signatories import SEAL_FIELD

    roots = [load_cert_from_pemder(str(p)) for p in trust]
    lists = load_trusted_lists(trusted_lists, trust_roots=roots)
    found = assess_document(pdf, lists, trust_roots=roots, seals=(SEAL_FIELD,))

    def status(s: Any) -> str:
        if not s.valid:
            return QualificationStatus.NOT_ADES.value
        q = found.get(s.field)
        return q.status.value if q is not None else s.qualification

    return dataclasses.replace(report, signatures=tuple(
        dataclasses.replace(s, qualification=status(s)) for s in report.signatures))


def _expected(pdf: Path, data: Path | None) -> list[ExpectedSigner] | None:
    from ..signatories import expected_for_package

    return expected_for_package(pdf, data)
