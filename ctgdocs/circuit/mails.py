"""The circuit's e-mails in French: plain text with an HTML alternative (no image, no
tracking, nothing external), and their dispatch from the engine's outbox."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import TYPE_CHECKING

from ..render import french_datetime

if TYPE_CHECKING:
    from signers.circuit.engine import CircuitEngine
    from signers.circuit.records import CircuitView, Notification, SlotView

    from .mailer import Mailer

__all__ = ["Mail", "dispatch", "render"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mail:
    """A rendered mail."""

    to: str
    """Recipient address."""
    to_name: str
    """Recipient name."""
    subject: str
    """Subject."""
    paragraphs: tuple[str, ...]
    """Body paragraphs (plain text)."""
    link: tuple[str, str] | None
    """(label, URL) of the action link."""


def signatory_link(base_url: str, token: str) -> str:
    """The signatory's personal link."""
    return f"{base_url.rstrip('/')}/s/{token}"


def coordinator_link(base_url: str, token: str) -> str:
    """The coordinator's link."""
    return f"{base_url.rstrip('/')}/c/{token}"


def render(note: Notification, coordinator_token: str) -> Mail | None:
    """The mail of ``note`` (``None`` when it has no recipient)."""
    view = note.circuit
    if note.to_coordinator:
        if not view.coordinator_email:
            return None
        to, name = view.coordinator_email, view.coordinator_name or "coordinateur"
    else:
        assert note.slot is not None
        to, name = note.slot.spec.email or "", _formal(note.slot)
    maker = _MAKERS[note.kind]
    subject, paragraphs, link = maker(note, coordinator_token)
    return Mail(to, name, subject, tuple(paragraphs), link)


def _formal(slot: SlotView) -> str:
    return str(slot.spec.details.get("formal_name") or slot.spec.name)


def _invitation(note: Notification, coord: str) -> tuple[str, list[str], tuple[str, str]]:
    view, slot = note.circuit, note.slot
    assert slot is not None and note.token is not None
    link = signatory_link(view.base_url, note.token)
    reminder = note.kind == "reminder"
    subject = (f"Rappel : « {view.title} » attend votre signature" if reminder
               else f"À signer : « {view.title} »")
    lines = []
    if note.to_coordinator:
        lines.append(f"{_formal(slot)} ({slot.spec.label}) n'a pas d'adresse électronique "
                     "dans le circuit : transmettez-lui ce message et son lien personnel.")
    lines.append(f"Bonjour {_formal(slot)},")
    lines.append(("Votre signature est toujours attendue sur" if reminder else
                  "Vous êtes invité(e) à signer électroniquement")
                 + f" « {view.title} », en qualité de : {slot.spec.label}.")
    if slot.spec.reason and not slot.spec.seal:
        lines.append(f"Votre signature s'appuie sur : {slot.spec.reason}.")
    lines.append(f"Date limite : {french_datetime(view.deadline)}.")
    lines.append("Vous pouvez signer de deux façons : avec l'agent de signature (commande "
                 f"« ctg sign-remote {link} » suivie de votre certificat ou de votre "
                 "carte), ou avec votre propre logiciel : téléchargez le document depuis "
                 f"le lien, signez dans le champ « {slot.spec.field} », puis déposez-le.")
    lines.append("Ce lien est personnel : ne le transférez pas. Ouvrir le lien ne signe "
                 "rien et ne modifie rien.")
    return subject, lines, ("Lire et signer le document", link)


def _declined(note: Notification, coord: str) -> tuple[str, list[str], tuple[str, str]]:
    view, slot = note.circuit, note.slot
    assert slot is not None
    reason = note.data.get("reason", "")
    when = french_datetime(slot.declined_at) if slot.declined_at else "ce jour"
    return (f"Signature refusée : « {view.title} »", [
        f"{_formal(slot)} ({slot.spec.label}) a refusé de signer le {when}.",
        f"Motif indiqué : « {reason} ».",
        "Le circuit est arrêté. Vous pouvez le rouvrir (ctg circuit reopen "
        f"{view.id}), désigner une autre personne (ctg circuit replace {view.id} "
        f"{slot.id} …) ou l'annuler (ctg circuit cancel {view.id})."],
        ("Suivre le circuit", coordinator_link(view.base_url, coord)))


