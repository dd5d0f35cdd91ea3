"""The audit history through GET …/email-security/audit: every kind of write leaves its event
(who, when, the entry before and after), a write that fails leaves none, the filters and pages
work, and an account sees only its own history."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from mailpolicy.access.credentials import ApiKey, ApiToken, digest, revoke
from mailpolicy.audit.events import CLI, AuditEvent
from mailpolicy.db import Database
from mailpolicy.resources.domains import activate
from tests.support.api import Api, Tenant, assert_error
from tests.support.resources import BY_PATH, FULL_BATCH, Entry, Resource, batch, params, put_item

AUDIT = "/client/v4/accounts/{account}/email-security/audit"
BATCH_HEADER = "x-mailpolicy-batch-id"
Event = dict[str, Any]


def history(api: Api, tenant: Tenant | None = None, **params: Any) -> dict[str, Any]:
    """One page of the history, read with the tenant's Read token."""
    who = tenant or api.tenant
    response = api.client.get(AUDIT.format(account=who.id), params=params, headers=who.read)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is True
    return body


def events(api: Api, tenant: Tenant | None = None, **params: Any) -> list[Event]:
    result: list[Event] = history(api, tenant, per_page=1000, **params)["result"]
    return result


def settings_events(api: Api, **params: Any) -> list[Event]:
    """The events of settings entries (not the tenant's own credentials), newest first."""
    return [e for e in events(api, **params) if e["resource"] not in {"tokens", "keys"}]


def token_actor(app: FastAPI, secret: str) -> str:
    database: Database = app.state.db
    with database.transaction(write=False) as session:
        token_id = session.scalar(select(ApiToken.id).where(ApiToken.secret_hash == digest(secret)))
    assert token_id is not None
    return f"token:{token_id}"


def key_actor(app: FastAPI, secret: str) -> str:
    database: Database = app.state.db
    with database.transaction(write=False) as session:
        key_id = session.scalar(select(ApiKey.id).where(ApiKey.secret_hash == digest(secret)))
    assert key_id is not None
    return f"key:{key_id}"


def without(entry: Entry | None, resource: Resource) -> Entry | None:
    """An entry without the fields that change by themselves (a domain's daily counts)."""
    if entry is None:
        return None
    return {k: v for k, v in entry.items() if k not in resource.volatile}


def assert_event(
    found: Event,
    resource: Resource,
    *,
    action: str,
    actor: str,
    entry_id: str,
    before: Entry | None,
    after: Entry | None,
    batch_id: str | None = None,
) -> None:
    assert found["action"] == action, found
    assert found["actor"] == actor
    assert found["resource"] == resource.path
    assert found["entry_id"] == entry_id
    assert found["batch_id"] == batch_id
    assert without(found["before"], resource) == without(before, resource)
    assert without(found["after"], resource) == without(after, resource)


# ---- every kind of write ---------------------------------------------------------------------


@pytest.mark.parametrize("resource", params())
def test_create_edit_delete_each_leave_their_event(
    api: Api, app: FastAPI, resource: Resource
) -> None:
    actor = token_actor(app, api.tenant.write_token)
    started = dt.datetime.now(dt.UTC)
    created = api.create(resource.path, resource.make(0))
    response = api.patch(resource.path, created["id"], json=resource.patch)
    assert response.status_code == 200, response.text
    edited = response.json()["result"]
    assert api.delete(resource.path, created["id"]).status_code == 200

    deleted, patched, made = settings_events(api)  # newest first
    assert_event(
        made, resource, action="create", actor=actor, entry_id=created["id"],
        before=None, after=created,
    )  # fmt: skip
    assert_event(
        patched, resource, action="edit", actor=actor, entry_id=created["id"],
        before=created, after=edited,
    )  # fmt: skip
    assert_event(
        deleted, resource, action="delete", actor=actor, entry_id=created["id"],
        before=edited, after=None,
    )  # fmt: skip
    stamps = [dt.datetime.fromisoformat(e["occurred_at"]) for e in (made, patched, deleted)]
    assert started <= stamps[0] <= stamps[1] <= stamps[2] <= dt.datetime.now(dt.UTC)
    assert made["id"] < patched["id"] < deleted["id"]


