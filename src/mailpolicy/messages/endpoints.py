"""Cloudflare's investigate API over mailpolicy's message records, submissions, and what-if.

Under /accounts/{account_id}/email-security/: `investigate` (list, get, detections, trace,
raw, preview, release, reclassify, move), `submissions`, and mailpolicy's own `whatif`.
Reading needs Read; release, reclassify and what-if's apply-nothing replay need Write (what-if
runs the proposed writes, rolled back). Every answer is one account's: a record belongs to the
account that protects its recipients' domain.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mailpolicy.api.deps import ReadAccess, ReadUnit, WriteAccess, WriteUnit
from mailpolicy.api.envelope import Closed, answers, ok, ok_list, single
from mailpolicy.api.routing import id_beside
from mailpolicy.api.schemas import ListQuery, NoNul
from mailpolicy.audit.events import Author
from mailpolicy.audit.query import Instant, later_than
from mailpolicy.config import Rules
from mailpolicy.db import Database, utcnow
from mailpolicy.errors import ApiError, NotFound
from mailpolicy.messages import actions, whatif
from mailpolicy.messages.query import (
    DEFAULT_WINDOW,
    InvestigateQuery,
    as_wire,
    get_record,
    list_records,
    recipients_of,
)
from mailpolicy.messages.records import Submission
from mailpolicy.messages.release import PostfixQueue
from mailpolicy.messages.schemas import (
    DetectionsRead,
    MessageListEnvelope,
    MessageRead,
    MoveBody,
    PreviewBody,
    PreviewRead,
    RawRead,
    ReclassifyBody,
    ReleaseBody,
    ReleaseRead,
    ShortDisposition,
    SubmissionRead,
    TraceRead,
)
from mailpolicy.messages.trace import detections, trace

router = APIRouter(prefix="/accounts/{account_id}/email-security", tags=["investigate"])

# /investigate/preview, /release and /move are paths of their own (POST): one message's path
# never matches them, so GET /investigate/release is a 405 naming POST, not a look-up of a
# message called "release" (no record has such an id).
_ONE_ID = id_beside("investigate_id", "preview", "release", "move", "bulk")
ONE = f"/investigate/{{investigate_id:{_ONE_ID}}}"

InvestigateId = Annotated[
    str, Path(max_length=200, description="The message's investigate id (or its Postfix queue id).")
]


def _message(session: Session, account_id: str, record_id: str) -> dict[str, Any]:
    found = get_record(session, account_id, record_id)
    return as_wire(found, recipients_of(session, [found.id])[found.id])


@router.get(
    "/investigate",
    summary="Search the messages mailpolicy decided on",
    responses=answers(MessageListEnvelope, "One page of message records, newest first."),
)
async def list_messages(
    access: ReadAccess, unit: ReadUnit, query: Annotated[InvestigateQuery, Query()]
) -> JSONResponse:
    """Every message record of the account that matches the filters, newest first."""

    def work(session: Session) -> JSONResponse:
        page = list_records(session, access.account_id, query)
        return ok_list(
            [as_wire(r, page.recipients[r.id]) for r in page.records],
            page=query.page,
            per_page=query.per_page,
            total=page.total,
            total_count_capped=page.capped,
            cursor=page.cursor,
        )

    return await unit(work)


class GetQuery(NoNul, BaseModel):
    model_config = {"extra": "forbid"}
    submission: bool | None = Field(
        default=None, description="Only a message that was submitted for reclassification."
    )


@router.get(
    ONE,
    summary="One message record",
    responses=answers(single(MessageRead), "The message, with every recipient's verdict."),
)
async def get_message(
    access: ReadAccess,
    unit: ReadUnit,
    investigate_id: InvestigateId,
    query: Annotated[GetQuery, Query()],
) -> JSONResponse:
    """What mailpolicy saw of one message, what it decided for each recipient, and why."""

    def work(session: Session) -> dict[str, Any]:
        found = _message(session, access.account_id, investigate_id)
        if query.submission and "SUBMISSION" not in found["post_delivery_operations"]:
            raise NotFound(
                f"message {found['id']} was never submitted for reclassification",
                pointer="/submission",
            )
        return found

    return ok(await unit(work))


@router.get(
    ONE + "/detections",
    summary="What was detected in one message",
    responses=answers(single(DetectionsRead), "Findings, headers and who sent it."),
)
async def get_detections(
    access: ReadAccess, unit: ReadUnit, investigate_id: InvestigateId
) -> JSONResponse:
    """The message's findings, the settings that acted on it, and its sender."""

    def work(session: Session) -> dict[str, Any]:
        found = get_record(session, access.account_id, investigate_id)
        return detections(found, recipients_of(session, [found.id])[found.id])

    return ok(await unit(work))


