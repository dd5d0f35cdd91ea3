"""The `search` of settings lists, served by a trigram index.

A search is a literal substring (`%`, `_` and `\\` are characters like any other) of any of a
resource's search columns (`ResourceSpec.search`), case ignored as the database's LIKE ignores
it: on SQLite for ASCII letters only (LIKE), on PostgreSQL as its lower() does in the database's
locale (ILIKE). `mailpolicy.resources.crud.list_entries` states it as that LIKE; the index only
narrows the entries the LIKE looks at, so an answer is the answer of a scan, found without one.

- SQLite: `<table>_search`, an FTS5 trigram table over the search columns (migration 0012),
  keyed by the table's rowid and kept exact by triggers. A needle of MIN_NEEDLE characters or
  more is asked of it as a phrase: the rows holding its trigrams one after another in one
  column, case folded in all of Unicode, which are every row LIKE finds and maybe a few more
  (LIKE folds only ASCII). A shorter needle has no trigram: a scan of the account, as before.
  The index is shared by all accounts, so a needle common in others finds candidates this
  account must then pass over: it is asked only when it has fewer than a scan would read
  (`_cheaper`).
- PostgreSQL: a pg_trgm GIN index on each search column, which the planner uses for the ILIKE
  itself (a BitmapOr of the columns' indexes): nothing to add.

Neither object is in the models' metadata: the migration makes them, and `managed` keeps them
out of the schema comparison.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, String, column, literal_column, select, table
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from mailpolicy.db import Base, fetch_one
from mailpolicy.resources.spec import R, ResourceSpec

MIN_NEEDLE = 3  # a trigram index knows nothing shorter
# A candidate of the index costs a lookup by rowid and the LIKE test: about as much as a scan
# spends on three of the account's entries.
SCAN_RATIO = 3
FIRST_PROBE = 1024
# FTS5's own tables beside an index `x`: x_data, x_idx, x_config (and x_docsize, x_content,
# which these indexes do not have).
_SHADOWS = ("", "_data", "_idx", "_config", "_docsize", "_content")


def index_table(table_name: str) -> str:
    """The SQLite search index of a settings table."""
    return f"{table_name}_search"


def pg_index(table_name: str, column_name: str) -> str:
    """The PostgreSQL trigram index of one search column."""
    return f"ix_{table_name}_{column_name}_trgm"


def managed(name: str | None, type_: str, parent_names: Any) -> bool:
    """Whether the schema comparison (Alembic's autogenerate) looks at an object: not the
    settings' search indexes, which the models do not declare."""
    del parent_names
    tables = Base.metadata.tables
    if type_ == "table":
        return not any(name == index_table(t) + shadow for t in tables for shadow in _SHADOWS)
    if type_ == "index":
        return not any(name == pg_index(t.name, c.name) for t in tables.values() for c in t.columns)
    return True


def _phrase(needle: str) -> str:
    """`needle` as an FTS5 string: every character in it literal, for the tokenizer to split."""
    return '"' + needle.replace('"', '""') + '"'


# What the index was found to offer a search: its candidates' rowids (fewer than FIRST_PROBE),
# "many" of them (asked for as a subquery), or "scan" (the account is cheaper to read).
Found = list[int] | Literal["many", "scan"]


class Candidates:
    """What the index offered the searches of recent lists, by account and settings version,
    so that a search asked again before its account changes (the next page, the next poll)
    does not ask the index again.

    Kept as of a version, like CountCache's totals: every write that changes an entry bumps
    its account's version in its own transaction (crud.record_change), so the rowids found at
    version V hold every entry of the account that can match, in every transaction that reads
    V. What they say of other accounts' entries may be out of date, and is never an answer:
    the account's test drops it. At most `rowids` rowids are kept (then the cache starts
    over)."""

    def __init__(self, rowids: int = 1 << 18) -> None:
        self.rowids = rowids
        self._held = 0
        self._found: dict[tuple[str, str, str], tuple[int, Found]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str], version: int) -> Found | None:
        found = self._found.get(key)
        return found[1] if found is not None and found[0] == version else None

    def put(self, key: tuple[str, str, str], version: int, found: Found) -> None:
        size = len(found) if isinstance(found, list) else 1
        with self._lock:
            if self._held + size > self.rowids:
                self._found.clear()
                self._held = 0
            current = self._found.get(key)
            if current is None or current[0] <= version:
                if current is not None:
                    self._held -= len(current[1]) if isinstance(current[1], list) else 1
                self._found[key] = (version, found)
                self._held += size


