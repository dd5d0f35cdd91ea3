"""One normaliser: what the policy engine treats as one domain, address or display name, the API
treats as one entry (409), and what the API stores, the engine matches."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, assert_error

EVALUATE = "/client/v4/accounts/{account}/email-security/evaluate"


def message(**fields: Any) -> dict[str, Any]:
    return {
        "envelope_from": "someone@example.net",
        "header_from": "someone@example.net",
        "recipients": ["ann@corp.example"],
        "client_ip": "203.0.113.9",
        **fields,
    }


def evaluate(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.client.post(
        EVALUATE.format(account=api.tenant.id), json=body, headers=api.tenant.read
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]["recipients"][0]
    return result


@pytest.mark.parametrize(
    ("path", "first", "second"),
    [
        pytest.param(
            "trusted_domains",
            {
                "pattern": "partner.example",
                "is_regex": False,
                "is_recent": True,
                "is_similarity": False,
            },
            {
                "pattern": "Partner.Example.",
                "is_regex": False,
                "is_recent": True,
                "is_similarity": False,
            },
            id="trusted-domain-dot-and-case",
        ),
        pytest.param(
            "sending_domain_restrictions",
            {"domain": "bank.example", "exclude": []},
            {"domain": " BANK.example. ", "exclude": []},
            id="restriction-dot-case-space",
        ),
        pytest.param(
            "impersonation_registry",
            {"name": "Chief Executive", "email": "chief@corp.example", "is_email_regex": False},
            {
                "name": "  chief   EXECUTIVE ",
                "email": "Chief@Corp.Example",
                "is_email_regex": False,
            },
            id="registry-spacing-and-case",
        ),
        pytest.param(
            "impersonation_registry",
            {"name": "Chief Executive", "email": "chief@corp.example", "is_email_regex": False},
            # Full-width letters and a zero-width joiner: the engine's NFKC form is the same name.
            {
                "name": "\uff23hief Exec\u200dutive",
                "email": "chief@corp.example",
                "is_email_regex": False,
            },
            id="registry-full-width-and-invisible",
        ),
    ],
)
def test_the_engines_equals_are_duplicates(
    api: Api, path: str, first: dict[str, Any], second: dict[str, Any]
) -> None:
    created = api.create(path, first)
    assert_error(api.post(path, json=second), 409, contains=created["id"])
    assert api.get(path).json()["result_info"]["total_count"] == 1


def test_domains_are_stored_as_the_engine_reads_them(api: Api) -> None:
    body = {
        "domain": " Corp.Example. ",
        "allowed_delivery_modes": ["DIRECT"],
        "drop_dispositions": ["MALICIOUS"],
        "ip_restrictions": [],
        "regions": ["GLOBAL"],
    }
    created = api.create("domains", body)
    assert created["domain"] == "corp.example"
    assert_error(api.post("domains", json={**body, "domain": "corp.example"}), 409)


def test_a_blocked_domain_with_a_trailing_dot_blocks_the_domain(api: Api) -> None:
    blocked = api.create(
        "block_senders", {"pattern": "example.net.", "pattern_type": "DOMAIN", "is_regex": False}
    )
    verdict = evaluate(api, message())
    assert verdict["disposition"] == "MALICIOUS"
    assert {r["id"] for r in verdict["reasons"]} == {blocked["id"]}
    # And the spelling without the dot is that same entry.
    response = api.post(
        "block_senders",
        json={"pattern": "example.net", "pattern_type": "DOMAIN", "is_regex": False},
    )
    assert_error(response, 409, contains=blocked["id"])


def test_a_registered_name_matches_what_the_registry_refuses_as_a_duplicate(api: Api) -> None:
    entry = api.create(
        "impersonation_registry",
        {"name": "Chief Executive", "email": "chief@corp.example", "is_email_regex": False},
    )
    disguised = "\uff23hief  Exec\u200dutive"
    verdict = evaluate(api, message(header_from=f'"{disguised}" <chief.exec@example.net>'))
    assert [r["id"] for r in verdict["reasons"] if r["resource"] == "impersonation_registry"] == [
        entry["id"]
    ]
    response = api.post(
        "impersonation_registry",
        json={"name": disguised, "email": "chief@corp.example", "is_email_regex": False},
    )
    assert_error(response, 409, contains=entry["id"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("exclude", [" Legacy.Bank.Example. "], id="exclude"),
    ],
)
def test_restriction_excludes_are_normalised(api: Api, field: str, value: list[str]) -> None:
    created = api.create("sending_domain_restrictions", {"domain": "bank.example", field: value})
    assert created[field] == ["legacy.bank.example"]
