"""The audit history's listings read SQLite's indexes: for each filter, the queries a
GET …/audit request runs search an index led by the account and that filter, and those that
page through many events read them in order instead of sorting them. SQLite here has no
statistics (no ANALYZE), as in a fresh deployment."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from mailpolicy.audit.events import AuditEvent
from mailpolicy.db import Database
from tests.support.api import Tenant

AUDIT = "/client/v4/accounts/{account}/email-security/audit"
EVENTS = 6000
RESOURCES = ("block_senders", "domains", "allow_policies", "content_policies")
ACTORS = ("cli", "token:6f1c5a8e-1b7e-4f57-9a52-1d3e9b1b5a01", "verifier")


@pytest.fixture
def crowded(app: FastAPI, tenant: Tenant, other_tenant: Tenant) -> dict[str, str]:
    """Many events in two accounts; what one entry and one batch of them are."""
    now = dt.datetime.now(dt.UTC)
    entry, batch = str(uuid.uuid4()), str(uuid.uuid4())
    rows = [
        {
            "account_id": (other_tenant, tenant)[n % 2].id,
            "occurred_at": now - dt.timedelta(seconds=EVENTS - n),
            "actor": ACTORS[n % 3],
            "action": "edit",
            "resource": RESOURCES[(n // 2) % 4],
            "entry_id": entry if n % 50 == 1 else str(uuid.uuid4()),
            "batch_id": batch if n % 40 == 1 else None,
            "before": {"pattern": f"a{n}.example"},
            "after": {"pattern": f"b{n}.example"},
        }
        for n in range(EVENTS)
    ]
    database: Database = app.state.db
    with database.transaction() as session:
        session.execute(AuditEvent.__table__.insert(), rows)
    return {"entry": entry, "batch": batch}


@pytest.fixture
def statements(app: FastAPI) -> Iterator[list[tuple[str, Any]]]:
    """The SELECTs on audit_events the app runs while the test goes on."""
    database: Database = app.state.db
    seen: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "audit_events" in statement:
            seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", grab)
    yield seen
    event.remove(database.engine, "before_cursor_execute", grab)


def plans(app: FastAPI, statements: list[tuple[str, Any]]) -> list[list[str]]:
    database: Database = app.state.db
    found = []
    with database.engine.connect() as conn:
        for statement, parameters in list(statements):
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            found.append([row[-1] for row in rows])
    return found


@pytest.mark.parametrize(
    ("params", "index", "in_order"),
    [
        pytest.param({}, "ix_audit_events_account_time", True, id="everything"),
        pytest.param(
            {"since": "2000-01-01T00:00:00Z"}, "ix_audit_events_account_time", True, id="since"
        ),
        pytest.param(
            {"resource": "domains"}, "ix_audit_events_account_resource", True, id="resource"
        ),
        pytest.param(
            {"resource": "domains", "until": "2100-01-01T00:00:00Z", "direction": "asc"},
            "ix_audit_events_account_resource",
            True,
            id="resource-until-asc",
        ),
        pytest.param({"actor": "cli"}, "ix_audit_events_account_actor", True, id="actor"),
        pytest.param(
            {"actor": "cli", "since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"},
            "ix_audit_events_account_actor",
            True,
            id="actor-in-a-range",
        ),
        pytest.param({"batch_id": "batch"}, "ix_audit_events_account_batch", True, id="batch"),
        # An entry's events are few: found through its index, then sorted.
        pytest.param({"entry_id": "entry"}, "ix_audit_events_account_entry", False, id="entry"),
        pytest.param(
            {"entry_id": "entry", "resource": "domains"},
            "ix_audit_events_account_entry",
            False,
            id="entry-and-resource",
        ),
    ],
)
def test_each_filter_reads_its_index(
    client: TestClient,
    app: FastAPI,
    tenant: Tenant,
    crowded: dict[str, str],
    statements: list[tuple[str, Any]],
    params: dict[str, str],
    index: str,
    in_order: bool,
) -> None:
    for name in ("entry_id", "batch_id"):
        if name in params:
            params = {**params, name: crowded[params[name]]}
    response = client.get(
        AUDIT.format(account=tenant.id),
        params={**params, "page": 2, "per_page": 5},
        headers=tenant.read,
    )
    assert response.status_code == 200, response.text
    assert response.json()["result_info"]["count"] > 0  # the page query ran too
    count, page = plans(app, statements)
    for plan in (count, page):
        searches = [line for line in plan if "audit_events" in line]
        assert searches, plan
        assert all(line.startswith("SEARCH") for line in searches), plan  # never a SCAN
        # Counting a whole account reads the account's range of whichever index
        # is smallest (every one of them starts with account_id), and SQLite's
        # choice among them differs between versions; the page must be in order.
        wanted = "ix_audit_events_account_" if plan is count and not params else index
        assert any(f"INDEX {wanted}" in line and "(account_id=?" in line for line in searches), plan
    assert any("TEMP B-TREE" in line for line in page) is not in_order, page
