"""The served OpenAPI document against the contract: every operation, its body's required fields
and enums, and its list parameters.

The contract is read from a copy committed beside this file, so the suite runs on a checkout of
this repository alone; when the shared contract folder sits beside the repository, the copy is
checked against it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

COPY = Path(__file__).resolve().parent / "contract" / "email_security_settings.openapi.json"
SHARED = (
    Path(__file__).resolve().parents[2].parent
    / "shared/contract/email_security_settings.openapi.json"
)
PUBLISHED: dict[str, Any] = json.loads(COPY.read_text(encoding="utf-8"))
SETTINGS = "/accounts/{account_id}/email-security/settings/"
METHODS = ("get", "post", "put", "patch", "delete")

Schema = dict[str, Any]


def amended(published: dict[str, Any]) -> dict[str, Any]:
    """The contract as its section 0a amends it: where the current official SDKs differ from the
    published document, the SDKs win."""
    document: dict[str, Any] = json.loads(json.dumps(published))
    schemas = document["components"]["schemas"]
    # 1. Domain status in capitals, in responses and in the list filter.
    schemas["email-security_DomainStatus"]["enum"] = ["PENDING", "ACTIVE", "FAILED", "TIMEOUT"]
    # 2. lookback_hops is optional in domain PUT and in batch puts.
    replace = schemas["email-security_ReplaceDomain"]
    replace["required"] = [name for name in replace["required"] if name != "lookback_hops"]
    return document


CONTRACT = amended(PUBLISHED)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        if path.startswith(SETTINGS):
            for method in METHODS:
                if method in item:
                    yield path, method, item[method]


OPERATIONS = [
    pytest.param(path, method, id=f"{method.upper()} {path[len(SETTINGS) :]}")
    for path, method, _ in operations(PUBLISHED)
]
LIST_OPERATIONS = [
    pytest.param(path, id=path[len(SETTINGS) :])
    for path, method, op in operations(CONTRACT)
    if method == "get" and "{" not in path[len(SETTINGS) :]
]


@pytest.fixture(scope="module")
def ours(client: TestClient) -> dict[str, Any]:
    response = client.get("/client/v4/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def deref(document: dict[str, Any], node: Schema) -> Schema:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def flatten(document: dict[str, Any], node: Schema) -> Schema:
    """The schema with $refs followed and allOf merged: properties and required are unions.

    A field that is required or else replaced by its deprecated alias (an anyOf of two
    `required`, the second naming a deprecated property) counts as required."""
    node = deref(document, node)
    merged: Schema = {k: v for k, v in node.items() if k != "allOf"}
    merged["properties"] = dict(node.get("properties", {}))
    merged["required"] = set(node.get("required", ()))
    for part in node.get("allOf", ()):
        flat = flatten(document, part)
        merged["properties"].update(flat["properties"])
        merged["required"] |= flat["required"]
        for key, value in flat.items():
            merged.setdefault(key, value)
    for part in node.get("allOf", ()):
        current = aliased_requirement(merged["properties"], part)
        if current is not None:
            merged["required"].add(current)
    return merged


def aliased_requirement(properties: dict[str, Schema], part: Schema) -> str | None:
    """The field `part` requires unless its deprecated alias is sent instead, if that is what
    `part` says."""
    branches = part.get("anyOf", ())
    names = [branch.get("required", ()) for branch in branches]
    if len(branches) != 2 or any(
        len(n) != 1 or len(b) != 1 for n, b in zip(names, branches, strict=True)
    ):
        return None
    (current,), (alias,) = names
    return current if properties.get(alias, {}).get("deprecated") is True else None


def enum_values(document: dict[str, Any], node: Schema) -> set[Any] | None:
    """The non-null values an enum admits, however nullability is spelled; None if no enum."""
    node = flatten(document, node)
    if "enum" in node:
        return {v for v in node["enum"] if v is not None}
    branches = [enum_values(document, b) for b in (*node.get("anyOf", ()), *node.get("oneOf", ()))]
    found = [b for b in branches if b is not None]
    return set().union(*found) if found else None


def enums_of(document: dict[str, Any], prop: Schema) -> tuple[set[Any] | None, set[Any] | None]:
    """(the property's own enum, its array items' enum)."""
    flat = flatten(document, prop)
    items = flat.get("items")
    for branch in flat.get("anyOf", ()):
        items = items or flatten(document, branch).get("items")
    return enum_values(document, flat), enum_values(document, items) if items else None


def body_schema(document: dict[str, Any], operation: dict[str, Any]) -> Schema | None:
    body = operation.get("requestBody")
    if body is None:
        return None
    schema: Schema | None = (
        deref(document, body).get("content", {}).get("application/json", {}).get("schema")
    )
    return schema


def query_parameters(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Schema]:
    parameters = (deref(document, p) for p in operation.get("parameters", ()))
    return {p["name"]: p.get("schema", {}) for p in parameters if p["in"] == "query"}


def test_contract_has_44_operations() -> None:
    assert len(OPERATIONS) == 44


def test_committed_copy_is_current() -> None:
    if SHARED.exists():
        assert COPY.read_bytes() == SHARED.read_bytes(), "refresh tests/api/contract from ../shared"
    assert PUBLISHED["openapi"].startswith("3.")


def test_the_amendments_change_the_published_document() -> None:
    """The comparisons below use the amended contract; it must differ where 0a says it does."""
    status = "email-security_DomainStatus"
    published = PUBLISHED["components"]["schemas"]
    assert "pending" in published[status]["enum"]
    assert CONTRACT["components"]["schemas"][status]["enum"][0] == "PENDING"
    assert "lookback_hops" in published["email-security_ReplaceDomain"]["required"]
    assert (
        "lookback_hops"
        not in CONTRACT["components"]["schemas"]["email-security_ReplaceDomain"]["required"]
    )


def test_served_at_the_v4_root(ours: dict[str, Any]) -> None:
    assert ours["openapi"].startswith("3.")
    assert ours["info"]["title"] == "mailpolicy"


# Section 0a.3: content policies, the eighth resource, in both current SDKs.
CONTENT_POLICIES = f"{SETTINGS}content_policies"
AMENDED_OPERATIONS = {
    (CONTENT_POLICIES, "get"),
    (CONTENT_POLICIES, "post"),
    (f"{CONTENT_POLICIES}/batch", "post"),
    (f"{CONTENT_POLICIES}/{{policy_id}}", "get"),
    (f"{CONTENT_POLICIES}/{{policy_id}}", "patch"),
    (f"{CONTENT_POLICIES}/{{policy_id}}", "delete"),
}


def test_no_settings_operations_beyond_the_contract(ours: dict[str, Any]) -> None:
    theirs = {(path, method) for path, method, _ in operations(CONTRACT)} | AMENDED_OPERATIONS
    assert {(path, method) for path, method, _ in operations(ours)} == theirs
    assert len(theirs) == 50


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_operation_matches_the_contract(ours: dict[str, Any], path: str, method: str) -> None:
    assert path in ours["paths"], path
    assert method in ours["paths"][path], f"{method.upper()} {path}"
    contract_body = body_schema(CONTRACT, CONTRACT["paths"][path][method])
    our_body = body_schema(ours, ours["paths"][path][method])
    if contract_body is None:
        assert our_body is None
        return
    assert our_body is not None, "the contract takes a JSON body here"
    expected, actual = flatten(CONTRACT, contract_body), flatten(ours, our_body)
    assert actual.get("type", "object") == expected.get("type", "object")
    if expected.get("type") == "array":
        expected, actual = flatten(CONTRACT, expected["items"]), flatten(ours, actual["items"])
    assert actual["required"] == expected["required"]
    for name, prop in expected["properties"].items():
        if any(enums_of(CONTRACT, prop)):
            assert name in actual["properties"], name
            assert enums_of(ours, actual["properties"][name]) == enums_of(CONTRACT, prop), name


@pytest.mark.parametrize(
    ("path", "array"),
    [
        pytest.param(path, array, id=f"{path[len(SETTINGS) :]}-{array}")
        for path, method, _ in operations(CONTRACT)
        if path.endswith("/batch") and method == "post"
        for array in ("deletes", "patches", "posts")
    ],
)
def test_batch_items_require_the_same_fields(ours: dict[str, Any], path: str, array: str) -> None:
    contract_body = flatten(CONTRACT, body_schema(CONTRACT, CONTRACT["paths"][path]["post"]) or {})
    our_body = flatten(ours, body_schema(ours, ours["paths"][path]["post"]) or {})
    if array not in contract_body["properties"]:
        assert array not in our_body["properties"]
        return
    expected = flatten(CONTRACT, flatten(CONTRACT, contract_body["properties"][array])["items"])
    actual = flatten(ours, flatten(ours, our_body["properties"][array])["items"])
    assert actual["required"] == expected["required"]


@pytest.mark.parametrize("path", LIST_OPERATIONS)
def test_list_parameters_match_the_contract(ours: dict[str, Any], path: str) -> None:
    expected = query_parameters(CONTRACT, CONTRACT["paths"][path]["get"])
    actual = query_parameters(ours, ours["paths"][path]["get"])
    assert {"page", "per_page"} <= set(expected)
    for name, schema in expected.items():
        assert name in actual, name
        assert enums_of(ours, actual[name]) == enums_of(CONTRACT, schema), name
