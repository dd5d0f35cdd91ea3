"""The audit history page: GET /audit's events as a table, its filters as a GET form (the API's
own parameter names, times typed in UTC), pages, and the API's refusals beside their fields."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.support.api import Api, Tenant
from tests.support.dashboard import cells, field_errors, login

AUDIT = "/client/v4/accounts/{account}/email-security/audit"


@pytest.fixture
def api(client: TestClient, tenant: Tenant) -> Api:
    return Api(client, tenant)


def blocked(api: Api, pattern: str) -> dict[str, Any]:
    return api.create(
        "block_senders", {"pattern": pattern, "pattern_type": "DOMAIN", "is_regex": False}
    )


def api_events(client: TestClient, tenant: Tenant, **params: Any) -> list[dict[str, Any]]:
    answer = client.get(
        AUDIT.format(account=tenant.id), params={"per_page": 1000, **params}, headers=tenant.read
    )
    assert answer.status_code == 200, answer.text
    result: list[dict[str, Any]] = answer.json()["result"]
    return result


def rows(page: Response) -> list[list[str]]:
    assert page.status_code == 200, page.text
    return cells(page)


def entry_ids(page: Response) -> list[str]:
    """The entry id of each row, in order."""
    return [row[4].split(" ")[0] for row in rows(page)]


def _local(when: dt.datetime) -> str:
    """As a datetime-local input sends it (the page reads it as UTC)."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("token", ["write", "read"])
def test_the_accounts_events_newest_first(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, api: Api, token: str
) -> None:
    entry = blocked(api, "spam.example")
    assert api.patch("block_senders", entry["id"], json={"pattern": "spam.example.net"}).is_success
    Api(client, other_tenant).create(
        "block_senders", {"pattern": "theirs.example", "pattern_type": "DOMAIN", "is_regex": False}
    )
    actor = api_events(client, tenant)[0]["actor"]
    login(client, tenant.write_token if token == "write" else tenant.read_token)
    page = client.get("/dashboard/audit")
    assert "<h1>Audit history</h1>" in page.text
    # The account's two tokens and its key, made at the command line, then the two writes.
    assert "5 events." in page.text
    edit, create, *credentials = rows(page)
    assert [(r[1], r[2], r[3]) for r in credentials] == [("cli", "create", "keys")] + [
        ("cli", "create", "tokens")
    ] * 2
    assert edit[1:4] == [
        actor + (" (this session's token)" if token == "write" else ""),
        "edit",
        "block_senders",
    ]
    assert edit[5].startswith("pattern: 'spam.example' → 'spam.example.net'")
    assert create[2] == "create"
    assert create[5].startswith("pattern='spam.example'")
    assert "theirs.example" not in page.text
    # The entry's page, its history, and the entry before and after.
    assert f'href="/dashboard/block_senders/{entry["id"]}"' in page.text
    assert f'href="/dashboard/audit?entry_id={entry["id"]}"' in page.text
    assert "&#34;pattern&#34;: &#34;spam.example.net&#34;" in page.text
    assert " style=" not in page.text


