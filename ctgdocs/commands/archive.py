"""``ctg archive``: archive a signed convention, verify or renew an evidence bundle."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path
from typing import Any

from ..exceptions import ExitCode

USAGE = """\
ctg archive SIGNED.pdf [--data DATA] [--trust ROOT.pem ...] [--trusted-list TL.xml ...]
                   [--tsa URL] [--journal JOURNAL.jsonl] [--archival-agency ID]
                   [--transferring-agency ID] [-o DIR] [--zip] [--allow-incomplete]
       ctg archive verify DIR|ZIP [--trust ROOT.pem ...] [--at YYYY-MM-DD] [--json]
       ctg archive renew DIR|ZIP --tsa URL [-o DIR]"""


def register(sub: Any) -> None:
    """Add ``ctg archive`` to ``sub``."""
    p = sub.add_parser(
        "archive", usage=USAGE,
        help="archive a signed convention (evidence bundle); verify or renew a bundle",
        description="Archive a signed convention: bring it to PAdES B-LTA and write an "
        "evidence bundle (the B-LTA PDF, an ETSI TS 119 102-2 validation report, a French "
        "signature report, the circuit's journal, a SEDA 2.3 bordereau, a timestamped "
        "manifest). 'ctg archive verify' checks a bundle offline; 'ctg archive renew' "
        "adds a new archive timestamp before the last one expires. Run 'ctg archive "
        "verify --help' or 'ctg archive renew --help' for theirs.")
    p.add_argument("target", metavar="SIGNED.pdf|verify|renew",
                   help="the signed convention, or 'verify' / 'renew'")
    p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(run=run_archive)


def run_archive(args: argparse.Namespace) -> int:
    """Dispatch ``ctg archive`` to its three forms."""
    from signers import speedups

    if not getattr(args, "verbose", False):
        # pyHanko logs each failed step with its traceback on the way to a verdict (a
        # signature judged again in the past first fails as of now); the verdicts and
        # their reasons are in the result, the tracebacks with -v only (as ctg verify)
        logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
        logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)

    speedups.enable()  # as ctg sign and ctg verify (unless SIGNERS_SPEEDUPS=off)
    if args.target == "verify":
        return _verify(_verify_parser().parse_args(args.rest))
    if args.target == "renew":
        return _renew(_renew_parser().parse_args(args.rest))
    return _create(_create_parser().parse_args([args.target, *args.rest]))


# -- ctg archive SIGNED.pdf --------------------------------------------------------------

def _create_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ctg archive", description="Archive the signed convention SIGNED.pdf into an "
        "evidence bundle (a folder, or one ZIP with --zip). Refused (exit 16, nothing "
        "written) when the package does not verify or is incomplete.")
    p.add_argument("pdf", type=Path, metavar="SIGNED.pdf", help="the signed convention")
    p.add_argument("--data", type=Path, metavar="DATA",
                   help="convention YAML (default: the one build.json beside the PDF names)")
    p.add_argument("--trust", type=Path, action="append", default=[], metavar="ROOT.pem",
                   help="trust anchor (repeatable; at least one)")
    p.add_argument("--trusted-list", type=Path, action="append", default=[], metavar="TL.xml",
                   help="ETSI TS 119 612 trusted list to assess eIDAS qualification "
                   "(repeatable: the EU list of lists and a member state's list)")
    p.add_argument("--tsa", metavar="URL", default=os.environ.get("CTGDOCS_TSA"),
                   help="RFC 3161 timestamping authority (default: $CTGDOCS_TSA)")
    p.add_argument("--journal", type=Path, metavar="JOURNAL.jsonl",
                   help="the circuit's journal, its tokens in journal/ beside it (default: "
                   "journal.jsonl beside the PDF, if any)")
    p.add_argument("--archival-agency", metavar="ID",
                   help="SEDA archival agency identifier (default: the Caf)")
    p.add_argument("--transferring-agency", metavar="ID",
                   help="SEDA transferring agency identifier (default: the Caf)")
    p.add_argument("-o", "--output", type=Path, metavar="DIR",
                   help="bundle folder, or ZIP file with --zip (default: archive or "
                   "archive.zip beside the PDF; must not exist)")
    p.add_argument("--zip", action="store_true",
                   help="one ZIP: bordereau and manifest at its root, files under content/")
    p.add_argument("--allow-incomplete", action="store_true",
                   help="archive even if an expected signatory has not signed")
    return p


def _create(args: argparse.Namespace) -> int:
    from ..archive import ArchiveOptions, create_bundle
    from ..archive.report import qualification_label

    options = ArchiveOptions(
        trust=tuple(args.trust), tsa_url=args.tsa, data=args.data,
        trusted_lists=tuple(args.trusted_list), journal=args.journal,
        archival_agency=args.archival_agency, transferring_agency=args.transferring_agency,
        output=args.output, zip=args.zip, allow_incomplete=args.allow_incomplete)
    result = create_bundle(args.pdf, options, say=lambda line: print(line, file=sys.stderr))
    print(f"bundle: {result.path}")
    stamped = f"{result.archive_timestamp:%Y-%m-%d %H:%M:%S %Z}"
    print(f"  {len(result.signatures)} signatures, archive timestamp {stamped}; renew "
          f"before {result.renewal_due:%Y-%m-%d}")
    for s in result.signatures:
        print(f"  {s.field}: {s.holder} — {qualification_label(s.qualification)}")
    if result.missing:
        print(f"  incomplete: not signed by {', '.join(result.missing)}")
    if result.journal_events:
        print(f"  journal: {result.journal_events} events")
    return ExitCode.OK


# -- ctg archive verify ------------------------------------------------------------------

def _verify_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ctg archive verify", description="Check an evidence bundle offline: the "
        "manifest and its token, every file's digest, the SEDA bordereau, every signature "
        "and revision of the PDF (as ctg verify --offline judges them, and in the past from "
        "the PDF's own validation data where a certificate has since expired or been "
        "revoked), the journal. "
        "Exit 0 when everything holds, 17 naming each failure, 18 when everything holds "
        "but the archive timestamp needs renewing.")
    p.add_argument("bundle", type=Path, metavar="DIR|ZIP")
    p.add_argument("--trust", type=Path, action="append", default=[], metavar="ROOT.pem",
                   help="trust anchor (repeatable; at least one)")
    p.add_argument("--at", type=_date, metavar="YYYY-MM-DD",
                   help="evaluate the bundle as of that date (Europe/Paris midnight)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def _date(text: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("Europe/Paris"))


def _verify(args: argparse.Namespace) -> int:
    import gc

    from signers import ltv_validation, verify  # noqa: F401 - imported before the freeze

    from ..archive import verify_bundle
    from ..collector import fewer_collections

    gc.freeze()  # as ctg verify: the libraries' objects are not walked again and again
    try:
        with fewer_collections():
            check = verify_bundle(args.bundle, trust=tuple(args.trust), at=args.at)
    finally:
        gc.unfreeze()
    print(check.to_json() if args.json else _render(check))
    if not check.valid:
        return ExitCode.ARCHIVE_INVALID
    return ExitCode.RENEWAL_NEEDED if check.renewal_needed else ExitCode.OK


def _render(check: Any) -> str:
    lines = [f"bundle:   {check.path}", f"as of:    {check.at:%Y-%m-%d %H:%M %Z}", "checked:"]
    lines += [f"  - {line}" for line in check.checked]
    if check.signatures:
        valid = sum(s.indication == "PASSED" for s in check.signatures)
        lines.append(f"signatures: {valid} of {len(check.signatures)} valid")
    if check.journal_events:
        lines.append(f"journal:  {check.journal_events} events")
    if check.renewals:
        lines.append(f"renewals: {check.renewals}")
    lines += [f"failure:  {f}" for f in check.failures]
    lines += [f"warning:  {w}" for w in check.warnings]
    if check.failures:
        lines.append(f"result:   DOES NOT HOLD ({len(check.failures)} failures)")
    elif check.renewal_needed:
        lines.append(f"result:   NEEDS RENEWAL since {check.renewal_due:%Y-%m-%d} (the last "
                     "archive timestamp's certificate expired then; everything else holds)")
    else:
        due = f"; renew before {check.renewal_due:%Y-%m-%d}" if check.renewal_due else ""
        lines.append(f"result:   HOLDS{due}")
    return "\n".join(lines)


# -- ctg archive renew -------------------------------------------------------------------

def _renew_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ctg archive renew", description="Add the validation data of the last archive "
        "timestamp and a new document timestamp, keep the previous manifest and bordereau "
        "under historique/<n>/, update the bordereau and write a new manifest with a new "
        "token. The bundle is checked first (with the anchors it was archived with).")
    p.add_argument("bundle", type=Path, metavar="DIR|ZIP")
    p.add_argument("--tsa", metavar="URL", default=os.environ.get("CTGDOCS_TSA"),
                   help="RFC 3161 timestamping authority (default: $CTGDOCS_TSA)")
    p.add_argument("-o", "--output", type=Path, metavar="DIR",
                   help="write the renewed bundle there, same form (default: replace it)")
    return p


def _renew(args: argparse.Namespace) -> int:
    from ..archive import renew_bundle
    from ..exceptions import ArchiveError

    if not args.tsa:
        raise ArchiveError("no timestamping authority: pass --tsa URL")
    result = renew_bundle(args.bundle, tsa_url=args.tsa, output=args.output,
                          say=lambda line: print(line, file=sys.stderr))
    print(f"bundle: {result.path}")
    stamped = f"{result.archive_timestamp:%Y-%m-%d %H:%M:%S %Z}"
    print(f"  renewal {result.number}: archive timestamp {stamped} by {result.tsa}; renew "
          f"before {result.renewal_due:%Y-%m-%d}")
    return ExitCode.OK
