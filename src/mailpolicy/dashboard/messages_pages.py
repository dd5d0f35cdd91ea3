"""The messages mailpolicy decided on: a search over the records, and one message's story.

The search is the investigate list's own filters as a GET form; a message's page reads the
record, its detections and its trace from the API, shows the preview of a quarantined message
(proxied, as an image of this site), releases it through the API, and offers to allow its
sender. What a reason names is linked to that settings entry's page.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Any, get_args
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response

from mailpolicy.dashboard.client import Answer
from mailpolicy.dashboard.settings_pages import RESOURCES, form_status
from mailpolicy.dashboard.web import TEMPLATES, Page, Viewing
from mailpolicy.messages.query import DeliveryStatus, FilterDisposition, Outcome

router = APIRouter()

PER_PAGE = 25
# The search form's fields: the investigate list's filters a person types or picks.
TEXT_FILTERS = ("query", "sender", "recipient", "subject", "message_id", "smtp_helo_ip")
CHOICES: dict[str, tuple[str, ...]] = {
    "final_disposition": get_args(FilterDisposition),
    "action": get_args(Outcome),
    "delivery_status": get_args(DeliveryStatus),
}
TIMES = ("start", "end")
_LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?")


def utc_instant(value: str) -> str:
    """A time as a datetime-local input gives it (no offset), read as UTC for the API; a
    time with its own offset is passed on as it is."""
    text = value.strip()
    if _LOCAL_TIME.fullmatch(text):
        return (text if text.count(":") == 2 else text + ":00") + "Z"
    return text


def local_input(value: str) -> str:
    """An RFC 3339 UTC time as a datetime-local input shows it."""
    text = value.strip()
    if text.endswith("Z") and _LOCAL_TIME.fullmatch(text[:-1]):
        return text[:-1][:19]
    return text


def entry_link(resource: str, entry_id: str) -> str | None:
    """The dashboard page of a settings entry a reason names, if it has one."""
    if resource in RESOURCES and entry_id:
        return f"/{resource}/{segment(entry_id)}"
    return None


def reason_views(reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A verdict's reasons as the pages tell them: each with the page of the entry it names,
    the entry that overrode it (a detection) and the detections it overrode (an entry)."""
    overrode: dict[str, list[str]] = {}
    for reason in reasons:
        by = reason.get("overridden_by")
        if by:
            # A detection's note starts with the detection in words: "rspamd GTUBE: SPAM; ...".
            told = str(reason.get("note") or "").split("; ")[0]
            overrode.setdefault(str(by), []).append(told)
    views = []
    for reason in reasons:
        resource = str(reason.get("resource") or "")
        entry_id = str(reason.get("id") or "")
        by = str(reason.get("overridden_by") or "")
        by_resource, _, by_id = by.partition("/")
        views.append(
            {
                **reason,
                "detection": resource == "detections",
                "link": entry_link(resource, entry_id),
                "overridden_link": entry_link(by_resource, by_id) if by else None,
                "overrode": overrode.get(f"{resource}/{entry_id}", []),
            }
        )
    return views


def search_errors(answer: Answer) -> dict[str, str]:
    """The search's refusal by the form field it names; what names none of the form's fields
    is kept under "" (shown above the form)."""
    shown = {*TEXT_FILTERS, *CHOICES, *TIMES, "detections_only"}
    found: dict[str, str] = {}
    for problem in answer.problems:
        name = problem.field if problem.field in shown else ""
        found[name] = f"{found[name]} {problem.message}" if name in found else problem.message
    return found


# ---- the search ------------------------------------------------------------------------------


def _search_query(params: dict[str, str]) -> dict[str, str]:
    """The search's query string, as the form sent it (its own values, for the form again)."""
    query = {k: params[k].strip() for k in TEXT_FILTERS if params.get(k, "").strip()}
    for name, options in CHOICES.items():
        if params.get(name) in options:
            query[name] = params[name]
    for name in TIMES:
        if params.get(name, "").strip():
            query[name] = params[name].strip()
    if params.get("detections_only") in {"true", "on"}:
        query["detections_only"] = "true"
    if params.get("page", "").isdigit() and int(params["page"]) > 1:
        query["page"] = params["page"]
    return query


