"""URL ignore patterns: strict bodies (additionalProperties false, a PATCH must change something),
RE2 patterns, and a list that takes only page and per_page."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import Api, assert_error

PATH = "url_ignore_patterns"
PATTERN = r"^https://docs\.example\.com/"


def test_create_refuses_unknown_fields(api: Api) -> None:
    assert_error(api.post(PATH, json={"pattern": PATTERN, "is_regex": True}), 400, "/is_regex")
    assert api.get(PATH).json()["result"] == []


@pytest.mark.parametrize(
    ("patch", "pointer"),
    [
        pytest.param({}, None, id="empty"),
        pytest.param({"pattern": PATTERN, "is_regex": True}, "/is_regex", id="unknown-field"),
        pytest.param({"id": "00000000-0000-0000-0000-000000000000"}, "/id", id="read-only-field"),
    ],
)
def test_patch_refuses_bodies_that_change_nothing_known(
    api: Api, patch: dict[str, Any], pointer: str | None
) -> None:
    created = api.create(PATH, {"pattern": PATTERN, "comments": "docs"})
    assert_error(api.patch(PATH, created["id"], json=patch), 400, pointer)
    assert api.get(PATH, created["id"]).json()["result"] == created


def test_patch_one_field(api: Api) -> None:
    created = api.create(PATH, {"pattern": PATTERN, "comments": "docs"})
    response = api.patch(PATH, created["id"], json={"comments": None})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["comments"] is None
    assert response.json()["result"]["pattern"] == PATTERN


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        pytest.param("(docs", "not a valid RE2", id="unbalanced"),
        pytest.param(r"(?<=docs)\.example", "not a valid RE2", id="lookbehind"),
        pytest.param(r"(a)\1", "not a valid RE2", id="backreference"),
        pytest.param("[a-z]{1000}", "too complex", id="over-program-size-cap"),
    ],
)
def test_pattern_must_compile_in_re2(api: Api, pattern: str, message: str) -> None:
    assert_error(api.post(PATH, json={"pattern": pattern}), 400, "/pattern", contains=message)
    created = api.create(PATH, {"pattern": PATTERN})
    response = api.patch(PATH, created["id"], json={"pattern": pattern})
    assert_error(response, 400, "/pattern", contains=message)
    assert api.get(PATH, created["id"]).json()["result"] == created


def test_duplicate_is_409(api: Api) -> None:
    api.create(PATH, {"pattern": PATTERN})
    assert_error(api.post(PATH, json={"pattern": PATTERN, "comments": "again"}), 409)


def test_list_takes_only_page_and_per_page(client: TestClient) -> None:
    document = client.get("/client/v4/openapi.json").json()
    operation = document["paths"][
        "/accounts/{account_id}/email-security/settings/url_ignore_patterns"
    ]["get"]
    assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} == {
        "page",
        "per_page",
    }
