"""``build.json``: what an earlier build recorded, the keys that tell whether anything
changed since, and moving a finished build into place."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any

from ..paths import ANNEX_TEMPLATE, MAIN_TEMPLATE
from .options import BuildOptions, BuildResult, PartInfo

FORMAT_VERSION = 1
"""Bumped when the build output format changes (invalidates every cached part)."""
RECORD = "build.json"
PACKAGE = "convention-package.pdf"

Record = dict[str, Any]
"""A ``build.json`` as read (empty when there is none, or of another format)."""


@functools.cache
def code_key() -> str:
    """Hash of the source of ctgdocs and signers: a new version rebuilds."""
    digest = hashlib.sha256()
    signers = importlib.util.find_spec("signers")
    assert signers is not None and signers.origin is not None
    for package in (Path(__file__).resolve().parent.parent, Path(signers.origin).parent):
        for path in sorted(package.rglob("*.py")):
            digest.update(os.fsencode(path.relative_to(package.parent)) + b"\0"
                          + path.read_bytes())
    return digest.hexdigest()


def quick_key(data: Path, options: BuildOptions) -> str | None:
    """A key of everything a build reads — the data file's bytes, the templates, the
    options that change the output and the code — computed without parsing anything.
    ``None`` when a file cannot be read or is not a regular file (a pipe or a device
    would block or never end: the full build then reports it)."""
    try:
        files = [data, options.templates / MAIN_TEMPLATE, options.templates / ANNEX_TEMPLATE]
        if not all(stat.S_ISREG(os.stat(path).st_mode) for path in files):
            return None
        digests = [file_sha(path) for path in files]
    except OSError:
        return None
    return sha("|".join([str(FORMAT_VERSION), code_key(), f"seal={options.seal_field}",
                         *digests]))


def quick_result(data: Path, options: BuildOptions) -> BuildResult | None:
    """The result of a build with nothing to do, found without parsing the data (same
    data bytes, templates, options and code as an intact previous build); else ``None``."""
    started = time.perf_counter()
    return up_to_date(options, quick_key(data, options),
                      previous_builds(options.output_root, data), started)


def up_to_date(options: BuildOptions, key: str | None, known: list[tuple[Path, Record]],
               started: float) -> BuildResult | None:
    """The result of the build among ``known`` made from the inputs of ``key``, if it is
    intact and ``options`` do not force a new one."""
    if options.force or key is None:
        return None
    for out, record in known:
        if record.get("quick_key") == key and intact(out, record):
            return result_from_record(out, record, started)
    return None


def previous_builds(root: Path, data: Path) -> list[tuple[Path, Record]]:
    """The builds under ``root`` whose recorded data file is ``data``."""
    try:
        wanted = os.fspath(data.resolve())
        folders = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return []
    found = []
    for folder in folders:
        record = read_record(folder / RECORD)
        if record and record.get("data", {}).get("resolved") == wanted:
            found.append((folder, record))
    return found


def read_record(path: Path) -> Record:
    """The ``build.json`` at ``path``; empty if missing, damaged or of another format."""
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("format") == FORMAT_VERSION:
            return data
    return {}


def write_record(path: Path, record: Record) -> None:
    """Write ``record`` to ``path`` atomically."""
    from ..render import write_atomic

    write_atomic(path, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode())


def intact(out: Path, record: Record) -> bool:
    """The package and parts recorded in ``record`` are still in ``out``, unchanged."""
    package = out / PACKAGE
    try:
        return (package.is_file()
                and file_sha(package) == record.get("package", {}).get("sha256")
                and all((out / "parts" / f"{p['name']}.pdf").is_file()
                        for p in record.get("parts", [])))
    except OSError:
        return False


def result_from_record(out: Path, record: Record, started: float) -> BuildResult:
    """The result of the build recorded in ``out`` (nothing converted, up to date)."""
    parts = tuple(PartInfo(p["name"], p["title"], p["key"], False, p["pages"])
                  for p in record["parts"])
    return BuildResult(record["convention"], out / PACKAGE, out / RECORD,
                       record["package"]["pages"], parts, len(record["fields"]), 0, True,
                       time.perf_counter() - started)


def commit(work: Path, out: Path) -> None:
    """Move the finished build in ``work`` into ``out``; the package and build.json are
    replaced atomically, the parts folder by a swap."""
    parts, old = out / "parts", out / f".parts-old-{os.getpid()}"
    if parts.exists():
        os.replace(parts, old)
    os.replace(work / "parts", parts)
    os.replace(work / PACKAGE, out / PACKAGE)
    os.replace(work / RECORD, out / RECORD)
    shutil.rmtree(old, ignore_errors=True)


def sha(text: str) -> str:
    """SHA-256 of ``text`` (UTF-8), in hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_sha(path: Path) -> str:
    """SHA-256 of the file at ``path``, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def version(dist: str) -> str:
    """The installed version of the distribution ``dist``, or ``"unknown"``."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(dist)
    except PackageNotFoundError:
        return "unknown"
