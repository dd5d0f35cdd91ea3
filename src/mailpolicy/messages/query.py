"""Reading message records back: the investigate filters, pages and cursors, and the wire shape.

The wire shape is Cloudflare's investigate message (`InvestigateListResponse` in the SDKs),
filled from what the record holds; a field mailpolicy has no honest value for is null
(docs/compatibility.md lists each field's source). mailpolicy adds `recipients` (each
recipient's disposition, what the milter did, its delivery status and every reason), `action`,
`client_hostname`, `helo`, `tls`, `size` and `settings_version`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator
from sqlalchemy import ColumnElement, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session

from mailpolicy.api.schemas import ListQuery
from mailpolicy.audit.query import Instant, later_than
from mailpolicy.db import utcnow
from mailpolicy.errors import ApiError, NotFound
from mailpolicy.messages import search
from mailpolicy.messages.records import MessageRecipient, MessageRecord
from mailpolicy.timefmt import iso

DEFAULT_WINDOW = dt.timedelta(days=30)
MAX_COUNT = 10_000
MAX_TEXT = 1000

FilterDisposition = Literal["MALICIOUS", "SUSPICIOUS", "SPOOF", "SPAM", "BULK", "NONE"]
DeliveryStatus = Literal[
    "delivered", "moved", "quarantined", "rejected", "deferred", "bounced", "queued", "move_failed"
]
MessageAction = Literal["PREVIEW", "QUARANTINE_RELEASED", "MOVED"]
# What happened to a message as a whole (a record's `action`, mailpolicy's own).
Outcome = Literal[
    "delivered", "refused_at_rcpt", "recipient_removed", "rejected", "discarded", "quarantined"
]
# The filter's QUARANTINE_RELEASED is the action log's QUARANTINE_RELEASE.
_OPERATION_OF = {
    "PREVIEW": "PREVIEW",
    "QUARANTINE_RELEASED": "QUARANTINE_RELEASE",
    "MOVED": "MOVE",
}


class InvestigateQuery(ListQuery):
    """The filters of Cloudflare's investigate list, as the SDKs send them."""

    start: Instant = Field(
        default=None, description="Messages scanned at or after this time (default: 30 days ago)."
    )
    end: Instant = Field(
        default=None, description="Messages scanned before this time (default: now)."
    )
    query: str | None = Field(
        default=None,
        max_length=MAX_TEXT,
        description=(
            "Space-separated words, each a case-insensitive substring of the sender, From, "
            "a recipient, the subject or the Message-ID."
        ),
    )
    sender: str | None = Field(
        default=None,
        max_length=320,
        description="The envelope or header sender: an address or a domain.",
    )
    recipient: str | None = Field(
        default=None, max_length=320, description="A recipient: an address or a domain."
    )
    subject: str | None = Field(
        default=None, max_length=MAX_TEXT, description="Words the subject holds, in any order."
    )
    message_id: str | None = Field(
        default=None, max_length=998, description="The RFC 5322 Message-ID, with or without <>."
    )
    domain: str | None = Field(
        default=None, max_length=255, description="A sender, From or recipient domain."
    )
    final_disposition: FilterDisposition | None = Field(default=None)
    delivery_status: DeliveryStatus | None = Field(
        default=None, description="Messages with a recipient in this delivery status."
    )
    message_action: MessageAction | None = Field(
        default=None, description="Messages an administrator acted on this way."
    )
    detections_only: bool | None = Field(
        default=None, description="Only messages whose final disposition is not NONE."
    )
    smtp_helo_ip: str | None = Field(
        default=None, max_length=45, description="The connecting client's IP address."
    )
    alert_id: str | None = Field(
        default=None,
        max_length=200,
        description="mailpolicy raises no alerts: a message never has one, so this matches none.",
    )
    cursor: str | None = Field(
        default=None, max_length=200, description="From the previous page's result_info.cursor."
    )
    metric: str | None = Field(
        default=None,
        max_length=100,
        description="Not supported: mailpolicy lists, it does not aggregate.",
    )
    action: Outcome | None = Field(
        default=None, description="mailpolicy's own: what the milter did with the message."
    )

    @field_validator("start")
    @classmethod
    def _not_future(cls, start: dt.datetime | None) -> dt.datetime | None:
        if start is not None and start > utcnow() + dt.timedelta(minutes=5):
            raise ValueError("must not be in the future")
        return start

    _end_after_start = later_than("end", "start")

    @field_validator("metric")
    @classmethod
    def _no_metric(cls, metric: str | None) -> str | None:
        if metric is not None:
            raise ValueError(
                "is not supported: mailpolicy lists messages, it does not aggregate them"
            )
        return metric


def _address_or_domain(column: Any, domain_column: Any, value: str) -> ColumnElement[bool]:
    """Addresses are stored lower-cased (as the engine normalises them): plain equality, which
    the indexes serve."""
    value = value.strip().lower()
    if "@" in value:
        matched: ColumnElement[bool] = column == value
        return matched
    by_domain: ColumnElement[bool] = domain_column == value.lstrip("@")
    return by_domain


