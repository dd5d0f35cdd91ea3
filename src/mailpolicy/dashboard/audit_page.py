"""The audit history (/dashboard/audit): GET /audit's events, filtered and paged as the API does.

The form's fields are the API's own parameters (mailpolicy.audit.query.AuditQuery): resource,
entry_id, actor, action, batch_id, since, until, direction, page. The times are typed as local
date-times, read as UTC and sent with their offset, as the API requires; a value the API
refuses is shown beside its field with the API's message. Each event's change is summarised
as `mailpolicy audit` summarises it, with the entry before and after a click away.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, get_args

from fastapi import APIRouter
from fastapi.responses import Response

from mailpolicy.audit.events import Action, AuditEvent
from mailpolicy.audit.query import Resource, summary
from mailpolicy.dashboard.settings_pages import RESOURCES
from mailpolicy.dashboard.web import Viewing

router = APIRouter()

PER_PAGE = 50
FILTERS = ("resource", "entry_id", "actor", "action", "batch_id", "since", "until")
TIMES = ("since", "until")
RESOURCE_CHOICES: list[str] = [
    value for member in get_args(Resource) for value in (get_args(member) or (member,))
]
ACTION_CHOICES: list[str] = list(get_args(Action))

# What a datetime-local input sends: a date and a time, no offset (read as UTC here).
_LOCAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,6})?)?")


def to_api_time(value: str) -> str:
    """A form's time for the API: a local date-time read as UTC gets its seconds and `Z`;
    anything else goes as typed, for the API to accept or explain."""
    value = value.strip()
    if _LOCAL.fullmatch(value):
        return (value if value.count(":") == 2 else value + ":00") + "Z"
    return value


def to_form_time(value: str) -> str:
    """A time as a datetime-local input shows it (UTC, no offset), when it can be read."""
    if _LOCAL.fullmatch(value):
        return value
    try:
        parsed = dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return ""
    if parsed.tzinfo is None:
        return ""
    return parsed.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _summary(event: dict[str, Any]) -> str:
    """The CLI's one line about an event's change (mailpolicy.audit.query.summary)."""
    return summary(AuditEvent(before=event.get("before"), after=event.get("after")))


def _pretty(entry: dict[str, Any] | None) -> str:
    return json.dumps(entry, indent=2, sort_keys=True, ensure_ascii=False) if entry else ""


def _page_number(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) < 10**12 else 1


@router.get("/audit", name="audit")
async def audit(page: Viewing) -> Response:
    params = page.request.query_params
    form = {name: (params.get(name) or "").strip() for name in FILTERS}
    direction = "asc" if params.get("direction") == "asc" else "desc"
    number = _page_number(params.get("page"))
    query: dict[str, Any] = {
        name: to_api_time(value) if name in TIMES else value
        for name, value in form.items()
        if value
    }
    answer = await page.api.get(
        "/audit", **query, direction=direction, page=number, per_page=PER_PAGE
    )
    errors: dict[str, str] = {}
    problems: list[str] = []
    events: list[dict[str, Any]] = []
    total = 0
    if answer.ok:
        events = [
            {**e, "summary": _summary(e), "before_text": _pretty(e.get("before")),
             "after_text": _pretty(e.get("after"))}
            for e in answer.result or []
        ]  # fmt: skip
        total = int(answer.info.get("total_count") or 0)
    else:
        for problem in answer.problems:
            if problem.field in FILTERS and problem.field not in errors:
                errors[problem.field] = problem.message
            else:
                problems.append(problem.message)
    shown = {name: to_form_time(value) if name in TIMES else value for name, value in form.items()}
    # The state of the form, for the pages' links: the filters as the API was sent them.
    state = {**query, "direction": direction if direction == "asc" else ""}
    pages = max(1, -(-total // PER_PAGE))
    return page.render(
        "audit.html",
        status=200 if answer.ok else (422 if answer.status in {400, 422} else answer.status),
        title="Audit history",
        nav="audit",
        form=shown,
        direction=direction,
        state=state,
        errors=errors,
        problems=problems,
        events=events,
        total=total,
        current=number,
        pages=pages,
        per_page=PER_PAGE,
        filtered=bool(query),
        resource_choices=RESOURCE_CHOICES,
        action_choices=ACTION_CHOICES,
        settings_resources=set(RESOURCES),
    )