@router.get(
    ONE + "/trace",
    summary="The message's path through mailpolicy and Postfix",
    responses=answers(
        single(TraceRead), "Inbound: the decision, stage by stage; outbound: releases."
    ),
)
async def get_trace(
    access: ReadAccess, unit: ReadUnit, investigate_id: InvestigateId
) -> JSONResponse:
    """mailpolicy's decision lines per stage, and Postfix's own lines when it follows the log."""

    def work(session: Session) -> dict[str, Any]:
        found = get_record(session, access.account_id, investigate_id)
        return trace(found, recipients_of(session, [found.id])[found.id])

    return ok(await unit(work))


@router.get(
    ONE + "/raw",
    summary="The quarantined message as received",
    responses=answers(single(RawRead), "The message, as it was received."),
)
async def get_raw(
    access: ReadAccess, unit: WriteUnit, investigate_id: InvestigateId
) -> JSONResponse:
    """The raw message (.eml) of a quarantined message; the read goes to its action log."""
    by = Author(access.actor)
    text = await unit(lambda session: actions.raw(session, access.account_id, investigate_id, by))
    return ok({"raw": text})


@router.get(
    ONE + "/preview",
    summary="A picture of the quarantined message",
    responses=answers(single(PreviewRead), "A PNG of the message, base64."),
)
async def get_preview(
    access: ReadAccess, unit: WriteUnit, investigate_id: InvestigateId
) -> JSONResponse:
    """The message rendered as an image, nothing in it fetched or run."""
    by = Author(access.actor)
    picture = await unit(
        lambda session: actions.screenshot(session, access.account_id, investigate_id, by)
    )
    return ok({"screenshot": picture})


@router.post(
    "/investigate/preview",
    summary="A picture of a message, by id in the body",
    responses=answers(single(PreviewRead), "A PNG of the message, base64."),
)
async def create_preview(access: ReadAccess, unit: WriteUnit, body: PreviewBody) -> JSONResponse:
    """The same picture, the message named in the body (mailpolicy needs no mailbox for it)."""
    by = Author(access.actor)
    picture = await unit(
        lambda session: actions.screenshot(session, access.account_id, body.id, by)
    )
    return ok({"screenshot": picture})


@router.post(
    "/investigate/release",
    summary="Release quarantined messages",
    responses=answers(single(list[ReleaseRead]), "Per message: the recipients it was released to."),
)
async def release_messages(
    request: Request,
    access: WriteAccess,
    unit: WriteUnit,
    body: Annotated[ReleaseBody, Body()],
) -> JSONResponse:
    """Release held messages from Postfix's hold queue to their recipients."""
    queue: PostfixQueue = request.app.state.postfix
    by = Author(access.actor)
    results = await unit(
        lambda session: actions.release(session, queue, access.account_id, body.ids, by)
    )
    return ok([r.to_dict() for r in results])


@router.post(
    ONE + "/reclassify",
    summary="Report that a message deserved another disposition",
    responses=answers(single(SubmissionRead), "The submission, listed by /submissions.", 202),
    status_code=202,
)
async def reclassify_message(
    access: WriteAccess, unit: WriteUnit, investigate_id: InvestigateId, body: ReclassifyBody
) -> JSONResponse:
    """Store a reclassification request as a submission, for review."""
    by = Author(access.actor)

    def work(session: Session) -> dict[str, Any]:
        submission = actions.reclassify(
            session, access.account_id, investigate_id, body.expected_disposition, by
        )
        return actions.submission_wire(submission)

    return ok(await unit(work), status_code=202)


def _no_mailbox() -> ApiError:
    return ApiError(
        "mailpolicy filters mail at the MTA and has no access to mailboxes, so it cannot move "
        "a delivered message between folders; release quarantined mail with "
        "/investigate/release",
        pointer="/destination",
    )


@router.post(
    ONE + "/move",
    summary="Move a message between mailbox folders (not available)",
    responses=answers(single(list[Closed]), "Never: mailpolicy has no mailbox integration."),
)
async def move_message(
    access: WriteAccess, investigate_id: InvestigateId, body: MoveBody
) -> JSONResponse:
    """Refused with an explanation: there is no mailbox to move it in."""
    del access, investigate_id, body
    raise _no_mailbox()


@router.post(
    "/investigate/move",
    summary="Move messages between mailbox folders (not available)",
    responses=answers(single(list[Closed]), "Never: mailpolicy has no mailbox integration."),
)
async def move_messages(access: WriteAccess, body: MoveBody) -> JSONResponse:
    """Refused with an explanation: there is no mailbox to move them in."""
    del access, body
    raise _no_mailbox()


