"""``ctg check``, ``ctg build`` and ``ctg check-templates``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..exceptions import ExitCode


def register(sub: Any) -> None:
    """Add the generation subcommands to ``sub``."""
    p = sub.add_parser("check", help="validate convention data; writes nothing",
                       description="Validate a convention YAML file and report every "
                       "problem at once (file:line:col field: message). Writes nothing.")
    p.add_argument("data", type=Path, help="convention YAML file")
    p.set_defaults(run=run_check)

    p = sub.add_parser("build", help="build the convention package (PDF/A with signature "
                       "fields)", description="Render the convention and one annex per "
                       "commune, convert them to PDF/A with LibreOffice, merge them and add "
                       "one empty signature field per signatory. Unchanged parts are reused.")
    p.add_argument("data", type=Path, help="convention YAML file")
    p.add_argument("-o", "--output", type=Path, default=Path("output"), metavar="DIR",
                   help="output root; the package goes to DIR/<convention-id>/ "
                   "(default: output)")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="parallel LibreOffice workers (default: one per CPU)")
    p.add_argument("--converter", default=None, metavar="URL",
                   help="use a running unoserver, e.g. unoserver://127.0.0.1:2003 "
                   "(default: local LibreOffice)")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="kill a conversion that takes longer than S seconds (default: 120)")
    p.add_argument("--templates", type=Path, default=None, metavar="DIR",
                   help="folder with convention.docx and annexe-commune.docx "
                   "(default: the shipped templates)")
    p.add_argument("--force", action="store_true", help="rebuild every part")
    p.add_argument("--seal-field", action="store_true",
                   help="also add an invisible field 'cachet-caf' so that the Caf can seal "
                   "(certify) the package before the signatories sign (ctg seal)")
    p.add_argument("--no-server", action="store_true",
                   help="build in this process and start no build server (same as "
                   "CTGDOCS_SERVER=off); see `ctg server --help`")
    p.set_defaults(run=run_build)

    p = sub.add_parser(
        "server", help="status or stop of the build server that keeps LibreOffice warm",
        description="After a build, `ctg build` leaves a build server running for this "
        "user: Python with its libraries loaded and LibreOffice started, so that the next "
        "rebuild takes a fraction of a second. It serves only this user, builds exactly as "
        "`ctg build` does, and stops after 15 idle minutes (CTGDOCS_SERVER_IDLE seconds). "
        "CTGDOCS_SERVER=off or `ctg build --no-server` disables it.")
    p.add_argument("action", choices=["start", "status", "stop"],
                   help="start: start one now (e.g. before an editing session) and wait "
                   "until it is warm; status: say whether one runs and what it holds; "
                   "stop: stop it")
    p.set_defaults(run=run_server)

    p = sub.add_parser("check-templates", help="check the Word templates for tag errors "
                       "and undeclared variables")
    p.add_argument("directory", type=Path, nargs="?", default=None,
                   help="folder with convention.docx and annexe-commune.docx "
                   "(default: the shipped templates)")
    p.set_defaults(run=run_check_templates)


def run_check(args: argparse.Namespace) -> int:
    """``ctg check DATA``."""
    from ..load import load_convention

    conv = load_convention(args.data)
    print(f"{args.data}: OK — {conv.title}, {len(conv.communes)} communes, "
          f"{len(conv.actions)} actions, {len(conv.signatories)} signatories")
    return ExitCode.OK


def run_build(args: argparse.Namespace) -> int:
    """``ctg build DATA``: answered at once when up to date, else by the build server
    when one runs, else here (and a server is started for the next time)."""
    from .. import server
    from ..build import TEMPLATES_DIR, BuildOptions, quick_result

    options = BuildOptions(output_root=args.output, templates=args.templates or TEMPLATES_DIR,
                           jobs=args.jobs, converter=args.converter, timeout=args.timeout,
                           force=args.force, seal_field=args.seal_field)
    use_server = args.converter is None and not args.no_server and server.enabled()
    # build_package checks "up to date" itself; check first only to skip the server
    result = quick_result(args.data, options) if use_server else None
    if result is None and use_server:
        code = server.build_remotely(args.argv)
        if code is not None:
            return code
    if result is None:
        from ..build import build_package

        with _progress_bar() as tick:
            result = build_package(args.data, options, progress=tick)
        if use_server and not result.up_to_date:
            server.spawn()
    state = "up to date" if result.up_to_date else f"{result.converted} part(s) converted"
    print(f"{result.package}\n  {result.pages} pages, {len(result.parts)} parts ({state}), "
          f"{result.signatories} signature fields, {result.seconds:.1f} s")
    return ExitCode.OK


def run_check_templates(args: argparse.Namespace) -> int:
    """``ctg check-templates [DIR]``."""
    from ..build import TEMPLATES_DIR
    from ..templates_check import check_templates

    directory = args.directory or TEMPLATES_DIR
    problems = check_templates(directory)
    for problem in problems:
        print(f"{problem.template}: {problem.location}: {problem.message}", file=sys.stderr)
        if problem.excerpt:
            print(f"    « {problem.excerpt} »", file=sys.stderr)
    if problems:
        print(f"ctg: {len(problems)} template problem(s) in {directory}", file=sys.stderr)
        return ExitCode.TEMPLATE_ERROR
    print(f"{directory}: templates OK")
    return ExitCode.OK


class _progress_bar:  # noqa: N801 - used as a context manager function
    """A tqdm bar on stderr (only on a terminal); yields a per-document callback."""

    def __enter__(self) -> Any:
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(desc="conversion", unit="doc", file=sys.stderr, leave=False)
        return self.tick

    def tick(self, name: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(name)
            self.bar.update(1)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def run_server(args: argparse.Namespace) -> int:
    """``ctg server status|stop``."""
    from .. import server

    if args.action == "start":
        problem = server.start_and_wait()
        if problem:
            print(f"ctg: error: {problem}", file=sys.stderr)
            return ExitCode.INTERNAL_ERROR
        return server.remote({"command": "status"}) or ExitCode.OK
    code = server.remote({"command": args.action})
    if code is None:
        print("no build server runs for this user and installation")
        return ExitCode.OK
    if args.action == "stop":
        print("build server stopped")
    return code
