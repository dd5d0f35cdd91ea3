"""What the served OpenAPI document says beyond the shapes: how to authenticate, and the links
from one answer to the next call. Both are checked against what the service does."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import Tenant
from tests.support.resources import RESOURCES, Resource

ROOT = "/client/v4"
SETTINGS = "/accounts/{account_id}/email-security/settings"


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    response = client.get(f"{ROOT}/openapi.json")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def target(document: dict[str, Any], link: dict[str, Any]) -> tuple[str, str]:
    """The (path, method) a link's operationRef points at."""
    ref: str = link["operationRef"]
    assert ref.startswith("#/paths/"), ref
    escaped, method = ref.removeprefix("#/paths/").rsplit("/", 1)
    path = escaped.replace("~1", "/").replace("~0", "~")
    assert method in document["paths"][path], ref
    return path, method


def test_every_operation_names_both_credentials(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["api_token"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["api_token"]["description"],
    }
    assert (schemes["api_email"]["in"], schemes["api_email"]["name"]) == ("header", "X-Auth-Email")
    assert (schemes["api_key"]["in"], schemes["api_key"]["name"]) == ("header", "X-Auth-Key")
    for path, method, operation in operations(document):
        assert operation["security"] == [{"api_token": []}, {"api_email": [], "api_key": []}], (
            method,
            path,
        )


@pytest.mark.parametrize("scheme", ["api_token", "legacy", "none"])
def test_the_schemes_are_the_ones_the_service_takes(
    client: TestClient, tenant: Tenant, scheme: str
) -> None:
    headers = {"api_token": tenant.write, "legacy": tenant.legacy, "none": {}}[scheme]
    response = client.get(tenant.url("block_senders"), headers=headers)
    assert response.status_code == (401 if scheme == "none" else 200), response.text


def test_every_create_links_to_every_operation_on_its_entry(document: dict[str, Any]) -> None:
    for resource in RESOURCES:
        collection = f"{SETTINGS}/{resource.path}"
        item = f"{collection}/{{{resource.id_param}}}"
        links = document["paths"][collection]["post"]["responses"]["201"]["links"]
        expected = {
            (path, method)
            for path, path_item in document["paths"].items()
            if path == item or path.startswith(item + "/")
            for method in path_item
        }
        assert {target(document, link) for link in links.values()} == expected, resource.path
        for link in links.values():
            assert link["parameters"] == {
                "account_id": "$request.path.account_id",
                resource.id_param: "$response.body#/result/id",
            }


def test_every_operation_on_an_entry_links_to_the_others(document: dict[str, Any]) -> None:
    for resource in RESOURCES:
        item = f"{SETTINGS}/{resource.path}/{{{resource.id_param}}}"
        methods = set(document["paths"][item])
        for method in methods:
            links = document["paths"][item][method]["responses"]["200"]["links"]
            siblings = {target(document, link) for link in links.values()}
            assert (item, method) not in siblings
            assert {m for p, m in siblings if p == item} == methods - {method}
            for link in links.values():
                assert link["parameters"][resource.id_param] == f"$request.path.{resource.id_param}"


def _follow(
    client: TestClient, tenant: Tenant, resource: Resource, path: str, method: str, entry: Any
) -> int:
    url = ROOT + path.format(account_id=tenant.id, **{resource.id_param: entry["id"]})
    body: Any = None
    if method == "patch":
        body = resource.patch
    elif method == "put":
        body = resource.put(entry) if resource.put else {}
    return client.request(method, url, headers=tenant.write, json=body).status_code


@pytest.mark.parametrize("resource", [pytest.param(r, id=r.path) for r in RESOURCES])
def test_following_a_create_s_links_reaches_its_entry(
    client: TestClient, tenant: Tenant, document: dict[str, Any], resource: Resource
) -> None:
    """Each link of a create, given the created id, is an operation on that entry: all of
    them answer 2xx, the delete last, and then the entry is gone."""
    created = client.post(tenant.url(resource.path), headers=tenant.write, json=resource.make(0))
    assert created.status_code == 201, created.text
    entry = created.json()["result"]
    collection = f"{SETTINGS}/{resource.path}"
    links = document["paths"][collection]["post"]["responses"]["201"]["links"]
    targets = sorted(
        (target(document, link) for link in links.values()), key=lambda t: t[1] == "delete"
    )
    for path, method in targets:
        status = _follow(client, tenant, resource, path, method, entry)
        assert 200 <= status < 300, (method, path, status)
    assert (
        client.get(tenant.url(resource.path, entry["id"]), headers=tenant.write).status_code == 404
    )