# ---- submissions ---------------------------------------------------------------------------


class SubmissionsQuery(ListQuery):
    start: Instant = Field(
        default=None, description="Requested at or after (default: 30 days ago)."
    )
    end: Instant = Field(default=None, description="Requested before (default: now).")
    query: str | None = Field(default=None, max_length=1000, description="Words of the subject.")
    submission_id: str | None = Field(default=None, max_length=200)
    original_disposition: ShortDisposition | None = None
    requested_disposition: ShortDisposition | None = None
    outcome_disposition: ShortDisposition | None = Field(
        default=None, description="No submission has an outcome yet in mailpolicy: matches none."
    )
    status: Literal["escalated", "reviewed", "unreviewed"] | None = None
    type: Literal["TEAM", "USER"] | None = None
    escalated_from_user: bool | None = None
    order: Literal[
        "submission_id",
        "subject",
        "original_disposition",
        "requested_disposition",
        "outcome_disposition",
        "requested_at",
    ] = "requested_at"
    direction: Literal["asc", "desc"] = "desc"

    _end_after_start = later_than("end", "start")


_ORDER = {
    "submission_id": Submission.id,
    "subject": Submission.subject,
    "original_disposition": Submission.original_disposition,
    "requested_disposition": Submission.requested_disposition,
    "outcome_disposition": Submission.requested_at,  # none has an outcome: time order
    "requested_at": Submission.requested_at,
}


class SubmissionListEnvelope(Closed):
    success: Literal[True]
    errors: list[Any]
    messages: list[Any]
    result: list[SubmissionRead]
    result_info: dict[str, int]


@router.get(
    "/submissions",
    summary="Reclassification requests",
    responses=answers(SubmissionListEnvelope, "One page of submissions."),
)
async def list_submissions(
    access: ReadAccess, unit: ReadUnit, query: Annotated[SubmissionsQuery, Query()]
) -> JSONResponse:
    """Every reclassification request of the account that matches the filters."""
    now = utcnow()
    end = query.end or now + dt.timedelta(seconds=1)
    start = query.start or min(now, end) - DEFAULT_WINDOW
    s = Submission
    conditions: list[Any] = []
    if query.submission_id:
        conditions.append(s.id == query.submission_id)
    if query.original_disposition:
        conditions.append(s.original_disposition == query.original_disposition)
    if query.requested_disposition:
        conditions.append(s.requested_disposition == query.requested_disposition)
    if query.status:
        conditions.append(s.status == query.status)
    if query.outcome_disposition or query.type == "USER" or query.escalated_from_user:
        conditions.append(s.id.is_(None))  # every submission is the team's, none reviewed yet
    for word in (query.query or "").lower().split():
        conditions.append(func.lower(s.subject).contains(word, autoescape=True))
    column = _ORDER[query.order]
    order = column.desc() if query.direction == "desc" else column.asc()

    def work(session: Session) -> JSONResponse:
        rows, total = actions.list_submissions(
            session,
            access.account_id,
            start=start,
            end=end,
            conditions=conditions,
            order=order,
            page=query.page,
            per_page=query.per_page,
        )
        items = [actions.submission_wire(row) for row in rows]
        return ok_list(items, page=query.page, per_page=query.per_page, total=total)

    return await unit(work)


# ---- what if -------------------------------------------------------------------------------


class WhatIfQuery(NoNul, BaseModel):
    model_config = {"extra": "forbid"}
    start: Instant = Field(default=None, description="Replay messages from (default: 7 days ago).")
    end: Instant = Field(default=None, description="Replay messages until (default: now).")

    _end_after_start = later_than("end", "start")


class WhatIfRead(Closed):
    start: dt.datetime
    end: dt.datetime
    as_recorded: bool
    examined: int
    not_replayable: int
    truncated: bool
    changed_messages: int
    changed_recipients: int
    transitions: list[dict[str, Any]]
    messages: list[dict[str, Any]]


WhatIfBody = whatif.body_model()


@router.post(
    "/whatif",
    summary="What a settings change would do to recent mail",
    responses=answers(
        single(WhatIfRead), "The recorded messages the change would decide differently."
    ),
    tags=["whatif"],
)
async def what_if(
    request: Request,
    access: WriteAccess,
    body: WhatIfBody,  # type: ignore[valid-type]  # a model built at run time
    query: Annotated[WhatIfQuery, Query()],
) -> JSONResponse:
    """Replay the recorded messages of a time range with the proposed change; apply nothing."""
    database: Database = request.app.state.db
    rules: Rules = request.app.state.rules
    result = await run_in_threadpool(
        whatif.what_if, database, access.account_id, body, rules, query.start, query.end
    )
    return ok(result)
