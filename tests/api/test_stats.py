"""Hit counts: recorded in batches (as the milter does), read back through
GET …/stats/entries, and a protected domain's emails_processed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI

from mailpolicy.db import Database
from mailpolicy.resources.domains import count_messages
from mailpolicy.stats.hits import HitRecorder, write_hits
from tests.support.api import Api, Tenant, assert_error

STATS = "/client/v4/accounts/{account}/email-security/stats/entries"


def report(api: Api, tenant: Tenant | None = None, **params: Any) -> dict[str, Any]:
    who = tenant or api.tenant
    response = api.client.get(STATS.format(account=who.id), params=params, headers=who.read)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def blocked(api: Api, n: int) -> dict[str, Any]:
    return api.create(
        "block_senders", {"pattern": f"b{n}.example", "pattern_type": "DOMAIN", "is_regex": False}
    )


def test_recorded_hits_are_written_in_one_batch_and_read_back(api: Api, app: FastAPI) -> None:
    first, second, never = blocked(api, 1), blocked(api, 2), blocked(api, 3)
    policy = api.create(
        "content_policies",
        {"name": "Lottery", "pattern": "lottery", "targets": ["BODY"], "enabled": True},
    )
    recorder = HitRecorder(app.state.db, interval=60)
    for _ in range(3):
        recorder.record(api.tenant.id, [("block_senders", first["id"])], ())
    recorder.record(
        api.tenant.id, [("block_senders", second["id"]), ("content_policies", policy["id"])], ()
    )
    # Nothing is written until the batch goes out.
    assert report(api)["result"][0]["hits"] == 0
    assert recorder.flush()
    listed = report(api)
    assert listed["result_info"]["total_count"] == 4
    rows = [(r["resource"], r["id"], r["hits"]) for r in listed["result"]]
    assert rows[0] == ("block_senders", first["id"], 3)  # most hits first
    assert {row[1] for row in rows[1:3]} == {second["id"], policy["id"]}
    assert rows[3] == ("block_senders", never["id"], 0)
    entry = listed["result"][0]
    assert entry["label"] == "b1.example"
    assert entry["last_hit_at"] is not None
    assert listed["result"][3]["last_hit_at"] is None
    # A second batch adds to the first.
    recorder.record(api.tenant.id, [("block_senders", first["id"])], ())
    assert recorder.flush()
    assert report(api, resource="block_senders")["result"][0]["hits"] == 4


def test_filters_orderings_and_pages(api: Api, app: FastAPI) -> None:
    entries = [blocked(api, n) for n in range(5)]
    policy = api.create(
        "content_policies",
        {"name": "Wire", "pattern": "wire", "targets": ["SUBJECT"], "enabled": True},
    )
    now = dt.datetime.now(dt.UTC)
    with app.state.db.transaction() as session:
        write_hits(
            session,
            {
                (api.tenant.id, "block_senders", entries[0]["id"]): (5, now),
                (api.tenant.id, "block_senders", entries[1]["id"]): (
                    1,
                    now - dt.timedelta(days=40),
                ),
                (api.tenant.id, "content_policies", policy["id"]): (2, now - dt.timedelta(days=2)),
            },
        )
    only = report(api, resource="content_policies")
    assert [r["id"] for r in only["result"]] == [policy["id"]]
    by_last = report(api, order="last_hit_at", direction="desc")["result"]
    assert [r["id"] for r in by_last[:3]] == [entries[0]["id"], policy["id"], entries[1]["id"]]
    ascending = report(api, order="hits", direction="asc")["result"]
    assert ascending[-1]["id"] == entries[0]["id"]
    # Stale: no hit in 30 days. Entries never hit were created just now, so they are not.
    stale = report(api, stale_days=30)["result"]
    assert [r["id"] for r in stale] == [entries[1]["id"]]
    page = report(api, per_page=2, page=2)
    assert page["result_info"] == {"count": 2, "page": 2, "per_page": 2, "total_count": 6}


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        ({"resource": "nope"}, "/resource"),
        ({"stale_days": 0}, "/stale_days"),
        ({"order": "pattern"}, "/order"),
        ({"per_page": 1001}, "/per_page"),
    ],
)
def test_bad_parameters_are_400(api: Api, params: dict[str, Any], pointer: str) -> None:
    response = api.client.get(
        STATS.format(account=api.tenant.id), params=params, headers=api.tenant.read
    )
    assert_error(response, 400, pointer)


def test_each_account_sees_its_own_counts(api: Api, other_tenant: Tenant, app: FastAPI) -> None:
    mine = blocked(api, 9)
    recorder = HitRecorder(app.state.db, interval=60)
    recorder.record(api.tenant.id, [("block_senders", mine["id"])], ())
    recorder.flush()
    assert report(api, other_tenant)["result"] == []
    response = api.client.get(STATS.format(account=api.tenant.id), headers=other_tenant.read)
    assert_error(response, 403)
    assert_error(api.client.get(STATS.format(account=api.tenant.id)), 401)


def test_counts_not_written_are_kept_for_the_next_batch(api: Api, tmp_path: Any) -> None:
    entry = blocked(api, 7)
    gone = Database(f"sqlite:///{tmp_path / 'not-a-database'}")
    (tmp_path / "not-a-database").mkdir()  # the database cannot be opened
    recorder = HitRecorder(gone, interval=60)
    recorder.record(api.tenant.id, [("block_senders", entry["id"])], ())
    recorder.record(api.tenant.id, [("block_senders", entry["id"])], ())
    assert not recorder.flush()
    gone.dispose()
    recorder.database = api.client.app.state.db  # type: ignore[attr-defined]
    assert recorder.flush()
    assert report(api)["result"][0]["hits"] == 2


def _domain(api: Api) -> dict[str, Any]:
    return api.create(
        "domains",
        {
            "domain": "counted.example",
            "allowed_delivery_modes": ["DIRECT"],
            "drop_dispositions": [],
            "ip_restrictions": [],
            "regions": ["GLOBAL"],
        },
    )


def test_emails_processed_counts_today_and_yesterday(api: Api, app: FastAPI) -> None:
    domain = _domain(api)
    today = dt.datetime.now(dt.UTC).date()
    processed = api.get("domains", domain["id"]).json()["result"]["emails_processed"]
    assert processed == {
        "timestamp": f"{today.isoformat()}T00:00:00.000000Z",
        "total_emails_processed": 0,
        "total_emails_processed_previous": 0,
    }
    with app.state.db.transaction() as session:
        count_messages(session, {domain["id"]: 4}, today - dt.timedelta(days=1))
    with app.state.db.transaction() as session:
        count_messages(session, {domain["id"]: 2}, today)
    with app.state.db.transaction() as session:
        count_messages(session, {domain["id"]: 1}, today)
    processed = api.get("domains", domain["id"]).json()["result"]["emails_processed"]
    assert processed["total_emails_processed"] == 3
    assert processed["total_emails_processed_previous"] == 4
    recorder = HitRecorder(app.state.db, interval=60)
    recorder.record(api.tenant.id, [], [domain["id"]])
    recorder.flush()
    listed = api.get("domains").json()["result"]
    assert listed[0]["emails_processed"]["total_emails_processed"] == 4
