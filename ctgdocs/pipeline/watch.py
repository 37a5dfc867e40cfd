"""Build again each time the data or a template is saved (``ctg build --watch``), with
LibreOffice started once and kept warm in between.

The files are watched by looking at them (``os.stat``) every :data:`POLL` seconds: three
files cost nothing to look at, an editor's save by rename (a new file under the old
name) is seen like a save in place, and it works on network shares, where inotify sees
nothing of what other machines write. A build starts once the files have stayed as they
are for ``quiet`` seconds, so that a burst of saves gives one build."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..build import build_package
from ..exceptions import CtgError
from ..paths import ANNEX_TEMPLATE, MAIN_TEMPLATE
from .options import BuildOptions, BuildResult

log = logging.getLogger(__name__)

POLL = 0.05
"""Seconds between two looks at the watched files."""
QUIET = 0.1
"""Seconds the files must stay unchanged after a save before the build starts."""

FileState = tuple[int, int, int, int, int] | None
"""Device, inode, size, modification and change times of a file (``None`` if missing)."""


def watched_files(data: Path, options: BuildOptions) -> tuple[Path, ...]:
    """The files a build of ``data`` reads: the data and the two templates."""
    return (data, options.templates / MAIN_TEMPLATE, options.templates / ANNEX_TEMPLATE)


def file_states(paths: Sequence[Path]) -> tuple[FileState, ...]:
    """What :func:`os.stat` says of each of ``paths`` (a new inode, size or time is a
    save)."""
    states: list[FileState] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            states.append(None)
            continue
        states.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(states)


def wait_for_change(paths: Sequence[Path], since: tuple[FileState, ...], stop: threading.Event,
                    quiet: float = QUIET, poll: float = POLL) -> tuple[FileState, ...] | None:
    """Wait until ``paths`` are no longer as in ``since`` and have then stayed unchanged
    for ``quiet`` seconds; their state then, or ``None`` once ``stop`` is set."""
    current = since
    while current == since:
        if stop.wait(poll):
            return None
        current = file_states(paths)
    log.debug("saved: %s; building once unchanged for %g s", ", ".join(
        str(p) for p, old, new in zip(paths, since, current, strict=True) if old != new), quiet)
    settled = time.monotonic()
    while time.monotonic() - settled < quiet:
        if stop.wait(poll):
            return None
        latest = file_states(paths)
        if latest != current:
            current, settled = latest, time.monotonic()
    return current


def watch(data: Path, options: BuildOptions, on_result: Callable[[BuildResult], None],
          on_error: Callable[[Exception], None], *, stop: threading.Event | None = None,
          quiet: float = QUIET, poll: float = POLL) -> None:
    """Build ``data`` now, then again each time it or a template is saved, until ``stop``
    is set (or the caller is interrupted: Ctrl-C). Each result goes to ``on_result``;
    an error of the data, a template, LibreOffice or a file goes to ``on_error`` and the
    watch goes on. LibreOffice is started once (the converter ``options`` choose) and
    stopped when the watch ends, however it ends. ``options.force`` applies to the first
    build only.

    Raises :class:`~ctgdocs.exceptions.MissingDependencyError` at once when LibreOffice
    is missing."""
    from signers.exceptions import SignersError

    from ..convert import make_converter

    stop = stop or threading.Event()
    paths = watched_files(data, options)
    with make_converter(options.converter, jobs=options.jobs, timeout=options.timeout,
                        mode=options.convert_mode) as converter:
        state: tuple[FileState, ...] | None = file_states(paths)
        while state is not None:
            try:
                result = build_package(data, options, converter=converter)
            except (CtgError, SignersError, OSError) as exc:
                on_error(exc)
            else:
                on_result(result)
            options = dataclasses.replace(options, force=False)
            for reason in converter.restart_failed():
                log.warning("a LibreOffice worker failed to start, another one is "
                            "starting: %s", reason)
            state = wait_for_change(paths, state, stop, quiet, poll)
