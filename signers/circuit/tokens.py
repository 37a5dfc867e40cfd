"""Link tokens: derived from a server secret, stored only as their SHA-256.

A token is ``base64url(HMAC-SHA256(secret, circuit ‖ 0 ‖ slot ‖ 0 ‖ generation))`` — 256
bits no one can guess without the secret, yet computable again when a stage opens or a
reminder is due, so the database never holds a usable token (only SHA-256 of each).
Replacing a signatory bumps the slot's generation: the old link dies. The secret lives
outside the database (a 0600 file, or the environment)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from .errors import StoreError

__all__ = ["COORDINATOR", "derive_token", "load_or_create_secret", "read_secret_file",
           "token_hash", "tokens_equal"]

COORDINATOR = "@coordinator"
"""Slot name of the coordinator's token."""
MIN_SECRET_BYTES = 32


def derive_token(secret: bytes, circuit: str, slot: str, generation: int) -> str:
    """The token of ``slot`` (or :data:`COORDINATOR`) of ``circuit`` at ``generation``."""
    message = b"\x00".join((circuit.encode(), slot.encode(), str(generation).encode()))
    mac = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def token_hash(token: str) -> str:
    """SHA-256 (hex) of a token: what the store keeps."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets (or their hashes)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"),
                               b.encode("utf-8", "surrogatepass"))


def read_secret_file(path: str | os.PathLike[str]) -> bytes:
    """The secret in ``path``; refused when others may read it or it is too short."""
    file = Path(path)
    try:
        info = file.stat()
        data = file.read_bytes().strip()
    except OSError as exc:
        raise StoreError(f"{file}: cannot read the server secret ({exc.strerror}); check "
                         "the path and its permissions") from exc
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StoreError(f"{file}: the server secret is readable by others (mode "
                         f"{stat.S_IMODE(info.st_mode):04o}); run chmod 600 {file}")
    if len(data) < MIN_SECRET_BYTES:
        raise StoreError(f"{file}: the server secret is too short ({len(data)} bytes, at "
                         f"least {MIN_SECRET_BYTES}); write a new random one")
    return data


def load_or_create_secret(path: str | os.PathLike[str]) -> bytes:
    """The secret in ``path``, created (64 random hex digits, mode 0600) if missing."""
    file = Path(path)
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return read_secret_file(file)  # created meanwhile by another process
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_hex(32).encode() + b"\n")
            out.flush()
            os.fsync(out.fileno())
    return read_secret_file(file)