def test_a_write_with_a_legacy_key_names_the_key(api: Api, app: FastAPI) -> None:
    resource = BY_PATH["block_senders"]
    response = api.post(resource.path, json=resource.make(0), headers=api.tenant.legacy)
    assert response.status_code == 201, response.text
    (made,) = settings_events(api)
    assert made["actor"] == key_actor(app, api.tenant.write_key)
    assert made["after"] == response.json()["result"]


def test_put_of_a_domain_is_a_replace(api: Api, app: FastAPI) -> None:
    resource = BY_PATH["domains"]
    created = api.create(resource.path, resource.make(0))
    assert resource.put is not None
    response = api.put(resource.path, created["id"], json=resource.put(created))
    assert response.status_code == 200, response.text
    replaced, _ = settings_events(api)
    assert_event(
        replaced, resource, action="replace", actor=token_actor(app, api.tenant.write_token),
        entry_id=created["id"], before=created, after=response.json()["result"],
    )  # fmt: skip
    assert replaced["before"]["regions"] == ["GLOBAL"]
    assert replaced["after"]["regions"] == ["AU"]


@pytest.mark.parametrize("resource", params(FULL_BATCH))
def test_a_batch_leaves_one_event_per_item_sharing_its_batch_id(
    api: Api, app: FastAPI, resource: Resource
) -> None:
    doomed, changed = (api.create(resource.path, resource.make(n)) for n in range(2))
    response = api.post(
        resource.path,
        "batch",
        json=batch(
            deletes=[{"id": doomed["id"]}],
            patches=[{**resource.patch, "id": changed["id"]}],
            puts=[put_item(resource, changed)],
            posts=[resource.make(2)],
        ),
    )
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    batch_id = response.headers[BATCH_HEADER]
    assert str(uuid.UUID(batch_id)) == batch_id

    listed = events(api, batch_id=batch_id, direction="asc")
    assert [e["action"] for e in listed] == ["delete", "edit", "replace", "create"]
    actor = token_actor(app, api.tenant.write_token)
    deleted, patched, replaced, posted = listed
    common = {"actor": actor, "batch_id": batch_id}
    assert_event(
        deleted, resource, action="delete", entry_id=doomed["id"], before=doomed, after=None,
        **common,
    )  # fmt: skip
    assert_event(
        patched, resource, action="edit", entry_id=changed["id"], before=changed,
        after=patched["after"], **common,
    )  # fmt: skip
    assert {k: patched["after"][k] for k in resource.patch} == resource.patch
    # The put saw the entry as the patch left it, in the same transaction.
    assert_event(
        replaced, resource, action="replace", entry_id=changed["id"], before=patched["after"],
        after=result["puts"][0], **common,
    )  # fmt: skip
    assert_event(
        posted, resource, action="create", entry_id=result["posts"][0]["id"], before=None,
        after=result["posts"][0], **common,
    )  # fmt: skip
    # The single writes before the batch are no part of it.
    assert len(settings_events(api)) == 6
    assert all(e["batch_id"] is None for e in settings_events(api)[4:])


def test_a_deletes_only_batch_shares_its_batch_id(api: Api) -> None:
    resource = BY_PATH["sending_domain_restrictions"]
    entries = [api.create(resource.path, resource.make(n)) for n in range(3)]
    response = api.post(
        resource.path, "batch", json={"deletes": [{"id": e["id"]} for e in entries]}
    )
    assert response.status_code == 200, response.text
    listed = events(api, batch_id=response.headers[BATCH_HEADER], direction="asc")
    assert [(e["action"], e["entry_id"]) for e in listed] == [("delete", e["id"]) for e in entries]
    assert [e["before"] for e in listed] == entries


def test_two_batches_have_two_batch_ids(api: Api) -> None:
    resource = BY_PATH["url_ignore_patterns"]
    ids = {
        api.post(resource.path, "batch", json=batch(posts=[resource.make(n)])).headers[BATCH_HEADER]
        for n in range(2)
    }
    assert len(ids) == 2
    assert {e["batch_id"] for e in settings_events(api)} == ids


