"""Exceptions raised by the ctgdocs domain package, and the exit codes of ``ctg``.

Each exception class carries the exit code ``ctg`` ends with when it escapes a command
(``exit_code``, as OCRmyPDF's ``ExitCodeException``); the exceptions of the generic
``signers`` package carry theirs the same way (:mod:`signers.exceptions`), with the
values of :class:`ExitCode`. The CLI turns an exception into its code in one place
(:func:`ctgdocs.cli.exit_code_for`).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of ``ctg`` (the README's table is this one)."""

    OK = 0
    """Success."""
    INTERNAL_ERROR = 1
    """Unexpected error (a bug: report it with ``ctg -v …``)."""
    USAGE = 2
    """Bad command-line arguments."""
    DATA_ERROR = 3
    """The convention data is invalid (every problem listed as file:line:col)."""
    TEMPLATE_ERROR = 4
    """A Word template is missing, malformed or uses an undeclared variable."""
    CONVERSION_ERROR = 5
    """LibreOffice or unoserver failed, hung or produced no PDF."""
    MISSING_DEPENDENCY = 6
    """An external program is missing (the message gives the install command)."""
    BUILD_ERROR = 7
    """Assembling the package or placing the signature fields failed."""
    CREDENTIALS_ERROR = 8
    """Wrong passphrase or PIN, missing key, locked token."""
    SIGNING_REFUSED = 9
    """Signing refused before anything was written (damaged or tampered document,
    unsuitable certificate, wrong person, field already signed)."""
    SIGNING_ERROR = 10
    """Signing failed while producing the signature (e.g. timestamp service down)."""
    VERIFICATION_FAILED = 11
    """A signature present is not valid, or the file cannot be verified at all."""
    INCOMPLETE = 12
    """``--complete``: an expected signatory has not signed."""
    IO_ERROR = 13
    """A file could not be read or written (path, permissions, disk space)."""
    CIRCUIT_REFUSED = 14
    """The signing circuit refused the action (unknown circuit or signatory, circuit
    closed, not this signatory's turn, upload refused by the acceptance check)."""
    SERVICE_UNAVAILABLE = 15
    """The circuit server, its store or another network service cannot be reached."""
    ARCHIVE_REFUSED = 16
    """``ctg archive`` refused the package (does not verify, or incomplete)."""
    ARCHIVE_INVALID = 17
    """``ctg archive verify``: the evidence bundle does not hold."""
    RENEWAL_NEEDED = 18
    """``ctg archive verify``: everything holds but the last document timestamp needs
    renewing (``ctg archive renew``)."""
    INTERRUPTED = 130
    """Interrupted (Ctrl-C or SIGTERM)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or ``kill`` (SIGTERM) stopped the command: ``ctg`` exits 130
    once every ``finally`` has run.

    A subclass rather than :class:`KeyboardInterrupt` itself: CPython (3.11) remembers an
    exact ``KeyboardInterrupt`` that leaves code run by ``exec`` of a string (dataclasses,
    typing-inspection and others do that while importing) and, at exit, kills its own
    process with SIGINT even though the interrupt was caught, so the status would be
    "killed by SIGINT" instead of 130 whenever the signal landed in such code."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class CtgError(Exception):
    """Base class: every message says what happened, where, and what to do next."""

    exit_code: ExitCode = ExitCode.INTERNAL_ERROR


class DataError(CtgError):
    """The convention data is invalid (YAML syntax, schema or cross-field rule).

    ``problems`` holds every problem found, each already formatted as
    ``file:line:col field.path: message``.
    """

    exit_code = ExitCode.DATA_ERROR

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class TemplateError(CtgError):
    """A Word template is missing, malformed, or uses an undeclared variable."""

    exit_code = ExitCode.TEMPLATE_ERROR


class ConversionError(CtgError):
    """LibreOffice (or a unoserver) failed, hung, or produced no PDF for a document."""

    exit_code = ExitCode.CONVERSION_ERROR

    def __init__(self, message: str, job: str | None = None) -> None:
        super().__init__(message)
        self.job = job
        """Name of the document that failed, when one did."""


class MissingDependencyError(CtgError):
    """An external program is missing; the message carries the install command."""

    exit_code = ExitCode.MISSING_DEPENDENCY


class BuildError(CtgError):
    """Assembling the package or placing the signature fields failed."""

    exit_code = ExitCode.BUILD_ERROR


class InputError(CtgError):
    """A file given on the command line cannot be read (missing, a directory, no
    permission)."""

    exit_code = ExitCode.IO_ERROR


class CircuitError(CtgError):
    """The signing circuit refused an action (unknown circuit or signatory, circuit
    closed, not this signatory's turn, an upload refused by the acceptance check)."""

    exit_code = ExitCode.CIRCUIT_REFUSED

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        """The API's error code (``head-moved``, ``wrong-field``…), when there is one."""


class ServiceError(CtgError):
    """The circuit server, its store or another network service cannot be reached."""

    exit_code = ExitCode.SERVICE_UNAVAILABLE


class ArchiveError(CtgError):
    """``ctg archive`` refused the package: it does not verify, or is incomplete."""

    exit_code = ExitCode.ARCHIVE_REFUSED


class ArchiveInvalid(CtgError):
    """An evidence bundle does not hold (a digest, a signature, the journal…)."""

    exit_code = ExitCode.ARCHIVE_INVALID
