"""Request validation, field by field, for every resource: what is refused, with which pointer,
and always in the failure envelope with x-should-retry: false."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.api import Api, assert_error
from tests.support.resources import BY_PATH, RESOURCES, Resource, params

REQUIRED_CASES = [pytest.param(r, f, id=f"{r.path}-{f}") for r in RESOURCES for f in r.required]

# Every JSON type but the right one is refused: bodies are strict, "true" is not a boolean.
WRONG_TYPES: dict[type, tuple[Any, ...]] = {
    bool: ("true", 1, [True]),
    str: (5, True, ["x"]),
    list: ("DIRECT", {"0": "x"}),
    int: ("5", 5.5, True),
}
TYPE_CASES = [
    pytest.param(r, f, wrong, id=f"{r.path}-{f}-{type(wrong).__name__}")
    for r in RESOURCES
    for f, value in r.make(0).items()
    if value is not None
    for wrong in WRONG_TYPES[type(value)]
] + [
    pytest.param(r, "lookback_hops", wrong, id=f"{r.path}-lookback_hops-{type(wrong).__name__}")
    for r in RESOURCES
    if r.path == "domains"
    for wrong in WRONG_TYPES[int]
]
NOTED = [r for r in RESOURCES if r.note is not None]
PATTERNED = [r for r in RESOURCES if "pattern" in r.required]
QUERY_CASES = [
    pytest.param(r, name, value, id=f"{r.path}-{name}={value}")
    for r in RESOURCES
    for name, value in (
        ("page", "0"),
        ("page", "-1"),
        ("page", "one"),
        ("per_page", "0"),
        ("per_page", "1001"),
        ("per_page", "many"),
        ("order", "bogus"),
        ("direction", "sideways"),
    )
    if r.orderings or name not in {"order", "direction"}
]


@pytest.mark.parametrize(("resource", "field_name"), REQUIRED_CASES)
def test_missing_required_field_is_400(api: Api, resource: Resource, field_name: str) -> None:
    body = resource.make(0)
    del body[field_name]
    assert_error(api.post(resource.path, json=body), 400, f"/{field_name}", contains="required")
    assert api.get(resource.path).json()["result"] == []


@pytest.mark.parametrize(("resource", "field_name"), REQUIRED_CASES)
def test_patch_null_for_required_field_is_400(
    api: Api, resource: Resource, field_name: str
) -> None:
    entry = api.create(resource.path, resource.make(0))
    response = api.patch(resource.path, entry["id"], json={field_name: None})
    assert_error(response, 400, f"/{field_name}")
    assert api.get(resource.path, entry["id"]).json()["result"] == entry


@pytest.mark.parametrize("resource", params(tuple(NOTED)))
def test_patch_null_comments_is_accepted(api: Api, resource: Resource) -> None:
    note = str(resource.note)
    entry = api.create(resource.path, resource.make(1))
    assert entry[note]
    response = api.patch(resource.path, entry["id"], json={note: None})
    assert response.status_code == 200, response.text
    assert response.json()["result"][note] is None


@pytest.mark.parametrize("resource", params())
def test_read_only_fields_are_never_taken_from_the_client(api: Api, resource: Resource) -> None:
    chosen = {"id": str(uuid.uuid4()), "created_at": "2001-01-01T00:00:00.000000Z"}
    response = api.post(resource.path, json={**resource.make(0), **chosen})
    if resource.strict:
        assert_error(response, 400, "/id")
        return
    assert response.status_code == 201, response.text
    created = response.json()["result"]
    assert created["id"] != chosen["id"]
    assert created["created_at"] != chosen["created_at"]
    response = api.patch(resource.path, created["id"], json={**resource.patch, **chosen})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["id"] == created["id"]
    assert response.json()["result"]["created_at"] == created["created_at"]
    assert_error(api.get(resource.path, chosen["id"]), 404)


@pytest.mark.parametrize("resource", params())
def test_unknown_field_on_create(api: Api, resource: Resource) -> None:
    response = api.post(resource.path, json={**resource.make(0), "colour": "blue"})
    if resource.strict:
        assert_error(response, 400, "/colour")
    else:
        assert response.status_code == 201, response.text
        assert "colour" not in response.json()["result"]


@pytest.mark.parametrize(("resource", "field_name", "wrong"), TYPE_CASES)
def test_wrong_type_is_400(api: Api, resource: Resource, field_name: str, wrong: Any) -> None:
    body = {**resource.make(0), field_name: wrong}
    assert_error(api.post(resource.path, json=body), 400, f"/{field_name}")
    assert api.get(resource.path).json()["result"] == []


@pytest.mark.parametrize("resource", params())
def test_wrong_type_on_patch_is_400(api: Api, resource: Resource) -> None:
    entry = api.create(resource.path, resource.make(0))
    for field_name, value in resource.patch.items():
        wrong = WRONG_TYPES[type(value)][0]
        response = api.patch(resource.path, entry["id"], json={field_name: wrong})
        assert_error(response, 400, f"/{field_name}")
    assert api.get(resource.path, entry["id"]).json()["result"] == entry


@pytest.mark.parametrize("resource", params(tuple(NOTED)))
def test_comments_longer_than_1024_are_400(api: Api, resource: Resource) -> None:
    note = str(resource.note)
    body = {**resource.make(0), note: "c" * 1025}
    assert_error(api.post(resource.path, json=body), 400, f"/{note}")
    entry = api.create(resource.path, {**resource.make(0), note: "c" * 1024})
    assert entry[note] == "c" * 1024
    assert_error(api.patch(resource.path, entry["id"], json={note: "c" * 1025}), 400, f"/{note}")


@pytest.mark.parametrize("resource", params(tuple(PATTERNED)))
@pytest.mark.parametrize(
    "pattern", [pytest.param("", id="empty"), pytest.param("a" * 1025, id="over-1024")]
)
def test_pattern_length_is_limited(api: Api, resource: Resource, pattern: str) -> None:
    assert_error(
        api.post(resource.path, json={**resource.make(0), "pattern": pattern}), 400, "/pattern"
    )
    entry = api.create(resource.path, resource.make(0))
    assert_error(api.patch(resource.path, entry["id"], json={"pattern": pattern}), 400, "/pattern")
    assert api.get(resource.path, entry["id"]).json()["result"] == entry


BAD_BODIES = [
    pytest.param({"content": b'{"pattern": '}, "not valid JSON", id="invalid-json"),
    pytest.param({"content": b"\xff\xfe"}, "", id="not-utf8"),
    pytest.param({"json": [1, 2]}, "JSON object", id="array"),
    pytest.param({"json": "pattern"}, "JSON object", id="string"),
    pytest.param({"json": 42}, "JSON object", id="number"),
    pytest.param({"json": None}, "required", id="null"),
    pytest.param({}, "required", id="no-body"),
]


@pytest.mark.parametrize("resource", params())
@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
def test_bad_body_on_create_is_400(
    api: Api, resource: Resource, body: dict[str, Any], message: str
) -> None:
    headers = {**api.tenant.write, "content-type": "application/json"}
    assert_error(api.post(resource.path, headers=headers, **body), 400, contains=message)
    assert api.get(resource.path).json()["result"] == []


@pytest.mark.parametrize("resource", params())
@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
def test_bad_body_on_patch_is_400(
    api: Api, resource: Resource, body: dict[str, Any], message: str
) -> None:
    entry = api.create(resource.path, resource.make(0))
    headers = {**api.tenant.write, "content-type": "application/json"}
    assert_error(
        api.patch(resource.path, entry["id"], headers=headers, **body), 400, contains=message
    )
    assert api.get(resource.path, entry["id"]).json()["result"] == entry


FILTER_VALUE_CASES = [
    pytest.param(BY_PATH[path], name, value, id=f"{path}-{name}={value}")
    for path, name, value in (
        ("allow_policies", "is_trusted_sender", "maybe"),
        ("allow_policies", "verify_sender", "2"),
        ("allow_policies", "pattern_type", "PHONE"),
        ("block_senders", "pattern_type", "email"),
        ("domains", "allowed_delivery_mode", "PIGEON"),
        ("domains", "active_delivery_mode", "PIGEON"),
        ("domains", "status", "verified"),
        ("impersonation_registry", "provenance", "LDAP"),
        ("trusted_domains", "is_recent", "maybe"),
        ("trusted_domains", "is_similarity", "yes please"),
    )
]


@pytest.mark.parametrize(("resource", "name", "value"), FILTER_VALUE_CASES)
def test_bad_filter_value_is_400(api: Api, resource: Resource, name: str, value: str) -> None:
    assert_error(api.get(resource.path, params={name: value}), 400, f"/{name}")


@pytest.mark.parametrize(("resource", "name", "value"), QUERY_CASES)
def test_bad_query_parameter_is_400(api: Api, resource: Resource, name: str, value: str) -> None:
    assert_error(api.get(resource.path, params={name: value}), 400, f"/{name}", contains=name)


@pytest.mark.parametrize("resource", params())
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("per_pag", id="misspelled"),
        pytest.param("is_sender", id="a-retired-filter"),
        pytest.param("", id="no-name"),
    ],
)
def test_unknown_query_parameter_is_400(api: Api, resource: Resource, name: str) -> None:
    """A misspelled filter is refused, rather than ignored: ignored, it would list every entry."""
    response = api.get(resource.path, params={name: "true", "page": "1"})
    assert_error(
        response, 400, f"/{name}", contains=f"query parameter '{name}' is not one this operation"
    )


def test_hit_counts_refuse_unknown_query_parameters(api: Api) -> None:
    url = f"/client/v4/accounts/{api.tenant.id}/email-security/stats/entries"
    response = api.client.get(url, params={"stale": "30"}, headers=api.tenant.read)
    assert_error(response, 400, "/stale", contains="'stale'")


@pytest.mark.parametrize("resource", params())
def test_per_page_limits_are_inclusive(api: Api, resource: Resource) -> None:
    api.create(resource.path, resource.make(0))
    for per_page in (1, 1000):
        response = api.get(resource.path, params={"per_page": per_page})
        assert response.status_code == 200, response.text
        assert response.json()["result_info"]["per_page"] == per_page


def test_unknown_field_names_are_escaped_in_pointers(api: Api) -> None:
    # RFC 6901 escaping, checked on a body that refuses unknown fields.
    response = api.post("url_ignore_patterns", json={"pattern": "x", "a/b~c": 1})
    assert_error(response, 400, pointer="/a~1b~0c")


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param(None, id="none"),
        pytest.param("application/x-www-form-urlencoded", id="curl-d-default"),
        pytest.param("text/plain; charset=utf-8", id="text"),
    ],
)
def test_json_bodies_are_read_whatever_their_label(api: Api, content_type: str | None) -> None:
    headers = dict(api.tenant.write)
    if content_type is not None:
        headers["content-type"] = content_type
    body = b'{"pattern": "labelled.example", "pattern_type": "DOMAIN", "is_regex": false}'
    response = api.post("block_senders", content=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["result"]["pattern"] == "labelled.example"
