"""``ctg check``, ``ctg build`` and ``ctg check-templates``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..exceptions import ExitCode
from ..paths import TEMPLATES_DIR
from ..pipeline.checks import check_converter_url, check_jobs, check_timeout


def register(sub: Any) -> None:
    """Add the generation subcommands to ``sub``."""
    p = sub.add_parser("check", help="validate convention data; writes nothing",
                       description="Validate a convention YAML file and report every "
                       "problem at once (file:line:col field: message). Writes nothing.")
    p.add_argument("data", type=Path, help="convention YAML file")
    p.set_defaults(run=run_check)

    p = sub.add_parser(
        "build", help="build the convention package (PDF/A with signature fields)",
        description="Render the convention and one annex per commune, convert them to "
        "PDF/A with LibreOffice, merge them and add one empty signature field per "
        "signatory. Unchanged parts are reused. With --watch, ctg stays in the foreground "
        "and builds again each time DATA or a template is saved, LibreOffice kept warm in "
        "between; Ctrl-C (or SIGTERM) stops it, exit code 130. No process started by "
        "ctg build keeps running after it returns.")
    p.add_argument("data", type=Path, help="convention YAML file")
    p.add_argument("-o", "--output", type=Path, default=Path("output"), metavar="DIR",
                   help="output root; the package goes to DIR/<convention-id>/ "
                   "(default: output)")
    p.add_argument("-j", "--jobs", type=_checked(int, check_jobs,
                                                 "a number of workers (1 or more)"),
                   default=None, metavar="N",
                   help="parallel LibreOffice workers (default: one per CPU)")
    p.add_argument("--converter", type=_converter_url, default=None, metavar="URL",
                   help="use a running unoserver, e.g. unoserver://127.0.0.1:2003 "
                   "(default: local LibreOffice)")
    p.add_argument("--timeout", type=_checked(float, check_timeout,
                                              "a number of seconds above 0"),
                   default=120.0, metavar="S",
                   help="kill a conversion that takes longer than S seconds (default: 120)")
    p.add_argument("--templates", type=Path, default=None, metavar="DIR",
                   help="folder with convention.docx and annexe-commune.docx "
                   "(default: the shipped templates)")
    p.add_argument("--force", action="store_true",
                   help="convert every part again (with --watch: the first build only)")
    p.add_argument("--seal-field", action="store_true",
                   help="also add an invisible field 'cachet-caf' so that the Caf can seal "
                   "(certify) the package before the signatories sign (ctg seal)")
    p.add_argument("--watch", action="store_true",
                   help="stay in the foreground: build now, then again each time DATA or a "
                   "template is saved (an error is printed and the watch goes on); "
                   "LibreOffice is started once and kept warm; Ctrl-C stops")
    p.add_argument("--debounce", type=_checked(float, _debounce,
                                               "a number of seconds from 0 to 60"),
                   default=None, metavar="S",
                   help="with --watch: seconds the files must stay unchanged after a save "
                   "before the build starts, so that a burst of saves gives one build "
                   "(default: 0.1)")
    p.set_defaults(run=run_build)

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
    """``ctg build DATA [--watch]``."""
    from ..build import BuildOptions

    if args.debounce is not None and not args.watch:
        print("ctg: error: --debounce goes with --watch", file=sys.stderr)
        return ExitCode.USAGE
    options = BuildOptions(output_root=args.output, templates=args.templates or TEMPLATES_DIR,
                           jobs=args.jobs, converter=args.converter, timeout=args.timeout,
                           force=args.force, seal_field=args.seal_field)
    if args.watch:
        return _watch(args.data, options, args.debounce)
    from ..build import build_package

    with _progress_bar() as tick:
        result = build_package(args.data, options, progress=tick)
    _print_result(result)
    return ExitCode.OK


def _watch(data: Path, options: Any, debounce: float | None) -> int:
    """``ctg build --watch``: until interrupted (KeyboardInterrupt: exit 130)."""
    from ..pipeline.watch import QUIET, watch

    print(f"ctg: watching {data} and the templates in {options.templates}; Ctrl-C stops",
          file=sys.stderr, flush=True)
    watch(data, options, _print_result, _print_error,
          quiet=QUIET if debounce is None else debounce)
    return ExitCode.OK


def _print_result(result: Any) -> None:
    state = "up to date" if result.up_to_date else f"{result.converted} part(s) converted"
    print(f"{result.package}\n  {result.pages} pages, {len(result.parts)} parts ({state}), "
          f"{result.signatories} signature fields, {result.seconds:.1f} s", flush=True)


def _print_error(exc: Exception) -> None:
    """An error during ``--watch``, as ``ctg`` prints it when it ends a command."""
    if isinstance(exc, OSError):
        print(f"ctg: error: {exc.filename or ''}: {exc.strerror or exc}; check the path, "
              "its permissions and the free disk space", file=sys.stderr, flush=True)
        return
    print(f"ctg: error: {exc}", file=sys.stderr)
    problems = getattr(exc, "problems", None)
    if problems and problems != [str(exc)]:
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
    sys.stderr.flush()


def run_check_templates(args: argparse.Namespace) -> int:
    """``ctg check-templates [DIR]``."""
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


def _checked(kind: Callable[[str], Any], check: Callable[[Any], Any], what: str
             ) -> Callable[[str], Any]:
    """An argparse type: ``check(kind(text))``; a ValueError is a usage error (exit 2)
    saying that ``text`` is not ``what``."""
    def parse(text: str) -> Any:
        try:
            return check(kind(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None

    parse.__name__ = kind.__name__
    return parse


def _debounce(seconds: float) -> float:
    if not 0 <= seconds <= 60:
        raise ValueError(seconds)
    return seconds


def _converter_url(text: str) -> str:
    try:
        return check_converter_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("converter: ")) from None


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
