"""The word filters of message records (`query`, `subject`), served by a trigram index.

Every word is matched exactly as a case-insensitive substring (LIKE over the record's
`search_text` or subject); the index only narrows the records that LIKE has to look at, so an
answer is the answer of a scan, found without one.

- SQLite: an FTS5 table with the trigram tokenizer, `message_search`, one row per record (its
  rowid derived from the record id, so that pruning deletes by key). It keeps no positions
  (`detail=none`: a third of the size), so the words' rarest trigrams are looked up (see
  `candidates`), a superset that LIKE then narrows.
- PostgreSQL: a pg_trgm GIN index on `search_text`, which the planner uses for the LIKE itself.

Neither object is in the models' metadata (SQLAlchemy has no type for them): the migration
makes them, and `managed` keeps them out of the schema comparison.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, column, func, literal_column, select, table
from sqlalchemy.orm import Session

SEARCH_TABLE = "message_search"
PG_INDEX = "ix_message_records_search_trgm"
MIN_WORD = 3  # a trigram index knows nothing shorter
COMMON = 5_000

_search = table(SEARCH_TABLE, column("rowid"), column("record_id"), column("text"))
# To the DB-API directly: the records' writer inserts thousands at a time.
_INSERT = "INSERT INTO message_search (rowid, record_id, text) VALUES (?, ?, ?)"


def managed(name: str | None, type_: str, parent_names: Any) -> bool:
    """Whether the schema comparison (Alembic's autogenerate) looks at an object: not the
    search index, which the models do not declare."""
    del type_, parent_names
    return not (name or "").startswith(SEARCH_TABLE) and name != PG_INDEX


def rowid(record_id: str) -> int:
    """The search row of a record: 63 bits of a hash of its id (a collision, some 1 in 10^11
    for ten million records, makes that record's write fail, and the recorder drop it)."""
    digest = hashlib.blake2b(record_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def _sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def index(session: Session, rows: Iterable[tuple[str, str]]) -> None:
    """Add (record id, search text) rows to the index (SQLite; PostgreSQL indexes by itself)."""
    if not _sqlite(session):
        return
    values = [(rowid(i), i, text) for i, text in rows]
    if values:
        session.connection().exec_driver_sql(_INSERT, values)


def unindex(session: Session, ids: list[str]) -> None:
    if _sqlite(session) and ids:
        session.execute(_search.delete().where(_search.c.rowid.in_([rowid(i) for i in ids])))


MAX_PROBES = 16
CHOSEN = 3
MAX_TRIGRAMS = 12


def _quoted(gram: str) -> str:
    return '"' + gram.replace('"', '""') + '"'


def candidates(session: Session, words: list[str], record_id: Any) -> ColumnElement[bool] | None:
    """A condition naming the records that can hold every word (None: no narrowing).

    A record holding every word holds every trigram of them, so the records holding a few of
    those trigrams are candidates. Each trigram is counted in the index up to COMMON (a cheap,
    bounded read); the rarest few that are under it are the ones asked for, all together. If
    every trigram is common, all of them together are counted the same way; if they are still
    common, so are the words, and the time-ordered scan finds a page of them sooner."""
    if not _sqlite(session):
        return None
    grams = sorted({w[i : i + 3] for w in words if len(w) >= MIN_WORD for i in range(len(w) - 2)})
    if not grams:
        return None
    match = literal_column(SEARCH_TABLE).op("MATCH")
    rare: dict[str, int] = {}
    for gram in grams[:MAX_PROBES]:
        bounded = select(_search.c.rowid).where(match(_quoted(gram))).limit(COMMON + 1)
        found = session.scalar(select(func.count()).select_from(bounded.subquery())) or 0
        if found <= COMMON:
            rare[gram] = found
    if rare:
        chosen = sorted(rare, key=lambda gram: rare[gram])[:CHOSEN]
    else:
        # Every trigram is common; all of them together may not be (user123: use, ser,
        # er1, r12, 123 each are).
        step = max(1, len(grams) // MAX_TRIGRAMS)
        chosen = grams[::step][:MAX_TRIGRAMS]
        together = select(_search.c.rowid).where(match(_all(chosen))).limit(COMMON + 1)
        if (session.scalar(select(func.count()).select_from(together.subquery())) or 0) > COMMON:
            return None
    narrowed: ColumnElement[bool] = record_id.in_(
        select(_search.c.record_id).where(match(_all(chosen)))
    )
    return narrowed


def _all(grams: list[str]) -> str:
    return " AND ".join(_quoted(gram) for gram in grams)
