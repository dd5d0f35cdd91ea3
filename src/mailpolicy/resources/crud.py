"""The one generic mechanism behind every settings resource: list, get, create, edit, delete, batch.

A resource describes itself in a `ResourceSpec`; these operations work on any of them inside
the request's transaction, and `mailpolicy.resources.router.make_router` turns a spec into
endpoints. Every write ends in `record_change()`, which bumps the account's settings version
and records the event in the audit history (mailpolicy.audit.events), in the same transaction.
Anything special to one resource lives in that resource's module, as a hook or an extra route.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from mailpolicy.access.accounts import bump_settings_version, settings_version
from mailpolicy.api.schemas import ListQuery, SearchableListQuery
from mailpolicy.audit.events import Action, Author, record
from mailpolicy.config import Rules
from mailpolicy.db import utcnow
from mailpolicy.errors import ApiError, Conflict, NotFound
from mailpolicy.resources import search_index
from mailpolicy.resources.rows import order_by
from mailpolicy.resources.spec import PlainRow, R, ResourceSpec, Values, dedupe_key


class CountCache:
    """How many entries matched a list's filters, as of an account's settings version.

    Every write that adds, removes or changes a settings entry bumps its account's version in
    its own transaction, so a total counted at version V is the total of every transaction
    that reads V: a list reads the version in the transaction that reads its page, and counts
    only what it has not counted at that version. Only the latest version of each list is
    kept, and at most `size` lists (then the cache starts over)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._totals: dict[Hashable, tuple[int, int]] = {}
        self._lock = threading.Lock()
        # What the search index offered the same lists' searches, kept the same way.
        self.candidates = search_index.Candidates()

    def get(self, key: Hashable, version: int) -> int | None:
        found = self._totals.get(key)
        return found[1] if found is not None and found[0] == version else None

    def put(self, key: Hashable, version: int, total: int) -> None:
        with self._lock:
            if len(self._totals) >= self.size and key not in self._totals:
                self._totals.clear()
            current = self._totals.get(key)
            if current is None or current[0] <= version:
                self._totals[key] = (version, total)


