"""When a reminder is due (a pure function of a slot, the policy and the time)."""

from __future__ import annotations

import datetime as dt

from .records import ReminderPolicy, SlotState, SlotView

__all__ = ["reminder_due"]


def reminder_due(slot: SlotView, policy: ReminderPolicy,
                 now: dt.datetime) -> dt.datetime | None:
    """When the next reminder to ``slot`` was due, if it is due at ``now``: the first
    ``first_after`` the invitation, then one every ``every``, at most ``at_most``; never
    to a slot that is not invited (signed, declined, waiting)."""
    nxt = next_reminder(slot, policy)
    return nxt if nxt is not None and nxt <= now else None


def next_reminder(slot: SlotView, policy: ReminderPolicy) -> dt.datetime | None:
    """When the next reminder to ``slot`` is due (``None``: none will be)."""
    if slot.state != SlotState.INVITED or slot.invited_at is None:
        return None
    if slot.reminders_sent >= policy.at_most:
        return None
    if slot.reminders_sent == 0 or slot.last_reminded_at is None:
        return slot.invited_at + policy.first_after
    return slot.last_reminded_at + policy.every
