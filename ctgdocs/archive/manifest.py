"""``manifest.json``: every other file of a bundle with its size, SHA-256 and SHA-512, the
archived signatures, the trust anchors and the renewals — timestamped by ``manifest.tsr``.

The manifest is JSON written once (UTF-8, two-space indent, keys in a fixed order); its
token covers its exact bytes, so it is never rewritten but replaced, with a new token,
at a renewal (the previous pair is kept under ``historique/<n>/``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..exceptions import ArchiveInvalid
from .layout import ENVELOPE, MANIFEST, MANIFEST_TOKEN, Bundle
from .model import BundleFile

__all__ = ["FORMAT", "build_manifest", "entries", "file_entry", "read_manifest"]

FORMAT = "ctgdocs-archive/1"
"""Value of the manifest's ``format`` key."""
_KEYS = ("format", "created", "generator", "convention", "document", "files", "signatures",
         "trust_anchors", "journal", "trusted_lists", "renewals")


def file_entry(path: str, data: bytes) -> BundleFile:
    """The manifest entry of ``data`` at ``path``."""
    return BundleFile(path, len(data), hashlib.sha256(data).hexdigest(),
                      hashlib.sha512(data).hexdigest())


def entries(bundle: Bundle) -> list[BundleFile]:
    """The entries of every file of ``bundle`` but the manifest and its token (the
    bordereau included), sorted by path."""
    return [file_entry(p, bundle.files[p]) for p in sorted(bundle.files)
            if p not in (MANIFEST, MANIFEST_TOKEN)]


def build_manifest(bundle: Bundle, record: dict[str, Any]) -> bytes:
    """The manifest of ``bundle``: ``record`` (every key but ``files``) with the files
    listed now."""
    files = [{"path": e.path, "size": e.size, "sha256": e.sha256, "sha512": e.sha512}
             for e in entries(bundle)]
    data = {"format": FORMAT, **{k: record[k] for k in _KEYS if k in record},
            "files": files}
    ordered = {k: data[k] for k in _KEYS if k in data}
    return (json.dumps(ordered, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def read_manifest(data: bytes, where: str = MANIFEST) -> dict[str, Any]:
    """The manifest's content, its ``files`` checked for shape; :class:`ArchiveInvalid`
    naming what is wrong."""
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArchiveInvalid(f"{where}: not JSON ({exc})") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ArchiveInvalid(f"{where}: not a ctgdocs archive manifest (format "
                             f"{FORMAT!r} expected)")
    files = record.get("files")
    if not isinstance(files, list) or not all(_is_entry(f) for f in files):
        raise ArchiveInvalid(f"{where}: its file list is malformed")
    listed = [f["path"] for f in files]
    if len(set(listed)) != len(listed) or any(p in ENVELOPE[1:] for p in listed):
        raise ArchiveInvalid(f"{where}: its file list names a file twice or itself")
    return record


def _is_entry(entry: Any) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("path"), str)
            and isinstance(entry.get("size"), int)
            and all(isinstance(entry.get(k), str) for k in ("sha256", "sha512")))
