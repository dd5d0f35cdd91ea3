"""The standard endpoints of a settings resource, made from its ResourceSpec.

Each endpoint is a few lines: access, one crud operation, one envelope. The responses each
one declares (the envelope holding the resource's Read schema) make the served OpenAPI
document describe every answer.
"""

# No `from __future__ import annotations` here: make_router puts runtime schema classes in
# endpoint signatures, and FastAPI must see them as objects, not as names to look up.

from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from mailpolicy.api.deps import (
    LookupUnit,
    ReadAccess,
    ReadUnit,
    RulesDep,
    SmallWriteUnit,
    WriteAccess,
    WriteUnit,
)
from mailpolicy.api.envelope import (
    BATCH_ID_HEADER,
    IdResult,
    answers,
    batch_result,
    listing,
    ok,
    ok_list,
    single,
    with_batch_id,
)
from mailpolicy.api.routing import id_beside
from mailpolicy.api.schemas import MAX_ID, ListQuery, batch_model
from mailpolicy.audit.events import Author
from mailpolicy.db import Database
from mailpolicy.resources.crud import (
    CountCache,
    NotCounted,
    create_entry,
    delete_entry,
    list_entries,
    read_entry,
    run_batch,
    update_entry,
)
from mailpolicy.resources.spec import ResourceSpec

# Lists whose page ends within this many entries, without a search, are read as lookups.
NEAR_ENTRIES = 1000


def make_router(spec: ResourceSpec[Any]) -> APIRouter:
    """The standard endpoints of one resource, its own schemas in the signatures."""
    router = APIRouter(prefix=f"/accounts/{{account_id}}/email-security/settings/{spec.path}")
    # Totals of this resource's lists, by settings version (see CountCache), counted on the
    # database's counting thread (Database.counting).
    counts = CountCache()
    # Beside a /batch path, an entry's path never matches "batch" (see _EntryId).
    item = entry_path(spec.id_param) if spec.batch != "none" else f"/{{{spec.id_param}}}"
    query_model = spec.list_query
    create_body = spec.create
    update_body = spec.update
    full = spec.batch == "full"
    batch_body = batch_model(
        spec.model.__name__,
        patch=spec.update if full else None,
        put=spec.put if full else None,
        post=spec.create if full else None,
    )
    tags: list[str | Enum] = [spec.path]
    summary = spec.summaries.get
    entry = single(spec.read)
    noun = spec.noun

    # The resource's own schemas are runtime values here; FastAPI reads them from the signatures.
    @router.get(
        "",
        summary=summary("list"),
        tags=tags,
        responses=answers(listing(spec.read), f"One page of {noun} entries."),
    )
    async def list_(
        request: Request,
        access: ReadAccess,
        unit: ReadUnit,
        query: Annotated[query_model, Query()],  # type: ignore[valid-type]  # FastAPI reads the model from the signature; it is built at run time
    ) -> JSONResponse:
        database: Database = request.app.state.db
        paging: ListQuery = query

        def work(session: Session, may_count: bool = True) -> tuple[list[dict[str, Any]], int]:
            rows, total = list_entries(
                session, spec, access.account_id, query, counts, may_count=may_count
            )
            serialize = spec.serialize_row
            return [serialize(r) for r in rows], total

        # A page near the start, without a search, is read through an index in about the
        # time of a lookup, so it is one, once its total is known: the total is counted once
        # per settings version, on the thread that counts (Database.counting).
        near = paging.page * paging.per_page <= NEAR_ENTRIES
        searching = bool(getattr(query, "search", None))
        if near and not searching and database.inline_lookups:
            try:
                with database.lookup() as session:
                    items, total = work(session, may_count=False)
            except NotCounted:
                items, total = await database.counting(work)
        else:
            items, total = await unit(work)
        return ok_list(items, page=paging.page, per_page=paging.per_page, total=total)

    @router.post(
        "",
        status_code=201,
        summary=summary("create"),
        tags=tags,
        responses=answers(entry, f"The {noun} created.", 201),
    )
    async def create(
        access: WriteAccess,
        unit: SmallWriteUnit,
        rules: RulesDep,
        body: create_body,  # type: ignore[valid-type]  # FastAPI reads the model from the signature; it is built at run time
    ) -> JSONResponse:
        def work(session: Session) -> dict[str, Any]:
            by = Author(access.actor)
            return spec.serialize(create_entry(session, spec, access.account_id, body, rules, by))

        return ok(await unit(work), status_code=201)

    async def batch_(
        access: WriteAccess,
        unit: WriteUnit,
        rules: RulesDep,
        body: batch_body,  # type: ignore[valid-type]  # FastAPI reads the model from the signature; it is built at run time
    ) -> JSONResponse:
        by = Author(access.actor).in_batch()
        result = await unit(
            lambda session: run_batch(session, spec, access.account_id, body, rules, by)
        )
        return ok(result, headers={BATCH_ID_HEADER: str(by.batch_id)})

    if spec.batch != "none":
        router.post(
            f"/{BATCH}",
            summary=summary("batch"),
            tags=tags,
            responses=with_batch_id(
                answers(
                    batch_result(spec.model.__name__, spec.read, full=full),
                    "What the batch deleted and wrote, step by step.",
                )
            ),
        )(batch_)

    @router.get(item, summary=summary("get"), tags=tags, responses=answers(entry, f"The {noun}."))
    async def get(
        access: ReadAccess, unit: LookupUnit, entry_id: str = _id_path(spec)
    ) -> JSONResponse:
        return ok(
            await unit(
                lambda session: spec.serialize_row(
                    read_entry(session, spec, access.account_id, entry_id)
                )
            )
        )

    @router.patch(
        item, summary=summary("edit"), tags=tags, responses=answers(entry, f"The {noun} as edited.")
    )
    async def edit(
        access: WriteAccess,
        unit: SmallWriteUnit,
        rules: RulesDep,
        body: update_body,  # type: ignore[valid-type]  # FastAPI reads the model from the signature; it is built at run time
        entry_id: str = _id_path(spec),
    ) -> JSONResponse:
        sent: BaseModel = body
        values = sent.model_dump(exclude_unset=True)
        by = Author(access.actor)

        def work(session: Session) -> dict[str, Any]:
            row = update_entry(session, spec, access.account_id, entry_id, values, rules, by)
            return spec.serialize(row)

        return ok(await unit(work))

    @router.delete(
        item,
        summary=summary("delete"),
        tags=tags,
        responses=answers(single(IdResult), f"The id of the {noun} deleted."),
    )
    async def delete(
        access: WriteAccess, unit: SmallWriteUnit, entry_id: str = _id_path(spec)
    ) -> JSONResponse:
        by = Author(access.actor)
        deleted = await unit(
            lambda session: delete_entry(session, spec, access.account_id, entry_id, by)
        )
        return ok({"id": deleted})

    return router


# /batch is a path of its own, and OpenAPI matches a fixed path before a templated one: an
# entry's path never matches it, so GET /batch is a 405 naming POST, not a look-up of an
# entry called "batch" (no entry has that id: ids are UUIDs).
BATCH = "batch"


ENTRY_ID = id_beside("entry_id", BATCH)


def entry_path(param: str) -> str:
    """The path of one entry of a resource that has a batch, relative to its collection."""
    return f"/{{{param}:{ENTRY_ID}}}"


def _id_path(spec: ResourceSpec[Any]) -> Any:
    return Path(alias=spec.id_param, max_length=MAX_ID, description=f"The {spec.noun} identifier.")
