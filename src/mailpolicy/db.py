"""Database plumbing: metadata, engine, and the request-scoped session."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, ForeignKey, MetaData, String, create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores naive UTC, hands back aware UTC: SQLite has no time zones, PostgreSQL keeps both."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, _dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, _dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class Entity(Base):
    """Columns every settings entry has: a UUID, its account, and its two timestamps."""

    __abstract__ = True

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    # A plain file path gets its directory made; a `file:` URI is the driver's to interpret.
    if (
        parsed.database
        and parsed.database != ":memory:"
        and not parsed.database.startswith("file:")
    ):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The driver would begin a transaction only before its first write, so the reads
        # before it saw whatever was committed at each moment. Transactions are begun
        # explicitly instead (below).
        dbapi_connection.isolation_level = None
        # WAL lets readers proceed while a writer commits; foreign keys are off by default.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        # A read transaction sees one snapshot from its first statement to its end (WAL). A
        # write transaction takes the write lock before it reads anything, so what it reads,
        # checks and writes cannot be changed underneath it by another writer.
        if conn.get_execution_options().get(MODE) == READ:
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


MODE = "mailpolicy_mode"
READ = "read"
WRITE = "write"


class Database:
    """One engine and its session factories, owned by the application."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # Reads see one snapshot (a list's count and its page agree); on PostgreSQL that is
        # REPEATABLE READ. Writes lock what they change: the write lock on SQLite, the row
        # (SELECT ... FOR UPDATE) on PostgreSQL.
        read_options: dict[str, Any] = {MODE: READ}
        if self.engine.dialect.name == "postgresql":
            read_options["isolation_level"] = "REPEATABLE READ"
        self.readers = sessionmaker(
            self.engine.execution_options(**read_options), expire_on_commit=False
        )
        self.writers = sessionmaker(
            self.engine.execution_options(**{MODE: WRITE}), expire_on_commit=False
        )

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """The caller owns the transaction: commit when its block ends, roll back if it raises."""
        with (self.writers if write else self.readers)() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