def get_entry(
    session: Session, spec: ResourceSpec[R], account_id: str, entry_id: str, *, lock: bool = False
) -> R:
    """One entry of the account; `lock` holds its row until the transaction ends (PostgreSQL;
    a SQLite write transaction already holds the whole database)."""
    query = select(spec.model).where(spec.model.account_id == account_id, spec.model.id == entry_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise _not_found(spec, entry_id)
    return row


def read_entry(session: Session, spec: ResourceSpec[R], account_id: str, entry_id: str) -> PlainRow:
    """One entry of the account as a plain row (mailpolicy.resources.rows), to answer with:
    `spec.serialize_row` takes it."""
    row = spec.rows.by_id(session, account_id, entry_id)
    if row is None:
        raise _not_found(spec, entry_id)
    return row


def _not_found(spec: ResourceSpec[R], entry_id: str) -> NotFound:
    return NotFound(f"No {spec.noun} with id {entry_id} in this account.")


def _apply(session: Session, spec: ResourceSpec[R], row: R, values: Values, rules: Rules) -> None:
    if spec.before_write is not None:
        spec.before_write(row if row.id is not None and row in session else None, values)
    for name, value in values.items():
        setattr(row, name, value)
    spec.check(row, rules)
    key = dedupe_key(spec, row)
    model = spec.model
    clash = session.execute(
        select(model.id).where(
            model.account_id == row.account_id,
            model.dedupe_key == key,
            model.id != (row.id or ""),
        )
    ).scalar()
    if clash is not None:
        raise Conflict(f"An identical {spec.noun} already exists (id {clash}).")
    row.dedupe_key = key
    row.modified_at = utcnow()


def _flush(session: Session, spec: ResourceSpec[R]) -> None:
    try:
        session.flush()
    except IntegrityError:
        # Another writer created the same entry between our check and our insert.
        raise Conflict(f"An identical {spec.noun} already exists.") from None


def record_change(
    session: Session,
    spec: ResourceSpec[R],
    row: R,
    action: Action,
    before: dict[str, Any] | None,
    by: Author,
) -> None:
    """The one path for "the settings changed": every write to an entry, whoever makes it
    (the API, the CLI, the DNS verifier), calls this in its own transaction, after its change
    is applied to `row` (before the row is deleted, for a delete).

    It bumps the account's settings version (snapshots, list totals and the milter's routes
    are keyed by it) and records the audit event, with the entry as it is now (none after a
    delete) and the version it moved to, so the change and its record commit together or not
    at all. The events with their versions are the change feed snapshots follow
    (mailpolicy.evaluation.snapshots).
    """
    version = bump_settings_version(session, row.account_id)
    record(
        session,
        by,
        account_id=row.account_id,
        action=action,
        resource=spec.path,
        entry_id=row.id,
        before=before,
        after=None if action == "delete" else spec.serialize(row),
        settings_version=version,
    )


def create_entry(
    session: Session,
    spec: ResourceSpec[R],
    account_id: str,
    body: BaseModel,
    rules: Rules,
    by: Author,
) -> R:
    now = utcnow()
    row = spec.model(account_id=account_id, created_at=now)
    _apply(session, spec, row, spec.to_columns(body.model_dump()), rules)
    row.modified_at = now
    session.add(row)
    _flush(session, spec)
    record_change(session, spec, row, "create", None, by)
    return row


def update_entry(
    session: Session,
    spec: ResourceSpec[R],
    account_id: str,
    entry_id: str,
    values: Values,
    rules: Rules,
    by: Author,
    action: Action = "edit",
) -> R:
    """Change an entry: `values` are the fields sent (an edit) or every field (a replace)."""
    # Locked: the merged entry is validated against the row as it is now, not as another
    # writer is about to leave it.
    row = get_entry(session, spec, account_id, entry_id, lock=True)
    before = spec.serialize(row)
    _apply(session, spec, row, spec.to_columns(values), rules)
    _flush(session, spec)
    record_change(session, spec, row, action, before, by)
    return row


def replace_values(model: type[BaseModel], body: BaseModel) -> Values:
    """A full replacement: what was sent, and every optional field left out back at its default."""
    sent = body.model_dump(exclude={"id"})
    defaults = {
        name: info.get_default(call_default_factory=True)
        for name, info in model.model_fields.items()
        if not info.is_required() and name != "id"
    }
    return {**defaults, **sent}


def delete_entry(
    session: Session, spec: ResourceSpec[R], account_id: str, entry_id: str, by: Author
) -> str:
    row = get_entry(session, spec, account_id, entry_id, lock=True)
    record_change(session, spec, row, "delete", spec.serialize(row), by)
    session.delete(row)
    session.flush()
    return entry_id


# A filtered list with at most this many matches (one page of the largest size) is paged
# from its matches alone; see list_entries.
FEW_MATCHES = 1000


def _contains(
    session: Session, column: InstrumentedAttribute[Any], pattern: str
) -> ColumnElement[bool]:
    """`column` matches the LIKE `pattern`, ignoring case."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's LIKE already ignores ASCII case, and its lower() folds only ASCII: the same
        # answer as ilike's lower(column) LIKE lower(pattern), without the two function calls
        # per row that make up much of a search's cost.
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


# What a list's page leaves out of its total: which page, how large, in which order.
_PAGING = {"page", "per_page", "order", "direction"}


class NotCounted(Exception):
    """A list's total is not known yet for this settings version, and counting was not allowed
    where the list was asked (see `list_entries`)."""


def list_entries(
    session: Session,
    spec: ResourceSpec[R],
    account_id: str,
    query: ListQuery,
    counts: CountCache | None = None,
    *,
    may_count: bool = True,
) -> tuple[list[PlainRow], int]:
    """One page of the account's entries matching `query`, and how many match in all.

    With `counts`, a total is counted once per settings version (see CountCache): counting
    walks every match, where a page reads a few rows through an index. Without `may_count`,
    a total not known yet raises NotCounted instead: the event loop must not walk 100,000
    matches while every other request waits."""
    model = spec.model
    conditions: list[ColumnElement[bool]] = [model.account_id == account_id, *spec.filters(query)]
    # The total and a few matches are read through `counted`: the same test, a search's
    # candidates taken from its index when that is the cheaper way (search_index.narrowed),
    # decided only if one of them is read.
    counted: Callable[[], list[ColumnElement[bool]]] = functools.partial(list, conditions)
    if isinstance(query, SearchableListQuery) and query.search and spec.search:
        needle = query.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(or_(*(_contains(session, c, f"%{needle}%") for c in spec.search)))
        counted = functools.cache(
            functools.partial(
                search_index.narrowed,
                session,
                spec,
                account_id,
                query.search,
                conditions[1:],
                None if counts is None else counts.candidates,
            )
        )
    total = _total(session, spec, account_id, query, counted, counts, may_count)
    offset = (query.page - 1) * query.per_page
    if offset >= total:
        # Past the end: nothing to fetch, and a huge page must not reach the database as an
        # OFFSET it cannot represent.
        return [], total
    order_name = getattr(query, "order", None)
    column = spec.orderings.get(order_name or "", model.created_at)
    descending = getattr(query, "direction", None) == "desc"
    # The page is read as plain rows (mailpolicy.resources.rows), no ORM object made.
    reader = spec.rows
    if len(conditions) == 1:
        # The whole account: its statement is built and compiled once per order.
        page_rows = reader.account_page(
            session, account_id, column, descending, offset, query.per_page
        )
        return page_rows, total
    # Ties are broken by id, in the same direction, so pages never repeat or skip an entry.
    ordering = order_by(model, column, descending)
    page = reader.select()
    if len(conditions) > 1 and total <= FEW_MATCHES:
        # Few matches: take them through the filter's index and sort them. Left to itself,
        # SQLite (which has no statistics unless ANALYZE ran) prefers walking the ordering's
        # index and testing each entry, which reads the whole account when the few matches
        # are far along it (a pattern given in capitals, several domains, order=pattern).
        page = page.where(model.id.in_(select(model.id).where(*counted())))
    else:
        page = page.where(*conditions)
    rows = reader.rows(session, page.order_by(*ordering).offset(offset).limit(query.per_page))
    return rows, total


def _total(
    session: Session,
    spec: ResourceSpec[R],
    account_id: str,
    query: ListQuery,
    conditions: Callable[[], list[ColumnElement[bool]]],
    counts: CountCache | None,
    may_count: bool = True,
) -> int:
    def count() -> int:
        counting = select(func.count()).select_from(spec.model).where(*conditions())
        return session.scalar(counting) or 0

    if counts is None:
        return count()
    # Read first: the version this transaction sees is the one its count belongs to.
    version = settings_version(session, account_id)
    filters = repr(sorted(query.model_dump(exclude=_PAGING).items()))
    key = (spec.path, account_id, filters)
    total = counts.get(key, version)
    if total is None:
        if not may_count:
            raise NotCounted
        total = count()
        counts.put(key, version, total)
    return total


def _at(step: str, index: int, exc: ApiError) -> ApiError:
    """The error of one batch item, its pointer moved under that item."""
    if isinstance(exc, NotFound):
        return NotFound(f"{step}[{index}]: {exc}", pointer=f"/{step}/{index}/id")
    return exc.with_prefix(f"/{step}/{index}")


def _each(step: str, items: Sequence[Any], apply: Callable[[Any], Any]) -> list[Any]:
    done = []
    for index, item in enumerate(items):
        try:
            done.append(apply(item))
        except ApiError as exc:
            raise _at(step, index, exc) from None
    return done


def run_batch(
    session: Session, spec: ResourceSpec[R], account_id: str, body: Any, rules: Rules, by: Author
) -> dict[str, list[dict[str, Any]]]:
    """All or nothing, in Cloudflare's order: deletes, then patches, then puts, then posts.

    `by` carries the batch's id: every event of the batch shares it."""
    deletes = _each(
        "deletes", body.deletes, lambda ref: delete_entry(session, spec, account_id, ref.id, by)
    )
    result: dict[str, list[dict[str, Any]]] = {"deletes": [{"id": i} for i in deletes]}
    if spec.batch != "full":
        return result
    patches = _each(
        "patches",
        body.patches,
        lambda p: update_entry(
            session,
            spec,
            account_id,
            p.id,
            p.model_dump(exclude_unset=True, exclude={"id"}),
            rules,
            by,
        ),
    )
    puts = _each(
        "puts",
        body.puts,
        lambda p: update_entry(
            session, spec, account_id, p.id, replace_values(type(p), p), rules, by, "replace"
        ),
    )
    posts = _each(
        "posts", body.posts, lambda p: create_entry(session, spec, account_id, p, rules, by)
    )
    for step, rows in (("patches", patches), ("puts", puts), ("posts", posts)):
        result[step] = [spec.serialize(row) for row in rows]
    return result
