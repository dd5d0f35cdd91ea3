"""Requests that match no operation: unknown paths are 404 and wrong methods 405 with an Allow
header, both in the failure envelope."""

from __future__ import annotations

import re
from typing import Any

import pydantic
import pytest
from fastapi.testclient import TestClient

from mailpolicy.api.routing import CANDIDATE_METHODS
from mailpolicy.app import create_app
from mailpolicy.config import Settings
from tests.support.api import Tenant, assert_error
from tests.support.resources import RESOURCES, Resource

ID = "3f0c2a7e-5b1d-4c8e-9f6a-0d2b4e6f8a10"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/client/v4/nowhere", id="outside-accounts"),
        pytest.param(
            "/client/v4/accounts/{account}/email-security/settings/spam_traps",
            id="unbuilt-resource",
        ),
        pytest.param("/client/v4/accounts/{account}/email-security/settings", id="settings-root"),
        pytest.param(
            "/client/v4/accounts/{account}/email-security/settings/allow_policies/{id}/extra",
            id="too-deep",
        ),
        pytest.param(
            "/client/v4/accounts/{account}/email-security/phishguard/reports", id="other-product"
        ),
    ],
)
def test_unknown_route_is_404(client: TestClient, tenant: Tenant, path: str) -> None:
    url = path.format(account=tenant.id, id=ID)
    assert_error(client.get(url, headers=tenant.write), 404)
    # The answer does not depend on credentials.
    assert_error(client.get(url), 404)


def allowed(response_allow: str) -> set[str]:
    return {m.strip() for m in response_allow.split(",")}


COLLECTION_METHODS = {
    r.path: {"GET", "POST", "DELETE"} if r.path == "domains" else {"GET", "POST"} for r in RESOURCES
}
ITEM_METHODS = {
    r.path: {"GET", "PATCH", "DELETE", "PUT"} if r.path == "domains" else {"GET", "PATCH", "DELETE"}
    for r in RESOURCES
}
WRONG_ON_COLLECTION = [
    pytest.param(r, m, id=f"{r.path}-{m}")
    for r in RESOURCES
    for m in ("PUT", "PATCH", "DELETE")
    if m not in COLLECTION_METHODS[r.path]
]
WRONG_ON_ITEM = [
    pytest.param(r, m, id=f"{r.path}-{m}")
    for r in RESOURCES
    for m in ("POST", "PUT")
    if m not in ITEM_METHODS[r.path]
]


@pytest.mark.parametrize(("resource", "method"), WRONG_ON_COLLECTION)
def test_wrong_method_on_collection_is_405(
    client: TestClient, tenant: Tenant, resource: Resource, method: str
) -> None:
    response = client.request(method, tenant.url(resource.path), headers=tenant.write, json={})
    body = assert_error(response, 405)
    assert allowed(response.headers["allow"]) == COLLECTION_METHODS[resource.path]
    assert method in body["errors"][0]["message"]


@pytest.mark.parametrize(("resource", "method"), WRONG_ON_ITEM)
def test_wrong_method_on_item_is_405(
    client: TestClient, tenant: Tenant, resource: Resource, method: str
) -> None:
    response = client.request(method, tenant.url(resource.path, ID), headers=tenant.write, json={})
    assert_error(response, 405)
    assert allowed(response.headers["allow"]) == ITEM_METHODS[resource.path]


def test_wrong_method_on_verification_is_405(client: TestClient, tenant: Tenant) -> None:
    response = client.post(tenant.url("domains", ID, "verification"), headers=tenant.write)
    assert_error(response, 405)
    assert allowed(response.headers["allow"]) == {"GET"}


WITH_BATCH = [r for r in RESOURCES if r.batch != "none"]
WITHOUT_BATCH = [r for r in RESOURCES if r.batch == "none"]


@pytest.mark.parametrize("resource", [pytest.param(r, id=r.path) for r in WITH_BATCH])
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_batch_is_a_path_of_its_own(
    client: TestClient, tenant: Tenant, resource: Resource, method: str
) -> None:
    """OpenAPI matches a fixed path before a templated one: /batch serves POST alone, and is
    never taken for an entry called "batch"."""
    response = client.request(method, tenant.url(resource.path, "batch"), headers=tenant.write)
    body = assert_error(response, 405)
    assert allowed(response.headers["allow"]) == {"POST"}
    assert f"{method} is not allowed" in body["errors"][0]["message"]


@pytest.mark.parametrize("resource", [pytest.param(r, id=r.path) for r in WITHOUT_BATCH])
def test_without_a_batch_path_batch_is_an_entry_id(
    client: TestClient, tenant: Tenant, resource: Resource
) -> None:
    response = client.get(tenant.url(resource.path, "batch"), headers=tenant.write)
    assert_error(response, 404, contains="with id batch")


def test_an_id_that_only_starts_with_batch_is_an_entry_id(
    client: TestClient, tenant: Tenant
) -> None:
    response = client.delete(tenant.url("allow_policies", "batch2"), headers=tenant.write)
    assert_error(response, 404, contains="with id batch2")
    response = client.get(tenant.url("domains", "batch", "verification"), headers=tenant.write)
    assert_error(response, 404, contains="with id batch")


def test_every_route_is_built_before_the_first_request(
    settings: Settings,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Route parameter handling is built with the application, not lazily on a first request:
    FastAPI's lazy build silences a pydantic warning through `warnings.catch_warnings()`, which
    is not thread-safe, so two applications of one process answering their first requests at
    once could turn that warning into a 500."""
    describing = create_app(settings)
    document = TestClient(describing).get("/client/v4/openapi.json").json()
    describing.state.db.dispose()
    app = create_app(settings)
    request.addfinalizer(app.state.db.dispose)
    built: list[object] = []
    original = pydantic.TypeAdapter.__init__

    def counting(self: pydantic.TypeAdapter[object], *args: Any, **kwargs: Any) -> None:
        built.append(args[0] if args else kwargs.get("type"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(pydantic.TypeAdapter, "__init__", counting)
    client = TestClient(app)
    answered = 0
    for path, operations in document["paths"].items():
        url = "/client/v4" + path.replace("{account_id}", tenant.id)
        url = re.sub(r"\{[a-z_]+\}", ID, url)
        for method in operations:
            if method.upper() not in CANDIDATE_METHODS:
                continue
            response = client.request(method.upper(), url, headers=tenant.write, json={})
            assert response.status_code < 500, (method, url, response.text)
            answered += 1
    assert answered >= 50
    assert built == []
