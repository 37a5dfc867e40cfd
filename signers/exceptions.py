"""Exceptions raised by the signers package, one subclass per cause."""

from __future__ import annotations


class SignersError(Exception):
    """Base class: every message says what happened, where, and what to do next."""


class CredentialsError(SignersError):
    """Credentials cannot be used: wrong passphrase or PIN, missing key, locked token."""


class SigningRefused(SignersError):
    """Signing was refused before anything was written (unknown signatory, field already
    signed, tampered package, unsuitable certificate, wrong person)."""


class SigningError(SignersError):
    """Signing failed while producing the signature (timestamp service down, I/O…)."""


class VerificationError(SignersError):
    """The document cannot be verified at all (not a PDF, unreadable structure)."""


class FieldError(SignersError):
    """Signature fields cannot be created as requested (bad page, overlapping names…)."""


class MissingDependencyError(SignersError):
    """An external program is missing; the message carries the install command."""
