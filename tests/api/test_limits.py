"""Hostile input the schemas must bound: every string and array a client sends has a maximum (on
every database, SQLite included), integers fit in 64 bits, searches are short literal substrings,
and no string holds NUL. Each refusal is a 400 naming the field, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import Api, assert_error
from tests.support.resources import RESOURCES, Resource, params

BIG = 2**64


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/client/v4/openapi.json")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def unbounded(
    document: dict[str, Any], node: dict[str, Any], where: str, seen: set[str]
) -> Iterator[str]:
    """Every string without maxLength (or enum/format) and array without maxItems under node."""
    ref = node.get("$ref")
    if ref is not None:
        if ref in seen:
            return
        seen = seen | {ref}
    node = _resolve(document, node)
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in node.get(key, ()):
            yield from unbounded(document, branch, where, seen)
    kind = node.get("type")
    if kind == "string" and "maxLength" not in node and "enum" not in node:
        yield where
    if kind == "array":
        if "maxItems" not in node:
            yield where
        yield from unbounded(document, node.get("items", {}), f"{where}[]", seen)
    for name, prop in node.get("properties", {}).items():
        yield from unbounded(document, prop, f"{where}.{name}", seen)


def test_the_walk_sees_unbounded_fields() -> None:
    """The empty list below means something: an unbounded field is reported, however nested."""
    document = {
        "components": {
            "schemas": {
                "Item": {"type": "object", "properties": {"free": {"type": "string"}}},
            }
        }
    }
    schema = {
        "type": "object",
        "properties": {
            "bounded": {"type": "string", "maxLength": 5},
            "choice": {"type": "string", "enum": ["a"]},
            "list": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
            "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
    }
    assert sorted(unbounded(document, schema, "body", set())) == [
        "body.list",
        "body.list[].free",
        "body.maybe",
    ]


def test_every_string_and_array_a_client_sends_is_bounded(document: dict[str, Any]) -> None:
    found: list[str] = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            for reference in operation.get("parameters", ()):
                parameter = _resolve(document, reference)
                if parameter["in"] == "query":
                    schema = parameter.get("schema", {})
                    found += unbounded(document, schema, f"{label} ?{parameter['name']}", set())
            body = operation.get("requestBody")
            if body is not None:
                # JSON bodies, and the message POST /scan takes (message/rfc822).
                for media, content in _resolve(document, body)["content"].items():
                    schema = content["schema"]
                    found += unbounded(document, schema, f"{label} body ({media})", set())
    assert found == []


# ---- integers ---------------------------------------------------------------------------

IMPERSONATION = {"name": "Chief Executive", "email": "chief@corp.example", "is_email_regex": False}


@pytest.mark.parametrize("value", [BIG, -BIG, 2**63])
@pytest.mark.parametrize("field", ["directory_id", "directory_node_id"])
def test_directory_ids_beyond_64_bits(api: Api, field: str, value: int) -> None:
    response = api.post("impersonation_registry", json={**IMPERSONATION, field: value})
    assert_error(response, 400, f"/{field}", contains=field)
    entry = api.create("impersonation_registry", IMPERSONATION)
    response = api.patch("impersonation_registry", entry["id"], json={field: value})
    assert_error(response, 400, f"/{field}", contains=field)
    assert api.get("impersonation_registry").json()["result"] == [entry]


def test_directory_ids_at_the_64_bit_edges_are_stored(api: Api) -> None:
    body = {**IMPERSONATION, "directory_id": 2**63 - 1, "directory_node_id": -(2**63)}
    created = api.create("impersonation_registry", body)
    fetched = api.get("impersonation_registry", created["id"]).json()["result"]
    assert (fetched["directory_id"], fetched["directory_node_id"]) == (2**63 - 1, -(2**63))


def test_lookback_hops_beyond_64_bits(api: Api) -> None:
    body = {
        "domain": "hops.example",
        "allowed_delivery_modes": ["DIRECT"],
        "drop_dispositions": [],
        "ip_restrictions": [],
        "regions": ["GLOBAL"],
        "lookback_hops": BIG,
    }
    assert_error(api.post("domains", json=body), 400, "/lookback_hops")


@pytest.mark.parametrize("name", ["page", "per_page"])
def test_paging_beyond_64_bits(api: Api, name: str) -> None:
    assert_error(api.get("block_senders", params={name: BIG}), 400, f"/{name}", contains=name)


# ---- search -----------------------------------------------------------------------------

SEARCHABLE = [r for r in RESOURCES if r.search]


@pytest.mark.parametrize("resource", params(tuple(SEARCHABLE)))
def test_a_long_search_is_refused(api: Api, resource: Resource) -> None:
    api.create(resource.path, resource.make(0))
    assert api.get(resource.path, params={"search": "x" * 256}).status_code == 200
    for length in (257, 49_999):
        response = api.get(resource.path, params={"search": "x" * length})
        assert_error(response, 400, "/search", contains="256")


@pytest.mark.parametrize("resource", params(tuple(SEARCHABLE)))
def test_a_search_for_nul_is_refused_not_a_match_of_everything(
    api: Api, resource: Resource
) -> None:
    api.create(resource.path, resource.make(0))
    assert_error(api.get(resource.path, params={"search": "\x00"}), 400, "/search")


@pytest.mark.parametrize("needle", ["%", "_", "\\", "%_", "a%"])
def test_search_wildcards_are_literal(api: Api, needle: str) -> None:
    """% and _ are LIKE wildcards and \\ its escape; a search matches them as characters."""
    comments = ("50% off", "snake_case", "C:\\path", "a plain one")
    ids = {}
    for n, comment in enumerate(comments):
        body = {"pattern": f"s{n}.example", "pattern_type": "DOMAIN", "is_regex": False}
        ids[api.create("block_senders", {**body, "comments": comment})["id"]] = comment
    found = api.get("block_senders", params={"search": needle}).json()["result"]
    expected = {i for i, comment in ids.items() if needle.lower() in comment.lower()}
    assert {e["id"] for e in found} == expected


# ---- strings and arrays -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "pointer"),
    [
        pytest.param(
            "impersonation_registry",
            {**IMPERSONATION, "comments": "x" * 1025},
            "/comments",
            id="registry-comments",
        ),
        pytest.param(
            "impersonation_registry",
            {**IMPERSONATION, "external_directory_node_id": "x" * 256},
            "/external_directory_node_id",
            id="registry-external-node-id",
        ),
        pytest.param(
            "impersonation_registry",
            {**IMPERSONATION, "email": "x" * 1025},
            "/email",
            id="registry-email",
        ),
        pytest.param(
            "sending_domain_restrictions",
            {"domain": "bank.example", "exclude": [f"s{n}.bank.example" for n in range(101)]},
            "/exclude",
            id="restriction-exclude-count",
        ),
        pytest.param(
            "sending_domain_restrictions",
            {"domain": "bank.example", "exclude": ["x" * 256]},
            "/exclude/0",
            id="restriction-exclude-item",
        ),
        pytest.param(
            "sending_domain_restrictions",
            {"domain": "x" * 256, "exclude": []},
            "/domain",
            id="restriction-domain",
        ),
    ],
)
def test_long_strings_and_arrays_are_refused(
    api: Api, path: str, body: dict[str, Any], pointer: str
) -> None:
    assert_error(api.post(path, json=body), 400, pointer)
    assert api.get(path).json()["result"] == []


DOMAIN = {
    "domain": "limits.example",
    "allowed_delivery_modes": ["DIRECT"],
    "drop_dispositions": [],
    "ip_restrictions": [],
    "regions": ["GLOBAL"],
}


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        pytest.param({"transport": "x" * 256}, "/transport", id="transport"),
        pytest.param({"domain": "x" * 256}, "/domain", id="domain"),
        pytest.param(
            {"ip_restrictions": ["203.0.113.1"] * 101}, "/ip_restrictions", id="ips-count"
        ),
        pytest.param({"ip_restrictions": ["x" * 65]}, "/ip_restrictions/0", id="ips-item"),
        pytest.param({"integration_id": "x" * 37}, "/integration_id", id="integration-id"),
    ],
)
def test_domain_fields_are_bounded(api: Api, change: dict[str, Any], pointer: str) -> None:
    assert_error(api.post("domains", json={**DOMAIN, **change}), 400, pointer)
    created = api.create("domains", DOMAIN)
    if "domain" not in change:
        assert_error(api.patch("domains", created["id"], json=change), 400, pointer)
    assert api.get("domains", created["id"]).json()["result"] == created


def test_a_long_comment_is_refused_before_it_reaches_any_list(api: Api) -> None:
    body = {"pattern": "c.example", "pattern_type": "DOMAIN", "is_regex": False}
    assert_error(api.post("block_senders", json={**body, "comments": "x" * 1025}), 400, "/comments")
    # Far larger bodies never get as far as validation: the server refuses them unread.
    response = api.post("block_senders", json={**body, "comments": "x" * (2 << 20)})
    assert_error(response, 413)
    assert api.get("block_senders").json()["result"] == []


@pytest.mark.parametrize(
    ("where", "body", "pointer"),
    [
        pytest.param("pattern", {"pattern": "a\x00.example"}, "/pattern", id="pattern"),
        pytest.param(
            "comments", {"pattern": "n.example", "comments": "a\x00b"}, "/comments", id="comments"
        ),
    ],
)
def test_nul_is_refused_in_bodies(api: Api, where: str, body: dict[str, Any], pointer: str) -> None:
    full = {"pattern_type": "DOMAIN", "is_regex": False, **body}
    assert_error(api.post("block_senders", json=full), 400, pointer, contains="NUL")
    assert api.get("block_senders").json()["result"] == []


def test_nul_is_refused_in_list_items(api: Api) -> None:
    body = {"domain": "bank.example", "exclude": ["a\x00.bank.example"]}
    assert_error(
        api.post("sending_domain_restrictions", json=body), 400, "/exclude", contains="NUL"
    )


@pytest.mark.parametrize(
    ("url_parts", "method"),
    [
        pytest.param(("block_senders", "x" * 65), "GET", id="get"),
        pytest.param(("block_senders", "x" * 65), "DELETE", id="delete"),
        pytest.param(("domains", "x" * 65, "verification"), "GET", id="verification"),
    ],
)
def test_long_ids_are_refused_not_echoed(api: Api, url_parts: tuple[str, ...], method: str) -> None:
    response = api.request(method, *url_parts)
    body = assert_error(response, 400)
    assert "x" * 65 not in response.text, body


def test_long_batch_ids_are_refused_not_echoed(api: Api) -> None:
    body = {"deletes": [{"id": "x" * 100_000}], "patches": [], "puts": [], "posts": []}
    response = api.post("block_senders", "batch", json=body)
    assert_error(response, 400, "/deletes/0/id")
    assert len(response.content) < 1000


@pytest.mark.parametrize(
    ("content", "contains"),
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "nested too deeply", id="deep"),
        pytest.param(b'{"pattern": 1' + b"0" * 5000 + b"}", "4300 digits", id="long-number"),
    ],
)
def test_json_the_parser_gives_up_on_is_a_clear_400(
    api: Api, content: bytes, contains: str
) -> None:
    response = api.post("block_senders", content=content)
    assert_error(response, 400, "", contains=contains)
