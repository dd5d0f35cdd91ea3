"""POST /evaluate through HTTP: settings created through the API decide real verdicts."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import Api, Tenant, assert_error


def evaluate_url(tenant: Tenant) -> str:
    return f"/client/v4/accounts/{tenant.id}/email-security/evaluate"


def message(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "envelope_from": "news@mail.sender.example",
        "header_from": '"Sender" <news@sender.example>',
        "recipients": ["alice@corp.example"],
        "client_ip": "203.0.113.7",
        "tls": {"protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384"},
    }
    base.update(overrides)
    return base


def protect(api: Api, drop: list[str]) -> dict[str, Any]:
    return api.create(
        "domains",
        {
            "domain": "corp.example",
            "allowed_delivery_modes": ["DIRECT"],
            "drop_dispositions": drop,
            "ip_restrictions": [],
            "regions": ["GLOBAL"],
        },
    )


def verdict(client: TestClient, tenant: Tenant, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(evaluate_url(tenant), json=body, headers=tenant.read)
    assert response.status_code == 200, response.text
    envelope = response.json()
    assert envelope["success"] is True
    recipients: list[dict[str, Any]] = envelope["result"]["recipients"]
    return recipients


def test_blocked_sender_is_dropped_by_a_protected_domain(
    api: Api, client: TestClient, tenant: Tenant
) -> None:
    protect(api, ["MALICIOUS"])
    blocked = api.create(
        "block_senders", {"pattern": "sender.example", "pattern_type": "DOMAIN", "is_regex": False}
    )
    [only] = verdict(client, tenant, message())
    assert only["recipient"] == "alice@corp.example"
    assert only["disposition"] == "MALICIOUS"
    assert only["action"] == "drop"
    assert only["unprotected"] is False
    assert blocked["id"] in {r["id"] for r in only["reasons"]}
    assert only["explanation"]


def test_verdict_follows_settings_changes(api: Api, client: TestClient, tenant: Tenant) -> None:
    protect(api, ["MALICIOUS"])
    [before] = verdict(client, tenant, message())
    assert before["action"] == "deliver"
    assert before["disposition"] == "NONE"
    blocked = api.create(
        "block_senders", {"pattern": "sender.example", "pattern_type": "DOMAIN", "is_regex": False}
    )
    [during] = verdict(client, tenant, message())
    assert during["action"] == "drop"
    assert api.delete("block_senders", blocked["id"]).status_code == 200
    [after] = verdict(client, tenant, message())
    assert after["action"] == "deliver"


def test_tls_restriction_drops_plaintext(api: Api, client: TestClient, tenant: Tenant) -> None:
    api.create("sending_domain_restrictions", {"domain": "sender.example", "exclude": []})
    first, second = verdict(
        client, tenant, message(tls=None, recipients=["alice@corp.example", "bob@else.example"])
    )
    assert first["action"] == second["action"] == "drop"
    assert second["unprotected"] is True
    [with_tls] = verdict(client, tenant, message())
    assert with_tls["action"] == "deliver"


def test_trusted_sender_needs_authentication_when_verify_sender(
    api: Api, client: TestClient, tenant: Tenant
) -> None:
    protect(api, ["SPAM"])
    api.create(
        "allow_policies",
        {
            "pattern": "sender.example",
            "pattern_type": "DOMAIN",
            "is_regex": False,
            "is_trusted_sender": True,
            "is_acceptable_sender": False,
            "is_exempt_recipient": False,
            "verify_sender": True,
        },
    )
    spam = [{"kind": "content", "disposition": "SPAM"}]
    [unverified] = verdict(client, tenant, message(findings=spam))
    assert unverified["disposition"] == "SPAM"
    assert unverified["action"] == "drop"
    assert any(not r["honoured"] for r in unverified["reasons"])
    [verified] = verdict(client, tenant, message(findings=spam, auth={"dmarc": "pass"}))
    assert verified["disposition"] == "NONE"
    assert verified["action"] == "deliver"


def test_other_accounts_settings_never_apply(
    api: Api, client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    api.create(
        "block_senders", {"pattern": "sender.example", "pattern_type": "DOMAIN", "is_regex": False}
    )
    [other] = verdict(client, other_tenant, message())
    assert other["disposition"] == "NONE"
    assert other["reasons"] == []


@pytest.mark.parametrize(
    ("overrides", "pointer"),
    [
        pytest.param({"recipients": []}, "/recipients", id="no-recipients"),
        pytest.param({"recipients": ["not-an-address"]}, "/recipients/0", id="bad-recipient"),
        pytest.param({"client_ip": "300.1.1.1"}, "/client_ip", id="bad-ip"),
        pytest.param({"header_from": "nobody"}, "/header_from", id="from-without-address"),
        pytest.param({"auth": {"spf": "maybe"}}, "/auth/spf", id="bad-spf"),
        pytest.param(
            {"findings": [{"kind": "content", "disposition": "EVIL"}]},
            "/findings/0/disposition",
            id="bad-finding",
        ),
        pytest.param({"tls": {"protocol": "TLSv1.3"}}, "/tls/cipher", id="tls-without-cipher"),
    ],
)
def test_bad_messages_get_pointed_400s(
    client: TestClient, tenant: Tenant, overrides: dict[str, Any], pointer: str
) -> None:
    response = client.post(evaluate_url(tenant), json=message(**overrides), headers=tenant.read)
    assert_error(response, 400, pointer=pointer)


def test_bounce_with_empty_envelope_sender_is_accepted(client: TestClient, tenant: Tenant) -> None:
    [only] = verdict(client, tenant, message(envelope_from=""))
    assert only["action"] == "deliver"


def test_evaluate_needs_credentials(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    assert_error(client.post(evaluate_url(tenant), json=message()), 401)
    assert_error(client.post(evaluate_url(tenant), json=message(), headers=other_tenant.read), 403)
