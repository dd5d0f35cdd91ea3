"""Reading the audit history back, for the API and the CLI: filters, pages, one-line summaries."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, WithJsonSchema, field_validator
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from mailpolicy.api.schemas import MAX_ID, ListQuery
from mailpolicy.audit.events import MAX_ACTOR, Action, AuditEvent
from mailpolicy.resources.spec import SettingsResource
from mailpolicy.timefmt import iso

# What was written: settings entries, and the credentials of the account.
Resource = Literal[SettingsResource, "tokens", "keys", "messages"]

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


def later_than(field: str, earlier: str) -> Any:
    """A validator of the instant `field`: when both are given, it comes after `earlier`
    (declared before it, so that it is checked first)."""

    def check(cls: Any, value: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        del cls
        before = info.data.get(earlier)
        if value is not None and before is not None and value <= before:
            raise ValueError(f"must be later than {earlier} ({iso(before)})")
        return value

    return field_validator(field)(check)


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

    _until_after_since = later_than("until", "since")


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
