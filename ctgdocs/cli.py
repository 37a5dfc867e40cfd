"""The ``ctg`` command line: parse, call the library, turn exceptions into exit codes."""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from typing import NoReturn

from cryptography.utils import CryptographyDeprecationWarning

if not sys.warnoptions:
    # A deprecation inside a dependency (cryptography 51 deprecates DSA, which pyHanko
    # still imports) is for the maintainers to follow, not for the user's terminal; it
    # would also break a caller reading stderr. ``python -W`` shows it again.
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)

from signers import exceptions as sx  # noqa: E402  (after the filter: it imports pyHanko)

from . import exceptions as cx  # noqa: E402
from .exceptions import ExitCode, Interrupted  # noqa: E402

__all__ = ["ExitCode", "build_parser", "exit_code_for", "main", "run"]

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    from .commands import COMMANDS

    parser = argparse.ArgumentParser(
        prog="ctg",
        description="Conventions territoriales globales: build the convention package, "
        "collect its signatures (a signing circuit and its portal), verify it, archive it.",
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
        with _interruptible():
            return int(args.run(args))
    except KeyboardInterrupt:
        print("ctg: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except (cx.CtgError, sx.SignersError) as exc:
        if args.verbose:
            log.exception("failed")
        _print_error(exc)
        return exit_code_for(exc)
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


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C and SIGTERM stop a command the same way: :class:`Interrupted` is raised
    in the main thread, so every ``finally`` runs (LibreOffice stopped with what it
    started, temporary files removed, nothing half-written) and ``ctg`` exits 130. A
    second signal while the command stops is ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        if not stopping:
            stopping.append(signum)
            raise Interrupted(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code an exception escaping a command ends ``ctg`` with: the one its
    class carries (``exit_code``), else :attr:`ExitCode.INTERNAL_ERROR`."""
    try:
        return ExitCode(getattr(exc, "exit_code", ExitCode.INTERNAL_ERROR))
    except ValueError:
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
