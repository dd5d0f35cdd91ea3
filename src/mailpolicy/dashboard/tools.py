"""Tools that ask the settings questions: test a message, and what if a change were made.

"Test a message" sends the form to POST /evaluate (a message described field by field) or, when
a whole message is pasted or uploaded, to POST /scan (the milter's own pipeline); neither
changes anything, so a Read token may test. "What if" builds (or takes, pasted) a proposed
change, the body of POST /whatif, shows which recent messages it would decide differently,
and applies it through each resource's own batch endpoint.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, get_args
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from mailpolicy.dashboard.client import Answer
from mailpolicy.dashboard.forms import Field, values_of
from mailpolicy.dashboard.messages_pages import entry_link, reason_views
from mailpolicy.dashboard.settings_pages import RESOURCES, Resource, form_status
from mailpolicy.dashboard.web import Page, Viewing
from mailpolicy.evaluation.message import DkimResult, DmarcResult, SpfResult
from mailpolicy.messages.whatif import DEFAULT_WINDOW, MAX_WINDOW

router = APIRouter()

# The settings resources' pages, by their path in the API.
BY_PATH: dict[str, Resource] = {r.path: r for r in RESOURCES.values()}

# ---- test a message --------------------------------------------------------------------------

TEST_FIELDS = (
    "sender",
    "recipients",
    "client_ip",
    "client_hostname",
    "helo",
    "tls_protocol",
    "tls_cipher",
    "header_from",
    "reply_to",
    "subject",
    "body",
    "spf",
    "dkim",
    "dmarc",
    "findings",
    "eml",
)
AUTH: dict[str, tuple[str, ...]] = {"spf": get_args(SpfResult), "dmarc": get_args(DmarcResult)}
DKIM_RESULTS: tuple[str, ...] = get_args(DkimResult)
# The API's fields (the first part of an error's pointer) by the form's names.
EVALUATE_NAMES = {"envelope_from": "sender", "tls": "tls_protocol"}
SCAN_NAMES = {"envelope_from": "sender", "tls": "tls_protocol", "": "eml"}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _finding(line: str) -> dict[str, Any]:
    """`kind:disposition[:source[:label]]`, as `mailpolicy evaluate --finding` takes it."""
    kind, _, rest = line.partition(":")
    disposition, _, rest = rest.partition(":")
    source, _, label = rest.partition(":")
    found: dict[str, Any] = {"kind": kind.strip(), "disposition": disposition.strip().upper()}
    if source.strip():
        found["source"] = source.strip()
    if label.strip():
        found["label"] = label.strip()
    return found


def _dkim(line: str) -> dict[str, str]:
    """`domain:result`, as `mailpolicy evaluate --dkim` takes it."""
    domain, _, result = line.rpartition(":") if ":" in line else (line, "", "")
    return {"domain": domain.strip(), "result": result.strip().lower()}


def evaluate_body(values: dict[str, str]) -> dict[str, Any]:
    """POST /evaluate's body from the form: what is left empty is left out (the API's
    defaults), a sender is the From address too unless one is given."""
    sender = values["sender"].strip()
    body: dict[str, Any] = {
        "envelope_from": sender,
        "header_from": values["header_from"].strip() or sender,
        "recipients": _lines(values["recipients"]),
        "client_ip": values["client_ip"].strip(),
        "auth": {
            "spf": values["spf"] or "none",
            "dmarc": values["dmarc"] or "none",
            "dkim": [_dkim(line) for line in _lines(values["dkim"])],
        },
        "findings": [_finding(line) for line in _lines(values["findings"])],
    }
    for name in ("reply_to", "client_hostname", "helo", "subject"):
        if values[name].strip():
            body[name] = values[name].strip()
    if values["body"].strip():
        body["body"] = values["body"]
    if values["tls_protocol"].strip():
        body["tls"] = {
            "protocol": values["tls_protocol"].strip(),
            "cipher": values["tls_cipher"].strip(),
        }
    return body


def scan_query(values: dict[str, str]) -> dict[str, str]:
    """POST /scan's query from the form: the envelope and connection; the rest is the
    message's own."""
    query = {
        "client_ip": values["client_ip"].strip(),
        "envelope_from": values["sender"].strip(),
        "recipients": ",".join(_lines(values["recipients"])),
        "client_hostname": values["client_hostname"].strip(),
        "helo": values["helo"].strip(),
        "tls": values["tls_protocol"].strip(),
        "tls_cipher": values["tls_cipher"].strip(),
    }
    return {k: v for k, v in query.items() if v}


