"""The audit history: every write, who made it, when, and the entry before and after.

Each write path calls `record` in the session of the write itself, so an event is committed
with its write or not at all: a write that fails (a batch item that is refused, a 409, a
failed commit) leaves no event behind. Who wrote is an `Author`: the credential of an API
request ("token:<id>" or "key:<id>", never its secret), the operator at the command line
("cli"), or the background DNS verifier ("verifier"). The items of one batch request share
the author's `batch_id`.

`GET /accounts/{account_id}/email-security/audit` (mailpolicy.audit.endpoints) and
`mailpolicy audit` read it back with `list_events`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, WithJsonSchema, field_validator
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from mailpolicy.api.schemas import MAX_ID, ListQuery, SettingsResource
from mailpolicy.db import Base, UTCDateTime, new_id, utcnow
from mailpolicy.timefmt import iso

# What was written: settings entries, and the credentials of the account.
Resource = Literal[SettingsResource, "tokens", "keys"]
# create, edit (PATCH, batch patches), replace (PUT, batch puts), delete: any entry;
# activate: the operator asserted a domain's ownership; verify: a DNS check changed a domain's
# status; revoke: a token or key was revoked (tokens and keys are created, never edited).
Action = Literal["create", "edit", "replace", "delete", "activate", "verify", "revoke"]
MAX_ACTOR = 64


@dataclass(frozen=True, slots=True)
class Author:
    """Who makes a change, as the history names them, and the batch request it belongs to."""

    actor: str
    batch_id: str | None = None

    def in_batch(self) -> Author:
        """The same author, for the items of one batch request: they share a new batch id."""
        return Author(self.actor, new_id())


CLI = Author("cli")
VERIFIER = Author("verifier")


class AuditEvent(Base):
    """One write to one entry (or credential) of an account."""

    __tablename__ = "audit_events"
    # Every listing is one account's, in time order, maybe within a time range. Each index
    # leads with the account and a filter and ends with that order, so a filtered page is
    # read in order and a time range is a range of the same index. An entry id alone names
    # one entry (ids are UUIDs), so it leads its index, the resource after it: given both,
    # the index matches both (an entry's few events are then sorted; see list_events). The
    # action filter has no index: it reads the account's events in order.
    __table_args__ = (
        Index("ix_audit_events_account_time", "account_id", "occurred_at", "id"),
        Index(
            "ix_audit_events_account_entry",
            "account_id",
            "entry_id",
            "resource",
            "occurred_at",
            "id",
        ),
        Index("ix_audit_events_account_resource", "account_id", "resource", "occurred_at", "id"),
        Index("ix_audit_events_account_actor", "account_id", "actor", "occurred_at", "id"),
        Index("ix_audit_events_account_batch", "account_id", "batch_id", "occurred_at", "id"),
    )

    # A sequence, so events written in the same microsecond still list in the order written.
    # SQLite numbers rows only for an INTEGER PRIMARY KEY, which is 64-bit there anyway.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(MAX_ACTOR))
    action: Mapped[str] = mapped_column(String(16))
    resource: Mapped[str] = mapped_column(String(40))
    entry_id: Mapped[str] = mapped_column(String(36))
    batch_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # The entry as the API shows it; NULL (not JSON null) before a create and after a delete.
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)


def record(
    session: Session,
    by: Author,
    *,
    account_id: str,
    action: Action,
    resource: Resource,
    entry_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Add the event of one write to the write's own session (it commits or rolls back with it)."""
    session.add(
        AuditEvent(
            account_id=account_id,
            occurred_at=utcnow(),
            actor=by.actor,
            action=action,
            resource=resource,
            entry_id=entry_id,
            batch_id=by.batch_id,
            before=before,
            after=after,
        )
    )


# ---- reading (the API and the CLI) ----------------------------------------------------------

# RFC 3339 section 5.6: a full date, "T" (or a space, or "t"), a full time, its offset.
_LOCAL = r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d{1,9})?"
_RFC3339 = re.compile(_LOCAL + r"([Zz]|[+-]\d\d:\d\d)")
_NO_OFFSET = re.compile(_LOCAL)
# What a "+" sent unescaped in a query string leaves: a space before the offset.
_PLUS_AS_SPACE = re.compile(_LOCAL + r" \d\d:\d\d")
_EXAMPLE = "e.g. 2026-01-31T09:30:00Z or 2026-01-31T10:30:00+01:00"
MAX_INSTANT = 64


def _instant(value: Any) -> Any:
    """An RFC 3339 date-time, offset required (a time without one names no instant), in UTC."""
    if value is None or isinstance(value, dt.datetime):
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            raise ValueError(f"must have a time zone offset (Z for UTC), {_EXAMPLE}")
        return value
    if not isinstance(value, str) or len(value) > MAX_INSTANT:
        raise ValueError(f"must be an RFC 3339 date-time, {_EXAMPLE}")
    if _NO_OFFSET.fullmatch(value):
        raise ValueError(f"must have a time zone offset (Z for UTC), {_EXAMPLE}")
    if _PLUS_AS_SPACE.fullmatch(value):
        raise ValueError(f"must have its offset's + sent as %2B in a URL, {_EXAMPLE}")
    if not _RFC3339.fullmatch(value):
        raise ValueError(f"must be an RFC 3339 date-time with an offset, {_EXAMPLE}")
    text = value.upper()
    try:
        return dt.datetime.fromisoformat(text[:10] + "T" + text[11:]).astimezone(dt.UTC)
    except ValueError as exc:
        raise ValueError(f"is not a real date and time: {exc}") from None
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        raise ValueError("is out of range: in UTC it falls outside years 1 to 9999") from None