def test_bulk_delete_of_domains_is_one_batch(api: Api, app: FastAPI) -> None:
    resource = BY_PATH["domains"]
    first, second, kept = (api.create(resource.path, resource.make(n)) for n in range(3))
    body = [{"id": first["id"]}, {"id": second["id"]}, {"id": first["id"]}]
    response = api.delete(resource.path, json=body)
    assert response.status_code == 200, response.text
    batch_id = response.headers[BATCH_HEADER]
    listed = events(api, batch_id=batch_id, direction="asc")
    # An id sent twice is deleted once, and recorded once.
    assert [(e["action"], e["entry_id"]) for e in listed] == [
        ("delete", first["id"]),
        ("delete", second["id"]),
    ]
    for found, entry in zip(listed, (first, second), strict=True):
        assert_event(
            found, resource, action="delete", actor=token_actor(app, api.tenant.write_token),
            entry_id=entry["id"], before=entry, after=None, batch_id=batch_id,
        )  # fmt: skip
    assert events(api, entry_id=kept["id"])[0]["action"] == "create"


def test_activation_by_the_operator_is_an_event(api: Api, app: FastAPI) -> None:
    resource = BY_PATH["domains"]
    created = api.create(resource.path, resource.make(0))
    database: Database = app.state.db
    with database.transaction() as session:
        activate(session, created["id"], CLI)
    active = api.get(resource.path, created["id"]).json()["result"]
    activated, _ = settings_events(api)
    assert_event(
        activated, resource, action="activate", actor="cli", entry_id=created["id"],
        before=created, after=active,
    )  # fmt: skip
    assert activated["before"]["status"] == "PENDING"
    assert activated["after"]["status"] == "ACTIVE"


def test_token_and_key_events_name_the_credential_never_its_secret(api: Api, app: FastAPI) -> None:
    token_id = token_actor(app, api.tenant.read_token).removeprefix("token:")
    database: Database = app.state.db
    with database.transaction() as session:
        revoke(session, ApiToken, token_id, CLI)
        revoke(session, ApiToken, token_id, CLI)  # already revoked: nothing changes
    response = api.client.get(
        AUDIT.format(account=api.tenant.id), params={"per_page": 1000}, headers=api.tenant.write
    )
    assert response.status_code == 200, response.text
    listed = response.json()["result"]
    revoked, key, read, write = listed
    assert (revoked["action"], revoked["resource"], revoked["entry_id"]) == (
        "revoke",
        "tokens",
        token_id,
    )
    assert revoked["before"]["revoked_at"] is None
    assert revoked["after"]["revoked_at"] is not None
    assert revoked["before"] == {**revoked["after"], "revoked_at": None}
    assert set(read["after"]) == {"id", "name", "permission", "created_at", "revoked_at"}
    assert (read["action"], read["resource"], read["entry_id"]) == ("create", "tokens", token_id)
    assert read["after"]["name"] == "test read"
    assert read["after"]["permission"] == "read"
    assert write["after"]["permission"] == "write"
    assert (key["resource"], key["action"]) == ("keys", "create")
    assert set(key["after"]) == {"id", "email", "permission", "created_at", "revoked_at"}
    assert key["after"]["email"] == api.tenant.key_email
    assert all(e["actor"] == "cli" and e["before"] is None for e in (key, read, write))
    text = response.text
    for secret in (api.tenant.write_token, api.tenant.read_token, api.tenant.write_key):
        assert secret not in text
        assert digest(secret) not in text


# ---- a write that fails leaves nothing ---------------------------------------------------------


def count(app: FastAPI) -> int:
    """Every event in the database, of every account."""
    database: Database = app.state.db
    with database.transaction(write=False) as session:
        return len(session.scalars(select(AuditEvent.id)).all())


@pytest.mark.parametrize("resource", params(FULL_BATCH))
def test_a_batch_with_an_invalid_item_leaves_no_event(
    api: Api, app: FastAPI, resource: Resource
) -> None:
    doomed, changed = (api.create(resource.path, resource.make(n)) for n in range(2))
    before = count(app)
    field, value = resource.invalid
    response = api.post(
        resource.path,
        "batch",
        json=batch(
            deletes=[{"id": doomed["id"]}],
            patches=[{**resource.patch, "id": changed["id"]}],
            posts=[resource.make(2), {**resource.make(3), field: value}],
        ),
    )
    assert_error(response, 400, pointer=f"/posts/1/{field}")
    assert count(app) == before
    assert api.get(resource.path, doomed["id"]).status_code == 200


