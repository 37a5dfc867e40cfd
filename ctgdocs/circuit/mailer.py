"""Where the circuit's mails go: an outbox folder (default) or an SMTP server."""

from __future__ import annotations

import datetime as dt
import logging
import os
import smtplib
import ssl
import threading
import urllib.parse
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from signers.atomic import atomic_write_bytes

from ..exceptions import ServiceError

__all__ = ["Mailer", "OutboxMailer", "SmtpMailer", "make_mailer"]

log = logging.getLogger(__name__)


class Mailer(Protocol):
    """Sends one message; returns where it went (for logs)."""

    def send(self, message: EmailMessage) -> str:
        """Send ``message``."""
        ...


class OutboxMailer:
    """Writes each message as an ``.eml`` file in a private folder (mode 0700)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._count = 0

    def send(self, message: EmailMessage) -> str:
        """Write ``message`` to the outbox atomically."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._lock:
            self._count += 1
            count = self._count
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / f"{stamp}-{os.getpid()}-{count:04d}.eml"
        atomic_write_bytes(path, bytes(message))
        os.chmod(path, 0o600)
        return str(path)


class SmtpMailer:
    """Sends through ``smtp://[user@]host[:port]``: STARTTLS when the server offers it,
    login with the password from an environment variable when a user is given."""

    def __init__(self, url: str, password_env: str = "CTGDOCS_SMTP_PASSWORD",
                 timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "smtp" or not parsed.hostname:
            raise ServiceError(f"{url}: not an SMTP URL; write smtp://user@host:port")
        self.host = parsed.hostname
        self.port = parsed.port or 25
        self.user = urllib.parse.unquote(parsed.username) if parsed.username else None
        self.password_env = password_env
        self.timeout = timeout

    def send(self, message: EmailMessage) -> str:
        """Send ``message``; :class:`ServiceError` if the server refuses or is down."""
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self._password())
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise ServiceError(f"SMTP server {self.host}:{self.port}: {exc}") from exc
        return f"smtp://{self.host}:{self.port}"

    def _password(self) -> str:
        password = os.environ.get(self.password_env)
        if password is None:
            raise ServiceError(f"SMTP user {self.user} given but {self.password_env} is not "
                               "set; export the password in that variable")
        return password


def make_mailer(smtp: str | None, outbox: Path,
                password_env: str = "CTGDOCS_SMTP_PASSWORD") -> Mailer:
    """The SMTP mailer for ``smtp``, else the outbox folder."""
    return SmtpMailer(smtp, password_env) if smtp else OutboxMailer(outbox)