def conditions(account_id: str, query: InvestigateQuery) -> list[ColumnElement[bool]]:
    r = MessageRecord
    now = utcnow()
    end = query.end or now + dt.timedelta(seconds=1)
    start = query.start or min(now, end) - DEFAULT_WINDOW
    found: list[ColumnElement[bool]] = [
        r.account_id == account_id,
        r.scanned_at >= start,
        r.scanned_at < end,
    ]
    recipients = MessageRecipient

    def any_recipient(condition: ColumnElement[bool]) -> ColumnElement[bool]:
        # The account's recipients that match, by their own index, then their records.
        return r.id.in_(
            select(recipients.record_id).where(recipients.account_id == account_id, condition)
        )

    if query.sender:
        value = query.sender.strip().lower()
        found.append(
            or_(
                _address_or_domain(r.envelope_from, r.sender_domain, value),
                _address_or_domain(r.header_from, r.header_from_domain, value),
            )
        )
    if query.recipient:
        found.append(
            any_recipient(
                _address_or_domain(recipients.address, recipients.domain, query.recipient)
            )
        )
    if query.domain:
        domain = query.domain.strip().lower().lstrip("@")
        found.append(
            or_(
                r.sender_domain == domain,
                r.header_from_domain == domain,
                any_recipient(recipients.domain == domain),
            )
        )
    found.extend(_content_conditions(query))
    return found


def _content_conditions(query: InvestigateQuery) -> list[ColumnElement[bool]]:
    """The filters on what a message said and how it ended."""
    r = MessageRecord
    found: list[ColumnElement[bool]] = []
    for word in (query.subject or "").lower().split():
        found.append(r.subject_key.contains(word, autoescape=True))
        # The subject is part of search_text, which the trigram index covers.
        found.append(r.search_text.contains(word, autoescape=True))
    for word in (query.query or "").lower().split():
        found.append(r.search_text.contains(word, autoescape=True))
    if query.message_id:
        bare = query.message_id.strip().strip("<>")
        found.append(r.message_id.in_([bare, f"<{bare}>"]))
    if query.final_disposition is not None:
        found.append(r.final_disposition == query.final_disposition)
    if query.detections_only:
        found.append(r.final_disposition != "NONE")
    if query.delivery_status is not None:
        found.append(
            exists().where(
                MessageRecipient.record_id == r.id,
                MessageRecipient.delivery_status == query.delivery_status,
            )
        )
    if query.message_action is not None:
        operation = _OPERATION_OF[query.message_action]
        found.append(r.operations.contains(f" {operation} "))
    if query.smtp_helo_ip:
        found.append(r.client_ip == query.smtp_helo_ip.strip())
    if query.alert_id is not None:
        found.append(r.id.is_(None))  # no record has an alert
    if query.action:
        found.append(r.action == query.action)
    return found


# ---- cursors ------------------------------------------------------------------------------


def _encode_cursor(record: MessageRecord) -> str:
    text = f"{iso(record.scanned_at)}|{record.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, record = text.partition("|")
        return dt.datetime.fromisoformat(when.replace("Z", "+00:00")), record
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            "cursor is not one this server gave: pass result_info.cursor of the previous page",
            pointer="/cursor",
        ) from None


@dataclass(frozen=True, slots=True)
class Page:
    records: list[MessageRecord]
    recipients: dict[str, list[MessageRecipient]]
    total: int
    cursor: str | None
    capped: bool = False


def list_records(session: Session, account_id: str, query: InvestigateQuery) -> Page:
    r = MessageRecord
    where = conditions(account_id, query)
    words = f"{query.subject or ''} {query.query or ''}".lower().split()
    narrowed = search.candidates(session, words, r.id)
    if narrowed is not None:
        where.append(narrowed)
    # Counted up to a bound: past it, a count costs more than the page (total_count then says
    # "at least", and result_info.total_count_capped is true).
    bounded = select(r.id).where(*where).limit(MAX_COUNT + 1).subquery()
    total = session.scalar(select(func.count()).select_from(bounded)) or 0
    statement = select(r).where(*where).order_by(r.scanned_at.desc(), r.id.desc())
    if query.cursor:
        at, record_id = _decode_cursor(query.cursor)
        statement = statement.where(tuple_(r.scanned_at, r.id) < tuple_(at, record_id))
    else:
        statement = statement.offset((query.page - 1) * query.per_page)
    records = list(session.scalars(statement.limit(query.per_page)))
    cursor = _encode_cursor(records[-1]) if len(records) == query.per_page else None
    capped = total > MAX_COUNT
    return Page(
        records,
        recipients_of(session, [x.id for x in records]),
        min(total, MAX_COUNT),
        cursor,
        capped,
    )


