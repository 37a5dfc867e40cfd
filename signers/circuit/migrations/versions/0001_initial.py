"""The circuit store's first schema: circuits, slots, revisions, sessions, journal
events, their timestamp tokens, and the notification outbox.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TIME = sa.String(32)  # UtcDateTime: fixed-width ISO 8601 in UTC


def _circuit_ref(primary: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("circuit_id", sa.String(80), sa.ForeignKey("circuits.id"),
                     primary_key=primary, nullable=False)


def upgrade() -> None:
    op.create_table(
        "circuits",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("deadline", _TIME, nullable=False),
        sa.Column("coordinator_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("coordinator_name", sa.Text, nullable=False),
        sa.Column("coordinator_email", sa.Text),
        sa.Column("base_url", sa.Text, nullable=False),
        sa.Column("reminders", sa.Text, nullable=False),
        sa.Column("meta", sa.Text, nullable=False),
        sa.Column("head_seq", sa.Integer, nullable=False),
        sa.Column("head_sha256", sa.String(64), nullable=False),
        sa.Column("head_size", sa.BigInteger, nullable=False),
        sa.Column("head_revisions", sa.Integer, nullable=False),
        sa.Column("head_signatures", sa.Integer, nullable=False),
        sa.Column("lease_session", sa.String(64)),
        sa.Column("lease_until", _TIME),
        sa.Column("deadline_warned", sa.Boolean, nullable=False),
    )
    op.create_table(
        "slots",
        _circuit_ref(),
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("invited_at", _TIME),
        sa.Column("opened_at", _TIME),
        sa.Column("signed_at", _TIME),
        sa.Column("declined_at", _TIME),
        sa.Column("decline_reason", sa.Text),
        sa.Column("reminders_sent", sa.Integer, nullable=False),
        sa.Column("last_reminded_at", _TIME),
        sa.Column("signer", sa.Text),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("level", sa.String(8)),
        sa.Column("via", sa.String(8)),
    )
    op.create_table(
        "revisions",
        _circuit_ref(),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("slot_id", sa.String(80)),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("head_size", sa.BigInteger, nullable=False),
        sa.Column("head_sha256", sa.String(64), nullable=False),
        sa.Column("pdf_revisions", sa.Integer, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        _circuit_ref(primary=False),
        sa.Column("slot_id", sa.String(80), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("base_sha256", sa.String(64), nullable=False),
        sa.Column("prepared", sa.Text, nullable=False),
        sa.Column("tail", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "events",
        _circuit_ref(),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("wants_timestamp", sa.Boolean, nullable=False),
    )
    op.create_table(
        "stamps",
        _circuit_ref(),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("token", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _circuit_ref(primary=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("slot_id", sa.String(80)),
        sa.Column("generation", sa.Integer),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("claimed_until", _TIME),
        sa.Column("sent_at", _TIME),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("outbox_pending", "outbox", ["sent_at", "id"])
    op.create_index("events_wanting_timestamp", "events", ["wants_timestamp"])


def downgrade() -> None:
    op.drop_index("events_wanting_timestamp", "events")
    op.drop_index("outbox_pending", "outbox")
    for table in ("outbox", "stamps", "events", "sessions", "revisions", "slots",
                  "circuits"):
        op.drop_table(table)