def narrowed(
    session: Session,
    spec: ResourceSpec[R],
    account_id: str,
    needle: str,
    others: list[ColumnElement[bool]],
    known: Candidates | None = None,
) -> list[ColumnElement[bool]]:
    """A search list's test: the account's, then `others` (its filters and the search's LIKE).
    On SQLite, when the index is the cheaper way, the same test over the index's candidates
    (taken from `known` when it has them for the account's settings version)."""
    model = spec.model
    account = model.account_id == account_id
    if session.get_bind().dialect.name != "sqlite" or len(needle) < MIN_NEEDLE:
        return [account, *others]
    name = model.__tablename__
    phrase = _phrase(needle)
    if known is None:
        found = _candidates(session, name, account_id, phrase)
    else:
        held = fetch_one(
            session, "SELECT settings_version FROM accounts WHERE id = ?", (account_id,)
        )
        version = int(held[0]) if held is not None else 0
        key = (name, account_id, needle)
        cached = known.get(key, version)
        found = _candidates(session, name, account_id, phrase) if cached is None else cached
        if cached is None:
            known.put(key, version, found)
    if found == "scan":
        return [account, *others]
    candidates = _asked(index_table(name), phrase) if found == "many" else found
    # The account's test, unindexed (SQLite's unary +). Without statistics SQLite guesses that
    # an account holds 10 entries and an IN subquery 25 rows, and would read the whole account
    # through one of its indexes, testing every entry against the candidates.
    unindexed = UnaryExpression(
        model.account_id.expression, operator=custom_op("+"), type_=String()
    )
    return [unindexed == account_id, literal_column(f"{name}.rowid").in_(candidates), *others]


@functools.cache
def _probes(table_name: str) -> tuple[str, str, str]:
    """SQL of `_candidates`, to the driver directly (the ORM's work would cost more than the
    probes themselves): the candidates up to a bound, their number up to a bound, and the
    number of an account's entries up to a bound."""
    index = index_table(table_name)
    # Names of the models' own tables: nothing of a request is in them.
    asked = f"SELECT rowid FROM {index} WHERE {index} MATCH ? LIMIT ?"  # noqa: S608
    counted = f"SELECT count(*) FROM ({asked})"  # noqa: S608
    held = f"SELECT count(*) FROM (SELECT 1 FROM {table_name} WHERE account_id = ? LIMIT ?)"  # noqa: S608
    return asked, counted, held


def _candidates(session: Session, table_name: str, account_id: str, phrase: str) -> Found:
    """What the index offers `phrase` in `table_name`: the rowids it finds when there are
    fewer than FIRST_PROBE (the index is asked once), else "many"; "scan" when reading them
    costs more than reading the account's entries (each candidate as much as SCAN_RATIO
    entries), and for an account of at most FIRST_PROBE entries. Both are counted up to a
    bound that grows until one of them is known whole, so deciding costs a share of the
    cheaper read, never a whole read of the dearer one."""
    asked, counted, held = _probes(table_name)
    run = session.connection().exec_driver_sql

    def entries(limit: int) -> int:
        return int(run(held, (account_id, limit)).scalar_one())

    if entries(FIRST_PROBE + 1) <= FIRST_PROBE:
        return "scan"  # a small account: read whole sooner than the index is asked
    found = list(run(asked, (phrase, FIRST_PROBE)).scalars())
    if len(found) < FIRST_PROBE:
        return found if entries(len(found) * SCAN_RATIO + 1) > len(found) * SCAN_RATIO else "scan"
    bound = FIRST_PROBE
    while entries(bound * SCAN_RATIO) >= bound * SCAN_RATIO:
        bound *= 8
        count = int(run(counted, (phrase, bound)).scalar_one())
        if count < bound:
            return "many" if entries(count * SCAN_RATIO + 1) > count * SCAN_RATIO else "scan"
    return "scan"


def _asked(index_name: str, phrase: str) -> Select[Any]:
    index = table(index_name, column("rowid"))
    return select(index.c.rowid).where(literal_column(index_name).op("MATCH")(phrase))
