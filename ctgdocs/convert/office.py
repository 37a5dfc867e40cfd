"""The LibreOffice installation: where ``soffice`` is, its version, and worker profiles."""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ctgdocs.convert.base import WORD_IMPORT_FILTER
from ctgdocs.exceptions import MissingDependencyError
from ctgdocs.paths import cache_dir
from ctgdocs.runner import ProgramTimeout, run

log = logging.getLogger(__name__)

INSTALL_HINT = "sudo apt-get install libreoffice-writer-nogui"
MAX_PROFILE_SLOTS = 16

_XCU_HEADER = ('<?xml version="1.0" encoding="UTF-8"?>\n'
               '<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
               'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
               'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n')


def find_soffice() -> Path:
    """The ``soffice`` to run: ``$CTGDOCS_SOFFICE`` if set, else the first on ``PATH``."""
    configured = os.environ.get("CTGDOCS_SOFFICE")
    found = configured or shutil.which("soffice")
    if not found or not os.access(found, os.X_OK) or not Path(found).is_file():
        where = f"CTGDOCS_SOFFICE={configured} is not an executable file" if configured \
            else "no `soffice` program on PATH"
        raise MissingDependencyError(
            f"LibreOffice is needed to convert Word documents to PDF, but {where}. "
            f"Install it with: {INSTALL_HINT}")
    return Path(found)


def office_program(soffice: Path) -> Path:
    """``soffice.bin`` next to the real ``soffice`` script (skips the oosplash launcher and
    its javaldx call), or ``soffice`` itself when there is none (e.g. a stand-in)."""
    real = soffice.resolve()
    binary = real.with_name("soffice.bin")
    if real.name == "soffice" and os.access(binary, os.X_OK):
        return binary
    return soffice


@dataclass(frozen=True)
class ProductVersion:
    """Version numbers of an installation, read from its ``main.xcd``."""

    setup: str
    """Major.minor, e.g. ``"7.4"`` (what profiles remember as the last version run)."""
    full: str
    """The full version, e.g. ``"7.4.7.2"``."""


@functools.lru_cache(maxsize=8)
def product_version(program: Path) -> ProductVersion | None:
    """The version declared by the installation of ``program`` (no process started)."""
    xcd = program.resolve().parent.parent / "share" / "registry" / "main.xcd"
    try:
        data = xcd.read_bytes()
    except OSError:
        return None
    setup = _xcd_value(data, b"ooSetupVersion")
    if not setup:
        return None
    return ProductVersion(setup, _xcd_value(data, b"ooSetupVersionAboutBox") or setup)


def _xcd_value(data: bytes, name: bytes) -> str | None:
    """The first value of property ``name`` in a registry file (found with a plain byte
    search: main.xcd is 2 MB, a regular expression over all of it takes 5 ms)."""
    key = b'oor:name="' + name + b'">'  # a value, not the schema's declaration
    at = data.find(key)
    match = _XCD_VALUE.match(data, at + len(key)) if at >= 0 else None
    return match.group(1).decode("utf-8", "replace") if match else None


_XCD_VALUE = re.compile(rb"\s*<value>([^<]+)</value>")


@dataclass(frozen=True)
class Setting:
    """One configuration property that a worker profile sets (its user layer)."""

    path: str
    """The property's node, e.g. ``/org.openoffice.Setup/Product``."""
    name: str
    """The property, e.g. ``ooSetupLastVersion``."""
    value: str | tuple[str, ...]
    """A value, or the items of a list."""

    def item(self) -> str:
        """The ``<item>`` of ``registrymodifications.xcu`` that sets it, as LibreOffice
        itself writes it (so that the file it rewrites on exit reads the same)."""
        if isinstance(self.value, str):
            value = _escape(self.value)
        else:
            value = "".join(f"<it>{_escape(v)}</it>" for v in self.value)
        return (f'<item oor:path="{_escape(self.path)}"><prop oor:name="{_escape(self.name)}" '
                f'oor:op="fuse"><value>{value}</value></prop></item>\n')

    def pattern(self) -> re.Pattern[str]:
        """Matches an item setting this property, whatever its value."""
        return re.compile(f'<item oor:path="{re.escape(_escape(self.path))}">'
                          f'<prop oor:name="{re.escape(_escape(self.name))}"[^>]*>.*?</prop>'
                          "</item>\n?")


