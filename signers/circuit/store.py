"""The circuit store: SQLAlchemy Core tables on SQLite (default) or PostgreSQL.

One schema, one code path, migrations shipped with the package (Alembic, run at open).
SQLite runs in WAL mode with ``synchronous=FULL`` (a committed transaction survives a
crash or a power cut) and writers take the database lock at ``BEGIN`` (``BEGIN
IMMEDIATE``), so two writers never deadlock upgrading a read lock; on PostgreSQL a writer
locks its circuit's row (``SELECT … FOR UPDATE``). Either way the writes on one circuit
are serialised and every check made inside a write transaction still holds at commit."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from .errors import StoreError

__all__ = ["Store", "metadata", "open_store"]

log = logging.getLogger(__name__)

SQLITE_NAME = "circuits.sqlite3"
"""File name of the SQLite database in a store folder."""
BUSY_TIMEOUT_S = 60


class UtcDateTime(sa.types.TypeDecorator[dt.datetime]):
    """An aware datetime stored as fixed-width ISO 8601 text in UTC (sorts as time does,
    the same on SQLite and PostgreSQL)."""

    impl = sa.String(32)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the circuit store")
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")

    def process_result_value(self, value: str | None, dialect: Any) -> dt.datetime | None:
        return dt.datetime.fromisoformat(value) if value is not None else None


class JsonText(sa.types.TypeDecorator[Any]):
    """JSON stored as text (sorted keys), the same on both databases."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True,
                                                     ensure_ascii=False)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else json.loads(value)


metadata = sa.MetaData()

circuits = sa.Table(
    "circuits", metadata,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("deadline", UtcDateTime, nullable=False),
    sa.Column("coordinator_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("coordinator_name", sa.Text, nullable=False),
    sa.Column("coordinator_email", sa.Text),
    sa.Column("base_url", sa.Text, nullable=False),
    sa.Column("reminders", JsonText, nullable=False),
    sa.Column("meta", JsonText, nullable=False),
    sa.Column("head_seq", sa.Integer, nullable=False),
    sa.Column("head_sha256", sa.String(64), nullable=False),
    sa.Column("head_size", sa.BigInteger, nullable=False),
    sa.Column("head_revisions", sa.Integer, nullable=False),
    sa.Column("head_signatures", sa.Integer, nullable=False),
    sa.Column("lease_session", sa.String(64)),
    sa.Column("lease_until", UtcDateTime),
    sa.Column("deadline_warned", sa.Boolean, nullable=False, default=False),
)

slots = sa.Table(
    "slots", metadata,
    sa.Column("circuit_id", sa.String(80), sa.ForeignKey("circuits.id"), primary_key=True),
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("spec", JsonText, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("invited_at", UtcDateTime),
    sa.Column("opened_at", UtcDateTime),
    sa.Column("signed_at", UtcDateTime),
    sa.Column("declined_at", UtcDateTime),
    sa.Column("decline_reason", sa.Text),
    sa.Column("reminders_sent", sa.Integer, nullable=False, default=0),
    sa.Column("last_reminded_at", UtcDateTime),
    sa.Column("signer", sa.Text),
    sa.Column("fingerprint", sa.String(64)),
    sa.Column("level", sa.String(8)),
    sa.Column("via", sa.String(8)),
)

revisions = sa.Table(
    "revisions", metadata,
    sa.Column("circuit_id", sa.String(80), sa.ForeignKey("circuits.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("slot_id", sa.String(80)),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("head_size", sa.BigInteger, nullable=False),
    sa.Column("head_sha256", sa.String(64), nullable=False),
    sa.Column("pdf_revisions", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

sessions = sa.Table(
    "sessions", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("circuit_id", sa.String(80), sa.ForeignKey("circuits.id"), nullable=False),
    sa.Column("slot_id", sa.String(80), nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("base_sha256", sa.String(64), nullable=False),
    sa.Column("prepared", JsonText, nullable=False),
    sa.Column("tail", sa.LargeBinary, nullable=False),
)

events = sa.Table(
    "events", metadata,
    sa.Column("circuit_id", sa.String(80), sa.ForeignKey("circuits.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("line", sa.Text, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("wants_timestamp", sa.Boolean, nullable=False, default=False),
)

stamps = sa.Table(
    "stamps", metadata,
    sa.Column("circuit_id", sa.String(80), sa.ForeignKey("circuits.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("token", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("circuit_id", sa.String(80), sa.ForeignKey("circuits.id"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("slot_id", sa.String(80)),
    sa.Column("generation", sa.Integer),
    sa.Column("data", JsonText, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("claimed_until", UtcDateTime),
    sa.Column("sent_at", UtcDateTime),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
)


class Store:
    """A database holding circuits, opened and migrated to the current schema."""

    def __init__(self, engine: Engine, folder: Path | None) -> None:
        self.engine = engine
        """The SQLAlchemy engine."""
        self.folder = folder
        """The store folder (SQLite), ``None`` for a database URL."""

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite."""
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self, circuit: str | None = None) -> Iterator[Connection]:
        """A write transaction; with ``circuit``, that circuit's row is locked first
        (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already holds the database lock)."""
        with self.engine.connect() as conn:
            conn.execution_options(circuit_write=True)
            with conn.begin():
                if circuit is not None:
                    conn.execute(sa.select(circuits.c.id).where(circuits.c.id == circuit)
                                 .with_for_update())
                yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_store(location: str | os.PathLike[str], *, migrate: bool = True) -> Store:
    """Open the store at ``location``: a folder (SQLite database inside, created if
    needed) or a ``postgresql://`` / ``postgresql+psycopg://`` URL."""
    text = os.fspath(location)
    if text.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        url = "postgresql+psycopg://" + text.split("://", 1)[1]
        engine = sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=30)
        folder = None
    elif "://" in text:
        raise StoreError(f"{text}: unsupported store URL; give a folder or a "
                         "postgresql://user@host/db URL")
    else:
        folder = Path(text)
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(f"{folder}: cannot create the store folder "
                             f"({exc.strerror}); choose another with --store") from exc
        engine = _sqlite_engine(folder / SQLITE_NAME)
    store = Store(engine, folder)
    if migrate:
        _migrate(store, text)
    return store


def _sqlite_engine(path: Path) -> Engine:
    engine = sa.create_engine(f"sqlite:///{path}",
                              connect_args={"timeout": BUSY_TIMEOUT_S,
                                            "check_same_thread": False},
                              pool_size=10, max_overflow=30)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("circuit_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _migrate(store: Store, where: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    try:
        with store.engine.connect() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except sa.exc.OperationalError as exc:
        raise StoreError(f"{_safe(where)}: cannot open the circuit store ({exc.orig}); "
                         "check the path or the database URL and that the server "
                         "runs") from exc


def _safe(url: str) -> str:
    """``url`` without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True) \
            if "://" in url else url
    except sa.exc.ArgumentError:
        return url
