"""The contract every settings resource keeps, run over one table of resource descriptors.

Each descriptor says how to make distinct valid entries, how to edit one, and which filters,
orderings and search fields its list takes; the tests below are written once, for all eight.
The table is in tests/support/resources.py, which other test modules reuse.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.api import Api, assert_error
from tests.support.resources import BY_PATH, RESOURCES, Entry, Filter, Resource, params

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
ENVELOPE_KEYS = {"success", "errors", "messages", "result"}
# How many entries the list tests create: enough for three pages of three.
POPULATION = 7


def populate(api: Api, resource: Resource, count: int = POPULATION) -> list[Entry]:
    return [api.create(resource.path, resource.make(n)) for n in range(count)]


def list_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [entry["id"] for entry in response.json()["result"]]


def _assert_entity(entry: Entry) -> None:
    assert str(uuid.UUID(entry["id"])) == entry["id"]
    for name in ("created_at", "modified_at"):
        assert TIMESTAMP.fullmatch(entry[name]), (name, entry[name])
    # The deprecated alias, on the seven resources whose schema still has it.
    if "last_modified" in entry:
        assert entry["last_modified"] == entry["modified_at"]


# ---- one entry through its whole life -------------------------------------------------------


@pytest.mark.parametrize("resource", params())
def test_create_get_edit_delete(api: Api, resource: Resource) -> None:
    body = resource.make(0)
    response = api.post(resource.path, json=body)
    assert response.status_code == 201, response.text
    envelope = response.json()
    assert set(envelope) == ENVELOPE_KEYS
    assert envelope["success"] is True
    assert envelope["errors"] == []
    assert envelope["messages"] == []
    created = envelope["result"]
    _assert_entity(created)
    assert {k: created[k] for k in body} == body
    entry_id = created["id"]

    fetched = api.get(resource.path, entry_id)
    assert fetched.status_code == 200
    assert set(fetched.json()) == ENVELOPE_KEYS
    assert fetched.json()["result"] == created

    assert all(created[k] != v for k, v in resource.patch.items()), "the patch must change things"
    response = api.patch(resource.path, entry_id, json=resource.patch)
    assert response.status_code == 200, response.text
    edited = response.json()["result"]
    _assert_entity(edited)
    assert edited["id"] == entry_id
    assert edited["created_at"] == created["created_at"]
    assert edited["modified_at"] > created["modified_at"]
    assert {k: edited[k] for k in resource.patch} == resource.patch
    unchanged = (
        set(created) - set(resource.patch) - {"modified_at", "last_modified", *resource.volatile}
    )
    assert {k: edited[k] for k in unchanged} == {k: created[k] for k in unchanged}
    assert api.get(resource.path, entry_id).json()["result"] == edited

    response = api.delete(resource.path, entry_id)
    assert response.status_code == 200, response.text
    assert set(response.json()) == ENVELOPE_KEYS
    assert response.json()["result"] == {"id": entry_id}
    assert_error(api.get(resource.path, entry_id), 404)
    assert_error(api.delete(resource.path, entry_id), 404)
    assert_error(api.patch(resource.path, entry_id, json=resource.patch), 404)


@pytest.mark.parametrize("resource", params())
@pytest.mark.parametrize("method", [pytest.param(m, id=m) for m in ("GET", "PATCH", "DELETE")])
def test_unknown_id_is_404(api: Api, resource: Resource, method: str) -> None:
    api.create(resource.path, resource.make(0))
    json = resource.patch if method == "PATCH" else None
    response = api.request(method, resource.path, str(uuid.uuid4()), json=json)
    assert_error(response, 404)


# ---- lists ------------------------------------------------------------------------------------


FILTER_CASES = [pytest.param(r, f, id=f"{r.path}-{f.param}") for r in RESOURCES for f in r.filters]


@pytest.mark.parametrize(("resource", "list_filter"), FILTER_CASES)
def test_list_filter(api: Api, resource: Resource, list_filter: Filter) -> None:
    created = populate(api, resource)
    selections = {}
    for value in (list_filter.hit, list_filter.miss):
        expected = [e["id"] for e in created if list_filter.holds(e, value)]
        response = api.get(resource.path, params={list_filter.param: value, "per_page": 1000})
        assert list_ids(response) == expected, value
        assert response.json()["result_info"]["total_count"] == len(expected)
        selections[str(value)] = set(expected)
    hit, miss = selections[str(list_filter.hit)], selections[str(list_filter.miss)]
    assert hit, "the matching example must match some entries"
    assert hit - miss, "the non-matching example must leave out some of them"


ORDER_CASES = [pytest.param(r, o, id=f"{r.path}-{o}") for r in RESOURCES for o in r.orderings]


@pytest.mark.parametrize(("resource", "order"), ORDER_CASES)
def test_list_order(api: Api, resource: Resource, order: str) -> None:
    # Most factories give pairs of entries the same pattern or name, so ties are broken by id.
    created = populate(api, resource)
    ascending = [e["id"] for e in sorted(created, key=lambda e: (e[order], e["id"]))]
    for direction, expected in (("asc", ascending), ("desc", ascending[::-1])):
        response = api.get(resource.path, params={"order": order, "direction": direction})
        assert list_ids(response) == expected, direction


@pytest.mark.parametrize("resource", params())
def test_list_defaults_to_creation_order_and_20_per_page(api: Api, resource: Resource) -> None:
    created = populate(api, resource, 22)
    response = api.get(resource.path)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {*ENVELOPE_KEYS, "result_info"}
    assert body["result_info"] == {"count": 20, "page": 1, "per_page": 20, "total_count": 22}
    assert body["result"] == created[:20]
    if resource.orderings:
        newest_first = api.get(resource.path, params={"direction": "desc"})
        assert list_ids(newest_first) == [e["id"] for e in created[::-1][:20]]


@pytest.mark.parametrize("resource", params())
def test_pagination(api: Api, resource: Resource) -> None:
    created = populate(api, resource)
    seen: list[str] = []
    for page, count in ((1, 3), (2, 3), (3, 1)):
        response = api.get(resource.path, params={"page": page, "per_page": 3})
        seen += list_ids(response)
        assert response.json()["result_info"] == {
            "count": count,
            "page": page,
            "per_page": 3,
            "total_count": POPULATION,
        }
    assert sorted(seen) == sorted(e["id"] for e in created)
    assert len(set(seen)) == len(seen)

    # Far past the end too: an offset beyond what the database can count is still just empty.
    for page in (4, 10**6, 2**63 - 1):
        past = api.get(resource.path, params={"page": page, "per_page": 1000})
        assert list_ids(past) == [], page
        assert past.json()["result_info"] == {
            "count": 0,
            "page": page,
            "per_page": 1000,
            "total_count": POPULATION,
        }


@pytest.mark.parametrize("resource", params())
@pytest.mark.parametrize("page", [2**63, 2**64, 10**30])
def test_a_page_beyond_64_bits_is_refused(api: Api, resource: Resource, page: int) -> None:
    response = api.get(resource.path, params={"page": page})
    assert_error(response, 400, "/page", contains="page")


SEARCH_CASES = [pytest.param(r, f, id=f"{r.path}-{f}") for r in RESOURCES for f in r.search]


@pytest.mark.parametrize(("resource", "field_name"), SEARCH_CASES)
def test_search_is_case_insensitive(api: Api, resource: Resource, field_name: str) -> None:
    created = populate(api, resource)
    needle = created[3][field_name].swapcase()
    expected = [
        e["id"]
        for e in created
        if any(needle.lower() in (e[f] or "").lower() for f in resource.search)
    ]
    assert created[3]["id"] in expected
    assert len(expected) < len(created)
    response = api.get(resource.path, params={"search": needle})
    assert list_ids(response) == expected
    assert response.json()["result_info"]["total_count"] == len(expected)
    assert list_ids(api.get(resource.path, params={"search": "no-such-text-anywhere"})) == []


@pytest.mark.parametrize("resource", params(tuple(r for r in RESOURCES if r.search)))
@pytest.mark.parametrize("needle", [pytest.param(c, id=c) for c in ("%", "_", "\\")])
def test_search_wildcards_are_literal(api: Api, resource: Resource, needle: str) -> None:
    free_text = resource.search[-1]
    populate(api, resource, 3)
    odd = api.create(resource.path, {**resource.make(3), free_text: "100% under_score back\\slash"})
    assert list_ids(api.get(resource.path, params={"search": needle})) == [odd["id"]]


def test_every_resource_is_in_the_table(client: TestClient) -> None:
    document = client.get("/client/v4/openapi.json").json()
    prefix = "/accounts/{account_id}/email-security/settings/"
    served = {p[len(prefix) :] for p in document["paths"] if p.startswith(prefix)}
    assert {p for p in served if "/" not in p} == set(BY_PATH)
    for resource in RESOURCES:
        assert f"{resource.path}/{{{resource.id_param}}}" in served
        assert (f"{resource.path}/batch" in served) is (resource.batch != "none")
