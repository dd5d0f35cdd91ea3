"""Batch endpoints of the resources with all four arrays: deletes, then patches, then puts, then
posts, all or nothing."""

from __future__ import annotations

import uuid

import pytest

from tests.support.api import Api, assert_error
from tests.support.resources import (
    ARRAYS,
    FULL_BATCH,
    Entry,
    Resource,
    batch,
    params,
    put_item,
)


def current(api: Api, resource: Resource) -> list[Entry]:
    response = api.get(resource.path, params={"per_page": 1000})
    assert response.status_code == 200, response.text
    entries: list[Entry] = response.json()["result"]
    return entries


@pytest.mark.parametrize("resource", params(FULL_BATCH))
def test_batch_applies_all_four_arrays(api: Api, resource: Resource) -> None:
    doomed, patched, replaced = (api.create(resource.path, resource.make(n)) for n in range(3))
    response = api.post(
        resource.path,
        "batch",
        json=batch(
            deletes=[{"id": doomed["id"]}],
            patches=[{**resource.patch, "id": patched["id"]}],
            puts=[put_item(resource, replaced)],
            posts=[resource.make(3), resource.make(4)],
        ),
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"success", "errors", "messages", "result"}
    result = response.json()["result"]
    assert set(result) == set(ARRAYS)
    assert result["deletes"] == [{"id": doomed["id"]}]
    assert [e["id"] for e in result["patches"]] == [patched["id"]]
    assert [e["id"] for e in result["puts"]] == [replaced["id"]]
    assert len(result["posts"]) == 2
    assert {k: result["patches"][0][k] for k in resource.patch} == resource.patch
    for n, post in zip((3, 4), result["posts"], strict=True):
        assert {k: post[k] for k in resource.make(n)} == resource.make(n)

    # The echoed entities are the stored ones, in full.
    stored = {e["id"]: e for e in current(api, resource)}
    assert set(stored) == {patched["id"], replaced["id"], *(p["id"] for p in result["posts"])}
    for entity in (*result["patches"], *result["puts"], *result["posts"]):
        assert stored[entity["id"]] == entity
    assert_error(api.get(resource.path, doomed["id"]), 404)


@pytest.mark.parametrize("resource", params(FULL_BATCH))
def test_deletes_come_before_posts(api: Api, resource: Resource) -> None:
    original = api.create(resource.path, resource.make(0))
    response = api.post(
        resource.path,
        "batch",
        json=batch(deletes=[{"id": original["id"]}], posts=[resource.make(0)]),
    )
    assert response.status_code == 200, response.text
    [copy] = response.json()["result"]["posts"]
    assert copy["id"] != original["id"]
    assert [e["id"] for e in current(api, resource)] == [copy["id"]]


@pytest.mark.parametrize("resource", params(FULL_BATCH))
def test_deletes_come_before_patches(api: Api, resource: Resource) -> None:
    entry = api.create(resource.path, resource.make(0))
    response = api.post(
        resource.path,
        "batch",
        json=batch(deletes=[{"id": entry["id"]}], patches=[{**resource.patch, "id": entry["id"]}]),
    )
    assert_error(response, 404, "/patches/0/id")
    assert current(api, resource) == [entry]


@pytest.mark.parametrize("resource", params(FULL_BATCH))
def test_puts_come_after_patches(api: Api, resource: Resource) -> None:
    entry = api.create(resource.path, resource.make(0))
    put = put_item(resource, entry)
    response = api.post(
        resource.path,
        "batch",
        json=batch(patches=[{**resource.patch, "id": entry["id"]}], puts=[put]),
    )
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    final = api.get(resource.path, entry["id"]).json()["result"]
    assert final == result["puts"][0]
    assert {k: final[k] for k in put if k != "id"} == {k: v for k, v in put.items() if k != "id"}


@pytest.mark.parametrize("resource", params(FULL_BATCH))
def test_puts_replace_the_whole_entry(api: Api, resource: Resource) -> None:
    entry = api.create(resource.path, resource.make(1))
    response = api.post(resource.path, "batch", json=batch(puts=[put_item(resource, entry)]))
    assert response.status_code == 200, response.text
    [replaced] = response.json()["result"]["puts"]
    assert replaced["id"] == entry["id"]
    assert replaced["created_at"] == entry["created_at"]
    assert replaced["modified_at"] > entry["modified_at"]
    sent = put_item(resource, entry)
    # What was left out of the put is back at its default: null, false or empty.
    for name, before in entry.items():
        if name in sent or name in {
            "created_at",
            "modified_at",
            "last_modified",
            *resource.volatile,
        }:
            continue
        if name in {"domain", "status", "spf_status", "dmarc_status", "authorization"}:
            assert replaced[name] == before, name  # server-owned, or fixed at creation
        elif name == "lookback_hops":
            assert replaced[name] == 1
        elif name.startswith("is_"):
            assert replaced[name] is False, name
        elif name == "transport":
            assert replaced[name] == ""  # a string in the current SDKs: "" when unset
        else:
            assert replaced[name] in (None, [], 0), name
    assert any(entry[name] not in (None, False, []) for name in entry if name not in sent)


