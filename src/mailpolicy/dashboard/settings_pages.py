"""One page per settings resource, named as in the API's path: list, search, filter, sort,
page; create, edit, delete; CSV export, and CSV import through the atomic batch, previewed.

Every page is made from the resource's spec (its schemas, orderings and filters) and every
change goes through the API's own endpoints, so a form shows the API's own error messages
next to the fields their pointers name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile

from mailpolicy.dashboard.client import Answer, Problem
from mailpolicy.dashboard.forms import Field, fields_of, label, values_of
from mailpolicy.dashboard.web import Page, Refused, Viewing
from mailpolicy.resources import REGISTRY
from mailpolicy.resources.spec import ResourceSpec

router = APIRouter()

# Columns of a list that say when, not what.
_TIMES = {"created_at", "modified_at", "last_modified"}
_PAGING = {"page", "per_page", "search", "direction", "order"}
PER_PAGE = 25
MAX_IMPORT = 1000  # a batch's most items of one kind
LIST_SEPARATOR = ";"  # between the items of a list column in CSV

# Per resource, more for its entry's page (the protected domains' verification, say):
# called with the page and the entry, it gives the context its template part reads.
Extra = Callable[[Page, dict[str, Any]], Awaitable[dict[str, Any]]]
EXTRAS: dict[str, Extra] = {}


@dataclass(frozen=True)
class Resource:
    """What the pages of one resource need of its spec."""

    spec: ResourceSpec[Any]
    create: list[Field]
    edit: list[Field]
    columns: list[str]
    filters: list[Field]
    exported: list[str]

    @property
    def path(self) -> str:
        return self.spec.path

    @property
    def api(self) -> str:
        return f"/settings/{self.spec.path}"

    @property
    def title(self) -> str:
        return label(self.spec.path)

    @property
    def searchable(self) -> bool:
        return bool(self.spec.search)

    @property
    def importable(self) -> bool:
        return self.spec.batch == "full"


def _resource(spec: ResourceSpec[Any]) -> Resource:
    read = list(spec.read.model_json_schema()["properties"])
    shown = [c for c in read if c not in _TIMES and c != "id"]
    query = fields_of(spec.list_query, all_optional=True)
    return Resource(
        spec=spec,
        create=fields_of(spec.create),
        edit=fields_of(spec.update, all_optional=True, like=spec.create),
        columns=shown[:6],
        filters=[f for f in query if f.name not in _PAGING],
        exported=[c for c in read if c not in {"modified_at", "last_modified"}],
    )


RESOURCES = {spec.path: _resource(spec) for spec, _ in REGISTRY}


def form_status(answer: Answer) -> int:
    """A form the API refused is shown again: 422 when its values were refused."""
    return 422 if answer.status in {400, 422} else answer.status


def _errors(problems: list[Problem]) -> tuple[dict[str, str], list[str]]:
    """An answer's problems: by the field they name, and the rest."""
    by_field: dict[str, str] = {}
    other: list[str] = []
    for problem in problems:
        if problem.field and problem.field not in by_field:
            by_field[problem.field] = problem.message
        else:
            other.append(problem.message)
    return by_field, other


async def _entry(page: Page, resource: Resource, entry_id: str) -> dict[str, Any]:
    answer = await page.api.get(f"{resource.api}/{quote(entry_id, safe='')}")
    if not answer.ok:
        raise page.failed(answer)
    entry: dict[str, Any] = answer.result
    return entry


