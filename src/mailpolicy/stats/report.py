"""Reading hit counts back, for the API and the CLI: every entry with its hits and last hit.

The entries are those of the resources passed in (the API and the CLI pass REGISTRY's), each
named by its spec's label column, joined with the counts the milter wrote (mailpolicy.stats.hits).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import ColumnElement, and_, func, literal, select, union_all
from sqlalchemy.orm import Session

from mailpolicy.api.schemas import ListQuery
from mailpolicy.db import utcnow
from mailpolicy.resources.spec import ResourceSpec, SettingsResource
from mailpolicy.stats.hits import EntryStat

Order = Literal["hits", "last_hit_at", "created_at"]


class EntryStatsQuery(ListQuery):
    resource: SettingsResource | None = Field(
        default=None, description="Only this settings resource."
    )
    stale_days: int | None = Field(
        default=None,
        ge=1,
        le=36_500,
        description="Only entries no message matched in this many days.",
    )
    order: Order = Field(default="hits", description="Field to sort by.")
    direction: Literal["asc", "desc"] = Field(default="desc", description="The sorting direction.")


@dataclass(frozen=True, slots=True)
class EntryReport:
    resource: str
    id: str
    label: str
    hits: int
    last_hit_at: dt.datetime | None
    created_at: dt.datetime


def _entries(specs: Sequence[ResourceSpec[Any]], account_id: str, resource: str | None) -> Any:
    """Every entry of the account (or of one resource): resource, id, label, created_at."""
    selects = [
        select(
            literal(spec.path).label("resource"),
            spec.model.id.label("id"),
            spec.label.label("label"),
            spec.model.created_at.label("created_at"),
        ).where(spec.model.account_id == account_id)
        for spec in specs
        if resource is None or spec.path == resource
    ]
    return union_all(*selects).subquery("entries")


def entry_report(
    session: Session,
    specs: Sequence[ResourceSpec[Any]],
    account_id: str,
    *,
    resource: str | None = None,
    stale_days: int | None = None,
    order: Order = "hits",
    descending: bool = True,
    page: int = 1,
    per_page: int = 20,
    now: dt.datetime | None = None,
) -> tuple[list[EntryReport], int]:
    """One page of the account's entries (of the resources `specs` describe) with their hit
    counts, and how many there are."""
    entries = _entries(specs, account_id, resource)
    stat = EntryStat.__table__
    joined = entries.outerjoin(
        stat, and_(stat.c.resource == entries.c.resource, stat.c.entry_id == entries.c.id)
    )
    hits = func.coalesce(stat.c.hits, 0)
    conditions: list[ColumnElement[bool]] = []
    if stale_days is not None:
        # Stale: no hit in the last N days; an entry never hit counts from its creation.
        cutoff = (now or utcnow()) - dt.timedelta(days=stale_days)
        since = func.coalesce(stat.c.last_hit_at, entries.c.created_at)
        conditions.append(since < cutoff)
    total = session.scalar(select(func.count()).select_from(joined).where(*conditions)) or 0
    offset = (page - 1) * per_page
    if offset >= total:
        return [], total
    key = {"hits": hits, "last_hit_at": stat.c.last_hit_at, "created_at": entries.c.created_at}[
        order
    ]
    if descending:
        ordering = [key.desc().nulls_last(), entries.c.resource.desc(), entries.c.id.desc()]
    else:
        ordering = [key.asc().nulls_first(), entries.c.resource.asc(), entries.c.id.asc()]
    rows = session.execute(
        select(
            entries.c.resource,
            entries.c.id,
            entries.c.label,
            hits.label("hits"),
            stat.c.last_hit_at,
            entries.c.created_at,
        )
        .select_from(joined)
        .where(*conditions)
        .order_by(*ordering)
        .offset(offset)
        .limit(per_page)
    ).all()
    return [
        EntryReport(r.resource, r.id, r.label, int(r.hits), r.last_hit_at, r.created_at)
        for r in rows
    ], total
