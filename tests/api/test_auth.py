"""Credentials and accounts: who may read, who may write, and that one account never sees another's
entries."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from mailpolicy.access.credentials import ApiKey, ApiToken, digest
from mailpolicy.audit.events import CLI
from mailpolicy.db import utcnow
from mailpolicy.resources.domains import activate
from tests.support.api import Api, Tenant, assert_error
from tests.support.resources import RESOURCES, Entry, Resource, params

# A write: (method, path parts after the resource, JSON body), given the resource and an entry.
Write = Callable[[Resource, Entry], tuple[str, tuple[str, ...], Any]]

WRITES: dict[str, Write] = {
    "create": lambda r, _e: ("POST", (), r.make(1)),
    "edit": lambda r, e: ("PATCH", (e["id"],), r.patch),
    "delete": lambda _r, e: ("DELETE", (e["id"],), None),
    "batch": lambda r, e: ("POST", ("batch",), batch_deleting(r, e)),
    "replace": lambda r, e: ("PUT", (e["id"],), r.put(e) if r.put else None),
    "bulk-delete": lambda _r, e: ("DELETE", (), [{"id": e["id"]}]),
}
WRITE_CASES = [
    pytest.param(r, name, id=f"{r.path}-{name}")
    for r in RESOURCES
    for name in WRITES
    if (name != "batch" or r.batch != "none")
    and (name not in {"replace", "bulk-delete"} or r.path == "domains")
]


def batch_deleting(resource: Resource, entry: Entry) -> dict[str, Any]:
    body: dict[str, Any] = {"deletes": [{"id": entry["id"]}]}
    if resource.batch == "full":
        body.update(patches=[], puts=[], posts=[])
    return body


READS = [
    pytest.param(lambda _e: (), id="list"),
    pytest.param(lambda e: (e["id"],), id="get"),
]


def everything(api: Api, resource: Resource) -> list[Entry]:
    response = api.get(resource.path, params={"per_page": 1000})
    assert response.status_code == 200, response.text
    entries: list[Entry] = response.json()["result"]
    return entries


# ---- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"Authorization": "Bearer not-a-real-token"}, id="bad-bearer"),
        pytest.param({"Authorization": "Bearer "}, id="empty-bearer"),
        pytest.param({"Authorization": "Basic eHl6"}, id="basic"),
        pytest.param({"Authorization": "Token abc"}, id="other-scheme"),
        pytest.param({"X-Auth-Email": "admin@example.com"}, id="email-without-key"),
        pytest.param({"X-Auth-Key": "0123456789abcdef"}, id="key-without-email"),
        pytest.param({"X-Auth-User-Service-Key": "v1.0-abc"}, id="user-service-key"),
    ],
)
def test_missing_or_malformed_credentials_are_401(api: Api, headers: dict[str, str]) -> None:
    assert_error(api.get("allow_policies", headers=headers), 401)
    response = api.post("allow_policies", headers=headers, json=api_body())
    assert_error(response, 401)
    assert everything(api, RESOURCES[0]) == []


def api_body() -> Entry:
    return RESOURCES[0].make(0)


def test_legacy_email_and_key_read_and_write(api: Api) -> None:
    legacy = api.tenant.legacy
    created = api.post("allow_policies", headers=legacy, json=api_body())
    assert created.status_code == 201, created.text
    listed = api.get("allow_policies", headers=legacy)
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()["result"]] == [created.json()["result"]["id"]]
    # The address is not case-sensitive.
    shouted = {**legacy, "X-Auth-Email": legacy["X-Auth-Email"].upper()}
    assert api.get("allow_policies", headers=shouted).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"X-Auth-Key": "0" * 37}, id="wrong-key"),
        pytest.param({"X-Auth-Email": "someone@else.example"}, id="wrong-email"),
    ],
)
def test_legacy_wrong_credentials_are_401(api: Api, change: dict[str, str]) -> None:
    assert_error(api.get("allow_policies", headers={**api.tenant.legacy, **change}), 401)


def test_bearer_scheme_is_case_insensitive(api: Api) -> None:
    headers = {"Authorization": f"bearer {api.tenant.write_token}"}
    assert api.get("allow_policies", headers=headers).status_code == 200


def test_revoked_token_is_401(api: Api, app: FastAPI) -> None:
    assert api.get("allow_policies").status_code == 200
    with app.state.db.transaction() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.secret_hash == digest(api.tenant.write_token))
            .values(revoked_at=utcnow())
        )
    assert_error(api.get("allow_policies"), 401)
    assert_error(api.post("allow_policies", json=api_body()), 401)
    # Only that token: the account's read token still works.
    assert api.get("allow_policies", headers=api.tenant.read).status_code == 200


def test_revoked_key_is_401(api: Api, app: FastAPI) -> None:
    with app.state.db.transaction() as session:
        session.execute(
            update(ApiKey)
            .where(ApiKey.secret_hash == digest(api.tenant.write_key))
            .values(revoked_at=utcnow())
        )
    assert_error(api.get("allow_policies", headers=api.tenant.legacy), 401)


def test_api_version_header_is_accepted(api: Api) -> None:
    headers = {**api.tenant.write, "api-version": "2026-07-27"}
    created = api.post("allow_policies", headers=headers, json=api_body())
    assert created.status_code == 201, created.text
    assert api.get("allow_policies", headers=headers).status_code == 200


def test_account_id_longer_than_32_characters(client: TestClient, tenant: Tenant) -> None:
    url = f"/client/v4/accounts/{tenant.id}0/email-security/settings/allow_policies"
    response = client.get(url, headers=tenant.write)
    body = assert_error(response, 400, "/account_id")
    assert "32" in body["errors"][0]["message"]


# ---- permissions ------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", params())
@pytest.mark.parametrize("parts", READS)
def test_read_token_reads(
    api: Api, resource: Resource, parts: Callable[[Entry], tuple[str, ...]]
) -> None:
    entry = api.create(resource.path, resource.make(0))
    response = api.get(resource.path, *parts(entry), headers=api.tenant.read)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result == ([entry] if isinstance(result, list) else entry)


def test_read_token_reads_verification(api: Api, app: FastAPI) -> None:
    pending = api.create("domains", RESOURCES[2].make(0))
    response = api.get("domains", pending["id"], "verification", headers=api.tenant.read)
    assert response.status_code == 200, response.text
    with app.state.db.transaction() as session:
        activate(session, pending["id"], CLI)
    response = api.get("domains", pending["id"], "verification", headers=api.tenant.read)
    assert response.status_code == 204


@pytest.mark.parametrize(("resource", "write"), WRITE_CASES)
def test_read_token_cannot_write(api: Api, resource: Resource, write: str) -> None:
    entry = api.create(resource.path, resource.make(0))
    method, parts, body = WRITES[write](resource, entry)
    response = api.request(method, resource.path, *parts, json=body, headers=api.tenant.read)
    assert_error(response, 403, contains="read")
    assert everything(api, resource) == [entry]


@pytest.mark.parametrize(("resource", "write"), WRITE_CASES)
def test_write_token_writes(api: Api, resource: Resource, write: str) -> None:
    # The same requests the read token is refused are the ones that work with the write token.
    entry = api.create(resource.path, resource.make(0))
    method, parts, body = WRITES[write](resource, entry)
    response = api.request(method, resource.path, *parts, json=body)
    assert response.status_code in {200, 201}, response.text
    assert everything(api, resource) != [entry]


# ---- accounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", params())
@pytest.mark.parametrize("credential", [pytest.param(c, id=c) for c in ("write", "read", "legacy")])
def test_credentials_of_one_account_are_403_on_another(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, resource: Resource, credential: str
) -> None:
    theirs = Api(client, other_tenant).create(resource.path, resource.make(0))
    headers = getattr(tenant, credential)
    as_intruder = Api(client, other_tenant)
    assert_error(as_intruder.get(resource.path, headers=headers), 403)
    assert_error(as_intruder.get(resource.path, theirs["id"], headers=headers), 403)
    assert_error(as_intruder.post(resource.path, headers=headers, json=resource.make(1)), 403)
    assert_error(as_intruder.delete(resource.path, theirs["id"], headers=headers), 403)
    assert everything(Api(client, other_tenant), resource) == [theirs]


def test_unknown_account_is_403(client: TestClient, tenant: Tenant) -> None:
    # The same answer as for someone else's account: nothing says whether the account exists.
    url = f"/client/v4/accounts/{uuid.uuid4().hex}/email-security/settings/allow_policies"
    assert_error(client.get(url, headers=tenant.write), 403)


@pytest.mark.parametrize("resource", params())
def test_entries_of_another_account_are_invisible(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, resource: Resource
) -> None:
    mine = Api(client, tenant)
    theirs = Api(client, other_tenant)
    their_entry = theirs.create(resource.path, resource.make(0))
    # The same body is no duplicate in another account.
    my_entry = mine.create(resource.path, resource.make(0))

    assert everything(mine, resource) == [my_entry]
    assert everything(theirs, resource) == [their_entry]
    assert_error(mine.get(resource.path, their_entry["id"]), 404)
    assert_error(mine.patch(resource.path, their_entry["id"], json=resource.patch), 404)
    assert_error(mine.delete(resource.path, their_entry["id"]), 404)
    if resource.batch != "none":
        body = batch_deleting(resource, their_entry)
        assert_error(mine.post(resource.path, "batch", json=body), 404, "/deletes/0/id")
    if resource.path == "domains":
        assert_error(mine.get(resource.path, their_entry["id"], "verification"), 404)
        assert_error(mine.delete(resource.path, json=[{"id": their_entry["id"]}]), 404)
        assert_error(
            mine.put(
                resource.path, their_entry["id"], json=WRITES["replace"](resource, my_entry)[2]
            ),
            404,
        )
    assert theirs.get(resource.path, their_entry["id"]).json()["result"] == their_entry
    assert everything(mine, resource) == [my_entry]
