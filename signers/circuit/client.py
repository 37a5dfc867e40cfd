"""The signing agent's side of the API: read an invitation, open a remote signing
session (waiting while another signatory holds the document), send the signature."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from .errors import (
    Busy,
    CircuitRefusal,
    Conflict,
    Gone,
    NotFound,
    Refused,
    ServiceUnavailable,
    TooLarge,
    UnsupportedMedia,
)

__all__ = ["CircuitClient", "parse_link"]

log = logging.getLogger(__name__)

_BY_STATUS: dict[int, type[CircuitRefusal]] = {404: NotFound, 409: Conflict, 410: Gone,
                                                413: TooLarge, 415: UnsupportedMedia,
                                                422: Refused, 429: Refused}


def parse_link(link: str) -> tuple[str, str]:
    """(base URL, token) of a signatory's link: ``…/s/<token>`` (the e-mail's) or
    ``…/api/v1/invitations/<token>``."""
    parts = urllib.parse.urlsplit(link.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Refused("bad-request", f"{link!r} is not an http(s) link")
    segments = [s for s in parts.path.split("/") if s]
    for marker, prefix_len in (("s", 0), ("invitations", 2)):
        if marker in segments:
            i = segments.index(marker)
            if i + 1 < len(segments):
                base_path = "/".join(segments[:i - prefix_len])
                base = f"{parts.scheme}://{parts.netloc}" + (f"/{base_path}" if base_path
                                                               else "")
                return base, segments[i + 1]
    raise Refused("bad-request", f"{link!r} is not a signing link (…/s/<jeton>)")


@dataclass
class CircuitClient:
    """HTTP client of one invitation."""

    base_url: str
    """Service base URL."""
    token: str
    """The invitation's token."""
    timeout: float = 60.0
    """Seconds per request (a session request may wait for another's lease)."""

    def __post_init__(self) -> None:
        self._http = httpx.Client(base_url=self.base_url, timeout=self.timeout)

    @classmethod
    def from_link(cls, link: str, timeout: float = 60.0) -> CircuitClient:
        """The client of a signatory's link."""
        base, token = parse_link(link)
        return cls(base, token, timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> CircuitClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"/api/v1/invitations/{self.token}{path}"
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("unavailable", f"{self.base_url}: {exc}") from exc
        if response.status_code < 300:
            return response.json() if "json" in response.headers.get("content-type", "") \
                else response.content
        raise _refusal(response)

    def invitation(self) -> dict[str, Any]:
        """What the link asks to sign."""
        return self._request("GET", "")  # type: ignore[no-any-return]

    def document(self) -> bytes:
        """The current document."""
        return self._request("GET", "/document")  # type: ignore[no-any-return]

    def upload(self, pdf: bytes, if_match: str | None = None) -> dict[str, Any]:
        """Upload a signed PDF."""
        headers = {"Content-Type": "application/pdf"}
        if if_match:
            headers["If-Match"] = f'"{if_match}"'
        return self._request("POST", "/document", content=pdf,  # type: ignore[no-any-return]
                             headers=headers)

    def open_session(self, certificates: list[bytes], deadline: float,
                     waiting: Callable[[int], None] | None = None) -> dict[str, Any]:
        """A signing session, retried while another signatory holds the document,
        until ``deadline`` (``time.monotonic()``)."""
        body = {"certificates": [base64.b64encode(c).decode() for c in certificates]}
        while True:
            try:
                return self._request("POST", "/signing-sessions",  # type: ignore[no-any-return]
                                     json=body)
            except Busy as exc:
                if time.monotonic() + min(exc.retry_after, 2) >= deadline:
                    raise
                if waiting is not None:
                    waiting(exc.retry_after)
                time.sleep(min(max(exc.retry_after, 0.5), 2,
                               max(0.0, deadline - time.monotonic())))

    def finish(self, session: str, signature: bytes) -> dict[str, Any]:
        """Send the signature value of ``session``."""
        return self._request(  # type: ignore[no-any-return]
            "POST", f"/signing-sessions/{session}",
            json={"signature": base64.b64encode(signature).decode()})

    def decline(self, reason: str) -> dict[str, Any]:
        """Refuse to sign."""
        return self._request("POST", "/decline", json={"reason": reason})  # type: ignore


def _refusal(response: httpx.Response) -> CircuitRefusal:
    try:
        body = response.json()
        code, message = str(body["code"]), str(body.get("message", ""))
        details = body.get("details") or {}
    except (ValueError, KeyError, TypeError):
        code, message, details = "unavailable", response.text[:200], {}
    if response.status_code == 409 and code == "busy":
        retry = int(response.headers.get("retry-after", details.get("retry_after", 1)) or 1)
        return Busy(retry, message)
    cls = _BY_STATUS.get(response.status_code, ServiceUnavailable)
    return cls(code, message, **{k: v for k, v in details.items() if k != "retry_after"})


def until(seconds: float) -> tuple[float, dt.datetime]:
    """(monotonic deadline, wall-clock time) ``seconds`` from now."""
    return time.monotonic() + seconds, dt.datetime.now().astimezone() + dt.timedelta(
        seconds=seconds)
