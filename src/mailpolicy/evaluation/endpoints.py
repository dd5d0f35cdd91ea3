"""POST /accounts/{account_id}/email-security/evaluate: what the settings do to one message."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy.orm import Session

from mailpolicy.api.deps import ReadAccess, ReadUnit
from mailpolicy.api.envelope import Closed, answers, ok, single
from mailpolicy.db import Database
from mailpolicy.engine import evaluate
from mailpolicy.evaluation.message import MessageBody
from mailpolicy.evaluation.snapshots import SnapshotCache


class ReasonRead(Closed):
    resource: str = Field(description="The settings resource of the entry that matched.")
    id: str = Field(description="The entry's id.")
    pattern: str = Field(description="The entry's pattern (or name, for a registry entry).")
    field: str = Field(description="The message field it matched.")
    effect: str = Field(description="What the entry does: block, trusted_sender, ...")
    honoured: bool = Field(description="Whether it decided anything, or was overridden.")
    note: str = Field(description="Why, in words.")
    overridden_by: str | None = Field(
        default=None,
        description="For a detection (resource `detections`): the settings entry that removed "
        "or superseded it, as `resource/id`.",
        examples=["allow_policies/2f0c8a"],
    )


class RecipientVerdictRead(Closed):
    recipient: str
    disposition: Literal[
        "MALICIOUS", "MALICIOUS-BEC", "SUSPICIOUS", "SPAM", "SPOOF", "BULK", "NONE"
    ]
    action: Literal["deliver", "drop"]
    unprotected: bool = Field(description="The recipient is in no protected domain.")
    reasons: list[ReasonRead]
    explanation: str


class VerdictRead(Closed):
    recipients: list[RecipientVerdictRead]


router = APIRouter(prefix="/accounts/{account_id}/email-security", tags=["evaluate"])


@router.post(
    "/evaluate",
    summary="Evaluate a message against the settings",
    responses=answers(single(VerdictRead), "Per recipient: the verdict and why."),
)
async def evaluate_message(
    request: Request, access: ReadAccess, unit: ReadUnit, body: MessageBody
) -> JSONResponse:
    """Decide, per recipient, what the account's settings do to this message, and why."""
    cache: SnapshotCache = request.app.state.snapshots
    message = body.to_message()

    def work(session: Session) -> dict[str, Any]:
        snapshot = cache.get(session, access.account_id)
        verdict: dict[str, Any] = evaluate(message, snapshot).to_dict()
        return verdict

    database: Database = request.app.state.db
    if database.inline_lookups:
        # The usual case on SQLite: the snapshot held is current (one indexed read says so),
        # and the evaluation runs where the request is, on the event loop. A snapshot to
        # rebuild is built off the loop.
        with database.lookup() as session:
            snapshot = cache.current(session, access.account_id)
        if snapshot is not None:
            return ok(evaluate(message, snapshot).to_dict())
    return ok(await unit(work))