@pytest.mark.parametrize("resource", params(FULL_BATCH))
@pytest.mark.parametrize("kind", [pytest.param(k, id=k) for k in ("schema", "semantic")])
def test_invalid_post_applies_nothing(api: Api, resource: Resource, kind: str) -> None:
    entries = [api.create(resource.path, resource.make(n)) for n in range(2)]
    posts = [resource.make(n) for n in range(2, 6)]
    if kind == "schema":
        field_name = resource.required[0]
        del posts[3][field_name]
    else:
        field_name, value = resource.invalid
        posts[3][field_name] = value
    response = api.post(
        resource.path,
        "batch",
        json=batch(
            deletes=[{"id": entries[0]["id"]}],
            patches=[{**resource.patch, "id": entries[1]["id"]}],
            posts=posts,
        ),
    )
    assert_error(response, 400, f"/posts/3/{field_name}")
    assert current(api, resource) == entries


@pytest.mark.parametrize("resource", params(FULL_BATCH))
@pytest.mark.parametrize(
    ("array", "index"),
    [
        pytest.param("deletes", 1, id="deletes"),
        pytest.param("patches", 0, id="patches"),
        pytest.param("puts", 0, id="puts"),
    ],
)
def test_unknown_id_applies_nothing(api: Api, resource: Resource, array: str, index: int) -> None:
    entries = [api.create(resource.path, resource.make(n)) for n in range(2)]
    unknown = str(uuid.uuid4())
    items = {
        "deletes": [{"id": entries[0]["id"]}, {"id": unknown}],
        "patches": [{**resource.patch, "id": unknown}],
        "puts": [put_item(resource, {**entries[1], "id": unknown})],
    }
    arrays = {"deletes": items["deletes"][:1], array: items[array], "posts": [resource.make(2)]}
    response = api.post(resource.path, "batch", json=batch(**arrays))
    assert_error(response, 404, f"/{array}/{index}/id")
    assert current(api, resource) == entries


@pytest.mark.parametrize("resource", params(FULL_BATCH))
def test_unknown_first_delete_points_at_it(api: Api, resource: Resource) -> None:
    entry = api.create(resource.path, resource.make(0))
    response = api.post(resource.path, "batch", json=batch(deletes=[{"id": str(uuid.uuid4())}]))
    assert_error(response, 404, "/deletes/0/id")
    assert current(api, resource) == [entry]


@pytest.mark.parametrize("resource", params(FULL_BATCH))
def test_duplicate_post_applies_nothing(api: Api, resource: Resource) -> None:
    entry = api.create(resource.path, resource.make(0))
    response = api.post(
        resource.path, "batch", json=batch(posts=[resource.make(1), resource.make(0)])
    )
    assert_error(response, 409)
    assert current(api, resource) == [entry]


@pytest.mark.parametrize("resource", params(FULL_BATCH))
def test_duplicate_posts_in_one_batch_apply_nothing(api: Api, resource: Resource) -> None:
    entry = api.create(resource.path, resource.make(0))
    response = api.post(
        resource.path,
        "batch",
        json=batch(deletes=[{"id": entry["id"]}], posts=[resource.make(1), resource.make(1)]),
    )
    assert_error(response, 409, "/posts/1")
    assert current(api, resource) == [entry]


@pytest.mark.parametrize("resource", params(FULL_BATCH))
@pytest.mark.parametrize("missing", [pytest.param(a, id=a) for a in ARRAYS])
def test_all_four_arrays_are_required(api: Api, resource: Resource, missing: str) -> None:
    entry = api.create(resource.path, resource.make(0))
    body = batch(deletes=[{"id": entry["id"]}])
    del body[missing]
    assert_error(api.post(resource.path, "batch", json=body), 400, f"/{missing}")
    assert current(api, resource) == [entry]


@pytest.mark.parametrize("resource", params(FULL_BATCH))
def test_empty_batch_is_a_no_op(api: Api, resource: Resource) -> None:
    entry = api.create(resource.path, resource.make(0))
    response = api.post(resource.path, "batch", json=batch())
    assert response.status_code == 200, response.text
    assert response.json()["result"] == batch()
    assert current(api, resource) == [entry]


@pytest.mark.parametrize("resource", params(FULL_BATCH))
@pytest.mark.parametrize("array", [pytest.param(a, id=a) for a in ARRAYS])
def test_more_than_1000_items_is_400(api: Api, resource: Resource, array: str) -> None:
    entry = api.create(resource.path, resource.make(0))
    item = {
        "deletes": {"id": entry["id"]},
        "patches": {**resource.patch, "id": entry["id"]},
        "puts": put_item(resource, entry),
        "posts": resource.make(1),
    }[array]
    response = api.post(resource.path, "batch", json=batch(**{array: [item] * 1001}))
    assert_error(response, 400, f"/{array}")
    assert current(api, resource) == [entry]


@pytest.mark.parametrize("resource", params(FULL_BATCH))
def test_patch_item_needs_an_id(api: Api, resource: Resource) -> None:
    entry = api.create(resource.path, resource.make(0))
    response = api.post(resource.path, "batch", json=batch(patches=[resource.patch]))
    assert_error(response, 400, "/patches/0/id")
    assert current(api, resource) == [entry]
