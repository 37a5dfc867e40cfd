"""Records of the signing circuit: what a circuit is made of and what the engine returns."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field as dc_field
from enum import StrEnum
from typing import Any

from ..model import ExpectedSigner

__all__ = ["Accepted", "Acceptance", "CircuitSpec", "CircuitState", "CircuitView", "Head",
           "Invitation", "Notification", "ReminderPolicy", "SessionInfo", "SlotSpec",
           "SlotState", "SlotView", "Started", "SweepResult"]


class CircuitState(StrEnum):
    """State of a circuit."""

    OPEN = "open"
    COMPLETE = "complete"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class SlotState(StrEnum):
    """State of one signatory's slot."""

    WAITING = "waiting"
    """Its stage is not open yet."""
    INVITED = "invited"
    SIGNED = "signed"
    DECLINED = "declined"


@dataclass(frozen=True)
class SlotSpec:
    """One signatory of a circuit, as given when it starts."""

    id: str
    """Stable id of the slot (the signatory id), e.g. ``maire-gignac``."""
    field: str
    """Signature field the signatory fills."""
    stage: int
    """Stage number, from 1; a stage opens when every earlier one is complete."""
    label: str
    """Capacity line, e.g. "Le Maire de Gignac" (stamp, reports)."""
    name: str
    """The person's (or the seal's) name."""
    email: str | None = None
    """Where invitations and reminders go (``None``: to the coordinator)."""
    names: tuple[str, ...] = ()
    """Certificate holder names accepted (default: ``name``)."""
    emails: tuple[str, ...] = ()
    """Certificate e-mails accepted (default: ``email``)."""
    fingerprints: tuple[str, ...] = ()
    """Pinned SHA-256 certificate fingerprints (hex)."""
    reason: str | None = None
    """Reason written in the signature, e.g. the authorising deliberation."""
    seal: bool = False
    """An organisation seal (digitalSignature key usage suffices)."""
    details: dict[str, Any] = dc_field(default_factory=dict)
    """Free JSON facts shown by the API (organisation, role, deliberation…)."""

    def expected(self) -> ExpectedSigner:
        """Who may sign the field, for :func:`signers.identity.match_signer`."""
        return ExpectedSigner(field=self.field, label=self.label,
                              names=self.names or (self.name,),
                              emails=self.emails or ((self.email,) if self.email else ()),
                              fingerprints=self.fingerprints)


@dataclass(frozen=True)
class ReminderPolicy:
    """When reminders and deadline warnings are due."""

    first_after: dt.timedelta = dt.timedelta(days=3)
    """First reminder this long after the invitation."""
    every: dt.timedelta = dt.timedelta(days=3)
    """Then one every this long."""
    at_most: int = 3
    """At most this many reminders per signatory."""
    deadline_warning: dt.timedelta = dt.timedelta(days=2)
    """Warn the coordinator this long before the deadline."""


@dataclass(frozen=True)
class CircuitSpec:
    """A circuit to start on one package."""

    id: str
    """Circuit id (letters, digits, ``-``)."""
    title: str
    """Title of the document, for messages."""
    package: bytes
    """The PDF with its empty signature fields (maybe already partly signed)."""
    slots: tuple[SlotSpec, ...]
    """Every signatory, each with its stage."""
    deadline: dt.datetime
    """When the circuit expires (aware)."""
    coordinator_name: str = ""
    """Who follows the circuit."""
    coordinator_email: str | None = None
    """Where the coordinator's notifications go."""
    base_url: str = ""
    """Public base URL of the service, for links in notifications."""
    reminders: ReminderPolicy = dc_field(default_factory=ReminderPolicy)
    """Reminder settings."""
    meta: dict[str, Any] = dc_field(default_factory=dict)
    """Free JSON facts about the document (shown by the API, journaled at start)."""


@dataclass(frozen=True)
class Started:
    """A started circuit and its links' tokens (shown once, never stored)."""

    circuit: str
    """Circuit id."""
    coordinator_token: str
    """The coordinator's token."""
    tokens: dict[str, str]
    """Token of each slot."""


@dataclass(frozen=True)
class Head:
    """The current document of a circuit."""

    sha256: str
    """SHA-256 of the whole PDF (hex)."""
    size: int
    """Size in bytes."""
    signatures: int
    """Signatures it carries."""
    revisions: int
    """PDF revisions it has."""


