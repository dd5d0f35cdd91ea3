"""The word filters of message records (`query`, `subject`), served by a trigram index.

Every word is matched exactly as a case-insensitive substring (LIKE over the record's
`search_text` or subject); the index only narrows the records that LIKE has to look at, so an
answer is the answer of a scan, found without one.

- SQLite: an FTS5 table with the trigram tokenizer, `message_search`, one row per record (its
  rowid derived from the record id, so that pruning deletes by key). It keeps no positions
  (`detail=none`: a third of the size), so a word is looked up as all of its trigrams, a
  superset that LIKE then narrows. For the rarest word of at least three characters, the
  index's matches are the candidates; a word in more than `COMMON` records is left to the
  time-ordered scan, which finds a page of it sooner.
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
COMMON = 20_000

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


MAX_TRIGRAMS = 12


def _trigrams(word: str) -> str:
    """An FTS5 query for the records holding every trigram of `word` (some of them, spread
    over it, for a long word: LIKE checks the rest)."""
    grams = list(dict.fromkeys(word[i : i + 3] for i in range(len(word) - 2)))
    if len(grams) > MAX_TRIGRAMS:
        step = len(grams) / MAX_TRIGRAMS
        grams = [grams[int(i * step)] for i in range(MAX_TRIGRAMS)] + [grams[-1]]
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def candidates(session: Session, words: list[str], record_id: Any) -> ColumnElement[bool] | None:
    """A condition naming the records that can hold every word (None: no narrowing)."""
    if not _sqlite(session):
        return None
    usable = sorted({w for w in words if len(w) >= MIN_WORD})
    if not usable:
        return None
    match = literal_column(SEARCH_TABLE).op("MATCH")
    counts = {}
    for word in usable:
        bounded = select(_search.c.rowid).where(match(_trigrams(word))).limit(COMMON + 1).subquery()
        counts[word] = session.scalar(select(func.count()).select_from(bounded)) or 0
    rarest = min(usable, key=lambda w: counts[w])
    if counts[rarest] > COMMON:
        return None
    narrowed: ColumnElement[bool] = record_id.in_(
        select(_search.c.record_id).where(match(_trigrams(rarest)))
    )
    return narrowed
