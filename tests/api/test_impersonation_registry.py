"""The impersonation registry: directory-synced entries are read-only here (but deletable),
addresses are checked unless they are regexes, and there is no batch endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, assert_error
from tests.support.resources import BY_PATH

RESOURCE = BY_PATH["impersonation_registry"]
PATH = RESOURCE.path
SYNCED = ["SNOOPY-CASB_OFFICE_365", "SNOOPY-OFFICE_365", "SNOOPY-GOOGLE_DIRECTORY"]


def person(**overrides: Any) -> dict[str, Any]:
    body = {"name": "Jane Doe", "email": "jane@corp.example", "is_email_regex": False}
    return {**body, **overrides}


def test_provenance_defaults_to_internal(api: Api) -> None:
    created = api.create(PATH, person())
    assert created["provenance"] == "A1S_INTERNAL"
    assert created["directory_id"] is None
    assert created["comments"] is None


def test_internal_entries_are_editable(api: Api) -> None:
    created = api.create(PATH, person(provenance="A1S_INTERNAL"))
    response = api.patch(
        PATH, created["id"], json={"email": "jane.doe@corp.example", "directory_id": 7}
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["email"] == "jane.doe@corp.example"
    assert response.json()["result"]["directory_id"] == 7


@pytest.mark.parametrize("provenance", [pytest.param(p, id=p) for p in SYNCED])
@pytest.mark.parametrize(
    "patch",
    [
        pytest.param({"name": "Someone Else"}, id="name"),
        pytest.param({"comments": "note"}, id="comments"),
        pytest.param({"provenance": "A1S_INTERNAL"}, id="reclaim"),
        pytest.param({}, id="empty"),
    ],
)
def test_synced_entries_cannot_be_edited(api: Api, provenance: str, patch: dict[str, Any]) -> None:
    created = api.create(PATH, person(provenance=provenance, directory_id=42))
    assert_error(api.patch(PATH, created["id"], json=patch), 400, contains=provenance)
    assert api.get(PATH, created["id"]).json()["result"] == created


@pytest.mark.parametrize("provenance", [pytest.param(p, id=p) for p in SYNCED])
def test_synced_entries_can_be_deleted(api: Api, provenance: str) -> None:
    created = api.create(PATH, person(provenance=provenance))
    response = api.delete(PATH, created["id"])
    assert response.status_code == 200, response.text
    assert response.json()["result"] == {"id": created["id"]}
    assert_error(api.get(PATH, created["id"]), 404)


def test_unknown_provenance_is_400(api: Api) -> None:
    assert_error(api.post(PATH, json=person(provenance="LDAP")), 400, "/provenance")


@pytest.mark.parametrize(
    "email",
    [
        pytest.param("not-an-email", id="no-at"),
        pytest.param("jane@", id="no-domain"),
        pytest.param("", id="empty"),
    ],
)
def test_email_must_be_an_address(api: Api, email: str) -> None:
    assert_error(api.post(PATH, json=person(email=email)), 400, "/email")
    created = api.create(PATH, person())
    assert_error(api.patch(PATH, created["id"], json={"email": email}), 400, "/email")
    assert api.get(PATH, created["id"]).json()["result"] == created


def test_email_regex_is_compiled_by_re2(api: Api) -> None:
    created = api.create(PATH, person(email=r"jane(\.doe)?@corp\.example", is_email_regex=True))
    assert created["is_email_regex"] is True
    assert_error(api.post(PATH, json=person(email="(jane", is_email_regex=True)), 400, "/email")
    response = api.post(PATH, json=person(email="[a-z]{1000}", is_email_regex=True))
    assert_error(response, 400, "/email", contains="too complex")


def test_turning_off_regex_rechecks_the_address(api: Api) -> None:
    created = api.create(PATH, person(email=r".*@corp\.example", is_email_regex=True))
    assert_error(api.patch(PATH, created["id"], json={"is_email_regex": False}), 400, "/email")
    assert api.get(PATH, created["id"]).json()["result"] == created


def test_name_longer_than_1024_is_400(api: Api) -> None:
    assert_error(api.post(PATH, json=person(name="x" * 1025)), 400, "/name")
    assert api.create(PATH, person(name="x" * 1024))["name"] == "x" * 1024


def test_duplicate_is_409(api: Api) -> None:
    api.create(PATH, person())
    assert_error(api.post(PATH, json=person(email="JANE@corp.example")), 409)
    api.create(PATH, person(email="jane.other@corp.example"))


@pytest.mark.parametrize("method", [pytest.param(m, id=m) for m in ("POST", "PUT")])
def test_there_is_no_batch_endpoint(api: Api, method: str) -> None:
    body = {"deletes": [], "patches": [], "puts": [], "posts": [person()]}
    response = api.request(method, PATH, "batch", json=body)
    assert_error(response, 405)
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "PATCH", "DELETE"}
    assert api.get(PATH).json()["result"] == []