def _completed(note: Notification, coord: str) -> tuple[str, list[str], tuple[str, str]]:
    view = note.circuit
    return (f"Circuit terminé : « {view.title} »", [
        f"Toutes les signatures attendues ({len(view.slots)}) ont été recueillies.",
        f"Le document signé et le journal du circuit s'exportent avec : ctg circuit "
        f"export {view.id} -o DOSSIER."],
        ("Voir le circuit", coordinator_link(view.base_url, coord)))


def _deadline(note: Notification, coord: str) -> tuple[str, list[str], tuple[str, str]]:
    view = note.circuit
    missing = [f"{_formal(s)} ({s.spec.label})" for s in view.slots if s.state != "signed"]
    return (f"Date limite proche : « {view.title} »", [
        f"Le circuit expire le {french_datetime(view.deadline)}.",
        "Signatures encore attendues : " + ("; ".join(missing) or "aucune") + "."],
        ("Suivre le circuit", coordinator_link(view.base_url, coord)))


def _expired(note: Notification, coord: str) -> tuple[str, list[str], tuple[str, str]]:
    view = note.circuit
    return (f"Circuit expiré : « {view.title} »", [
        f"La date limite du {french_datetime(view.deadline)} est passée sans que toutes "
        "les signatures soient recueillies.",
        f"Pour le prolonger : ctg circuit reopen {view.id} --deadline AAAA-MM-JJ."],
        ("Voir le circuit", coordinator_link(view.base_url, coord)))


_MAKERS = {"invitation": _invitation, "reminder": _invitation, "declined": _declined,
           "completed": _completed, "deadline-near": _deadline, "expired": _expired}


def message(mail: Mail, sender: str) -> EmailMessage:
    """The MIME message: text/plain with a text/html alternative."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = formataddr((mail.to_name, mail.to))
    msg["Subject"] = mail.subject
    msg["Message-ID"] = make_msgid(domain="ctgdocs.invalid")
    msg["Auto-Submitted"] = "auto-generated"
    text = "\n\n".join(mail.paragraphs)
    if mail.link:
        text += f"\n\n{mail.link[0]} :\n{mail.link[1]}"
    msg.set_content(text + "\n\n-- \nMessage automatique du circuit de signature.\n")
    msg.add_alternative(_html(mail), subtype="html")
    return msg


def _html(mail: Mail) -> str:
    body = "".join(f"<p>{html.escape(p)}</p>\n" for p in mail.paragraphs)
    if mail.link:
        label, url = (html.escape(x) for x in mail.link)
        body += (f'<p><a href="{url}" style="font-weight:bold">{label}</a></p>\n'
                 f'<p style="font-size:small">{url}</p>\n')
    return ('<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8">'
            f"<title>{html.escape(mail.subject)}</title></head>\n"
            f'<body style="font-family:sans-serif;line-height:1.4">\n{body}'
            '<p style="color:#555;font-size:small">Message automatique du circuit de '
            "signature.</p>\n</body></html>\n")


def dispatch(engine: CircuitEngine, mailer: Mailer, sender: str) -> int:
    """Send every pending notification; returns how many were sent."""
    sent = 0
    coordinators: dict[str, str] = {}
    for note in engine.claim_notifications():
        view: CircuitView = note.circuit
        coord = coordinators.setdefault(view.id, engine.coordinator_token(view.id))
        mail = render(note, coord)
        if mail is None:
            log.warning("circuit %s: no address for the %s notification (set the "
                        "coordinator's e-mail in signing.circuit.coordinator)", view.id,
                        note.kind)
            engine.notification_sent(note.id)
            continue
        try:
            where = mailer.send(message(mail, sender))
        except Exception as exc:  # noqa: BLE001 - retried at the next dispatch
            log.warning("circuit %s: %s mail to %s failed: %s", view.id, note.kind,
                        mail.to, exc)
            engine.notification_failed(note.id, str(exc))
            continue
        engine.notification_sent(note.id)
        log.info("circuit %s: %s mail to %s sent (%s)", view.id, note.kind, mail.to,
                 where.rsplit("/", 1)[-1])
        sent += 1
    return sent


