"""Exceptions raised by the ctgdocs domain package, one subclass per cause."""

from __future__ import annotations


class CtgError(Exception):
    """Base class: every message says what happened, where, and what to do next."""


class DataError(CtgError):
    """The convention data is invalid (YAML syntax, schema or cross-field rule).

    ``problems`` holds every problem found, each already formatted as
    ``file:line:col field.path: message``.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class TemplateError(CtgError):
    """A Word template is missing, malformed, or uses an undeclared variable."""


class ConversionError(CtgError):
    """LibreOffice (or a unoserver) failed, hung, or produced no PDF for a document."""

    def __init__(self, message: str, job: str | None = None) -> None:
        super().__init__(message)
        self.job = job
        """Name of the document that failed, when one did."""


class MissingDependencyError(CtgError):
    """An external program is missing; the message carries the install command."""


class BuildError(CtgError):
    """Assembling the package or placing the signature fields failed."""