def test_a_batch_with_an_unknown_id_leaves_no_event(api: Api, app: FastAPI) -> None:
    resource = BY_PATH["trusted_domains"]
    entry = api.create(resource.path, resource.make(0))
    before = count(app)
    unknown = str(uuid.uuid4())
    response = api.post(
        resource.path,
        "batch",
        json=batch(deletes=[{"id": entry["id"]}, {"id": unknown}], posts=[resource.make(1)]),
    )
    assert_error(response, 404, pointer="/deletes/1/id")
    assert count(app) == before


def test_a_bulk_delete_with_an_unknown_id_leaves_no_event(api: Api, app: FastAPI) -> None:
    resource = BY_PATH["domains"]
    entry = api.create(resource.path, resource.make(0))
    before = count(app)
    response = api.delete(resource.path, json=[{"id": entry["id"]}, {"id": str(uuid.uuid4())}])
    assert_error(response, 404, pointer="/1/id")
    assert count(app) == before


@pytest.mark.parametrize("resource", params())
def test_a_duplicate_leaves_no_event(api: Api, app: FastAPI, resource: Resource) -> None:
    api.create(resource.path, resource.make(0))
    second = api.create(resource.path, resource.make(1))
    before = count(app)
    assert_error(api.post(resource.path, json=resource.make(0)), 409)
    # An edit that would make the second entry the first's twin (a domain cannot be renamed).
    response = api.patch(resource.path, second["id"], json=resource.make(0))
    assert_error(response, 400 if resource.path == "domains" else 409)
    assert count(app) == before


def test_an_invalid_edit_leaves_no_event(api: Api, app: FastAPI) -> None:
    resource = BY_PATH["block_senders"]
    entry = api.create(resource.path, resource.make(0))
    before = count(app)
    assert_error(api.patch(resource.path, entry["id"], json={"pattern": "(unclosed"}), 400)
    assert_error(api.delete(resource.path, str(uuid.uuid4())), 404)
    assert count(app) == before


@pytest.fixture
def failing_commits(app: FastAPI) -> Iterator[None]:
    """Every write transaction fails after its audit event reached the database (as a commit
    that fails would), until the test ends."""
    database: Database = app.state.db

    def fail(session: Session, _context: Any) -> None:
        if any(isinstance(obj, AuditEvent) for obj in session.new):
            raise RuntimeError("the disk is full")

    event.listen(database.writers, "after_flush", fail)
    yield
    event.remove(database.writers, "after_flush", fail)


def test_a_failed_commit_leaves_neither_the_write_nor_its_event(
    api: Api, app: FastAPI, failing_commits: None
) -> None:
    resource = BY_PATH["block_senders"]
    before = count(app)
    # Without its lifespan: the module's app keeps its database.
    client = TestClient(app, raise_server_exceptions=False)
    response = client.post(
        api.tenant.url(resource.path), json=resource.make(0), headers=api.tenant.write
    )
    assert_error(response, 500, contains="not applied")
    assert count(app) == before
    assert api.get(resource.path).json()["result"] == []


# ---- reading: filters, order, pages ----------------------------------------------------------


@pytest.fixture
def story(api: Api) -> dict[str, Any]:
    """Writes by two credentials on two resources: what the filters are tried on."""
    blocked = BY_PATH["block_senders"]
    trusted = BY_PATH["trusted_domains"]
    first = api.create(blocked.path, blocked.make(0))
    second = api.create(trusted.path, trusted.make(0))
    assert api.patch(blocked.path, first["id"], json=blocked.patch).status_code == 200
    by_key = api.post(blocked.path, json=blocked.make(1), headers=api.tenant.legacy)
    assert by_key.status_code == 201, by_key.text
    assert api.delete(trusted.path, second["id"]).status_code == 200
    return {"first": first, "second": second, "third": by_key.json()["result"]}


