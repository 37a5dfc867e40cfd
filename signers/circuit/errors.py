"""Typed refusals of the signing circuit engine, each carrying a stable error code.

The codes are part of the API contract (``{"code": ..., "message": ..., "details": ...}``):
a face (the HTTP API, the command line) maps each code to a message in its own language
and each class to an HTTP status. The engine never words messages for end users; its
``detail`` says what it found, in English, for logs and maintainers."""

from __future__ import annotations

from typing import Any

from ..exceptions import SignersError

__all__ = ["Busy", "CircuitRefusal", "Conflict", "Gone", "NotFound", "Refused",
           "ServiceUnavailable", "StoreError", "TooLarge", "UnsupportedMedia"]


class CircuitRefusal(SignersError):
    """The circuit refused an action. ``code`` is the stable API error code."""

    exit_code: int = 14  # CIRCUIT_REFUSED
    status: int = 400
    """HTTP status of the refusal."""

    def __init__(self, code: str, detail: str = "", **details: Any) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        """Stable error code, e.g. ``head-moved``."""
        self.detail = detail
        """What was found (English, for logs)."""
        self.details = details
        """JSON-able facts for the client (e.g. the current head)."""


class NotFound(CircuitRefusal):
    """Unknown or dead token, unknown circuit or session (one answer for all)."""

    status = 404


class Conflict(CircuitRefusal):
    """The action conflicts with the circuit's state: ``head-moved``,
    ``already-signed``, ``not-your-turn``, ``circuit-closed``."""

    status = 409


class Busy(Conflict):
    """Another signing session holds the head; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int, detail: str = "") -> None:
        super().__init__("busy", detail, retry_after=retry_after)
        self.retry_after = retry_after


class Gone(CircuitRefusal):
    """The signing session's lease expired (``lease-expired``)."""

    status = 410


class TooLarge(CircuitRefusal):
    """The upload exceeds a size limit (``too-large``)."""

    status = 413


class UnsupportedMedia(CircuitRefusal):
    """The upload is not a PDF (``not-pdf``)."""

    status = 415


class Refused(CircuitRefusal):
    """The acceptance check refused the revision (``no-new-signature``,
    ``wrong-field``, ``signer-mismatch``, ``forbidden-change``…)."""

    status = 422


class ServiceUnavailable(CircuitRefusal):
    """A service the circuit needs is unreachable (timestamp authority…)."""

    exit_code = 15  # SERVICE_UNAVAILABLE
    status = 503


class StoreError(SignersError):
    """The circuit store cannot be used (unreachable database, damaged content,
    unsafe secret file)."""

    exit_code: int = 15  # SERVICE_UNAVAILABLE