@router.get("/messages")
async def messages(page: Viewing) -> Response:
    query = _search_query(dict(page.request.query_params))
    asked = {k: utc_instant(v) if k in TIMES else v for k, v in query.items()}
    answer = await page.api.get("/investigate", per_page=PER_PAGE, **asked)
    records: list[dict[str, Any]] = (answer.result or []) if answer.ok else []
    info = answer.info
    total = int(info.get("total_count") or 0)
    current = int(info.get("page") or query.get("page") or 1)
    errors = {} if answer.ok else search_errors(answer)
    return page.render(
        "messages.html",
        status=200 if answer.ok else form_status(answer),
        title="Messages",
        nav="messages",
        query=query,
        inputs={k: local_input(v) if k in TIMES else v for k, v in query.items()},
        records=records,
        total=total,
        capped=bool(info.get("total_count_capped")),
        current=current,
        pages=max(1, -(-total // PER_PAGE)),
        choices=CHOICES,
        errors=errors,
        filtered=any(k != "page" for k in query),
    )


# ---- one message -----------------------------------------------------------------------------


def _path(record_id: str) -> str:
    return f"/investigate/{quote(record_id, safe='')}"


def allow_sender_query(record: dict[str, Any]) -> str | None:
    """The new allow policy's form, prefilled with the message's sender."""
    sender = record.get("from") or record.get("envelope_from")
    if not sender or "@" not in str(sender):
        return None
    return f"pattern={quote(str(sender), safe='@')}&pattern_type=EMAIL&is_regex=false"


async def _message_page(
    page: Page,
    record_id: str,
    *,
    status: int = 200,
    problems: list[str] | None = None,
    released: list[dict[str, Any]] | None = None,
) -> Response:
    answer = await page.api.get(_path(record_id))
    if not answer.ok:
        raise page.failed(answer)
    record: dict[str, Any] = answer.result
    shown = record["id"]
    found = await page.api.get(_path(shown) + "/detections")
    detections: dict[str, Any] = found.result if found.ok else {}
    traced = await page.api.get(_path(shown) + "/trace")
    trace: dict[str, Any] = traced.result if traced.ok else {}
    recipients = [
        {**r, "reasons": reason_views(r.get("reasons") or [])}
        for r in record.get("recipients") or []
    ]
    findings = [
        {**f, "link": entry_link(*str(f.get("name") or "").partition("/")[::2])}
        for f in detections.get("findings") or record.get("findings") or []
    ]
    held = any(r.get("action") in {"quarantined", "released"} for r in recipients)
    return page.render(
        "message.html",
        status=status,
        title=f"Message {record.get('postfix_id') or shown}",
        nav="messages",
        record=record,
        recipients=recipients,
        detections=detections,
        findings=findings,
        trace=trace,
        has_copy=held,
        allow_query=allow_sender_query(record),
        problems=problems or [],
        released=released or [],
        notice=page.request.query_params.get("done", ""),
    )


@router.get("/messages/{record_id}")
async def message(page: Viewing, record_id: str) -> Response:
    return await _message_page(page, record_id)


@router.get("/messages/{record_id}/preview.png")
async def preview(page: Viewing, record_id: str) -> Response:
    """The API's picture of a quarantined message, as an image this site serves."""
    answer = await page.api.get(_path(record_id) + "/preview")
    if not answer.ok:
        raise page.failed(answer)
    try:
        picture = base64.b64decode(str(answer.result["screenshot"]), validate=True)
    except (KeyError, TypeError, binascii.Error) as exc:
        raise page.failed(Answer(502)) from exc
    return Response(picture, media_type="image/png")


@router.post("/messages/{record_id}/release")
async def release(page: Viewing, record_id: str) -> Response:
    await page.writable()
    answer = await page.api.call("POST", "/investigate/release", json={"ids": [record_id]})
    if not answer.ok:
        problems = [p.message for p in answer.problems]
        return await _message_page(page, record_id, status=answer.status, problems=problems)
    results: list[dict[str, Any]] = answer.result or []
    if any(r.get("failed") or r.get("error") for r in results):
        return await _message_page(page, record_id, status=502, released=results)
    delivered = [a for r in results for a in r.get("delivered") or []]
    done = f"Released to {', '.join(delivered)}." if delivered else "Released."
    return page.redirect(f"/messages/{segment(record_id)}", done=done)


def utc_time(value: Any) -> str:
    """An API time as the pages show it: to the second, UTC."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def segment(value: Any) -> str:
    """A value as one segment of a dashboard path (a record id keeps its colons)."""
    return quote(str(value), safe=":@")


TEMPLATES.env.filters["utc_time"] = utc_time
TEMPLATES.env.filters["segment"] = segment
