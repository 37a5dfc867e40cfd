"""Settings of the circuit service and commands: one pydantic ``BaseSettings`` read from
``CTGDOCS_*`` environment variables, overridden by command-line options."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CircuitSettings", "default_store"]

WEAK_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "development",
                          "test", "password", "ctgdocs"})
SECRET_NAME = "secret.key"
"""File name of the server secret in a store folder."""


def default_store() -> str:
    """``$CTGDOCS_STORE``, else ``$XDG_DATA_HOME/ctgdocs/circuits``, else
    ``~/.local/share/ctgdocs/circuits``."""
    if os.environ.get("CTGDOCS_STORE"):
        return os.environ["CTGDOCS_STORE"]
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(data) / "ctgdocs" / "circuits")


class CircuitSettings(BaseSettings):
    """Everything the circuit service and commands can be configured with."""

    model_config = SettingsConfigDict(env_prefix="CTGDOCS_", extra="ignore",
                                      frozen=True)

    store: str = Field(default_factory=default_store)
    """A folder (SQLite database inside) or a ``postgresql://`` URL (``CTGDOCS_STORE``)."""
    secret: SecretStr | None = None
    """The server secret itself (``CTGDOCS_SECRET``; at least 32 characters)."""
    secret_file: Path | None = None
    """A file holding the server secret, mode 0600 (``CTGDOCS_SECRET_FILE``). Default
    for a folder store: ``secret.key`` in it, created on first use."""
    dev: bool = False
    """Development mode (``CTGDOCS_DEV=1``): a PostgreSQL store may then use a
    generated secret file in the user's data folder."""
    base_url: str = "http://127.0.0.1:8000"
    """Public base URL of the service, for the links (``CTGDOCS_BASE_URL``)."""
    host: str = "127.0.0.1"
    """Address ``serve`` listens on."""
    port: int = 8000
    """Port ``serve`` listens on (0: any free port, printed)."""
    trust: tuple[Path, ...] = ()
    """Trust anchors (PEM/DER) of the acceptance check (``CTGDOCS_TRUST`` as a JSON
    list)."""
    tsa: str | None = None
    """Timestamp authority URL (``CTGDOCS_TSA``)."""
    smtp: str | None = None
    """``smtp://user@host:port`` (``CTGDOCS_SMTP``); unset: mails go to the outbox."""
    smtp_password_env: str = "CTGDOCS_SMTP_PASSWORD"
    """Environment variable holding the SMTP password."""
    mail_from: str = "Circuit de signature <ne-pas-repondre@localhost>"
    """Sender of the mails (``CTGDOCS_MAIL_FROM``)."""
    outbox: Path | None = None
    """Folder of the mails when no SMTP server is set (default: ``outbox/`` in the
    store folder, or in the user's data folder for PostgreSQL)."""
    max_upload_mb: float = 50
    """Upload size limit in MiB."""
    lease_seconds: int = 60
    """How long a remote signing session holds the document."""
    lease_wait_seconds: float = 30
    """How long a request waits for another session before answering busy."""
    sweep_seconds: float = 60
    """Interval of the server's sweeps (reminders, deadline, mails, timestamps)."""
    check_memory_mb: int = 1024
    """Address-space cap of the acceptance check's worker process."""
    check_timeout_seconds: float = 60
    """Time limit of one acceptance check."""
    rate_failures: int = 30
    """Failed requests allowed per client address and per token within the window."""
    rate_window_seconds: int = 600
    """The rate-limit window."""

    @model_validator(mode="after")
    def _secret_is_set(self) -> CircuitSettings:
        value = self.secret.get_secret_value() if self.secret is not None else None
        if value is not None and not self.dev and (
                value.strip().lower() in WEAK_SECRETS or len(value.strip()) < 32):
            raise ValueError("CTGDOCS_SECRET is a default or short secret; set at least 32 "
                             "random characters (python3 -c 'import secrets; "
                             "print(secrets.token_hex(32))')")
        if value is None and self.secret_file is None and self.is_database and not self.dev:
            raise ValueError("a PostgreSQL store needs the server secret: set "
                             "CTGDOCS_SECRET_FILE (a 0600 file) or CTGDOCS_SECRET")
        return self

    @property
    def is_database(self) -> bool:
        """Whether the store is a database URL."""
        return "://" in self.store

    def data_dir(self) -> Path:
        """A folder for files beside a database store (outbox, development secret)."""
        if not self.is_database:
            return Path(self.store)
        return Path(default_store()) if "://" not in default_store() else \
            Path.home() / ".local" / "share" / "ctgdocs" / "circuits"

    def outbox_dir(self) -> Path:
        """Where mails are written without SMTP."""
        return self.outbox or self.data_dir() / "outbox"

    def secret_bytes(self) -> bytes:
        """The server secret (created in the store folder on first use)."""
        from signers.circuit.tokens import load_or_create_secret, read_secret_file

        if self.secret is not None:
            return self.secret.get_secret_value().strip().encode()
        if self.secret_file is not None:
            return read_secret_file(self.secret_file)
        return load_or_create_secret(self.data_dir() / SECRET_NAME)

    def with_options(self, **options: Any) -> CircuitSettings:
        """A copy with the command-line options that were given (``None`` left out)."""
        given = {k: v for k, v in options.items() if v is not None}
        return self.model_validate({**self.model_dump(), **given}) if given else self
