"""The ``ctg`` command line: parse, call the library, turn exceptions into exit codes."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence
from enum import IntEnum
from typing import NoReturn

from signers import exceptions as sx

from . import exceptions as cx

log = logging.getLogger(__name__)


class ExitCode(IntEnum):
    """Exit codes of ``ctg`` (documented in the README)."""

    OK = 0
    INTERNAL_ERROR = 1
    USAGE = 2
    DATA_ERROR = 3
    TEMPLATE_ERROR = 4
    CONVERSION_ERROR = 5
    MISSING_DEPENDENCY = 6
    BUILD_ERROR = 7
    CREDENTIALS_ERROR = 8
    SIGNING_REFUSED = 9
    SIGNING_ERROR = 10
    VERIFICATION_FAILED = 11
    INCOMPLETE = 12
    IO_ERROR = 13
    INTERRUPTED = 130


_EXIT_FOR: list[tuple[type[BaseException], ExitCode]] = [
    (cx.DataError, ExitCode.DATA_ERROR),
    (cx.TemplateError, ExitCode.TEMPLATE_ERROR),
    (cx.ConversionError, ExitCode.CONVERSION_ERROR),
    (cx.MissingDependencyError, ExitCode.MISSING_DEPENDENCY),
    (sx.MissingDependencyError, ExitCode.MISSING_DEPENDENCY),
    (cx.BuildError, ExitCode.BUILD_ERROR),
    (sx.FieldError, ExitCode.BUILD_ERROR),
    (sx.CredentialsError, ExitCode.CREDENTIALS_ERROR),
    (sx.SigningRefused, ExitCode.SIGNING_REFUSED),
    (sx.SigningError, ExitCode.SIGNING_ERROR),
    (sx.VerificationError, ExitCode.VERIFICATION_FAILED),
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    from .commands import COMMANDS

    parser = argparse.ArgumentParser(
        prog="ctg",
        description="Conventions territoriales globales: build the convention package, "
        "sign it, verify it.",
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log progress details and show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ctg`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr,
                        force=True)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("ctg: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except (cx.CtgError, sx.SignersError) as exc:
        if args.verbose:
            log.exception("failed")
        _print_error(exc)
        return _exit_code_for(exc)
    except OSError as exc:
        if args.verbose:
            log.exception("failed")
        print(f"ctg: error: {exc.filename or ''}: {exc.strerror or exc}; check the path, "
              "its permissions and the free disk space", file=sys.stderr)
        return ExitCode.IO_ERROR


def run() -> NoReturn:
    """The ``ctg`` program: :func:`main`, then exit.

    Before exiting, every object is moved out of the cyclic garbage collector's reach
    (``gc.freeze``): the interpreter's final collection would otherwise walk the million
    objects that pyHanko, pypdf and pydantic leave, about 0.15 s for nothing. Every output
    is complete and closed by then."""
    code = main()
    gc.freeze()
    sys.exit(code)


def _exit_code_for(exc: BaseException) -> ExitCode:
    for cls, code in _EXIT_FOR:
        if isinstance(exc, cls):
            return code
    return ExitCode.INTERNAL_ERROR


def _print_error(exc: BaseException) -> None:
    problems = getattr(exc, "problems", None)
    if isinstance(exc, cx.DataError) and problems and problems != [str(exc)]:
        print(f"ctg: error: {exc}", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
    else:
        print(f"ctg: error: {exc}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    run()
