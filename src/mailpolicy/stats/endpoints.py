"""GET /accounts/{account_id}/email-security/stats/entries: which entries real mail matches.

Every settings entry of the account with the number of messages it matched in the milter and
when it last did; `stale_days` keeps the entries nothing matched in that many days (an entry
never matched counts from its creation), which are the ones worth a second look.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from mailpolicy.api.deps import ReadAccess, SessionDep
from mailpolicy.api.envelope import Closed, answers, listing, ok_list
from mailpolicy.resources import REGISTRY
from mailpolicy.resources.spec import SettingsResource
from mailpolicy.stats.report import EntryStatsQuery, entry_report
from mailpolicy.timefmt import iso


class EntryStatsRead(Closed):
    resource: SettingsResource
    id: str = Field(description="The entry's id in its resource.")
    label: str = Field(description="What names the entry: its pattern, name or domain.")
    hits: int = Field(description="Messages the entry matched.")
    last_hit_at: dt.datetime | None = Field(description="When it last matched; null if never.")
    created_at: dt.datetime


router = APIRouter(prefix="/accounts/{account_id}/email-security/stats", tags=["stats"])


@router.get(
    "/entries",
    summary="Hit counts of every settings entry",
    responses=answers(listing(EntryStatsRead), "One page of entries with their hit counts."),
)
def entry_stats(
    access: ReadAccess, session: SessionDep, query: Annotated[EntryStatsQuery, Query()]
) -> JSONResponse:
    """How often real mail matched each entry, and when it last did."""
    rows, total = entry_report(
        session,
        [spec for spec, _ in REGISTRY],
        access.account_id,
        resource=query.resource,
        stale_days=query.stale_days,
        order=query.order,
        descending=query.direction == "desc",
        page=query.page,
        per_page=query.per_page,
    )
    items: list[dict[str, Any]] = [
        {
            "resource": row.resource,
            "id": row.id,
            "label": row.label,
            "hits": row.hits,
            "last_hit_at": iso(row.last_hit_at),
            "created_at": iso(row.created_at),
        }
        for row in rows
    ]
    return ok_list(items, page=query.page, per_page=query.per_page, total=total)
