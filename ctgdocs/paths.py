"""Where the templates are, what they are called, and where caches go (importing this
costs nothing)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
"""The templates shipped with ctgdocs."""
MAIN_TEMPLATE = "convention.docx"
"""File name of the main convention template, inside the templates folder."""
ANNEX_TEMPLATE = "annexe-commune.docx"
"""File name of the per-commune annex template, inside the templates folder."""


def switched_off(variable: str) -> bool:
    """The environment variable ``variable`` says ``off`` (or ``0``, ``no``, ``false``)."""
    return os.environ.get(variable, "on").strip().lower() in ("off", "0", "no", "false")


def cache_dir() -> Path:
    """``$CTGDOCS_CACHE``, else ``$XDG_CACHE_HOME/ctgdocs``, else ``~/.cache/ctgdocs``."""
    configured = os.environ.get("CTGDOCS_CACHE")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ctgdocs"


def private_cache(name: str) -> Path | None:
    """``cache_dir()/name``, created with mode 0700; ``None`` (with a warning) when it
    cannot be created or is not a folder only this user can read and write: what is
    cached there is trusted like code."""
    folder = cache_dir() / name
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        private = is_private(folder)
    except OSError as exc:
        log.warning("cannot use the cache folder %s (%s)", folder, exc.strerror or exc)
        return None
    if not private:
        log.warning("%s is not a folder private to this user: it is not used", folder)
        return None
    return folder


def is_private(folder: Path) -> bool:
    """``folder`` is a folder (not a link) that this user owns and nobody else may read,
    write or enter. Raises :class:`OSError` when it cannot be examined."""
    info = folder.lstat()
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
            and not info.st_mode & 0o077)
