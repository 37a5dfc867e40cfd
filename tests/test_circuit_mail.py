"""Notifications through a real SMTP server (aiosmtpd on 127.0.0.1): French invitations,
reminders after the clock moves, the coordinator's mails; the outbox by default."""

from __future__ import annotations

from email.message import Message
from pathlib import Path

import pytest
from fixtures_circuit import CircuitKit, MailServer
from test_circuit_acceptance import MAYORS

from ctgdocs.circuit.mailer import OutboxMailer, SmtpMailer
from ctgdocs.circuit.mails import dispatch
from ctgdocs.exceptions import ServiceError

SENDER = "Circuit de signature <ne-pas-repondre@caf34.example.fr>"


def parts(message: Message) -> tuple[str, str]:
    text = html = ""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_payload(decode=True).decode(part.get_content_charset())
        elif part.get_content_type() == "text/html":
            html = part.get_payload(decode=True).decode(part.get_content_charset())
    return text, html


def decoded_subject(message: Message) -> str:
    from email.header import decode_header, make_header

    return str(make_header(decode_header(message["Subject"])))


def test_invitations_reminders_and_coordinator_mails(kit: CircuitKit,
                                                     smtp_sink: MailServer) -> None:
    started = kit.start(MAYORS)
    mailer = SmtpMailer(smtp_sink.url)
    assert dispatch(kit.engine, mailer, SENDER) == 2
    assert dispatch(kit.engine, mailer, SENDER) == 0  # sent once
    invitations = smtp_sink.wait_for_count(2)
    by_to = {m["To"]: m for m in invitations}
    gignac = next(m for to, m in by_to.items() if "jf.soto@gignac.example.fr" in to)
    text, html = parts(gignac)
    assert decoded_subject(gignac) == "À signer : « Convention de test »"
    link = f"http://127.0.0.1:9/s/{started.tokens['maire-gignac']}"
    assert link in text and f'href="{link}"' in html
    assert "Vous êtes invité(e) à signer électroniquement" in text
    assert "Délibération du conseil municipal n° 2022-071 du 8 décembre 2022" in text
    assert "« maire-gignac »" in text and "ctg sign-remote" in text
    assert '<html lang="fr">' in html and "<img" not in html and "http" not in html.replace(
        link, "")
    kit.clock.advance(days=3, seconds=1)
    kit.engine.sweep("c1")
    assert dispatch(kit.engine, mailer, SENDER) == 2
    reminders = smtp_sink.wait_for_count(4)[2:]
    assert all(decoded_subject(m).startswith("Rappel : ") for m in reminders)
    kit.engine.decline(started.tokens["maire-aniane"], "Le conseil n'a pas délibéré")
    dispatch(kit.engine, mailer, SENDER)
    declined = smtp_sink.wait_for_count(5)[4]
    assert "coord@caf34.example.fr" in declined["To"]
    text, _ = parts(declined)
    assert "a refusé de signer" in text and "Le conseil n'a pas délibéré" in text
    assert f"/c/{started.coordinator_token}" in text


def test_smtp_failure_is_retried(kit: CircuitKit, tmp_path: Path) -> None:
    import socket

    closed = socket.socket()  # bound, never listening: connections are refused
    closed.bind(("127.0.0.1", 0))
    dead = f"smtp://127.0.0.1:{closed.getsockname()[1]}"
    kit.start(MAYORS)
    with closed:
        assert dispatch(kit.engine, SmtpMailer(dead), SENDER) == 0
    assert dispatch(kit.engine, OutboxMailer(tmp_path / "outbox"), SENDER) == 2
    written = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(written) == 2 and (tmp_path / "outbox").stat().st_mode & 0o777 == 0o700


def test_smtp_password_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    mailer = SmtpMailer("smtp://relais@127.0.0.1:1")
    monkeypatch.delenv("CTGDOCS_SMTP_PASSWORD", raising=False)
    with pytest.raises(ServiceError, match="CTGDOCS_SMTP_PASSWORD"):
        mailer._password()
    with pytest.raises(ServiceError, match="not an SMTP URL"):
        SmtpMailer("http://example.org")
