"""Database plumbing: metadata, engine, and the request-scoped session."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import enum
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, ForeignKey, MetaData, String, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from mailpolicy.config import PoolOptions

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


# Errors that say the database cannot be used right now, rather than that a request is wrong:
# refused or dropped connections, a server shutting down, a pool with no connection to give, a
# statement or lock wait that ran out of time, SQLite's write lock held past the busy timeout.
UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def unavailable_reason(error: BaseException) -> str | None:
    """Why the database could not serve, if that is what `error` says; None otherwise."""
    if not isinstance(error, UNAVAILABLE):
        return None
    original = getattr(error, "orig", None) or error
    text = " ".join(str(original).split())
    return text[:200] or type(original).__name__


def sqlite_file(url: str) -> str | None:
    """The file a SQLite URL names (None: in memory, or not SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in {None, "", ":memory:"}:
        return None
    return parsed.database


def make_engine(url: str, pool: PoolOptions | None = None) -> Engine:
    pool = pool or PoolOptions()
    parsed = make_url(url)
    sizing: dict[str, Any] = {
        "pool_size": pool.size,
        "max_overflow": pool.overflow,
        "pool_timeout": pool.timeout,
        # A connection the server dropped (a restart) is noticed when taken from the pool and
        # replaced, so service resumes by itself when the database returns.
        "pool_pre_ping": True,
    }
    if parsed.get_backend_name() == "sqlite":
        # A connection to a file costs memory only, and a new one reads the whole schema on its
        # first statement: every connection opened is kept (the overflow too), and none is
        # pinged (a file cannot drop it).
        sizing = {
            "pool_size": pool.size + pool.overflow,
            "max_overflow": 0,
            "pool_timeout": pool.timeout,
        }
        if parsed.database in {None, "", ":memory:"}:
            sizing = {}  # one connection per thread, the only way an in-memory database is shared
    if parsed.get_backend_name() != "sqlite":
        connect_args: dict[str, Any] = {}
        if parsed.get_driver_name() == "psycopg":
            milliseconds = int(pool.statement_timeout * 1000)
            connect_args = {
                "connect_timeout": max(1, round(pool.timeout)),
                "options": f"-c statement_timeout={milliseconds}",
                # A server that vanished from the network: unacknowledged sends give up.
                "tcp_user_timeout": int(pool.timeout * 1000),
                "keepalives": 1,
                "keepalives_idle": 30,
                "keepalives_interval": 5,
                "keepalives_count": 3,
                "application_name": "mailpolicy",
            }
        return create_engine(url, connect_args=connect_args, **sizing)
    # A plain file path gets its directory made; a `file:` URI is the driver's to interpret.
    if (
        parsed.database
        and parsed.database != ":memory:"
        and not parsed.database.startswith("file:")
    ):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **sizing)

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