def _routes(resource: Resource) -> None:
    base = f"/{resource.path}"

    @router.get(base, name=f"{resource.path}-list")
    async def listing(page: Viewing) -> Response:
        params = dict(page.request.query_params)
        query: dict[str, Any] = {
            k: v
            for k, v in params.items()
            if k in _PAGING or any(f.name == k for f in resource.filters)
        }
        query.setdefault("per_page", str(PER_PAGE))
        answer = await page.api.call("GET", resource.api, params=query)
        problems: list[str] = []
        entries: list[dict[str, Any]] = []
        info: dict[str, Any] = {}
        if answer.ok:
            entries, info = answer.result or [], answer.info
        else:
            problems = [p.message for p in answer.problems]
        total = int(info.get("total_count") or 0)
        per_page = int(info.get("per_page") or PER_PAGE)
        current = int(info.get("page") or 1)
        return page.render(
            "resource_list.html",
            status=200 if answer.ok else answer.status,
            title=resource.title,
            nav=resource.path,
            resource=resource,
            entries=entries,
            query=query,
            problems=problems,
            total=total,
            current=current,
            pages=max(1, -(-total // per_page)),
            orderings=list(resource.spec.orderings),
            notice=params.get("done", ""),
        )

    @router.get(base + "/new", name=f"{resource.path}-new")
    async def new(page: Viewing) -> Response:
        return page.render(
            "resource_form.html",
            title=f"New {resource.spec.noun}",
            nav=resource.path,
            resource=resource,
            fields=resource.create,
            values=_prefill(resource, page),
            errors={},
            problems=[],
            entry=None,
        )

    @router.post(base, name=f"{resource.path}-create")
    async def create(page: Viewing) -> Response:
        form = await page.writable()
        body = values_of(resource.create, form)
        answer = await page.api.call("POST", resource.api, json=body)
        if answer.ok:
            return page.redirect(base, done=f"Created {resource.spec.noun} {answer.result['id']}.")
        return _form_again(page, resource, resource.create, form, answer, None)


def _csv_routes(resource: Resource) -> None:
    base = f"/{resource.path}"

    @router.get(base + "/export.csv", name=f"{resource.path}-export")
    async def export(page: Viewing) -> Response:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(resource.exported)
        number = 1
        while True:
            answer = await page.api.get(resource.api, page=number, per_page=1000)
            if not answer.ok:
                raise page.failed(answer)
            for entry in answer.result or []:
                writer.writerow([_cell(entry.get(c)) for c in resource.exported])
            if number * 1000 >= int(answer.info.get("total_count") or 0):
                break
            number += 1
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{resource.path}.csv"'},
        )

    @router.get(base + "/import", name=f"{resource.path}-import")
    async def import_form(page: Viewing) -> Response:
        return _import_page(page, resource)

    @router.post(base + "/import", name=f"{resource.path}-preview")
    async def preview(page: Viewing) -> Response:
        form = await page.writable()
        text = await _csv_text(form)
        plan = await _plan(page, resource, text)
        return _import_page(page, resource, text=text, plan=plan)

    @router.post(base + "/import/apply", name=f"{resource.path}-apply")
    async def apply(page: Viewing) -> Response:
        form = await page.writable()
        text = await _csv_text(form)
        plan = await _plan(page, resource, text)
        if plan.problems or not plan.rows:
            return _import_page(page, resource, text=text, plan=plan, status=422)
        answer = await page.api.call("POST", resource.api + "/batch", json=plan.batch())
        if not answer.ok:
            plan.problems.extend(plan.explain(answer))
            return _import_page(page, resource, text=text, plan=plan, status=answer.status)
        done = f"Imported {len(plan.rows)} rows: {plan.summary()}."
        return page.redirect(base, done=done)


def _entry_routes(resource: Resource) -> None:
    base = f"/{resource.path}"

    @router.get(base + "/{entry_id}", name=f"{resource.path}-entry")
    async def entry(page: Viewing, entry_id: str) -> Response:
        current = await _entry(page, resource, entry_id)
        return await _edit_page(page, resource, current, dict(current), {}, [], 200)

    @router.post(base + "/{entry_id}", name=f"{resource.path}-edit")
    async def edit(page: Viewing, entry_id: str) -> Response:
        form = await page.writable()
        body = values_of(resource.edit, form, partial=True)
        answer = await page.api.call(
            "PATCH", f"{resource.api}/{quote(entry_id, safe='')}", json=body
        )
        if answer.ok:
            return page.redirect(base, done=f"Saved {resource.spec.noun} {entry_id}.")
        current = await _entry(page, resource, entry_id)
        errors, problems = _errors(answer.problems)
        values = {f.name: _from_form(f, form) for f in resource.edit}
        return await _edit_page(
            page, resource, current, values, errors, problems, form_status(answer)
        )

    @router.post(base + "/{entry_id}/delete", name=f"{resource.path}-delete")
    async def remove(page: Viewing, entry_id: str) -> Response:
        await page.writable()
        answer = await page.api.call("DELETE", f"{resource.api}/{quote(entry_id, safe='')}")
        if not answer.ok:
            raise page.failed(answer)
        return page.redirect(base, done=f"Deleted {resource.spec.noun} {entry_id}.")


def _prefill(resource: Resource, page: Page) -> dict[str, Any]:
    """A new entry's form, filled from the query string (a message's "allow this sender")."""
    values: dict[str, Any] = {}
    for field in resource.create:
        given = page.request.query_params.getlist(field.name)
        if not given:
            continue
        if field.kind == "multi":
            values[field.name] = given
        elif field.kind == "bool":
            values[field.name] = given[0] in {"true", "on", "1"}
        elif field.kind == "lines":
            values[field.name] = given
        else:
            values[field.name] = given[0]
    return values


def _from_form(field: Field, form: FormData) -> Any:
    if field.kind == "bool":
        return field.name in form
    if field.kind == "multi":
        return form.getlist(field.name)
    if field.kind == "lines":
        raw = form.get(field.name)
        return raw.splitlines() if isinstance(raw, str) else []
    if field.kind == "tristate":
        raw = form.get(field.name)
        return None if raw not in {"true", "false"} else raw == "true"
    raw = form.get(field.name)
    return raw if isinstance(raw, str) else ""


def _form_again(
    page: Page,
    resource: Resource,
    fields: list[Field],
    form: FormData,
    answer: Answer,
    entry: dict[str, Any] | None,
) -> Response:
    errors, problems = _errors(answer.problems)
    return page.render(
        "resource_form.html",
        status=form_status(answer),
        title=f"New {resource.spec.noun}",
        nav=resource.path,
        resource=resource,
        fields=fields,
        values={f.name: _from_form(f, form) for f in fields},
        errors=errors,
        problems=problems,
        entry=entry,
    )


async def _edit_page(
    page: Page,
    resource: Resource,
    current: dict[str, Any],
    values: dict[str, Any],
    errors: dict[str, str],
    problems: list[str],
    status: int,
) -> Response:
    extra = EXTRAS.get(resource.path)
    return page.render(
        "resource_form.html",
        status=status,
        title=f"{resource.spec.noun.capitalize()} {current['id']}",
        nav=resource.path,
        resource=resource,
        fields=resource.edit,
        values=values,
        errors=errors,
        problems=problems,
        entry=current,
        extra=await extra(page, current) if extra else {},
    )


# ---- CSV ----


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(v) for v in value)
    return str(value)


