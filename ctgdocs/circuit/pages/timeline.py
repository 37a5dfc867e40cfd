"""The circuit's journal as the coordinator reads it: each event told in French, and
the journal's verification (chain and timestamp tokens), each token checked once."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signers.circuit.records import CircuitView
from signers.journal import JournalEvent, TokenCheck, verify_journal

from ..messages import message_for
from .display import REFUSAL_TITLES, common_name, of, plural, when, who_label

__all__ = ["Entry", "JournalStatus", "JournalVerifier", "timeline"]


@dataclass(frozen=True)
class Entry:
    """One event of the timeline."""

    seq: int
    """Its number in the journal."""
    when: str
    """When, in French (Paris time)."""
    iso: str
    """When, ISO 8601 (for ``<time datetime>``)."""
    kind: str
    """The event's kind (``signature-accepted``…)."""
    text: str
    """What happened, in French."""
    stamp: TokenCheck | None
    """The timestamp token over the chain up to this event, if it has one."""


@dataclass(frozen=True)
class JournalStatus:
    """The verification of a journal."""

    valid: bool
    """The chain is unbroken and every timestamp token holds."""
    events: int
    """Events."""
    first_broken: int | None
    """The first event that breaks the chain."""
    tokens: int
    """Timestamp tokens."""
    valid_tokens: int
    """Tokens that hold."""
    tail: int
    """Events after the last valid token (protected by the chain only)."""
    problems: tuple[str, ...]
    """What is wrong (English, as ``ctg circuit journal --verify`` says it)."""
    last_stamp: str | None
    """Time of the last valid token, in French."""


class JournalVerifier:
    """Checks journals against the service's trust anchors. A token, once written, never
    changes and covers a fixed event, so its check is remembered (keyed by the event's
    hash and the token's digest); the chain itself is checked again at every call."""

    def __init__(self, trust: Sequence[Path]) -> None:
        from pyhanko.keys import load_cert_from_pemder

        self.trust = [load_cert_from_pemder(str(p)) for p in trust]
        self._memo: dict[tuple[int, str, str], TokenCheck] = {}
        self._lock = threading.Lock()

    def check(self, journal: str, events: Sequence[JournalEvent],
              tokens: Mapping[int, bytes]) -> tuple[JournalStatus, dict[int, TokenCheck]]:
        """The status of ``journal`` and each token's check by event seq."""
        chain = verify_journal(events, None, journal=journal)
        checks = {seq: self._token(journal, events, seq, der)
                  for seq, der in sorted(tokens.items())}
        problems = list(chain.problems) + [
            f"timestamp token of event {seq}: {c.problem}" for seq, c in checks.items()
            if not c.valid]
        good = [c for c in checks.values() if c.valid]
        last = max((c.seq for c in good), default=0)
        last_time = next((c.time for c in reversed(good) if c.time), None)
        return JournalStatus(
            valid=not problems, events=len(events), first_broken=chain.first_broken,
            tokens=len(checks), valid_tokens=len(good), tail=max(0, len(events) - last),
            problems=tuple(problems),
            last_stamp=when(_parse(last_time)) if last_time else None), checks

    def _token(self, journal: str, events: Sequence[JournalEvent], seq: int,
               der: bytes) -> TokenCheck:
        event_hash = events[seq - 1].hash if 1 <= seq <= len(events) else ""
        key = (seq, event_hash, hashlib.sha256(der).hexdigest())
        with self._lock:
            found = self._memo.get(key)
        if found is not None:
            return found
        check = verify_journal(events[:seq], {seq: der}, trust_roots=self.trust,
                               journal=journal).tokens[0]
        with self._lock:
            if len(self._memo) > 100_000:
                self._memo.clear()
            self._memo[key] = check
        return check


def _parse(iso: str) -> Any:
    import datetime as dt

    return dt.datetime.fromisoformat(iso)


def timeline(view: CircuitView, events: Sequence[JournalEvent],
             checks: Mapping[int, TokenCheck]) -> list[Entry]:
    """The events of ``view``'s journal, each told in French."""
    return [Entry(e.seq, when(e.time), e.at, e.kind, describe(view, e),
                  checks.get(e.seq)) for e in events]


def describe(view: CircuitView, event: JournalEvent) -> str:
    """What ``event`` says, in a French sentence."""
    data = event.data
    teller = _TELLERS.get(event.kind)
    if teller is None:
        return f"Événement « {event.kind} »."
    return teller(view, data)


