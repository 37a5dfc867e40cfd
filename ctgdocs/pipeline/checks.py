"""Checks of the values a build is given (importing this costs nothing: the command line
checks its arguments with them before anything is loaded)."""

from __future__ import annotations

import math

UNOSERVER_PORT = 2003
"""unoserver's default port."""


def check_jobs(value: int) -> int:
    """``value`` if it is a whole number of workers, at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"jobs: {value!r} is not a number of workers (1 or more)")
    return value


def check_timeout(value: float) -> float:
    """``value`` as seconds if positive and finite."""
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"timeout: {value!r} is not a number of seconds above 0")
    return float(value)


def check_converter_url(url: str) -> str:
    """``url`` if it names a unoserver: ``unoserver://host[:port]``."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "unoserver" or not parts.hostname or parts.path not in ("", "/") \
            or port == -1:
        raise ValueError(f"converter: {url!r} is not a unoserver URL; use "
                         f"unoserver://HOST:PORT (e.g. unoserver://127.0.0.1:{UNOSERVER_PORT})"
                         ", or none for local LibreOffice")
    return url