def test_filters_are_the_apis(client: TestClient, tenant: Tenant, api: Api) -> None:
    kept = blocked(api, "kept.example")
    gone = blocked(api, "gone.example")
    assert api.delete("block_senders", gone["id"]).is_success
    api.create(
        "trusted_domains",
        {
            "pattern": "partner.example",
            "is_recent": True,
            "is_similarity": False,
            "is_regex": False,
        },
    )
    batch = api.post(
        "block_senders",
        "batch",
        json={
            "deletes": [],
            "patches": [],
            "puts": [],
            "posts": [
                {"pattern": f"b{n}.example", "pattern_type": "DOMAIN", "is_regex": False}
                for n in range(2)
            ],
        },
    )
    assert batch.is_success, batch.text
    batch_id = batch.headers["x-mailpolicy-batch-id"]
    login(client, tenant.read_token)

    def listed(**params: str) -> Response:
        return client.get("/dashboard/audit", params=params)

    everything = rows(listed())
    assert len(everything) == 6 + 3  # and the account's tokens and key
    by_resource = rows(listed(resource="trusted_domains"))
    assert [r[3] for r in by_resource] == ["trusted_domains"]
    assert entry_ids(listed(action="delete")) == [gone["id"]]
    assert set(entry_ids(listed(entry_id=gone["id"]))) == {gone["id"]}
    assert len(rows(listed(entry_id=gone["id"]))) == 2
    in_batch = listed(batch_id=batch_id)
    assert len(rows(in_batch)) == 2
    assert f'value="{batch_id}"' in in_batch.text  # the form shows the filter
    actor = api_events(client, tenant)[0]["actor"]
    assert len(rows(listed(actor=actor))) == 6
    assert [r[3] for r in rows(listed(actor="cli"))] == ["keys", "tokens", "tokens"]
    nobody = listed(actor="verifier")
    assert rows(nobody) == []
    assert "No event matches these filters" in nobody.text
    # Oldest first.
    assert entry_ids(listed(direction="asc", actor=actor))[0] == kept["id"]
    assert entry_ids(listed(actor=actor))[-1] == kept["id"]

    # Times as a datetime-local input sends them, read as UTC.
    now = dt.datetime.now(dt.UTC)
    hour_ago, in_an_hour = _local(now - dt.timedelta(hours=1)), _local(now + dt.timedelta(hours=1))
    assert len(rows(listed(since=hour_ago))) == 9
    assert rows(listed(until=hour_ago)) == []
    assert len(rows(listed(since=hour_ago, until=in_an_hour, resource="block_senders"))) == 5
    shown = listed(since=hour_ago)
    assert f'name="since" value="{hour_ago}"' in shown.text
    # With an offset, as the API takes them, too.
    assert len(rows(listed(since=(now - dt.timedelta(hours=1)).isoformat()))) == 9


def test_refused_filters_are_shown_beside_their_fields(
    client: TestClient, tenant: Tenant, api: Api
) -> None:
    blocked(api, "one.example")
    login(client, tenant.read_token)
    now = dt.datetime.now(dt.UTC)
    backwards = client.get(
        "/dashboard/audit",
        params={"since": _local(now), "until": _local(now - dt.timedelta(hours=1))},
    )
    assert backwards.status_code == 422
    assert "must be later than since" in field_errors(backwards)["until"]
    assert 'id="filter-until"' in backwards.text
    assert 'aria-invalid="true" aria-describedby="error-until"' in backwards.text
    long_actor = client.get("/dashboard/audit", params={"actor": "x" * 65})
    assert long_actor.status_code == 422
    assert "actor" in field_errors(long_actor)
    assert cells(long_actor) == []


def test_pages(client: TestClient, tenant: Tenant, api: Api) -> None:
    posts = [
        {"pattern": f"p{n}.example", "pattern_type": "DOMAIN", "is_regex": False} for n in range(60)
    ]
    body = {"deletes": [], "patches": [], "puts": [], "posts": posts}
    assert api.post("block_senders", "batch", json=body).is_success
    blocked(api, "last.example")
    login(client, tenant.write_token)
    first = client.get("/dashboard/audit", params={"resource": "block_senders"})
    assert len(rows(first)) == 50
    assert "61 events, page 1 of 2." in first.text
    assert rows(first)[0][5].startswith("pattern='last.example'")
    link = re.search(r'<a href="(/dashboard/audit\?[^"]+)">Next page</a>', first.text)
    assert link
    second = client.get(link.group(1).replace("&amp;", "&"))
    assert len(rows(second)) == 11
    assert "page 2 of 2" in second.text
    assert "resource=block_senders" in second.text  # the filters stay in the pages' links
    seen = entry_ids(first) + entry_ids(second)
    assert len(set(seen)) == 61
    past = client.get("/dashboard/audit", params={"page": "9"})
    assert rows(past) == []
    assert "No events on page 9" in past.text


def test_no_settings_change_yet(client: TestClient, tenant: Tenant) -> None:
    login(client, tenant.read_token)
    page = client.get("/dashboard/audit", params={"resource": "block_senders"})
    assert page.status_code == 200
    assert "0 events." in page.text
    assert "No event matches these filters" in page.text
    assert '<a href="/dashboard/audit">Clear the filters</a>' in page.text
    assert cells(page) == []


def test_a_visitor_without_a_session_is_sent_to_the_login(client: TestClient) -> None:
    answer = client.get("/dashboard/audit", params={"resource": "domains"}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard"