def pointer_errors(answer: Answer, names: dict[str, str]) -> dict[str, str]:
    """The API's errors by the form field their pointers name: the first part of the pointer
    (after `body` or `query`), renamed by `names`; what names no field is under "other"."""
    errors = answer.body.get("errors") if isinstance(answer.body, dict) else None
    found: dict[str, str] = {}
    for item in errors or []:
        pointer = str((item.get("source") or {}).get("pointer") or "")
        parts = [p for p in pointer.split("/") if p]
        if parts and parts[0] in {"body", "query"}:
            parts = parts[1:]
        first = parts[0] if parts else ""
        if first == "auth" and len(parts) > 1:
            first = parts[1]
        elif first == "tls" and len(parts) > 1:
            first = "tls_cipher" if parts[1] == "cipher" else "tls_protocol"
        name = names.get(first, first) or "other"
        if name not in TEST_FIELDS:
            name = "other"
        message = str(item.get("message", ""))
        found[name] = f"{found[name]} {message}" if name in found else message
    if not found and not answer.ok:
        found["other"] = " ".join(p.message for p in answer.problems)
    return found


async def _message_bytes(form: FormData, values: dict[str, str]) -> tuple[bytes | None, str]:
    """The whole message given, if any (an upload first, else the pasted text), and the name
    of the file it came from."""
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read()
        if raw.strip():
            try:
                values["eml"] = raw.decode("utf-8")
            except UnicodeDecodeError:
                values["eml"] = ""
            return raw, upload.filename
    if values["eml"].strip():
        return values["eml"].encode("utf-8"), ""
    return None, ""


def _verdict(result: dict[str, Any]) -> dict[str, Any]:
    recipients = [
        {**r, "reasons": reason_views(r.get("reasons") or [])}
        for r in result.get("recipients") or []
    ]
    return {**result, "recipients": recipients}


def _test_page(
    page: Page,
    values: dict[str, str],
    *,
    verdict: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    source: str = "",
    status: int = 200,
) -> Response:
    return page.render(
        "test.html",
        status=status,
        title="Test a message",
        nav="test",
        values=values,
        verdict=verdict,
        errors=errors or {},
        source=source,
        auth=AUTH,
        dkim_results=DKIM_RESULTS,
    )


@router.get("/test")
async def test_form(page: Viewing) -> Response:
    return _test_page(page, dict.fromkeys(TEST_FIELDS, ""))


@router.post("/test")
async def test_message(page: Viewing) -> Response:
    # Testing changes nothing: a Read token may do it, so the form's CSRF is all that is checked.
    form = await page.form()
    values = {name: str(form.get(name) or "") for name in TEST_FIELDS}
    raw, filename = await _message_bytes(form, values)
    if raw is not None:
        answer = await page.api.call(
            "POST",
            "/scan",
            params=scan_query(values),
            content=raw,
            headers={"content-type": "message/rfc822"},
        )
        source = f"the file {filename}" if filename else "the pasted message"
        names = SCAN_NAMES
    else:
        answer = await page.api.call("POST", "/evaluate", json=evaluate_body(values))
        source = "the fields"
        names = EVALUATE_NAMES
    if not answer.ok:
        errors = pointer_errors(answer, names)
        return _test_page(page, values, errors=errors, status=form_status(answer))
    return _test_page(page, values, verdict=_verdict(answer.result), source=source)


# ---- what if ---------------------------------------------------------------------------------

# What a change may do, by the batch step it takes.
OPERATIONS = {"create": "posts", "edit": "patches", "delete": "deletes"}
FULL_STEPS = ("deletes", "patches", "puts", "posts")
WINDOWS = (("1", "the last day"), ("7", "the last 7 days"), ("31", "the last 31 days"))


def proposable() -> list[Resource]:
    """The resources a what-if change may name: those with a batch endpoint."""
    return [r for r in BY_PATH.values() if r.spec.batch != "none"]


def operations_of(resource: Resource) -> list[str]:
    return list(OPERATIONS) if resource.spec.batch == "full" else ["delete"]


def steps_of(resource: Resource) -> tuple[str, ...]:
    return FULL_STEPS if resource.spec.batch == "full" else ("deletes",)


@dataclass
class Builder:
    """The change being built: one entry of one resource, created, edited or deleted."""

    resource: Resource | None
    operation: str
    entry_id: str

    @property
    def fields(self) -> list[Field]:
        if self.resource is None or self.operation == "delete":
            return []
        return self.resource.create if self.operation == "create" else self.resource.edit

    @property
    def ready(self) -> bool:
        """Whether the builder has what the change's form needs."""
        if self.resource is None or self.operation not in operations_of(self.resource):
            return False
        return self.operation == "create" or bool(self.entry_id)

    def change(self, form: FormData) -> dict[str, Any]:
        assert self.resource is not None
        item: dict[str, Any]
        if self.operation == "delete":
            item = {"id": self.entry_id}
        else:
            item = values_of(self.fields, form, partial=self.operation == "edit")
            if self.operation == "edit":
                item = {"id": self.entry_id, **item}
        return {self.resource.path: {OPERATIONS[self.operation]: [item]}}


