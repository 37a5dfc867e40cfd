"""The files of an evidence bundle, in a folder or a ZIP, read and written whole.

A bundle is held in memory as a mapping from its paths to their bytes (a signed
convention and its evidence weigh a few megabytes). In a folder every file is at its
path; in a ZIP the envelope — the SEDA bordereau, the manifest and its token — is at the
root and the archived files are under ``content/``, as archiving systems ingest a
transfer. Writing is atomic: the bundle is written in a temporary folder or file beside
its destination and renamed into place, so that a failure leaves nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..exceptions import ArchiveInvalid, InputError

__all__ = ["BORDEREAU", "Bundle", "CONTENT", "HISTORY", "HUMAN_REPORT", "JOURNAL",
           "JOURNAL_TOKENS", "LISTS", "MANIFEST", "MANIFEST_TOKEN", "PDF",
           "VALIDATION_REPORT", "read_bundle", "write_bundle"]

PDF = "convention-signee-lta.pdf"
VALIDATION_REPORT = "rapport-validation.xml"
HUMAN_REPORT = "rapport-signatures.pdf"
JOURNAL = "journal.jsonl"
JOURNAL_TOKENS = "journal"
LISTS = "listes-de-confiance"
HISTORY = "historique"
BORDEREAU = "bordereau-seda.xml"
MANIFEST = "manifest.json"
MANIFEST_TOKEN = "manifest.tsr"
ENVELOPE = (BORDEREAU, MANIFEST, MANIFEST_TOKEN)
"""Files at the root of both forms (the others go under ``content/`` in a ZIP)."""
CONTENT = "content/"
_ZIP_DATE = (2000, 1, 1, 0, 0, 0)


@dataclass
class Bundle:
    """The files of a bundle (path → bytes) and its form."""

    zip: bool = False
    """ZIP form (archived files under ``content/``)."""
    files: dict[str, bytes] = field(default_factory=dict)
    """Every file, by path inside the bundle."""

    def path(self, name: str) -> str:
        """Where the archived file ``name`` (e.g. ``journal/000003.tsr``) goes."""
        return name if name in ENVELOPE or not self.zip else CONTENT + name

    def name(self, path: str) -> str:
        """The archived file name at ``path`` (inverse of :meth:`path`)."""
        return path[len(CONTENT):] if self.zip and path.startswith(CONTENT) else path

    def get(self, name: str) -> bytes | None:
        """The bytes of the archived file ``name``, if present."""
        return self.files.get(self.path(name))

    def put(self, name: str, data: bytes) -> str:
        """Add or replace the archived file ``name``; returns its path."""
        path = self.path(name)
        self.files[path] = data
        return path

    def content(self) -> list[str]:
        """Paths of every file but the envelope, sorted."""
        return sorted(p for p in self.files if p not in ENVELOPE)


def read_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Read a bundle folder or ZIP. Raises :class:`InputError` when ``path`` is missing
    and :class:`ArchiveInvalid` when it is neither a bundle folder nor a ZIP, or holds
    a path that leaves it (``..``, absolute, a link)."""
    where = Path(path)
    if where.is_dir():
        return Bundle(False, dict(_read_folder(where)))
    if not where.exists():
        raise InputError(f"{where}: no such bundle folder or ZIP file; check the path")
    try:
        with zipfile.ZipFile(where) as archive:
            return Bundle(True, dict(_read_zip(archive, where)))
    except zipfile.BadZipFile as exc:
        raise ArchiveInvalid(f"{where}: neither a bundle folder nor a ZIP file ({exc})") from exc


def _read_folder(root: Path) -> Iterator[tuple[str, bytes]]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in dirnames + filenames:
            entry = base / name
            if entry.is_symlink():
                raise ArchiveInvalid(f"{entry}: a link inside the bundle; a bundle holds "
                                     "plain files only")
        for name in filenames:
            entry = base / name
            yield entry.relative_to(root).as_posix(), entry.read_bytes()


def _read_zip(archive: zipfile.ZipFile, where: Path) -> Iterator[tuple[str, bytes]]:
    for info in archive.infolist():
        if info.is_dir():
            continue
        name = PurePosixPath(info.filename)
        if name.is_absolute() or ".." in name.parts or "\\" in info.filename:
            raise ArchiveInvalid(f"{where}: member {info.filename!r} leaves the bundle")
        yield info.filename, archive.read(info)


def write_bundle(bundle: Bundle, dest: Path, *, replace: bool = False) -> None:
    """Write ``bundle`` at ``dest`` atomically (a temporary folder or file in the same
    folder, then a rename). Without ``replace``, an existing ``dest`` is refused
    (:class:`InputError`) before anything is written."""
    if dest.exists() and not replace:
        raise InputError(f"{dest}: already exists; choose another output (-o) or remove it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if bundle.zip:
        _write_zip(bundle, dest)
    else:
        _write_folder(bundle, dest)


def _write_zip(bundle: Bundle, dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as handle:
            with zipfile.ZipFile(handle, "w") as archive:
                for path in [*(p for p in ENVELOPE if p in bundle.files), *bundle.content()]:
                    info = zipfile.ZipInfo(path, _ZIP_DATE)
                    info.compress_type = (zipfile.ZIP_STORED if path.endswith(".pdf")
                                          else zipfile.ZIP_DEFLATED)
                    archive.writestr(info, bundle.files[path])
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_folder(bundle: Bundle, dest: Path) -> None:
    with _staging(dest) as tmp:
        for path, data in bundle.files.items():
            target = tmp / path
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        if dest.exists():  # replace: swap, then drop the old folder
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old.", dir=dest.parent))
            os.replace(dest, old / "bundle")
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)


@contextmanager
def _staging(dest: Path) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a bundle is an ordinary folder
    try:
        yield tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
