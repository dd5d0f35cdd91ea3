"""Writing message records off the mail path, and pruning them when they expire.

The milter hands each finished message's records to `MessageRecorder.add` (an append under a
lock: the mail path never touches the database). A background thread writes what is queued in
one transaction every `interval` seconds. When the database cannot be written, records stay
queued and go with the next batch; the queue is bounded (`capacity`), and a record that finds
it full is dropped and counted, the count logged at most once a minute and kept in `dropped`.
So an outage costs memory up to the bound and, beyond it, records, never mail. A record the
database refuses for itself (its account was deleted meanwhile) is dropped, logged and counted
in `rejected`, so that it cannot hold back the others.

The same thread prunes records older than the retention, in bounded batches, once a minute.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailpolicy.db import UNAVAILABLE, Database, utcnow
from mailpolicy.messages import search
from mailpolicy.messages.records import (
    MessageRecipient,
    MessageRecord,
    RecordDraft,
    write_records,
)

log = logging.getLogger("mailpolicy.messages")

PRUNE_EVERY_SECONDS = 60.0
# SQLite plans a filtered list well only with statistics of the tables (sqlite_stat1: how
# selective each index is); they are refreshed this often, each index read up to
# ANALYSIS_LIMIT rows. Fewer misjudge how few rows the account (every index's first column)
# leaves, and a sender's list falls back to reading the account's time range. PostgreSQL's
# autovacuum keeps its own.
ANALYZE_EVERY_SECONDS = 3600.0
ANALYSIS_LIMIT = 100_000
PRUNE_BATCH = 5000
DROP_LOG_SECONDS = 60.0
# Records written in one transaction at most; the rest go in the next.
WRITE_BATCH = 5000

# A record, or a message whose records are made on the writer's thread.
Queued = RecordDraft | Callable[[], list[RecordDraft]]


class MessageRecorder:
    """Records gathered on the decision path, written to the database in batches."""

    def __init__(
        self,
        database: Database,
        interval: float,
        *,
        capacity: int,
        retention_days: int,
    ) -> None:
        self.database = database
        self.interval = interval
        self.capacity = capacity
        self.retention_days = retention_days
        self._lock = threading.Lock()
        self._queue: deque[Queued] = deque()
        self.dropped = 0  # the queue was full
        self.rejected = 0  # the database refused the record itself
        self.written = 0
        self._dropped_logged = 0
        self._last_drop_log = 0.0
        self._last_prune = 0.0
        self._last_analyze = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, drafts: list[RecordDraft]) -> None:
        """Queue a message's records; if the queue is full, drop and count them."""
        if not drafts:
            return
        with self._lock:
            room = self.capacity - len(self._queue)
            self._queue.extend(drafts[: max(room, 0)])
            self.dropped += max(len(drafts) - max(room, 0), 0)

    def add_later(self, build: Callable[[], list[RecordDraft]]) -> None:
        """Queue a message whose records `build` makes, on the writer's thread: parsing the
        headers a record shows is work the mail path need not wait for. A message counts as
        one against the bound, whatever it makes."""
        with self._lock:
            if len(self._queue) >= self.capacity:
                self.dropped += 1
            else:
                self._queue.append(build)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mailpolicy-records", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the writer and write what is left (if the database lets it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        while self._queue and self.flush():
            pass
        self._log_drops(force=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            while self.flush() and len(self._queue) >= WRITE_BATCH:
                pass
            self._log_drops()
            now = time.monotonic()
            if now - self._last_prune >= PRUNE_EVERY_SECONDS:
                self._last_prune = now
                self.prune()
            if now - self._last_analyze >= ANALYZE_EVERY_SECONDS and self.written:
                self._last_analyze = now
                analyze(self.database)

    def flush(self) -> bool:
        """Write one batch of queued records; on failure they stay queued, in order."""
        with self._lock:
            taken = [self._queue.popleft() for _ in range(min(len(self._queue), WRITE_BATCH))]
        if not taken:
            return True
        batch = self._built(taken)
        if not batch:
            return True
        try:
            with self.database.transaction() as session:
                write_records(session, batch)
        except UNAVAILABLE:
            log.warning(
                "%d message records not written yet (kept for the next try)",
                len(batch),
                exc_info=True,
            )
            with self._lock:
                self._queue.extendleft(reversed(batch))
                overflow = len(self._queue) - self.capacity
                for _ in range(max(overflow, 0)):
                    self._queue.pop()  # the newest go first: the oldest are already late
                self.dropped += max(overflow, 0)
            return False
        except Exception:
            # Not an outage: some record cannot be written (its account was deleted since,
            # say). Write them one by one, so that one cannot hold back the rest.
            self._one_by_one(batch)
            return True
        self.written += len(batch)
        return True

    def _built(self, taken: list[Queued]) -> list[RecordDraft]:
        batch: list[RecordDraft] = []
        for item in taken:
            if isinstance(item, RecordDraft):
                batch.append(item)
                continue
            try:
                batch.extend(item())
            except Exception:
                self.rejected += 1
                log.exception("a message's record could not be made; it is dropped")
        return batch

    def _one_by_one(self, batch: list[RecordDraft]) -> None:
        for draft in batch:
            try:
                with self.database.transaction() as session:
                    write_records(session, [draft])
            except UNAVAILABLE:
                with self._lock:
                    self._queue.appendleft(draft)
                return
            except Exception as exc:
                self.rejected += 1
                log.error(
                    "message record %s of account %s cannot be written and is dropped: %s",
                    draft.id,
                    draft.account_id,
                    " ".join(str(exc).split())[:300],
                )
            else:
                self.written += 1

    def _log_drops(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.dropped == self._dropped_logged:
            return
        if not force and now - self._last_drop_log < DROP_LOG_SECONDS:
            return
        self._last_drop_log = now
        log.error(
            "%d message records dropped so far: the database could not be written and the "
            "queue of %d records was full (MAILPOLICY_MESSAGE_QUEUE_CAPACITY); mail was not "
            "affected",
            self.dropped,
            self.capacity,
        )
        self._dropped_logged = self.dropped

    def prune(self, now: dt.datetime | None = None) -> int:
        """Delete records past the retention, at most PRUNE_BATCH per transaction."""
        return prune(self.database, self.retention_days, now)


def prune(database: Database, retention_days: int, now: dt.datetime | None = None) -> int:
    """Delete the records older than `retention_days`, in bounded batches; how many went."""
    cutoff = (now or utcnow()) - dt.timedelta(days=retention_days)
    removed = 0
    try:
        while True:
            with database.transaction() as session:
                ids = list(
                    session.scalars(
                        select(MessageRecord.id)
                        .where(MessageRecord.scanned_at < cutoff)
                        .limit(PRUNE_BATCH)
                    )
                )
                if not ids:
                    return removed
                _delete_records(session, ids)
            removed += len(ids)
    except Exception:
        log.warning("expired message records not pruned yet", exc_info=True)
        return removed


def analyze(database: Database) -> None:
    """Refresh SQLite's statistics of the record tables (a no-op on PostgreSQL)."""
    if database.engine.dialect.name != "sqlite":
        return
    try:
        with database.transaction() as session:
            connection = session.connection()
            connection.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
            for table in (MessageRecord.__tablename__, MessageRecipient.__tablename__):
                connection.exec_driver_sql(f"ANALYZE {table}")
    except Exception:
        log.warning("the record tables' statistics were not refreshed", exc_info=True)


def _delete_records(session: Session, ids: list[str]) -> None:
    # Recipients first: SQLite enforces the foreign key only with its pragma on.
    session.execute(delete(MessageRecipient).where(MessageRecipient.record_id.in_(ids)))
    search.unindex(session, ids)
    session.execute(delete(MessageRecord).where(MessageRecord.id.in_(ids)))
