"""Allow policies: the deprecated flags is_sender / is_spoof / is_recipient are still accepted,
as aliases of the current flags, and mirrored in every response."""

from __future__ import annotations

import pytest
from openapi_schema_validator import OAS31Validator

from tests.support.api import Api, assert_error
from tests.support.resources import BY_PATH

RESOURCE = BY_PATH["allow_policies"]

ALIASES = [
    pytest.param("is_sender", "is_trusted_sender", id="is_sender"),
    pytest.param("is_spoof", "is_acceptable_sender", id="is_spoof"),
    pytest.param("is_recipient", "is_exempt_recipient", id="is_recipient"),
]


def test_responses_mirror_every_alias(api: Api) -> None:
    created = api.create(
        RESOURCE.path,
        {
            **RESOURCE.make(0),
            "is_trusted_sender": True,
            "is_acceptable_sender": False,
            "is_exempt_recipient": True,
        },
    )
    assert (created["is_sender"], created["is_spoof"], created["is_recipient"]) == (
        True,
        False,
        True,
    )


@pytest.mark.parametrize(("alias", "current"), ALIASES)
@pytest.mark.parametrize("value", [pytest.param(True, id="true"), pytest.param(False, id="false")])
def test_alias_alone_on_create(api: Api, alias: str, current: str, value: bool) -> None:
    body = RESOURCE.make(0)
    del body[current]
    created = api.create(RESOURCE.path, {**body, alias: value})
    assert created[current] is value
    assert created[alias] is value
    assert api.get(RESOURCE.path, created["id"]).json()["result"][current] is value


@pytest.mark.parametrize(("alias", "current"), ALIASES)
@pytest.mark.parametrize(
    "sent",
    [
        pytest.param("current", id="current"),
        pytest.param("alias", id="alias"),
        pytest.param("neither", id="neither"),
    ],
)
def test_the_document_says_what_a_create_requires(
    api: Api, alias: str, current: str, sent: str
) -> None:
    """A flag or its alias is required: the served document and the service agree."""
    document = api.client.get("/client/v4/openapi.json").json()
    schema = {"$ref": "#/components/schemas/AllowPolicyCreate", **document}
    body = RESOURCE.make(0)
    value = body.pop(current)
    if sent != "neither":
        body[current if sent == "current" else alias] = value
    valid = OAS31Validator(schema).is_valid(body)
    response = api.post(RESOURCE.path, json=body)
    assert valid is (sent != "neither")
    assert response.status_code == (201 if valid else 400), response.text


@pytest.mark.parametrize(("alias", "current"), ALIASES)
def test_alias_agreeing_with_current_field(api: Api, alias: str, current: str) -> None:
    body = RESOURCE.make(0)
    created = api.create(RESOURCE.path, {**body, alias: body[current]})
    assert created[current] is body[current]


@pytest.mark.parametrize(("alias", "current"), ALIASES)
def test_alias_on_patch(api: Api, alias: str, current: str) -> None:
    entry = api.create(RESOURCE.path, RESOURCE.make(0))
    value = not entry[current]
    response = api.patch(RESOURCE.path, entry["id"], json={alias: value})
    assert response.status_code == 200, response.text
    edited = response.json()["result"]
    assert (edited[current], edited[alias]) == (value, value)
    others = {k for k in entry if k not in {alias, current, "modified_at", "last_modified"}}
    assert {k: edited[k] for k in others} == {k: entry[k] for k in others}


@pytest.mark.parametrize(("alias", "current"), ALIASES)
def test_conflicting_alias_on_create_is_400(api: Api, alias: str, current: str) -> None:
    body = {**RESOURCE.make(0), current: True, alias: False}
    assert_error(api.post(RESOURCE.path, json=body), 400, f"/{alias}", contains=current)
    assert api.get(RESOURCE.path).json()["result"] == []


@pytest.mark.parametrize(("alias", "current"), ALIASES)
def test_conflicting_alias_on_patch_is_400(api: Api, alias: str, current: str) -> None:
    entry = api.create(RESOURCE.path, RESOURCE.make(0))
    response = api.patch(RESOURCE.path, entry["id"], json={current: True, alias: False})
    assert_error(response, 400, f"/{alias}")
    assert api.get(RESOURCE.path, entry["id"]).json()["result"] == entry


@pytest.mark.parametrize(("alias", "current"), ALIASES)
def test_patch_null_alias_is_400(api: Api, alias: str, current: str) -> None:
    # The current flags are covered with every other required field in test_validation.
    entry = api.create(RESOURCE.path, RESOURCE.make(0))
    assert_error(api.patch(RESOURCE.path, entry["id"], json={alias: None}), 400, f"/{alias}")
    assert_error(api.patch(RESOURCE.path, entry["id"], json={current: None}), 400, f"/{current}")
    assert api.get(RESOURCE.path, entry["id"]).json()["result"] == entry


def test_flags_are_part_of_what_makes_a_duplicate(api: Api) -> None:
    body = RESOURCE.make(0)
    api.create(RESOURCE.path, body)
    api.create(RESOURCE.path, {**body, "verify_sender": not body["verify_sender"]})
    assert_error(api.post(RESOURCE.path, json=body), 409)
    assert api.get(RESOURCE.path).json()["result_info"]["total_count"] == 2