def _builder(values: Any) -> Builder:
    path = str(values.get("resource") or "")
    resource = BY_PATH.get(path)
    if resource is not None and resource.spec.batch == "none":
        resource = None
    operation = str(values.get("operation") or "")
    if resource is not None and operation not in operations_of(resource):
        operation = operations_of(resource)[0]
    return Builder(resource, operation, str(values.get("entry_id") or "").strip())


def _days(value: Any) -> str:
    text = str(value or "")
    return text if text in {d for d, _ in WINDOWS} else str(DEFAULT_WINDOW.days)


def _start(days: str) -> str:
    span = min(dt.timedelta(days=int(days)), MAX_WINDOW)
    moment = dt.datetime.now(dt.UTC) - span + dt.timedelta(seconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def whatif_errors(answer: Answer, builder: Builder | None) -> tuple[dict[str, str], list[str]]:
    """What-if's (or a batch's) errors: by the builder's field their pointer names
    (`/block_senders/posts/0/pattern` -> pattern), and the rest (whose messages say where)."""
    errors = answer.body.get("errors") if isinstance(answer.body, dict) else None
    by_field: dict[str, str] = {}
    other: list[str] = []
    names = {f.name for f in builder.fields} if builder else set()
    for item in errors or []:
        pointer = str((item.get("source") or {}).get("pointer") or "")
        message = str(item.get("message", ""))
        parts = [p for p in pointer.split("/") if p]
        if parts and parts[0] == "body":
            parts = parts[1:]
        if builder is not None and len(parts) > 3 and parts[2].isdigit():
            name = "entry_id" if parts[3] == "id" else parts[3]
            if name in names or name == "entry_id":
                by_field.setdefault(name, message)
                continue
        other.append(message)
    if not errors and not answer.ok:
        other.extend(p.message for p in answer.problems)
    return by_field, other


def _parsed_change(text: str) -> tuple[dict[str, Any] | None, str]:
    try:
        change = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"This is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
    if not isinstance(change, dict) or not change:
        return None, (
            'A change is an object keyed by resource, e.g. {"block_senders": {"posts": '
            '[{"pattern": "vendor.example", "pattern_type": "DOMAIN", "is_regex": false}]}}.'
        )
    return change, ""


def _whatif_page(
    page: Page,
    builder: Builder,
    *,
    values: dict[str, Any] | None = None,
    status: int = 200,
    **context: Any,
) -> Response:
    context.setdefault("errors", {})
    context.setdefault("problems", [])
    return page.render(
        "whatif.html",
        status=status,
        title="What if",
        nav="whatif",
        builder=builder,
        resources=[(r.path, r.title) for r in proposable()],
        operations=[
            (name, name.capitalize())
            for name in (operations_of(builder.resource) if builder.resource else OPERATIONS)
        ],
        windows=WINDOWS,
        values=values or {},
        **context,
    )


async def _current(page: Page, builder: Builder) -> tuple[dict[str, Any], str]:
    """The entry an edit starts from (its values prefill the form), or why there is none."""
    if builder.resource is None or builder.operation == "create" or not builder.entry_id:
        return {}, ""
    answer = await page.api.get(f"{builder.resource.api}/{quote(builder.entry_id, safe='')}")
    if not answer.ok:
        return {}, " ".join(p.message for p in answer.problems)
    entry: dict[str, Any] = answer.result
    return entry, ""


@router.get("/whatif")
async def whatif_form(page: Viewing) -> Response:
    builder = _builder(page.request.query_params)
    entry, problem = await _current(page, builder)
    errors = {"entry_id": problem} if problem else {}
    if problem:
        builder.entry_id = ""
    values = {f.name: entry.get(f.name) for f in builder.fields} if entry else {}
    if builder.resource is not None and builder.operation == "create":
        values = _prefill(builder, page)
    return _whatif_page(
        page,
        builder,
        values=values,
        entry=entry,
        errors=errors,
        days=_days(page.request.query_params.get("days")),
        status=404 if problem else 200,
    )


def _prefill(builder: Builder, page: Page) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in builder.fields:
        given = page.request.query_params.getlist(field.name)
        if given:
            values[field.name] = given if field.kind in {"multi", "lines"} else given[0]
    return values


def _form_values(builder: Builder, form: FormData) -> dict[str, Any]:
    """The builder's fields as the form sent them, to show them again."""
    values: dict[str, Any] = {}
    for field in builder.fields:
        if field.kind == "bool":
            values[field.name] = field.name in form
        elif field.kind == "multi":
            values[field.name] = form.getlist(field.name)
        elif field.kind == "lines":
            raw = form.get(field.name)
            values[field.name] = raw.splitlines() if isinstance(raw, str) else []
        elif field.kind == "tristate":
            raw = form.get(field.name)
            values[field.name] = None if raw not in {"true", "false"} else raw == "true"
        else:
            raw = form.get(field.name)
            values[field.name] = raw if isinstance(raw, str) else ""
    return values


def _samples(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The preview's changed recipients, one row each, the reasons told as the pages tell them."""
    rows = []
    for message in result.get("messages") or []:
        for change in message.get("recipients") or []:
            after = change.get("after") or {}
            rows.append(
                {
                    "message": message,
                    "address": change.get("address"),
                    "before": change.get("before") or {},
                    "after": after,
                    "reasons": reason_views(after.get("reasons") or []),
                }
            )
    return rows


@router.post("/whatif")
async def whatif_preview(page: Viewing) -> Response:
    # What-if runs the proposal's writes (rolled back): the API needs Write for it.
    form = await page.writable()
    builder = _builder(form)
    days = _days(form.get("days"))
    pasted = str(form.get("change") or "")
    values = _form_values(builder, form)
    context: dict[str, Any] = {"days": days, "pasted": pasted}
    if pasted.strip():
        change, problem = _parsed_change(pasted)
        if change is None:
            return _whatif_page(
                page, builder, values=values, status=422, errors={"change": problem}, **context
            )
        shown: Builder | None = None
    elif builder.ready:
        change, shown = builder.change(form), builder
    else:
        problem = "Choose a resource and what to do (and the entry, to edit or delete one)."
        return _whatif_page(page, builder, values=values, status=422, problems=[problem], **context)
    answer = await page.api.call("POST", "/whatif", json=change, params={"start": _start(days)})
    if not answer.ok:
        errors, problems = whatif_errors(answer, shown)
        if shown is None and errors == {} and problems:
            errors = {"change": " ".join(problems)}
            problems = []
        return _whatif_page(
            page,
            builder,
            values=values,
            status=form_status(answer),
            errors=errors,
            problems=problems,
            **context,
        )
    result: dict[str, Any] = answer.result
    return _whatif_page(
        page,
        builder,
        values=values,
        result=result,
        samples=_samples(result),
        change=json.dumps(change, indent=2, ensure_ascii=False),
        **context,
    )


@dataclass
class Applied:
    resource: Resource
    created: list[dict[str, Any]]
    edited: list[dict[str, Any]]
    deleted: list[str]


def _applied(resource: Resource, result: dict[str, Any]) -> Applied:
    def linked(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"id": e.get("id"), "link": entry_link(resource.path, str(e.get("id") or ""))}
            for e in entries
        ]

    return Applied(
        resource,
        created=linked(result.get("posts") or []),
        edited=linked((result.get("patches") or []) + (result.get("puts") or [])),
        deleted=[str(d.get("id")) for d in result.get("deletes") or []],
    )


@router.post("/whatif/apply")
async def whatif_apply(page: Viewing) -> Response:
    form = await page.writable()
    builder = _builder(form)
    days = _days(form.get("days"))
    change, problem = _parsed_change(str(form.get("change") or ""))
    context: dict[str, Any] = {"days": days, "values": _form_values(builder, form)}
    if change is None:
        return _whatif_page(page, builder, status=422, problems=[problem], **context)
    unknown = [name for name in change if name not in BY_PATH or BY_PATH[name].spec.batch == "none"]
    if unknown:
        problems = [
            f"No change can be applied to {', '.join(unknown)}: the resources are "
            f"{', '.join(r.path for r in proposable())}."
        ]
        return _whatif_page(page, builder, status=422, problems=problems, **context)
    applied: list[Applied] = []
    problems = []
    status = 200
    for name, batch in change.items():
        resource = BY_PATH[name]
        steps = batch if isinstance(batch, dict) else {}
        body = {step: steps.get(step) or [] for step in steps_of(resource)}
        answer = await page.api.call("POST", f"{resource.api}/batch", json=body)
        if not answer.ok:
            _, refused = whatif_errors(answer, None)
            problems = [f"{resource.title}: {p}" for p in refused]
            status = form_status(answer)
            break
        applied.append(_applied(resource, answer.result or {}))
    if problems:
        # What was not applied, to correct and preview again.
        done = {a.resource.path for a in applied}
        rest = {name: batch for name, batch in change.items() if name not in done}
        context["pasted"] = json.dumps(rest, indent=2, ensure_ascii=False)
    return _whatif_page(
        page,
        builder,
        status=status,
        applied=applied,
        problems=problems,
        change=json.dumps(change, indent=2, ensure_ascii=False),
        **context,
    )
