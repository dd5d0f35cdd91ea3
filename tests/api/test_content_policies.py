"""Content policies: what is special to them beyond the contract suite (targets, RE2 patterns,
names) and what they do to a message through the evaluate endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, assert_error

PATH = "content_policies"


def policy(**overrides: Any) -> dict[str, Any]:
    body = {"name": "Invoice fraud", "pattern": r"overdue\s+invoice", "targets": ["SUBJECT"]}
    return {**body, "enabled": True, **overrides}


def test_created_with_defaults(api: Api) -> None:
    created = api.create(PATH, policy())
    assert created["notes"] is None
    assert created["targets"] == ["SUBJECT"]
    assert set(created) == {
        "id",
        "name",
        "pattern",
        "targets",
        "enabled",
        "notes",
        "created_at",
        "modified_at",
    }


@pytest.mark.parametrize(
    ("targets", "stored"),
    [
        pytest.param(["BODY"], ["BODY"], id="body"),
        pytest.param(["BODY", "SUBJECT"], ["SUBJECT", "BODY"], id="both-in-a-fixed-order"),
        pytest.param(["BODY", "BODY"], ["BODY"], id="repeated"),
    ],
)
def test_targets_are_stored_once_each(api: Api, targets: list[str], stored: list[str]) -> None:
    assert api.create(PATH, policy(targets=targets))["targets"] == stored


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        pytest.param({"targets": []}, "/targets", id="no-target"),
        pytest.param({"targets": ["HEADER"]}, "/targets/0", id="unknown-target"),
        pytest.param({"targets": "SUBJECT"}, "/targets", id="target-not-a-list"),
        pytest.param({"pattern": "(unclosed"}, "/pattern", id="re2-refuses"),
        pytest.param({"pattern": "[a-z]{1000}"}, "/pattern", id="too-complex"),
        pytest.param({"pattern": ""}, "/pattern", id="empty-pattern"),
        pytest.param({"name": ""}, "/name", id="empty-name"),
        pytest.param({"name": "   "}, "/name", id="blank-name"),
        pytest.param({"name": "n" * 256}, "/name", id="long-name"),
        pytest.param({"enabled": "yes"}, "/enabled", id="enabled-not-boolean"),
    ],
)
def test_invalid_fields_are_refused(api: Api, change: dict[str, Any], pointer: str) -> None:
    assert_error(api.post(PATH, json=policy(**change)), 400, pointer)
    entry = api.create(PATH, policy())
    assert_error(api.patch(PATH, entry["id"], json=change), 400, pointer)
    assert api.get(PATH).json()["result"] == [entry]


def test_the_same_pattern_on_the_same_targets_is_a_duplicate(api: Api) -> None:
    first = api.create(PATH, policy())
    response = api.post(PATH, json=policy(name="Another name", enabled=False))
    assert_error(response, 409, contains=first["id"])
    # On other targets it finds other mail: not a duplicate.
    api.create(PATH, policy(targets=["BODY"]))


EVALUATE = "/client/v4/accounts/{account}/email-security/evaluate"
DOMAIN = {
    "domain": "corp.example",
    "allowed_delivery_modes": ["DIRECT"],
    "drop_dispositions": ["MALICIOUS"],
    "ip_restrictions": [],
    "regions": ["GLOBAL"],
}


def verdict(api: Api, **fields: Any) -> dict[str, Any]:
    body = {
        "envelope_from": "billing@vendor.example",
        "header_from": "billing@vendor.example",
        "recipients": ["ann@corp.example"],
        "client_ip": "203.0.113.9",
        **fields,
    }
    response = api.client.post(
        EVALUATE.format(account=api.tenant.id), json=body, headers=api.tenant.read
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]["recipients"][0]
    return result


def test_a_policy_on_the_subject_drops_the_message(api: Api) -> None:
    api.create("domains", DOMAIN)
    entry = api.create(PATH, policy())
    dropped = verdict(api, subject="RE: Overdue  Invoice 4411")
    assert (dropped["disposition"], dropped["action"]) == ("MALICIOUS", "drop")
    (reason,) = [r for r in dropped["reasons"] if r["resource"] == PATH]
    assert (reason["id"], reason["field"], reason["honoured"]) == (entry["id"], "subject", True)
    assert "Invoice fraud" in reason["note"]
    assert "Invoice fraud" in dropped["explanation"]
    assert verdict(api, subject="Invoice paid, thank you")["action"] == "deliver"
    # The body is not a target of this policy.
    assert verdict(api, subject="hello", body="overdue invoice")["action"] == "deliver"


def test_disabling_a_policy_takes_effect_at_once(api: Api) -> None:
    api.create("domains", DOMAIN)
    entry = api.create(PATH, policy(targets=["BODY"]))
    assert verdict(api, body="...overdue invoice...")["action"] == "drop"
    api.patch(PATH, entry["id"], json={"enabled": False})
    assert verdict(api, body="...overdue invoice...")["action"] == "deliver"
    api.patch(PATH, entry["id"], json={"enabled": True, "targets": ["SUBJECT"]})
    assert verdict(api, body="...overdue invoice...")["action"] == "deliver"
    assert verdict(api, subject="overdue invoice")["action"] == "drop"


def test_evaluate_bounds_subject_and_body(api: Api) -> None:
    response = api.client.post(
        EVALUATE.format(account=api.tenant.id),
        json={
            "envelope_from": "a@vendor.example",
            "header_from": "a@vendor.example",
            "recipients": ["ann@corp.example"],
            "client_ip": "203.0.113.9",
            "subject": "s" * 16_385,
        },
        headers=api.tenant.read,
    )
    assert_error(response, 400, "/subject")
