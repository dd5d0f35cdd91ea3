"""What an administrator does to recorded messages: release, reclassify, read raw or preview.

Each is one transaction: the record's action log and (for release and reclassify) the audit
history are written with the change, or not at all. The API and `mailpolicy messages` share
these functions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailpolicy.audit.events import Author, record
from mailpolicy.db import utcnow
from mailpolicy.errors import ApiError, Conflict, NotFound
from mailpolicy.messages import preview
from mailpolicy.messages.query import as_wire, get_record, recipients_of
from mailpolicy.messages.records import (
    QUARANTINED,
    RELEASED,
    MessageRecipient,
    MessageRecord,
    Submission,
)
from mailpolicy.messages.release import PostfixQueue, ReleaseFailed
from mailpolicy.timefmt import iso

# The six dispositions a submission names (MALICIOUS-BEC is reported as MALICIOUS).
_SHORT = {"MALICIOUS-BEC": "MALICIOUS"}


def _log(record_: MessageRecord, operation: str, by: Author, status: str = "completed") -> None:
    now = utcnow()
    record_.action_log = [
        *record_.action_log,
        {
            "completed_at": iso(now),
            "operation": operation,
            "properties": {"folder": None, "requested_by": by.actor},
            "status": status,
        },
    ]
    if f" {operation} " not in record_.operations and operation != "RECLASSIFY":
        record_.operations = f"{record_.operations or ' '}{operation} "


def _snapshot(session: Session, record_: MessageRecord) -> dict[str, Any]:
    return as_wire(record_, recipients_of(session, [record_.id])[record_.id])


# ---- release --------------------------------------------------------------------------------


@dataclass
class Released:
    id: str
    postfix_id: str
    delivered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "postfix_id": self.postfix_id,
            "delivered": self.delivered,
            "failed": self.failed,
            "undelivered": self.undelivered,
            "error": self.error,
        }


def release(
    session: Session, queue: PostfixQueue, account_id: str, ids: list[str], by: Author
) -> list[Released]:
    """Release held messages through Postfix. Every id is checked first (unknown: 404;
    not held: 409, naming it), so a request that names one wrong id releases nothing."""
    records = []
    for index, record_id in enumerate(ids):
        try:
            found = get_record(session, account_id, record_id, lock=True)
        except NotFound:
            raise NotFound(
                f"no message {record_id!r} in this account", pointer=f"/ids/{index}"
            ) from None
        if not found.is_quarantined:
            when = f" at {iso(found.released_at)}" if found.released_at else ""
            raise Conflict(
                f"message {found.id} is not in quarantine (it was {found.action}"
                f"{', then released' + when if found.released_at else ''}): there is nothing "
                "to release",
                pointer=f"/ids/{index}",
            )
        if found in records:
            raise ApiError(f"message {found.id} is named twice", pointer=f"/ids/{index}")
        records.append(found)
    results = []
    for found in records:
        before = _snapshot(session, found)
        rows = list(
            session.scalars(
                select(MessageRecipient)
                .where(MessageRecipient.record_id == found.id)
                .order_by(MessageRecipient.position)
            )
        )
        held = [r for r in rows if r.action == QUARANTINED]
        result = Released(found.id, found.postfix_id)
        result.undelivered = [r.address for r in rows if r.action != QUARANTINED]
        try:
            queue.release(found.postfix_id)
        except ReleaseFailed as exc:
            result.failed = [r.address for r in held]
            result.error = str(exc)
            _log(found, "QUARANTINE_RELEASE", by, status="failed")
            results.append(result)
            continue
        now = utcnow()
        for row in held:
            row.action = RELEASED
            row.delivery_status = "queued"
        result.delivered = [r.address for r in held]
        found.is_quarantined = False
        found.released_at = now
        _log(found, "QUARANTINE_RELEASE", by)
        session.flush()
        record(
            session,
            by,
            account_id=account_id,
            action="release",
            resource="messages",
            entry_id=found.id,
            before=before,
            after=_snapshot(session, found),
        )
        results.append(result)
    return results


# ---- raw and preview -------------------------------------------------------------------------


def _copy(found: MessageRecord) -> bytes:
    if found.raw is None:
        raise NotFound(
            f"message {found.id} has no stored copy: mailpolicy keeps one only for quarantined "
            "mail (MAILPOLICY_DROP_ACTION=quarantine, MAILPOLICY_QUARANTINE_MAX_BYTES)",
            pointer="/investigate_id",
        )
    return found.raw


def raw(session: Session, account_id: str, record_id: str, by: Author) -> str:
    found = get_record(session, account_id, record_id, lock=True)
    copy = _copy(found)
    if not found.raw_complete:
        raise Conflict(
            f"message {found.id} was larger than MAILPOLICY_QUARANTINE_MAX_BYTES, so only its "
            f"first {len(copy)} bytes were kept: enough for a preview, not the raw message",
            pointer="/investigate_id",
        )
    _log(found, "PREVIEW", by)
    return copy.decode("utf-8", "replace")


def screenshot(session: Session, account_id: str, record_id: str, by: Author) -> str:
    found = get_record(session, account_id, record_id, lock=True)
    picture = preview.screenshot(_copy(found))
    _log(found, "PREVIEW", by)
    return picture


# ---- reclassify and submissions ------------------------------------------------------------


def reclassify(
    session: Session, account_id: str, record_id: str, disposition: str, by: Author
) -> Submission:
    found = get_record(session, account_id, record_id, lock=True)
    before = _snapshot(session, found)
    submission = Submission(
        account_id=account_id,
        record_id=found.id,
        postfix_id=found.postfix_id,
        requested_at=utcnow(),
        requested_by=by.actor,
        original_disposition=_SHORT.get(found.final_disposition, found.final_disposition),
        requested_disposition=disposition,
        subject=found.subject,
        status="unreviewed",
    )
    session.add(submission)
    _log(found, "RECLASSIFY", by)
    _log(found, "SUBMISSION", by)
    session.flush()
    record(
        session,
        by,
        account_id=account_id,
        action="reclassify",
        resource="messages",
        entry_id=found.id,
        before=before,
        after=_snapshot(session, found),
    )
    return submission


def submission_wire(submission: Submission) -> dict[str, Any]:
    return {
        "submission_id": submission.id,
        "requested_at": iso(submission.requested_at),
        "requested_by": submission.requested_by,
        "original_disposition": submission.original_disposition,
        "requested_disposition": submission.requested_disposition,
        "original_postfix_id": submission.postfix_id,
        "customer_status": submission.status,
        "status": submission.status,
        "subject": submission.subject,
        "type": "Team",
        "message_id": submission.record_id,
    }


def list_submissions(
    session: Session,
    account_id: str,
    *,
    start: dt.datetime,
    end: dt.datetime,
    conditions: list[Any],
    order: Any,
    page: int,
    per_page: int,
) -> tuple[list[Submission], int]:
    s = Submission
    where = [s.account_id == account_id, s.requested_at >= start, s.requested_at < end, *conditions]
    total = session.scalar(select(func.count()).select_from(s).where(*where)) or 0
    rows = session.scalars(
        select(s).where(*where).order_by(order, s.id).offset((page - 1) * per_page).limit(per_page)
    )
    return list(rows), total
