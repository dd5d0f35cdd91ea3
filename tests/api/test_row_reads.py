"""An entry by id and a list's page are read as plain rows (mailpolicy.resources.rows), not ORM
objects: their answers are, byte for byte, what the same entries read through the ORM answer,
serialized by the resource's `serialize` with timestamps written by mailpolicy.timefmt.iso, in
the v4 envelope as Starlette's JSONResponse encodes it, with the same headers.

Every resource is checked with an entry holding every field (non-ASCII text, quotes,
backslashes, control characters, the longest comments allowed), one holding nulls and three
plain ones, through every way a page is read: the whole account in each order and a later page
(one statement compiled once), a filter and a search (SQLAlchemy Core), and with a statement
listener attached (through SQLAlchemy, which tells it).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Connection, event, select
from sqlalchemy import exc as sa_exc
from starlette.responses import JSONResponse

from mailpolicy.audit.events import CLI
from mailpolicy.db import Database, unavailable_reason, utcnow
from mailpolicy.resources import REGISTRY, base, content_policies, domains
from mailpolicy.resources.spec import ResourceSpec
from mailpolicy.timefmt import iso
from tests.support.api import Api
from tests.support.resources import INTEGRATION_A, domain_body

SPECS: dict[str, ResourceSpec[Any]] = {spec.path: spec for spec, _ in REGISTRY}

# Text a serializer must carry through untouched: non-ASCII letters, a character outside the
# BMP, quotes, a backslash, control characters JSON escapes short and long, U+2028, markup.
TEXT = 'Zoë «Ω» 日本 📧 "quoted" back\\slash\ttab\nline\r\x01\x1f\u2028 </script>'


def long(limit: int) -> str:
    """Text of exactly `limit` characters."""
    return (TEXT * (limit // len(TEXT) + 1))[:limit]


def full_body(path: str) -> dict[str, Any]:
    """A create body setting every field the resource has."""
    return {
        "allow_policies": {
            "pattern": r".*@bücher\.example",
            "pattern_type": "EMAIL",
            "is_regex": True,
            "is_trusted_sender": True,
            "is_acceptable_sender": True,
            "is_exempt_recipient": True,
            "verify_sender": True,
            "comments": long(1024),
        },
        "block_senders": {
            "pattern": r"^spam.*@bücher\.example$",
            "pattern_type": "EMAIL",
            "is_regex": True,
            "comments": long(1024),
        },
        "content_policies": {
            "name": long(255),
            "pattern": "facture|Rechnung für|請求書",
            "targets": ["BODY", "SUBJECT"],
            "enabled": True,
            "notes": long(1024),
        },
        "domains": domain_body(
            "bücher-corp.example",
            allowed_delivery_modes=["BCC", "DIRECT"],
            drop_dispositions=["MALICIOUS", "SPAM"],
            ip_restrictions=["192.0.2.0/24", "10.0.0.1"],
            regions=["GLOBAL", "DE"],
            folder="Inbox",
            integration_id=INTEGRATION_A,
            lookback_hops=5,
            require_tls_inbound=True,
            require_tls_outbound=False,
            transport="smtp://relay.corp.example:25",
        ),
        "impersonation_registry": {
            "name": long(1024),
            "email": r".*@bücher\.example",
            "is_email_regex": True,
            "provenance": "A1S_INTERNAL",
            "directory_id": 2**62,
            "directory_node_id": -(2**40),
            "external_directory_node_id": "ext-Ω-1",
            "comments": long(1024),
        },
        "sending_domain_restrictions": {
            "domain": "tls.example.com",
            "exclude": ["a.tls.example.com", "b.tls.example.com"],
            "comments": long(1024),
        },
        "trusted_domains": {
            "pattern": r".*\.bücher\.example",
            "is_regex": True,
            "is_recent": True,
            "is_similarity": True,
            "comments": long(1024),
        },
        "url_ignore_patterns": {
            "pattern": r"https://bücher\.example/.*\?q=ü",
            "comments": long(1024),
        },
    }[path]


def plain_body(path: str, n: int) -> dict[str, Any]:
    """A create body leaving every optional field out (null, empty or its default)."""
    return {
        "allow_policies": {
            "pattern": f"friend{n}@partner.example",
            "pattern_type": "EMAIL",
            "is_regex": False,
            "is_trusted_sender": False,
            "is_acceptable_sender": True,
            "is_exempt_recipient": False,
            "verify_sender": False,
        },
        "block_senders": {"pattern": f"203.0.113.{n + 1}", "pattern_type": "IP", "is_regex": False},
        "content_policies": {
            "name": f"Plain {n}",
            "pattern": f"invoice {n}",
            "targets": ["BODY"],
            "enabled": False,
        },
        "domains": domain_body(f"plain{n}.example.net", regions=["US"], drop_dispositions=[]),
        "impersonation_registry": {
            "name": f"Person {n}",
            "email": f"person{n}@corp.example",
            "is_email_regex": False,
        },
        "sending_domain_restrictions": {"domain": f"plain{n}-tls.example.com", "exclude": []},
        "trusted_domains": {
            "pattern": f"partner{n}.example.com",
            "is_regex": False,
            "is_recent": False,
            "is_similarity": False,
        },
        "url_ignore_patterns": {"pattern": rf"https://plain{n}\.example/"},
    }[path]


# A filter each resource's full entry matches (None: its list takes none), and a search.
FILTERS: dict[str, dict[str, str] | None] = {
    "allow_policies": {"pattern_type": "EMAIL", "is_trusted_sender": "true"},
    "block_senders": {"pattern_type": "EMAIL"},
    "content_policies": {"enabled": "true"},
    "domains": {"allowed_delivery_mode": "BCC"},
    "impersonation_registry": {"provenance": "A1S_INTERNAL"},
    "sending_domain_restrictions": None,
    "trusted_domains": {"is_recent": "true"},
    "url_ignore_patterns": None,
}
SEARCHES = {
    "domains": "plain",
    "sending_domain_restrictions": "tls",
    "url_ignore_patterns": None,
}


def _domain_states(database: Database, ids: list[str]) -> None:
    """Give the domains every state their answer shows: one active, counted today, with DNS
    statuses; one awaiting its record, counted yesterday, with a message of its own."""
    today = utcnow().date()
    with database.transaction() as session:
        domains.activate(session, ids[0], CLI)
    with database.transaction() as session:
        full = session.get(domains.ProtectedDomain, ids[0])
        plain = session.get(domains.ProtectedDomain, ids[1])
        assert full is not None
        assert plain is not None
        full.spf_status, full.dmarc_status = "good", "invalid"
        full.inbox_provider, full.o365_tenant_id = "Microsoft", "tenant-Ω"
        full.count_day, full.count_current, full.count_previous = today, 12, 3
        plain.count_day, plain.count_current = today - dt.timedelta(days=1), 7
        plain.verification_message = long(512)
        plain.verification_checked_at = utcnow()


def make_entries(app: FastAPI, api: Api, path: str) -> list[str]:
    """The full entry and four plain ones, by id, in the order they were made."""
    made = [api.create(path, full_body(path))["id"]]
    made += [api.create(path, plain_body(path, n))["id"] for n in range(4)]
    if path == "domains":
        _domain_states(app.state.db, made)
    return made


def orm_entries(database: Database, spec: ResourceSpec[Any], account: str) -> dict[str, Any]:
    """The account's entries read through the ORM, by id, as answers were made before."""
    model = spec.model
    with database.transaction(write=False) as session:
        return {
            row.id: row for row in session.scalars(select(model).where(model.account_id == account))
        }


