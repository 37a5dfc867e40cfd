"""Conversion stage: Word documents to PDF/A-2b with LibreOffice (local or unoserver).

Fastest use: start the workers first, then hand ``convert`` a generator that renders
each document (biggest first) and yields its job, so rendering and conversion overlap::

    with make_converter() as converter:       # workers start now, in the background
        converter.convert(render_each(parts), progress=bar_update)

A plain list works too (it is converted biggest document first). Without ``with`` (or
``start()``), ``convert`` starts the workers itself and stops them before returning.
"""

from __future__ import annotations

import logging
import os
from importlib.util import find_spec
from urllib.parse import urlsplit

from ctgdocs.convert.base import ConversionJob, Converter
from ctgdocs.convert.office import INSTALL_HINT, libreoffice_version
from ctgdocs.exceptions import ConversionError

log = logging.getLogger(__name__)

__all__ = [
    "ConversionJob",
    "Converter",
    "INSTALL_HINT",
    "libreoffice_version",
    "make_converter",
]


def _local_converter(jobs: int | None, timeout: float, mode: str | None) -> Converter:
    """UNO-driven workers; ``soffice --convert-to`` batches when ``mode`` (default:
    ``CTGDOCS_CONVERT_MODE``) is ``cli`` or ``uno`` is missing."""
    from ctgdocs.convert.cli_batch import CliConverter

    if (mode or os.environ.get("CTGDOCS_CONVERT_MODE", "uno")) == "cli":
        return CliConverter(workers=jobs, timeout=timeout)
    if find_spec("uno") is None:  # Python without Debian's python3-uno
        log.info("no uno module: converting with soffice --convert-to")
        return CliConverter(workers=jobs, timeout=timeout)
    from ctgdocs.convert.local import LocalConverter

    return LocalConverter(workers=jobs, timeout=timeout)


def make_converter(url: str | None = None, *, jobs: int | None = None,
                   timeout: float = 120.0, mode: str | None = None) -> Converter:
    """A converter: local LibreOffice workers (``url=None``; ``jobs`` workers, default
    one per CPU) or the unoserver at ``url="unoserver://host:port"`` (``jobs``
    parallel requests). ``timeout`` bounds the start-up and each document, in seconds.
    ``mode`` chooses how local LibreOffice is driven: ``"uno"`` (warm workers) or
    ``"cli"`` (``soffice --convert-to``); default: ``CTGDOCS_CONVERT_MODE``, else uno.

    Raises :class:`~ctgdocs.exceptions.MissingDependencyError` when local LibreOffice
    is missing, :class:`~ctgdocs.exceptions.ConversionError` for a bad ``url``."""
    if url is None:
        return _local_converter(jobs, timeout, mode)
    from ctgdocs.convert.remote import DEFAULT_PORT, UnoserverConverter

    parts = urlsplit(url)
    if parts.scheme != "unoserver" or not parts.hostname or parts.path not in ("", "/"):
        raise ConversionError(
            f"unsupported converter URL {url!r}: use unoserver://HOST:PORT "
            "(e.g. unoserver://127.0.0.1:2003), or no URL for local LibreOffice.")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as e:
        raise ConversionError(f"converter URL {url!r} has an invalid port.") from e
    return UnoserverConverter(parts.hostname, port, jobs=jobs, timeout=timeout)