def test_the_newest_event_comes_first_and_asc_reverses(api: Api, story: dict[str, Any]) -> None:
    newest = events(api)
    assert [e["action"] for e in newest[:5]] == ["delete", "create", "edit", "create", "create"]
    assert len(newest) == 8  # and the tenant's two tokens and key
    oldest = events(api, direction="asc")
    assert oldest == list(reversed(newest))
    assert [e["id"] for e in oldest] == sorted(e["id"] for e in oldest)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"resource": "block_senders"}, ["third", "first", "first"], id="resource"),
        pytest.param({"resource": "trusted_domains"}, ["second", "second"], id="other-resource"),
        pytest.param({"action": "edit"}, ["first"], id="action"),
        pytest.param({"action": "delete"}, ["second"], id="delete"),
        pytest.param(
            {"resource": "block_senders", "action": "create"},
            ["third", "first"],
            id="resource-and-action",
        ),
        pytest.param({"resource": "content_policies"}, [], id="nothing"),
    ],
)
def test_filters(
    api: Api, story: dict[str, Any], params: dict[str, str], expected: list[str]
) -> None:
    assert [e["entry_id"] for e in events(api, **params)] == [story[n]["id"] for n in expected]


def test_entry_id_filter_gives_one_entry_whole_story(api: Api, story: dict[str, Any]) -> None:
    first = story["first"]
    listed = events(api, entry_id=first["id"], direction="asc")
    assert [e["action"] for e in listed] == ["create", "edit"]
    assert listed[0]["after"] == first
    assert listed[1]["before"] == first
    assert events(api, entry_id=first["id"], resource="trusted_domains") == []
    assert events(api, entry_id=str(uuid.uuid4())) == []


def test_actor_filter(api: Api, app: FastAPI, story: dict[str, Any]) -> None:
    by_key = events(api, actor=key_actor(app, api.tenant.write_key))
    assert [e["entry_id"] for e in by_key] == [story["third"]["id"]]
    by_token = events(api, actor=token_actor(app, api.tenant.write_token))
    assert len(by_token) == 4
    assert {e["resource"] for e in events(api, actor="cli")} == {"tokens", "keys"}
    assert events(api, actor="verifier") == []


def test_time_range(api: Api, story: dict[str, Any]) -> None:
    listed = events(api, direction="asc")
    middle = listed[4]["occurred_at"]
    later = events(api, since=middle, direction="asc")
    assert later == [e for e in listed if e["occurred_at"] >= middle]
    assert later[0] == listed[4]  # since is inclusive
    earlier = events(api, until=middle, direction="asc")
    assert earlier == [e for e in listed if e["occurred_at"] < middle]  # until is exclusive
    assert len(earlier) + len(later) == len(listed)
    # Any offset names the same instant.
    instant = dt.datetime.fromisoformat(middle)
    shifted = instant.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))).isoformat()
    assert events(api, since=shifted, direction="asc") == later
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    assert events(api, since=future) == []
    assert len(events(api, since="2000-01-01T00:00:00Z", until=future)) == len(listed)


def test_pages(api: Api, story: dict[str, Any]) -> None:
    everything = events(api)
    seen: list[Event] = []
    for page in (1, 2, 3):
        body = history(api, page=page, per_page=3)
        assert body["result_info"] == {
            "count": len(body["result"]),
            "page": page,
            "per_page": 3,
            "total_count": len(everything),
        }
        seen += body["result"]
    assert seen == everything
    past = history(api, page=4, per_page=3)
    assert past["result"] == []
    assert past["result_info"]["total_count"] == len(everything)
    default = history(api)
    assert default["result_info"]["per_page"] == 20
    filtered = history(api, resource="block_senders", per_page=2)
    assert filtered["result_info"]["total_count"] == 3
    assert filtered["result_info"]["count"] == 2


# ---- who may read what ----------------------------------------------------------------------


def test_a_read_token_reads_and_nothing_less_does(api: Api, story: dict[str, Any]) -> None:
    path = AUDIT.format(account=api.tenant.id)
    assert api.client.get(path, headers=api.tenant.read).status_code == 200
    assert api.client.get(path, headers=api.tenant.legacy).status_code == 200
    assert_error(api.client.get(path), 401)
    assert_error(api.client.get(path, headers={"Authorization": "Bearer nope"}), 401)
    assert_error(api.client.post(path, headers=api.tenant.write, json={}), 405)