async def _csv_text(form: FormData) -> str:
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read()
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise Refused(422, "The file is not UTF-8 text: save the CSV as UTF-8.") from exc
    text = form.get("csv")
    return text if isinstance(text, str) else ""


@dataclass
class Row:
    line: int
    action: str  # create, edit
    body: dict[str, Any]
    changes: list[tuple[str, Any, Any]]  # (field, before, after) of an edit


@dataclass
class Plan:
    rows: list[Row]
    problems: list[str]

    def batch(self) -> dict[str, Any]:
        posts = [r.body for r in self.rows if r.action == "create"]
        patches = [r.body for r in self.rows if r.action == "edit"]
        return {"deletes": [], "patches": patches, "puts": [], "posts": posts}

    def summary(self) -> str:
        made = sum(r.action == "create" for r in self.rows)
        return f"{made} created, {len(self.rows) - made} edited"

    def explain(self, answer: Answer) -> list[str]:
        """The batch's refusal, each item's problem named by its CSV line."""
        errors = answer.body.get("errors") if isinstance(answer.body, dict) else None
        lines = {
            "posts": [r.line for r in self.rows if r.action == "create"],
            "patches": [r.line for r in self.rows if r.action == "edit"],
        }
        found = []
        for item in errors or []:
            pointer = str((item.get("source") or {}).get("pointer") or "")
            parts = [p for p in pointer.split("/") if p]
            where = ""
            if len(parts) >= 2 and parts[0] in lines and parts[1].isdigit():
                index = int(parts[1])
                if index < len(lines[parts[0]]):
                    field = f", {parts[2]}" if len(parts) > 2 else ""
                    where = f"Line {lines[parts[0]][index]}{field}: "
            found.append(where + str(item.get("message", "")))
        return found or [p.message for p in answer.problems]