def fetch_one(session: Session, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The first row of a fixed SQL statement (`?` for each parameter), asked of the driver
    directly in the session's transaction: for the lookups every request makes, where the ORM's
    own work would cost ten times the database's. Values come back as the driver gives them,
    so select only columns whose values need no conversion (strings, integers)."""
    connection = session.connection()
    if connection.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    raw = connection.connection.dbapi_connection
    assert raw is not None  # a connection in use holds its DBAPI connection
    cursor = raw.cursor()
    try:
        cursor.execute(sql, params)
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row
    finally:
        cursor.close()


@contextmanager
def _committed(session: Session) -> Iterator[Session]:
    """`session`, committed when the block ends, rolled back if it raises, then closed."""
    with session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


class Busy(enum.Enum):
    BUSY = "busy"


BUSY = Busy.BUSY
T = TypeVar("T")


class _Held:
    """A thread's own connection, kept in a `threading.local`: when the thread ends the local
    lets go of it, and the connection is closed (back to the pool)."""

    def __init__(
        self, connection: Connection, opened: list[Connection], lock: threading.Lock
    ) -> None:
        self.connection = connection
        weakref.finalize(self, _let_go, connection, opened, lock).atexit = False


def _let_go(connection: Connection, opened: list[Connection], lock: threading.Lock) -> None:
    with lock:
        if connection in opened:
            opened.remove(connection)
    connection.close()


class Database:
    """One engine and its session factories, owned by the application."""

    def __init__(self, url: str, pool: PoolOptions | None = None) -> None:
        self.url = url
        self.engine = make_engine(url, pool)
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
        self._write_lock = threading.RLock() if self.engine.dialect.name == "sqlite" else None
        # SQLite answers a read of a few rows by key in microseconds, without waiting for any
        # lock (WAL), so such reads need not leave the event loop (see `lookup`).
        self.inline_lookups = self.engine.dialect.name == "sqlite" and sqlite_file(url) is not None
        self._lookup_connections = threading.local()
        self._opened: list[Connection] = []
        self._opened_lock = threading.Lock()
        self._on_dispose: list[Callable[[], None]] = []
        self._counter: ThreadPoolExecutor | None = None
        self._counter_lock = threading.Lock()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """The caller owns the transaction: commit when its block ends, roll back if it raises."""
        with (
            self._writing() if write else nullcontext(),
            _committed((self.writers if write else self.readers)()) as session,
        ):
            yield session

    @contextmanager
    def lookup(self) -> Iterator[Session]:
        """A read transaction for a lookup by key (a token, an entry): on SQLite, on a connection
        of its own that only the event loop's thread uses, so the loop never waits for a pooled
        one and the lookup costs no trip to the thread pool. Call it from the event loop only,
        and only for reads that touch a few rows through an index. Elsewhere, a pooled read."""
        if not self.inline_lookups:
            with self.transaction(write=False) as session:
                yield session
            return
        # One per thread (an event loop's), so that no two loops ever share one.
        connection = self._own_connection("reader", READ)
        with _committed(self.readers(bind=connection)) as session:
            yield session

    def write_here(self, work: Callable[[Session], T]) -> T | Busy:
        """Run `work` in a write transaction right here, if that costs no wait: on SQLite, when
        neither another thread of this process nor another process holds the write lock.
        Otherwise (or on PostgreSQL) nothing is run and `BUSY` is returned: the caller runs
        it in the thread pool, where waiting is harmless. For the event loop, and for writes
        of a few rows (one entry and its audit event)."""
        lock = self._write_lock
        if not self.inline_lookups or lock is None or not lock.acquire(blocking=False):
            return BUSY
        try:
            connection = self._own_connection("writer", WRITE)
            try:
                connection.begin()  # BEGIN IMMEDIATE, refused at once if the lock is taken
            except sa_exc.OperationalError:
                if connection.in_transaction():
                    connection.rollback()
                return BUSY
            try:
                with self.writers(
                    bind=connection, join_transaction_mode="rollback_only"
                ) as session:
                    result = work(session)
                    session.flush()
                connection.commit()
            except BaseException:
                if connection.in_transaction():
                    connection.rollback()
                raise
            return result
        finally:
            lock.release()

    async def counting(self, work: Callable[[Session], T]) -> T:
        """Run `work` in a read transaction on the thread that counts list totals.

        A total not known yet for a settings version is counted by walking every match (about
        10 ms for 100,000): not on the event loop, where every request would wait for it, and
        always on this one thread rather than on any of the thread pool's. glibc gives threads
        that allocate memory arenas of their own, and SQLite's page cache refilled from a
        changing set of threads grew the server by about 20 MB a minute under a steady mixed
        load; on one thread it stays flat. Lists that arrive together after a write queue here,
        and all but the first find their total counted."""
        with self._counter_lock:
            if self._counter is None:
                self._counter = ThreadPoolExecutor(1, thread_name_prefix="mailpolicy-counts")
            counter = self._counter
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(counter, context.run, self._read, work)

    def _read(self, work: Callable[[Session], T]) -> T:
        with self.transaction(write=False) as session:
            return work(session)

    def _own_connection(self, role: str, mode: str) -> Connection:
        """This thread's own connection for `role`, outside the pool's rotation. It goes back
        to the pool when the thread ends (a test client without a `with` block, for one, runs
        each request on an event loop of its own, in a thread of its own)."""
        held: _Held | None = getattr(self._lookup_connections, role, None)
        if held is not None and not held.connection.invalidated:
            return held.connection
        connection = self.engine.execution_options(**{MODE: mode}).connect()
        if mode == WRITE:
            # Never wait for the write lock here: the caller goes elsewhere instead.
            connection.exec_driver_sql("PRAGMA busy_timeout=0")
            connection.commit()
        setattr(self._lookup_connections, role, _Held(connection, self._opened, self._opened_lock))
        with self._opened_lock:
            self._opened.append(connection)
        return connection

    def _writing(self) -> AbstractContextManager[object]:
        """On SQLite, one write transaction of this process at a time. SQLite has one write lock
        for the database; a writer that finds it taken sleeps in growing steps (its busy
        handler, up to 100 ms a step) and tries again, so writers of one process that queue
        here instead are handed the lock the moment it is free. Other processes (workers,
        the CLI, a milter's counters) still meet at SQLite's own lock."""
        return self._write_lock if self._write_lock is not None else nullcontext()

    def on_dispose(self, call: Callable[[], None]) -> None:
        """Have `call` run first when the database is disposed (work that must end before)."""
        self._on_dispose.append(call)

    def dispose(self) -> None:
        for call in self._on_dispose:
            call()
        with self._counter_lock:
            counter, self._counter = self._counter, None
        if counter is not None:
            counter.shutdown(wait=True)
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()
        self._lookup_connections = threading.local()
        self.engine.dispose()
