"""Hit counts: which settings entries real mail matched, and how many messages each protected
domain received.

The milter records what each message matched in memory (`HitRecorder.record`, a dictionary
update under a lock); a background thread writes the totals in one transaction every
`stats_flush_seconds`, so the decision path never waits for the database. Counts that could
not be written (the database was down) are kept and written with the next batch.

`GET /accounts/{account_id}/email-security/stats/entries` and `mailpolicy stats` read them
back through `mailpolicy.stats.report`: every entry of the account with its hits and last
hit, filterable to the stale ones. A domain's message counts live on the domain
(`mailpolicy.resources.domains.count_messages`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    String,
    case,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from mailpolicy.db import Base, Database, UTCDateTime, utcnow
from mailpolicy.resources.domains import count_messages

log = logging.getLogger("mailpolicy.stats.hits")


class EntryStat(Base):
    """How often one settings entry matched a message, and when it last did."""

    __tablename__ = "entry_stats"
    __table_args__ = (Index("ix_entry_stats_account", "account_id"),)

    resource: Mapped[str] = mapped_column(String(40), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    hits: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hit_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# ---- recording (the milter) -----------------------------------------------------------------

Key = tuple[str, str, str]  # account id, resource, entry id


class HitRecorder:
    """Counts gathered on the decision path, written to the database in batches."""

    def __init__(self, database: Database, interval: float) -> None:
        self.database = database
        self.interval = interval
        self._lock = threading.Lock()
        self._hits: dict[Key, tuple[int, dt.datetime]] = {}
        self._messages: dict[str, int] = {}  # protected domain id -> messages
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(
        self, account_id: str, entries: Iterable[tuple[str, str]], domain_ids: Iterable[str]
    ) -> None:
        """One message matched `entries` ((resource, id) pairs) of the account and was
        received by the protected domains `domain_ids`."""
        now = utcnow()
        with self._lock:
            for resource, entry_id in entries:
                key = (account_id, resource, entry_id)
                count, _ = self._hits.get(key, (0, now))
                self._hits[key] = (count + 1, now)
            for domain_id in domain_ids:
                self._messages[domain_id] = self._messages.get(domain_id, 0) + 1

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mailpolicy-stats", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the writer and write what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self) -> bool:
        """Write the counts gathered so far; keep them for the next try if that fails."""
        with self._lock:
            hits, self._hits = self._hits, {}
            messages, self._messages = self._messages, {}
        if not hits and not messages:
            return True
        try:
            with self.database.transaction() as session:
                write_hits(session, hits)
                count_messages(session, messages, utcnow().date())
        except Exception:
            log.warning("hit counts not written yet (kept for the next try)", exc_info=True)
            with self._lock:
                for key, (count, at) in hits.items():
                    mine, latest = self._hits.get(key, (0, at))
                    self._hits[key] = (count + mine, max(at, latest))
                for domain_id, count in messages.items():
                    self._messages[domain_id] = self._messages.get(domain_id, 0) + count
            return False
        return True


def write_hits(session: Session, hits: dict[Key, tuple[int, dt.datetime]]) -> None:
    if not hits:
        return
    rows = [
        {"account_id": a, "resource": r, "entry_id": e, "hits": n, "last_hit_at": at}
        for (a, r, e), (n, at) in hits.items()
    ]
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(EntryStat).values(rows)
    table = EntryStat.__table__
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["resource", "entry_id"],
            set_={
                "hits": table.c.hits + statement.excluded.hits,
                "last_hit_at": case(
                    (
                        statement.excluded.last_hit_at > table.c.last_hit_at,
                        statement.excluded.last_hit_at,
                    ),
                    else_=table.c.last_hit_at,
                ),
            },
        )
    )