@dataclass(frozen=True)
class SlotView:
    """The state of one slot."""

    id: str
    """Slot id."""
    spec: SlotSpec
    """Who signs (as currently known: after a replacement, the new person)."""
    state: SlotState
    """State."""
    generation: int
    """Link generation (bumped when the signatory is replaced)."""
    invited_at: dt.datetime | None
    """When the slot's stage opened."""
    opened_at: dt.datetime | None
    """First download of the document."""
    signed_at: dt.datetime | None
    """When its signature was accepted."""
    declined_at: dt.datetime | None
    """When it declined."""
    decline_reason: str | None
    """Why."""
    reminders_sent: int
    """Reminders sent."""
    last_reminded_at: dt.datetime | None
    """Last reminder."""
    signer: str | None
    """Certificate holder of the accepted signature."""
    fingerprint: str | None
    """SHA-256 of the signing certificate."""
    level: str | None
    """PAdES level of the accepted signature (B-B, B-T…)."""
    via: str | None
    """``upload`` or ``remote``."""


@dataclass(frozen=True)
class CircuitView:
    """The state of a circuit."""

    id: str
    """Circuit id."""
    title: str
    """Document title."""
    state: CircuitState
    """State."""
    created_at: dt.datetime
    """Start."""
    deadline: dt.datetime
    """Deadline."""
    head: Head
    """Current document."""
    slots: tuple[SlotView, ...]
    """Every slot, in stage order."""
    coordinator_name: str
    """Coordinator."""
    coordinator_email: str | None
    """Coordinator's address."""
    base_url: str
    """Base URL for links."""
    reminders: ReminderPolicy
    """Reminder settings."""
    meta: dict[str, Any]
    """Document facts."""

    @property
    def current_stage(self) -> int | None:
        """The open stage (lowest with a slot not signed), ``None`` when all signed."""
        stages = [s.spec.stage for s in self.slots if s.state != SlotState.SIGNED]
        return min(stages) if stages else None

    @property
    def signed(self) -> int:
        """Slots signed."""
        return sum(s.state == SlotState.SIGNED for s in self.slots)

    def slot(self, slot_id: str) -> SlotView:
        """The slot ``slot_id`` (KeyError if unknown)."""
        for s in self.slots:
            if s.id == slot_id:
                return s
        raise KeyError(slot_id)


@dataclass(frozen=True)
class Acceptance:
    """What the acceptance check found in an accepted revision."""

    field: str
    """Field signed."""
    signer: str
    """Certificate holder name."""
    subject: str
    """Certificate subject."""
    fingerprint: str
    """SHA-256 of the signing certificate."""
    level: str
    """``B-B`` or ``B-T`` (signature timestamp present and valid)."""
    certified: bool
    """The new signature certifies the document (DocMDP)."""
    revisions: int
    """Revisions added (the signature's, plus DSS or document timestamps)."""
    signing_time: str | None = None
    """Signing time claimed (ISO 8601)."""
    timestamp_time: str | None = None
    """Time of the signature timestamp (ISO 8601)."""
    match: str = ""
    """What identified the signer."""


@dataclass(frozen=True)
class SessionInfo:
    """A remote signing session prepared under a lease."""

    id: str
    """Session id."""
    to_sign: bytes
    """DER of the signed attributes the signatory's key signs."""
    digest_algorithm: str
    """Digest algorithm (``sha256``)."""
    expires_at: dt.datetime
    """End of the lease: the signature must come back before."""
    head: Head
    """The head the revision was prepared on."""


@dataclass(frozen=True)
class SweepResult:
    """What a sweep did."""

    reminded: tuple[tuple[str, str], ...] = ()
    """(circuit, slot) reminded."""
    expired: tuple[str, ...] = ()
    """Circuits expired."""
    warned: tuple[str, ...] = ()
    """Circuits whose coordinator was warned of the deadline."""
    timestamped: int = 0
    """Journal events timestamped late."""
    sessions_closed: int = 0
    """Expired signing sessions closed."""


@dataclass(frozen=True)
class Accepted:
    """A revision the circuit accepted and committed."""

    head: Head
    """The new head."""
    signed: int
    """Slots signed now."""
    expected: int
    """Slots in all."""
    acceptance: Acceptance
    """What the check found."""
    completed: bool
    """This signature completed the circuit."""


@dataclass(frozen=True)
class Invitation:
    """What a token gives access to."""

    circuit: CircuitView
    """The circuit."""
    slot: SlotView | None
    """The token's slot (``None`` for the coordinator)."""


@dataclass(frozen=True)
class Notification:
    """A message to send, claimed from the outbox."""

    id: int
    """Outbox row."""
    kind: str
    """``invitation``, ``reminder``, ``declined``, ``completed``, ``deadline-near``,
    ``expired``."""
    circuit: CircuitView
    """The circuit as it is now."""
    slot: SlotView | None
    """The slot concerned (invitations, reminders, declines)."""
    token: str | None
    """The slot's current token (invitations and reminders), for the link."""
    to_coordinator: bool
    """Addressed to the coordinator (also when the slot has no e-mail address)."""
    data: dict[str, Any]
    """Facts recorded when it was queued."""