def recipients_of(session: Session, ids: list[str]) -> dict[str, list[MessageRecipient]]:
    found: dict[str, list[MessageRecipient]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = session.scalars(
        select(MessageRecipient)
        .where(MessageRecipient.record_id.in_(ids))
        .order_by(MessageRecipient.record_id, MessageRecipient.position)
    )
    for row in rows:
        found[row.record_id].append(row)
    return found


def get_record(
    session: Session, account_id: str, record_id: str, *, lock: bool = False
) -> MessageRecord:
    """One of the account's records, by its id or (the newest with it) its Postfix queue id."""
    r = MessageRecord
    statement = select(r).where(
        r.account_id == account_id, or_(r.id == record_id, r.postfix_id == record_id)
    )
    if lock:
        statement = statement.with_for_update()
    found = session.scalars(statement.order_by(r.scanned_at.desc()).limit(1)).first()
    if found is None:
        raise NotFound(f"no message {record_id!r} in this account", pointer="/investigate_id")
    return found


# ---- the wire shape ------------------------------------------------------------------------

_ALLOW_TYPES = {
    "trusted_sender": "allowed_sender",
    "acceptable_sender": "acceptable_sender",
    "exempt_recipient": "allowed_recipient",
    "trusted_similarity": "domain_similarity",
    "trusted_recent": "domain_recency",
}
_THREATS = {
    "block": "blocked_sender",
    "content_policy": "content_policy",
    "impersonation": "impersonation",
    "require_tls": "tls_required",
}


def properties(recipients: list[MessageRecipient]) -> dict[str, Any]:
    """Cloudflare's one allow pattern and one block pattern: the first honoured of each."""
    found: dict[str, Any] = {
        "allowlisted_pattern": None,
        "allowlisted_pattern_type": None,
        "blocklisted_message": False,
        "blocklisted_pattern": None,
    }
    for recipient in recipients:
        for reason in recipient.reasons:
            if not reason.get("honoured"):
                continue
            effect = reason.get("effect")
            if effect in _ALLOW_TYPES and found["allowlisted_pattern"] is None:
                found["allowlisted_pattern"] = reason.get("pattern")
                found["allowlisted_pattern_type"] = _ALLOW_TYPES[effect]
            elif effect == "block" and found["blocklisted_pattern"] is None:
                found["blocklisted_pattern"] = reason.get("pattern")
                found["blocklisted_message"] = True
    return found


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def as_wire(record: MessageRecord, recipients: list[MessageRecipient]) -> dict[str, Any]:
    honoured = [
        reason for recipient in recipients for reason in recipient.reasons if reason.get("honoured")
    ]
    operations = record.operations.split()
    return {
        "id": record.id,
        "action_log": [dict(entry) for entry in record.action_log],
        "client_recipients": [r.address for r in recipients],
        "detection_reasons": _unique(
            [r.explanation for r in recipients if r.disposition != "NONE"]
        ),
        "is_phish_submission": False,
        "is_quarantined": record.is_quarantined,
        "postfix_id": record.postfix_id,
        "properties": properties(recipients),
        "ts": iso(record.scanned_at),
        "alert_id": None,
        "delivery_mode": "DIRECT",
        "delivery_status": _unique([r.delivery_status for r in recipients]),
        "edf_hash": None,
        "envelope_from": record.envelope_from or None,
        "envelope_to": list(record.envelope_to),
        "final_disposition": record.final_disposition,
        "findings": [dict(finding) for finding in record.findings],
        "from": record.header_from,
        "from_name": record.from_name,
        "htmltext_structure_hash": None,
        "message_id": record.message_id,
        "post_delivery_operations": [
            op for op in operations if op in ("PREVIEW", "QUARANTINE_RELEASE", "SUBMISSION", "MOVE")
        ],
        "postfix_id_outbound": None,
        "replyto": record.reply_to,
        "scanned_at": iso(record.scanned_at),
        "sent_at": iso(record.sent_at),
        "sent_date": record.sent_at.strftime("%Y-%m-%d") if record.sent_at else None,
        "smtp_helo_server_ip": record.client_ip,
        "smtp_previous_hop_ip": record.client_ip,
        "subject": record.subject,
        "threat_categories": _unique(
            [_THREATS[r["effect"]] for r in honoured if r.get("effect") in _THREATS]
        ),
        "to": list(record.to),
        "to_name": list(record.to_name),
        "validation": {
            "comment": None,
            "spf": record.validation.get("spf"),
            "dkim": record.validation.get("dkim"),
            "dmarc": record.validation.get("dmarc"),
        },
        "x_originating_ip": None,
        # mailpolicy's own.
        "action": record.action,
        "client_hostname": record.client_hostname,
        "helo": record.helo,
        "tls": (
            None
            if record.tls_protocol is None
            else {"protocol": record.tls_protocol, "cipher": record.tls_cipher}
        ),
        "size": record.size,
        "settings_version": record.settings_version,
        "released_at": iso(record.released_at),
        "recipients": [
            {
                "address": r.address,
                "disposition": r.disposition,
                "action": r.action,
                "delivery_status": r.delivery_status,
                "explanation": r.explanation,
                "reasons": [dict(reason) for reason in r.reasons],
            }
            for r in recipients
        ],
    }