def test_one_account_never_sees_another_accounts_history(
    api: Api, other_tenant: Tenant, story: dict[str, Any]
) -> None:
    path = AUDIT.format(account=api.tenant.id)
    for headers in (other_tenant.read, other_tenant.write, other_tenant.legacy):
        assert_error(api.client.get(path, headers=headers), 403)
    # The other account's own history holds its credentials and nothing of this account's.
    theirs = events(api, other_tenant)
    assert {e["resource"] for e in theirs} == {"tokens", "keys"}
    assert events(api, other_tenant, entry_id=story["first"]["id"]) == []
    mine = {e["entry_id"] for e in events(api)}
    assert mine.isdisjoint({e["entry_id"] for e in theirs})
    # Its writes do not show up here either.
    resource = BY_PATH["block_senders"]
    Api(api.client, other_tenant).create(resource.path, resource.make(5))
    assert len(events(api)) == 8
    assert_error(api.client.get(AUDIT.format(account="f" * 32), headers=api.tenant.read), 403)


# ---- bad queries ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "pointer", "contains"),
    [
        pytest.param({"since": "yesterday"}, "/since", "RFC 3339", id="not-a-time"),
        pytest.param({"since": "2026-01-31"}, "/since", "RFC 3339", id="date-only"),
        pytest.param({"until": "2026-01-31T09:30:00"}, "/until", "offset", id="no-offset"),
        pytest.param({"since": "2026-01-31T09:30:00 01:00"}, "/since", "%2B", id="plus-as-space"),
        pytest.param({"since": "2026-02-30T00:00:00Z"}, "/since", "real date", id="no-such-day"),
        pytest.param({"until": "1700000000"}, "/until", "RFC 3339", id="unix-time"),
        pytest.param({"since": "2026-01-31T25:00:00Z"}, "/since", "real date", id="hour-25"),
        pytest.param(
            {"until": "9999-12-31T23:00:00-02:00"}, "/until", "out of range", id="past-9999"
        ),
        pytest.param({"since": "0001-01-01T00:00:00+01:00"}, "/since", "range", id="before-1"),
        pytest.param({"since": "2026-01-31T09:30:00" + "0" * 60 + "Z"}, "/since", "", id="long"),
        pytest.param(
            {"since": "2026-02-01T00:00:00Z", "until": "2026-01-31T00:00:00Z"},
            "/until",
            "later than since",
            id="until-before-since",
        ),
        pytest.param(
            {"since": "2026-02-01T00:00:00Z", "until": "2026-02-01T01:00:00+01:00"},
            "/until",
            "later than since",
            id="empty-range",
        ),
        pytest.param({"resource": "block_sender"}, "/resource", "", id="unknown-resource"),
        pytest.param({"action": "update"}, "/action", "", id="unknown-action"),
        pytest.param({"direction": "up"}, "/direction", "", id="direction"),
        pytest.param({"per_page": "1001"}, "/per_page", "", id="per-page"),
        pytest.param({"page": "0"}, "/page", "", id="page"),
        pytest.param({"actor": "x" * 65}, "/actor", "", id="long-actor"),
        pytest.param({"entry_id": "x" * 65}, "/entry_id", "", id="long-entry-id"),
    ],
)
def test_a_bad_query_is_a_400_naming_the_parameter(
    api: Api, params: dict[str, str], pointer: str, contains: str
) -> None:
    response = api.client.get(
        AUDIT.format(account=api.tenant.id), params=params, headers=api.tenant.read
    )
    body = assert_error(response, 400, pointer=pointer, contains=contains)
    assert pointer.lstrip("/") in body["errors"][0]["message"]


def test_a_plus_sent_as_2b_is_an_offset(api: Api, story: dict[str, Any]) -> None:
    url = AUDIT.format(account=api.tenant.id) + "?since=2000-01-01T00:00:00%2B01:00"
    response = api.client.get(url, headers=api.tenant.read)
    assert response.status_code == 200, response.text
    assert response.json()["result_info"]["total_count"] == 8


def test_every_event_is_plain_json(api: Api, story: dict[str, Any]) -> None:
    for found in events(api):
        assert set(found) == {
            "id", "occurred_at", "actor", "action", "resource", "entry_id", "batch_id",
            "before", "after",
        }  # fmt: skip
        assert isinstance(found["id"], int)
        assert found["occurred_at"].endswith("Z")
        assert json.loads(json.dumps(found)) == found
