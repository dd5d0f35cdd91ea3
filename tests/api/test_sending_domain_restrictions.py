"""Sending-domain restrictions: exclude is required and names subdomains of the domain; the batch
endpoint applies deletes only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, assert_error

PATH = "sending_domain_restrictions"


def restriction(**overrides: Any) -> dict[str, Any]:
    return {"domain": "bank.example.com", "exclude": [], **overrides}


def test_exclude_is_required_on_create(api: Api) -> None:
    assert_error(api.post(PATH, json={"domain": "bank.example.com"}), 400, "/exclude")
    created = api.create(PATH, restriction())
    assert created["exclude"] == []


def test_names_are_stored_lowercase(api: Api) -> None:
    created = api.create(
        PATH, restriction(domain="Bank.Example.COM", exclude=["Old.Bank.example.com"])
    )
    assert created["domain"] == "bank.example.com"
    assert created["exclude"] == ["old.bank.example.com"]


@pytest.mark.parametrize(
    ("exclude", "pointer"),
    [
        pytest.param(["other.example.com"], "/exclude/0", id="other-domain"),
        pytest.param(
            ["a.bank.example.com", "bank.example.com"], "/exclude/1", id="the-domain-itself"
        ),
        pytest.param(
            ["a.bank.example.com", "evilbank.example.com"], "/exclude/1", id="suffix-not-subdomain"
        ),
        pytest.param(["not a domain"], "/exclude/0", id="not-a-domain"),
    ],
)
def test_exclude_entries_must_be_subdomains(api: Api, exclude: list[str], pointer: str) -> None:
    assert_error(api.post(PATH, json=restriction(exclude=exclude)), 400, pointer)
    created = api.create(PATH, restriction())
    assert_error(api.patch(PATH, created["id"], json={"exclude": exclude}), 400, pointer)
    assert api.get(PATH, created["id"]).json()["result"] == created


def test_changing_the_domain_rechecks_exclude(api: Api) -> None:
    created = api.create(PATH, restriction(exclude=["legacy.bank.example.com"]))
    response = api.patch(PATH, created["id"], json={"domain": "shop.example.com"})
    assert_error(response, 400, "/exclude/0")
    response = api.patch(
        PATH,
        created["id"],
        json={"domain": "shop.example.com", "exclude": ["old.shop.example.com"]},
    )
    assert response.status_code == 200, response.text


def test_invalid_domain_is_400(api: Api) -> None:
    assert_error(api.post(PATH, json=restriction(domain="localhost")), 400, "/domain")


def test_duplicate_domain_is_409(api: Api) -> None:
    api.create(PATH, restriction())
    assert_error(
        api.post(PATH, json=restriction(domain="BANK.example.com", exclude=["x.bank.example.com"])),
        409,
    )


def test_batch_deletes(api: Api) -> None:
    a = api.create(PATH, restriction(domain="a.example.com"))
    keep = api.create(PATH, restriction(domain="keep.example.com"))
    response = api.post(PATH, "batch", json={"deletes": [{"id": a["id"]}]})
    assert response.status_code == 200, response.text
    assert response.json()["result"] == {"deletes": [{"id": a["id"]}]}
    assert [e["id"] for e in api.get(PATH).json()["result"]] == [keep["id"]]


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"posts": [restriction(domain="new.example.com")]}, id="posts"),
        pytest.param({"patches": []}, id="empty-patches"),
        pytest.param({"puts": []}, id="empty-puts"),
    ],
)
def test_batch_ignores_other_arrays(api: Api, extra: dict[str, Any]) -> None:
    """Like every other batch body, unknown fields are ignored: only the deletes are applied."""
    a = api.create(PATH, restriction(domain="a.example.com"))
    keep = api.create(PATH, restriction(domain="keep.example.com"))
    response = api.post(PATH, "batch", json={"deletes": [{"id": a["id"]}], **extra})
    assert response.status_code == 200, response.text
    assert response.json()["result"] == {"deletes": [{"id": a["id"]}]}
    assert [e["id"] for e in api.get(PATH).json()["result"]] == [keep["id"]]


def test_batch_requires_deletes(api: Api) -> None:
    assert_error(api.post(PATH, "batch", json={}), 400, "/deletes")