def _who(view: CircuitView, slot: Any) -> str:
    if slot in (None, "coordinator"):
        return "Le coordinateur"
    try:
        return who_label(view.slot(str(slot)))
    except KeyError:
        return str(slot)


def _started(view: CircuitView, d: dict[str, Any]) -> str:
    slots = d.get("slots") or []
    stages = len({s.get("stage") for s in slots})
    deadline = d.get("deadline")
    text = (f"Circuit ouvert{' par ' + d['coordinator'] if d.get('coordinator') else ''} : "
            f"{plural(len(slots), 'signataire', 'signataires')} en "
            f"{plural(stages, 'étape', 'étapes')}")
    return text + (f", date limite le {when(_parse(deadline))}." if deadline
                   else ".")


def _invited(view: CircuitView, d: dict[str, Any]) -> str:
    to = (f"courriel à {d['email']}" if d.get("email")
          else "sans adresse : le lien est envoyé au coordinateur")
    return f"{_who(view, d.get('slot'))} est invité(e) à signer (étape {d.get('stage')}, {to})."


def _reminded(view: CircuitView, d: dict[str, Any]) -> str:
    by = " à la demande du coordinateur" if d.get("by") else ""
    return f"Relance n° {d.get('count')} envoyée{by} à {_who(view, d.get('slot'))}."


def _opened(view: CircuitView, d: dict[str, Any]) -> str:
    return f"{_who(view, d.get('slot'))} a ouvert le document."


def _refused(view: CircuitView, d: dict[str, Any]) -> str:
    code = str(d.get("code"))
    title = REFUSAL_TITLES.get(code, message_for(code).split(".")[0])
    return f"Dépôt refusé pour {_who(view, d.get('slot'))} : {title} (code {code})."


def _accepted(view: CircuitView, d: dict[str, Any]) -> str:
    via = "par l'agent de signature" if d.get("via") == "remote" else "par dépôt du PDF signé"
    subject = common_name((d.get("certificate") or {}).get("subject") or "inconnu")
    after = (d.get("after") or {}).get("signatures")
    return (f"Signature {of(_who(view, d.get('slot')))} acceptée ({via}) : certificat "
            f"{of(subject)}, niveau PAdES {d.get('level')}"
            + (f", {plural(after, 'signature', 'signatures')} sur le document."
               if after is not None else "."))


def _declined(view: CircuitView, d: dict[str, Any]) -> str:
    return f"{_who(view, d.get('slot'))} a refusé de signer. Motif : « {d.get('reason')} »."


def _replaced(view: CircuitView, d: dict[str, Any]) -> str:
    old, new = d.get("old") or {}, d.get("new") or {}
    return (f"{old.get('name')} ({old.get('label')}) est remplacé(e) par {new.get('name')} "
            f"({new.get('label')}) ; l'ancien lien ne fonctionne plus.")


def _cancelled(view: CircuitView, d: dict[str, Any]) -> str:
    reason = f" Motif : « {d['reason']} »." if d.get("reason") else ""
    return f"Circuit annulé par le coordinateur.{reason}"


def _reopened(view: CircuitView, d: dict[str, Any]) -> str:
    deadline = d.get("deadline")
    return ("Circuit rouvert par le coordinateur"
            + (f", date limite le {when(_parse(deadline))}." if deadline else "."))


def _completed(view: CircuitView, d: dict[str, Any]) -> str:
    return "Toutes les signatures sont recueillies : le circuit est terminé."


def _expired(view: CircuitView, d: dict[str, Any]) -> str:
    return "La date limite est passée : le circuit a expiré."


def _deadline_near(view: CircuitView, d: dict[str, Any]) -> str:
    missing = plural(len(d.get("missing") or []), "signature attendue", "signatures attendues")
    return f"Date limite proche : le coordinateur est prévenu ({missing})."


def _deferred(view: CircuitView, d: dict[str, Any]) -> str:
    return (f"Horodatage de l'événement n° {d.get('event')} reporté : le service "
            "d'horodatage n'a pas répondu (il sera fait plus tard).")


_TELLERS = {"started": _started, "invited": _invited, "reminded": _reminded,
            "opened": _opened, "upload-refused": _refused, "signature-accepted": _accepted,
            "declined": _declined, "replaced": _replaced, "cancelled": _cancelled,
            "reopened": _reopened, "completed": _completed, "expired": _expired,
            "deadline-near": _deadline_near, "timestamp-deferred": _deferred}