def _parsed(field: Field, text: str) -> Any:
    if field.kind in {"bool", "tristate"}:
        lowered = text.strip().lower()
        if lowered in {"true", "yes", "1"}:
            return True
        if lowered in {"false", "no", "0"}:
            return False
        return None if field.kind == "tristate" and not lowered else text
    if field.kind in {"multi", "lines"}:
        return [v.strip() for v in text.split(LIST_SEPARATOR) if v.strip()]
    if field.kind == "int":
        stripped = text.strip()
        return int(stripped) if stripped.lstrip("-").isdigit() else (stripped or None)
    return text if text != "" else None


def _validation(model: type[BaseModel], body: dict[str, Any], line: int) -> list[str]:
    try:
        model.model_validate(body)
    except ValidationError as exc:
        return [
            f"Line {line}, {'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}"
            for e in exc.errors()
        ]
    return []


async def _plan(page: Page, resource: Resource, text: str) -> Plan:
    """What a CSV would change: one row per entry, with `id` to edit that entry (only the
    columns given), without to create one. Checked against the resource's own schemas here;
    the API checks the rest when the batch is applied, and refuses all of it or none."""
    if not text.strip():
        return Plan([], ["The CSV is empty: give a header row and at least one entry."])
    reader = csv.DictReader(io.StringIO(text))
    known = {f.name: f for f in resource.create} | {f.name: f for f in resource.edit}
    header = [h.strip() for h in reader.fieldnames or []]
    # What an export holds besides the writable fields (timestamps, computed fields) is
    # read-only, and ignored.
    readable = set(resource.spec.read.model_json_schema()["properties"])
    unknown = [h for h in header if h and h != "id" and h not in known and h not in readable]
    problems = []
    if unknown:
        problems.append(
            f"Unknown columns: {', '.join(unknown)}. The columns are the API's fields: "
            f"{', '.join(['id', *known])}."
        )
    rows: list[Row] = []
    for number, raw in enumerate(reader, start=2):
        if len(rows) >= MAX_IMPORT:
            problems.append(f"More than {MAX_IMPORT:,} rows: split the file.")
            break
        cells = {
            k.strip(): (v or "") for k, v in raw.items() if (k and k.strip() in known) or k == "id"
        }
        if not any(v.strip() for v in cells.values()):
            continue
        entry_id = cells.pop("id", "").strip()
        if entry_id:
            answer = await page.api.get(f"{resource.api}/{quote(entry_id, safe='')}")
            if not answer.ok:
                problems.append(f"Line {number}: no {resource.spec.noun} has id {entry_id}.")
                continue
            before = answer.result
            body = {k: _parsed(known[k], v) for k, v in cells.items() if v.strip() != ""}
            problems += _validation(resource.spec.update, body, number)
            changes = [(k, before.get(k), v) for k, v in body.items() if before.get(k) != v]
            rows.append(Row(number, "edit", {"id": entry_id, **body}, changes))
        else:
            body = {
                k: _parsed(known[k], v)
                for k, v in cells.items()
                if k in {f.name for f in resource.create}
            }
            body = {k: v for k, v in body.items() if v is not None}
            problems += _validation(resource.spec.create, body, number)
            rows.append(Row(number, "create", body, [(k, None, v) for k, v in body.items()]))
    if not rows and not problems:
        problems.append("The CSV has a header row but no entries.")
    return Plan(rows, problems)


def _import_page(
    page: Page, resource: Resource, *, text: str = "", plan: Plan | None = None, status: int = 200
) -> Response:
    if not resource.importable:
        raise Refused(
            404,
            f"The API has no batch of creates and edits for {resource.title.lower()}, so it "
            "has no atomic import; create entries one by one.",
        )
    return page.render(
        "resource_import.html",
        status=status if plan is None or not plan.problems else max(status, 422),
        title=f"Import {resource.title.lower()}",
        nav=resource.path,
        resource=resource,
        text=text,
        plan=plan,
        columns=["id", *[f.name for f in resource.create]],
        separator=LIST_SEPARATOR,
    )


# An entry's path last: /new, /import and /export.csv are no entry ids.
for _r in RESOURCES.values():
    _routes(_r)
    _csv_routes(_r)
    _entry_routes(_r)
