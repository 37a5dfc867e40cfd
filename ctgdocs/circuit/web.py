"""Web plumbing of the circuit service: security headers, the token-free request log,
rate limits of failures, CSRF tokens and the Jinja2 environment for the pages."""

from __future__ import annotations

import collections
import hashlib
import hmac
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RateLimiter", "RequestLog", "SecurityHeaders", "csrf_token", "csrf_valid",
           "redact", "templates_env"]

log = logging.getLogger("ctgdocs.circuit.access")

_SECRET_SEGMENT = re.compile(r"/(s|c|invitations|signing-sessions)/[^/?#]+")
_LONG_SEGMENT = re.compile(r"/[A-Za-z0-9_\-]{20,}")
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"cache-control", b"no-store"),
)


def redact(path: str) -> str:
    """``path`` without tokens or session ids (and without its query string)."""
    path = path.split("?", 1)[0]
    path = _SECRET_SEGMENT.sub(lambda m: f"/{m.group(1)}/…", path)
    return _LONG_SEGMENT.sub("/…", path)


class SecurityHeaders:
    """Adds the security headers to every response (pages included): no sniffing, no
    referrer (links carry tokens), no framing, same-origin resources only, no caching."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


class RequestLog:
    """One line per request — address, method, path with its secrets removed, status,
    duration — instead of uvicorn's access log, whose paths carry tokens."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            client = scope.get("client") or ("-", 0)
            log.info('%s "%s %s" %d %.3fs', client[0], scope["method"],
                     redact(scope.get("path", "")), status[0],
                     time.perf_counter() - started)


class RateLimiter:
    """Counts failures per key (client address, token hash) in a sliding window; a key
    with too many is refused (429) until old failures leave the window. In memory: each
    server instance limits on its own."""

    def __init__(self, failures: int, window: float) -> None:
        self.failures = failures
        self.window = window
        self._seen: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> int | None:
        """Seconds to wait when one of ``keys`` is over the limit, else ``None``."""
        now = time.monotonic()
        with self._lock:
            worst = None
            for key in keys:
                times = self._prune(key, now)
                if times is not None and len(times) >= self.failures:
                    wait = int(times[0] + self.window - now) + 1
                    worst = max(worst or 0, wait)
            return worst

    def failed(self, *keys: str) -> None:
        """Record a failure for each of ``keys``."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._seen.setdefault(key, collections.deque()).append(now)
            if len(self._seen) > 100_000:  # bound memory under a flood of addresses
                for key in list(self._seen)[:50_000]:
                    del self._seen[key]

    def _prune(self, key: str, now: float) -> collections.deque[float] | None:
        times = self._seen.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._seen[key]
            return None
        return times


def token_key(token: str) -> str:
    """Rate-limit key of a token (its hash: no token is kept in memory either)."""
    return "token:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def csrf_token(secret: bytes, token: str, purpose: str = "form") -> str:
    """A CSRF token for the pages of ``token`` (HMAC of the link's token under the
    server secret): a form POST carries it, a cross-site page cannot compute it."""
    return hmac.new(secret, f"csrf\x00{purpose}\x00{token}".encode(), hashlib.sha256
                    ).hexdigest()


def csrf_valid(secret: bytes, token: str, presented: str | None,
               purpose: str = "form") -> bool:
    """Whether ``presented`` is the CSRF token of ``token`` (constant time)."""
    return presented is not None and hmac.compare_digest(
        csrf_token(secret, token, purpose), presented)


def templates_env() -> Any:
    """The Jinja2 environment of the pages (``ctgdocs/circuit/templates``), HTML
    autoescaped, with the French date filters."""
    import jinja2

    from ..render import french_date, french_datetime

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=jinja2.select_autoescape(("html", "xml")), undefined=jinja2.StrictUndefined)
    env.filters["date_fr"] = french_date
    env.filters["datetime_fr"] = french_datetime
    return env