def _escape(text: str) -> str:
    """``text`` in an XML attribute between double quotes or in an element, escaped as
    LibreOffice writes it (xml.sax.saxutils would import urllib, ssl and http: 10 ms
    before the workers can start)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


@functools.lru_cache(maxsize=8)
def profile_settings(program: Path) -> tuple[Setting, ...]:
    """What every worker profile sets, read from the installation of ``program`` (no
    process started):

    - the installed version as the last one run: without it LibreOffice 7.x believes it
      was just upgraded and runs its graphics render self-tests at every start, ~0.6 s of
      a ~0.75 s headless start-up;
    - the Word import filter without its ``SUPPORTSSIGNING`` flag: with it, every loaded
      .docx is checked for document and macro signatures, and the first check sets up
      the signature back-ends: NSS, and GnuPG by running ``gpgconf`` three times, ``gpg``
      and ``gpgsm`` (60 ms of a worker's 140 ms warm-up). The documents ctgdocs converts
      are the ones it has just rendered: they carry no signature to check or keep."""
    version = product_version(program)
    settings = []
    if version is not None:
        settings.append(Setting("/org.openoffice.Setup/Product", "ooSetupLastVersion",
                                version.setup))
    flags = _filter_flags(program, WORD_IMPORT_FILTER)
    if flags is not None and "SUPPORTSSIGNING" in flags:
        settings.append(Setting(
            "/org.openoffice.TypeDetection.Filter/Filters/org.openoffice.TypeDetection."
            f"Filter:Filter['{WORD_IMPORT_FILTER}']", "Flags",
            tuple(f for f in flags if f != "SUPPORTSSIGNING")))
    return tuple(settings)


def _filter_flags(program: Path, name: str) -> tuple[str, ...] | None:
    """The flags of the filter ``name`` in the installation's ``writer.xcd``."""
    xcd = program.resolve().parent.parent / "share" / "registry" / "writer.xcd"
    try:
        data = xcd.read_bytes()
    except OSError:
        return None
    at = data.find(f'<node oor:name="{name}" oor:op="replace">'.encode())
    end = data.find(b"</node>", at)
    match = _XCD_FLAGS.search(data, at, end) if at >= 0 else None
    return tuple(match.group(1).decode("utf-8", "replace").split()) if match else None


_XCD_FLAGS = re.compile(rb'<prop oor:name="Flags">\s*<value>([^<]*)</value>')


def libreoffice_version() -> str:
    """Probe LibreOffice: return its version (``"7.4.7.2"``) or raise
    :class:`MissingDependencyError` with the install command."""
    soffice = find_soffice()
    try:
        done = run([soffice, "--version"], timeout=60)
    except (ProgramTimeout, OSError) as e:
        raise MissingDependencyError(
            f"{soffice} --version failed ({e}); reinstall LibreOffice: {INSTALL_HINT}") from e
    match = re.search(r"LibreOffice\S*\s+(\d+(?:\.\d+)+)", done.stdout)
    if done.returncode != 0 or not match:
        raise MissingDependencyError(
            f"{soffice} does not look like LibreOffice (`--version` printed "
            f"{done.stdout.strip()[:80]!r}); install it with: {INSTALL_HINT}")
    return match.group(1)


@dataclass
class Profile:
    """A LibreOffice user profile held by one worker (locked, or a temporary folder)."""

    path: Path
    lock: IO[bytes] | None = None
    temporary: bool = False
    released: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """The ``-env:UserInstallation`` value."""
        return self.path.resolve().as_uri()

    def release(self) -> None:
        """Unlock a cached profile, or delete a temporary one."""
        if self.released:
            return
        self.released = True
        if self.lock is not None:
            self.lock.close()
        if self.temporary:
            shutil.rmtree(self.path, ignore_errors=True)


def acquire_profile(program: Path) -> Profile:
    """Lock the first free cached profile ``lo-profile-<n>`` (kept between runs, so later
    runs skip profile creation); fall back to a temporary profile when all are busy.
    Either way it holds the :func:`profile_settings` of ``program``."""
    settings = profile_settings(program)
    root = cache_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        for slot in range(MAX_PROFILE_SLOTS):
            profile = _try_lock(root, slot)
            if profile is not None:
                seed_profile(profile.path, settings)
                return profile
    except OSError as e:
        log.warning("cannot use the profile cache %s (%s); using a temporary profile", root, e)
    profile = Profile(Path(tempfile.mkdtemp(prefix="ctgdocs-lo-profile-")), temporary=True)
    seed_profile(profile.path, settings)
    return profile


def _try_lock(root: Path, slot: int) -> Profile | None:
    lock = (root / f"lo-profile-{slot}.lock").open("ab")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return Profile(root / f"lo-profile-{slot}", lock=lock)


def seed_profile(path: Path, settings: Sequence[Setting]) -> None:
    """Make the profile at ``path`` hold ``settings`` (its other settings are kept);
    written only if something changed."""
    xcu = path / "user" / "registrymodifications.xcu"
    old = xcu.read_text(encoding="utf-8") if xcu.exists() else ""
    text = old if "</oor:items>" in old else _XCU_HEADER + "</oor:items>\n"
    for setting in settings:
        pattern = setting.pattern()
        if pattern.findall(text) == [setting.item()]:
            continue
        text = pattern.sub("", text)
        text = text.replace("</oor:items>", setting.item() + "</oor:items>", 1)
    if text == old:
        return
    xcu.parent.mkdir(parents=True, exist_ok=True)
    tmp = xcu.with_suffix(".xcu.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, xcu)
