"""Exceptions raised by the signers package, one subclass per cause.

Each class carries the process exit code a command-line face should end with
(``exit_code``); the values are those of ``ctg``'s table (``ctgdocs.exceptions.ExitCode``,
documented in the README), and a test keeps the two in step.
"""

from __future__ import annotations


class SignersError(Exception):
    """Base class: every message says what happened, where, and what to do next."""

    exit_code: int = 1  # INTERNAL_ERROR


class CredentialsError(SignersError):
    """Credentials cannot be used: wrong passphrase or PIN, missing key, locked token."""

    exit_code: int = 8  # CREDENTIALS_ERROR


class SigningRefused(SignersError):
    """Signing was refused before anything was written (unknown signatory, field already
    signed, tampered package, unsuitable certificate, wrong person)."""

    exit_code: int = 9  # SIGNING_REFUSED


class SigningError(SignersError):
    """Signing failed while producing the signature (timestamp service down, I/O…)."""

    exit_code: int = 10  # SIGNING_ERROR


class VerificationError(SignersError):
    """The document cannot be verified at all (not a PDF, unreadable structure)."""

    exit_code: int = 11  # VERIFICATION_FAILED


class FileAccessError(SignersError):
    """A file cannot be read or written: missing, a directory, no permission."""

    exit_code: int = 13  # IO_ERROR


class FieldError(SignersError):
    """Signature fields cannot be created as requested (bad page, overlapping names…)."""

    exit_code: int = 7  # BUILD_ERROR


class MissingDependencyError(SignersError):
    """An external program is missing; the message carries the install command."""

    exit_code: int = 6  # MISSING_DEPENDENCY
