"""Trusted domains: a plain pattern must be a domain name; a regex pattern must compile in RE2."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, assert_error

PATH = "trusted_domains"


def trusted(**overrides: Any) -> dict[str, Any]:
    body = {
        "pattern": "partner.example.com",
        "is_regex": False,
        "is_recent": True,
        "is_similarity": False,
    }
    return {**body, **overrides}


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param("not a domain", id="space"),
        pytest.param("user@partner.example.com", id="email"),
        pytest.param("localhost", id="single-label"),
        pytest.param("203.0.113.9", id="ip"),
        pytest.param(r".*\.partner\.example", id="regex-without-is_regex"),
    ],
)
def test_plain_pattern_must_be_a_domain(api: Api, pattern: str) -> None:
    assert_error(api.post(PATH, json=trusted(pattern=pattern)), 400, "/pattern")
    created = api.create(PATH, trusted())
    assert_error(api.patch(PATH, created["id"], json={"pattern": pattern}), 400, "/pattern")
    assert api.get(PATH, created["id"]).json()["result"] == created


def test_regex_pattern(api: Api) -> None:
    created = api.create(PATH, trusted(pattern=r".*\.partner\.example", is_regex=True))
    assert created["is_regex"] is True
    assert_error(api.post(PATH, json=trusted(pattern="(partner", is_regex=True)), 400, "/pattern")
    response = api.post(PATH, json=trusted(pattern="[a-z]{1000}", is_regex=True))
    assert_error(response, 400, "/pattern", contains="too complex")


def test_turning_off_regex_rechecks_the_pattern(api: Api) -> None:
    created = api.create(PATH, trusted(pattern=r".*\.partner\.example", is_regex=True))
    assert_error(api.patch(PATH, created["id"], json={"is_regex": False}), 400, "/pattern")


def test_duplicate_is_409(api: Api) -> None:
    api.create(PATH, trusted())
    assert_error(api.post(PATH, json=trusted(pattern="Partner.Example.com")), 409)
    # The flags are part of the entry: the same pattern with other flags is another entry.
    api.create(PATH, trusted(is_similarity=True))
