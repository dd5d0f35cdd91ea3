"""GET /accounts/{account_id}/email-security/audit: the account's audit history.

Every write to the account's settings and credentials, newest first: who made it, when, and
the entry before and after (mailpolicy.audit.events records them). Read permission; an account's
history is its own, as everything else is.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from mailpolicy.api.deps import ReadAccess, SessionDep
from mailpolicy.api.envelope import Closed, answers, listing, ok_list
from mailpolicy.audit.events import Action
from mailpolicy.audit.query import AuditQuery, Resource, as_dict, list_events


class AuditEventRead(Closed):
    id: int = Field(description="The event's number; later events have larger numbers.")
    occurred_at: dt.datetime = Field(description="When the write was made.")
    actor: str = Field(
        description='Who made it: "token:<id>" or "key:<id>" (the credential of an API '
        'request, never its secret), "cli" (the operator) or "verifier" (the DNS verifier).'
    )
    action: Action
    resource: Resource
    entry_id: str = Field(description="The id of the entry (or token, key) written.")
    batch_id: str | None = Field(
        description="Shared by the events of one batch request; null for a single write."
    )
    before: dict[str, Any] | None = Field(
        description="The entry as the API showed it before the write; null before a create."
    )
    after: dict[str, Any] | None = Field(
        description="The entry as the API showed it after the write; null after a delete."
    )


router = APIRouter(prefix="/accounts/{account_id}/email-security", tags=["audit"])


@router.get(
    "/audit",
    summary="The account's audit history",
    responses=answers(listing(AuditEventRead), "One page of events, newest first by default."),
)
def audit_history(
    access: ReadAccess, session: SessionDep, query: Annotated[AuditQuery, Query()]
) -> JSONResponse:
    """Who changed what and when, with each entry before and after."""
    rows, total = list_events(session, access.account_id, query)
    items = [as_dict(row) for row in rows]
    return ok_list(items, page=query.page, per_page=query.per_page, total=total)
