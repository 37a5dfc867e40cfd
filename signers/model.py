"""The vocabulary of the signers package: field specifications and expected signers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dc_field

DEFAULT_SERVICES_URL = "http://127.0.0.1:8765"
"""Where the demonstration TSA/OCSP/CRL services listen unless told otherwise."""

_FIELD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class FieldSpec:
    """An empty signature field to create."""

    name: str
    """Field name: the stable signatory id, e.g. ``maire-gignac`` (no dots)."""
    page: int
    """Zero-based page index."""
    box: tuple[float, float, float, float]
    """Rectangle (x1, y1, x2, y2) in PDF points, origin bottom-left; all zero for an
    invisible field."""
    label: str = ""
    """Human label stored as the field's alternate name (/TU), e.g. "Le Maire de Gignac"."""

    def __post_init__(self) -> None:
        if not _FIELD_NAME.match(self.name):
            raise ValueError(f"invalid signature field name {self.name!r}: use letters, "
                             "digits, '-' or '_' (no dots, at most 64 characters)")


@dataclass(frozen=True)
class ExpectedSigner:
    """Who may sign a given field."""

    field: str
    """Name of the signature field."""
    label: str
    """Capacity line, e.g. "Le Maire de Gignac" (printed in the stamp and reports)."""
    names: tuple[str, ...] = ()
    """Accepted certificate holder names (compared case- and accent-insensitively)."""
    emails: tuple[str, ...] = ()
    """Accepted e-mail addresses (compared case-insensitively)."""
    fingerprints: tuple[str, ...] = ()
    """Pinned SHA-256 certificate fingerprints (hex, any case, colons allowed)."""
    extra: dict[str, str] = dc_field(default_factory=dict, compare=False, hash=False)
    """Free-form details for reports (organisation…)."""


@dataclass(frozen=True)
class StampWording:
    """The words of a visible signature stamp, in the caller's language.

    The stamp reads ``signed`` (or ``sealed``), then the capacity line, then ``when``."""

    signed: str = "Signed electronically by {name}"
    """First line of a person's stamp; ``{name}`` is the certificate holder's name."""
    sealed: str = "Sealed electronically by {name}"
    """First line of an organisation seal's stamp."""
    when: str = "on {time:%Y-%m-%d} at {time:%H:%M} ({time:%Z})"
    """The date line; ``{time}`` is the signing time in :attr:`timezone`."""
    timezone: str = "UTC"
    """IANA time zone in which the signing time is shown, e.g. ``Europe/Paris``."""