Instant = Annotated[
    dt.datetime | None,
    BeforeValidator(_instant),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time", "maxLength": MAX_INSTANT},
                {"type": "null"},
            ]
        }
    ),
]


class AuditQuery(ListQuery):
    resource: Resource | None = Field(default=None, description="Only events of this resource.")
    entry_id: str | None = Field(
        default=None, max_length=MAX_ID, description="Only events of this entry (or token, key)."
    )
    actor: str | None = Field(
        default=None,
        max_length=MAX_ACTOR,
        description='Only events by this actor: "token:<id>", "key:<id>", "cli" or "verifier".',
    )
    action: Action | None = Field(default=None, description="Only events of this action.")
    batch_id: str | None = Field(
        default=None, max_length=MAX_ID, description="Only the events of this batch request."
    )
    since: Instant = Field(
        default=None, description="Only events at or after this RFC 3339 date-time."
    )
    until: Instant = Field(default=None, description="Only events before this RFC 3339 date-time.")
    direction: Literal["asc", "desc"] = Field(
        default="desc", description="Newest first (desc, the default) or oldest first (asc)."
    )

    @field_validator("until")
    @classmethod
    def _after_since(cls, until: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        since = info.data.get("since")
        if until is not None and since is not None and until <= since:
            raise ValueError(f"must be later than since ({iso(since)})")
        return until


def _conditions(account_id: str, query: AuditQuery) -> list[ColumnElement[bool]]:
    e = AuditEvent
    conditions: list[ColumnElement[bool]] = [e.account_id == account_id]
    for column, value in (
        (e.resource, query.resource),
        (e.entry_id, query.entry_id),
        (e.actor, query.actor),
        (e.action, query.action),
        (e.batch_id, query.batch_id),
    ):
        if value is not None:
            conditions.append(column == value)
    if query.since is not None:
        conditions.append(e.occurred_at >= query.since)
    if query.until is not None:
        conditions.append(e.occurred_at < query.until)
    return conditions


def list_events(
    session: Session, account_id: str, query: AuditQuery
) -> tuple[list[AuditEvent], int]:
    """One page of the account's events matching `query`, and how many match in all."""
    conditions = _conditions(account_id, query)
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    offset = (query.page - 1) * query.per_page
    if offset >= total:
        return [], total
    e = AuditEvent
    if query.direction == "desc":
        ordering = (e.occurred_at.desc(), e.id.desc())
    else:
        ordering = (e.occurred_at.asc(), e.id.asc())
    page = select(e)
    if query.entry_id is not None:
        # An entry's events are few: found through its index, then sorted. Left to itself,
        # SQLite (no statistics unless ANALYZE ran) would rather walk the account's events in
        # time order, testing each, than sort: a read of the whole account.
        page = page.where(e.id.in_(select(e.id).where(*conditions)))
    else:
        page = page.where(*conditions)
    rows = session.scalars(page.order_by(*ordering).offset(offset).limit(query.per_page)).all()
    return list(rows), total


def as_dict(event: AuditEvent) -> dict[str, Any]:
    """An event as the API and `mailpolicy audit --json` show it."""
    return {
        "id": event.id,
        "occurred_at": iso(event.occurred_at),
        "actor": event.actor,
        "action": event.action,
        "resource": event.resource,
        "entry_id": event.entry_id,
        "batch_id": event.batch_id,
        "before": event.before,
        "after": event.after,
    }


# Fields every write changes, or that change by themselves: not worth a line in a summary.
_NOISE = {"modified_at", "last_modified", "emails_processed"}
_NAMES = ("pattern", "name", "domain", "email")


def _flat(entry: dict[str, Any] | None) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in (entry or {}).items():
        if key in _NOISE:
            continue
        if isinstance(value, dict):
            flat.update({f"{key}.{inner}": v for inner, v in value.items()})
        else:
            flat[key] = value
    return flat


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def summary(event: AuditEvent) -> str:
    """One line for people: what a create or delete was about, or what an edit changed."""
    if event.before is None or event.after is None:
        entry = event.after if event.before is None else event.before
        named = [f"{k}={_short(entry[k])}" for k in _NAMES if entry and k in entry]
        return ", ".join(named)
    before, after = _flat(event.before), _flat(event.after)
    changed = [
        f"{key}: {_short(before.get(key))} → {_short(after.get(key))}"
        for key in after
        if before.get(key) != after.get(key)
    ]
    return "; ".join(changed) or "no field changed"