def orm_order(
    database: Database, spec: ResourceSpec[Any], account: str, order: str | None, desc: bool
) -> list[str]:
    """The account's ids in a list's order, as the database sorts them through the ORM."""
    model = spec.model
    column = spec.orderings.get(order or "", model.created_at)
    keys = (column.desc(), model.id.desc()) if desc else (column.asc(), model.id.asc())
    with database.transaction(write=False) as session:
        query = select(model.id).where(model.account_id == account).order_by(*keys)
        return list(session.scalars(query))


def reference(monkeypatch: pytest.MonkeyPatch, envelope: Callable[[], dict[str, Any]]) -> bytes:
    """A body as it was built before: timestamps by mailpolicy.timefmt.iso, JSONResponse."""
    with monkeypatch.context() as patched:
        patched.setattr(base, "entry_time", iso)
        patched.setattr(content_policies, "entry_time", iso)
        return bytes(JSONResponse(envelope()).body)


def success(result: Any, **info: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if info:
        envelope["result_info"] = info
    return envelope


def assert_same(
    response: httpx.Response,
    monkeypatch: pytest.MonkeyPatch,
    envelope: Callable[[], dict[str, Any]],
    before: bytes,
) -> None:
    """`response` is the reference answer, built before the request (`before`) or after it (a
    domain's answer holds today's date, which may change in between); same headers."""
    assert response.status_code == 200, response.text
    assert response.content in {before, reference(monkeypatch, envelope)}
    reference_headers = JSONResponse(None).raw_headers
    assert response.headers["content-type"] == dict(reference_headers)[b"content-type"].decode()
    assert response.headers["content-length"] == str(len(response.content))


def check_entry(
    app: FastAPI, api: Api, monkeypatch: pytest.MonkeyPatch, path: str, entry_id: str
) -> None:
    spec = SPECS[path]

    def envelope() -> dict[str, Any]:
        entry = orm_entries(app.state.db, spec, api.tenant.id)[entry_id]
        return success(spec.serialize(entry))

    before = reference(monkeypatch, envelope)
    response = api.get(path, entry_id, headers=api.tenant.read)
    assert_same(response, monkeypatch, envelope, before)


def check_page(
    app: FastAPI,
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    params: dict[str, Any],
    ids: list[str] | None,
) -> list[str]:
    """One list answer against the ORM's entries: `ids`, the page expected in order, or (None)
    the entries the answer names, in its order. Returns the answer's ids."""
    spec = SPECS[path]
    response = api.get(path, headers=api.tenant.read, params=params)
    assert response.status_code == 200, response.text
    answer = response.json()
    shown = [entry["id"] for entry in answer["result"]]
    expected = shown if ids is None else ids
    assert shown == expected

    def envelope() -> dict[str, Any]:
        entries = orm_entries(app.state.db, spec, api.tenant.id)
        return success(
            [spec.serialize(entries[entry_id]) for entry_id in expected],
            count=len(expected),
            page=params.get("page", 1),
            per_page=params.get("per_page", 20),
            total_count=answer["result_info"]["total_count"],
        )

    assert_same(response, monkeypatch, envelope, reference(monkeypatch, envelope))
    return shown


RESOURCES = pytest.mark.parametrize("path", sorted(SPECS))


@RESOURCES
def test_an_entry_answers_as_its_orm_entry_did(
    app: FastAPI, api: Api, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    for entry_id in make_entries(app, api, path):
        check_entry(app, api, monkeypatch, path, entry_id)


@RESOURCES
def test_every_page_answers_as_its_orm_entries_did(
    app: FastAPI, api: Api, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    spec = SPECS[path]
    database: Database = app.state.db
    account = api.tenant.id
    made = make_entries(app, api, path)
    assert orm_order(database, spec, account, None, desc=False) == made
    directions = (False, True) if "direction" in spec.list_query.model_fields else (False,)
    for order in (None, *spec.orderings):
        for desc in directions:
            params: dict[str, Any] = {"per_page": 50}
            if order is not None:
                params["order"] = order
            if desc:
                params["direction"] = "desc"
            in_order = orm_order(database, spec, account, order, desc)
            check_page(app, api, monkeypatch, path, params, in_order)
            # A later page: the same statement at an offset.
            paged = {**params, "per_page": 2, "page": 2}
            check_page(app, api, monkeypatch, path, paged, in_order[2:4])
    filters = FILTERS[path]
    if filters is not None:
        shown = check_page(app, api, monkeypatch, path, {**filters, "per_page": 50}, None)
        assert made[0] in shown
    search = SEARCHES.get(path, "Ω")
    if search is not None:
        shown = check_page(app, api, monkeypatch, path, {"search": search, "per_page": 50}, None)
        assert shown


@pytest.fixture
def watched(app: FastAPI) -> Iterator[list[str]]:
    """The statements the app runs while the test goes on."""
    seen: list[str] = []

    def grab(_conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = app.state.db.engine
    event.listen(engine, "before_cursor_execute", grab)
    yield seen
    event.remove(engine, "before_cursor_execute", grab)


@pytest.mark.parametrize("path", ["domains", "allow_policies"])
def test_a_statement_listener_sees_the_reads_and_the_answers_stay_the_same(
    app: FastAPI, api: Api, monkeypatch: pytest.MonkeyPatch, path: str, watched: list[str]
) -> None:
    made = make_entries(app, api, path)
    spec = SPECS[path]
    table = spec.model.__tablename__
    watched.clear()
    check_entry(app, api, monkeypatch, path, made[0])
    in_order = orm_order(app.state.db, spec, api.tenant.id, None, desc=False)
    check_page(app, api, monkeypatch, path, {"per_page": 2, "page": 2}, in_order[2:4])
    reads = [s for s in watched if s.lstrip().startswith("SELECT") and f"FROM {table}" in s]
    assert any(f"{table}.id = " in s for s in reads)
    assert any("LIMIT" in s for s in reads)


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it() -> None:
    """So a database that cannot serve answers 503 (mailpolicy.api.errors), as everywhere."""
    database = Database("sqlite://")  # no tables: every read fails in the driver
    spec = SPECS["allow_policies"]
    try:
        with (
            database.transaction(write=False) as session,
            pytest.raises(sa_exc.OperationalError) as raised,
        ):
            spec.rows.by_id(session, "account", "entry")
        assert unavailable_reason(raised.value) is not None
        assert "allow_policies" in str(raised.value)
    finally:
        database.dispose()


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2026, 12, 7, 13, 5, 9, 123456, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC),  # no microseconds
        dt.datetime(1000, 1, 1, tzinfo=dt.UTC),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        dt.datetime(999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),  # three digits: iso's own way
        dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        dt.datetime(2026, 6, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo("UTC")),
        dt.datetime(2026, 6, 1, 12, 0, 0, 5),  # naive
        utcnow(),
    ],
    ids=str,
)
def test_entry_times_are_written_as_timefmt_writes_them(value: dt.datetime) -> None:
    assert base.entry_time(value) == iso(value)
