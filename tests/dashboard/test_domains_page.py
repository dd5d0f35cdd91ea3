"""A protected domain's page: the TXT record to publish (the API's verification endpoint), its
status asked again while PENDING, and what its DNS checks found of SPF and DMARC, against a
real DNS server."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailpolicy.access.credentials import ApiToken, digest
from mailpolicy.config import Settings
from mailpolicy.dns.verifier import check
from tests.support.api import Api, Tenant, protect
from tests.support.authority import Zones, authority, silent_resolver
from tests.support.dashboard import login


def _text(fragment: str) -> str:
    """A page part's text as read: tags gone, spaces collapsed, none before punctuation."""
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()
    return re.sub(r" ([:,.;])", r"\1", text)


def _part(page: str, heading_id: str) -> str:
    found = re.search(
        rf'<section class="card" aria-labelledby="{heading_id}">(.*?)</section>', page, re.S
    )
    assert found, heading_id
    return found.group(1)


@pytest.fixture(scope="module")
def dns() -> Iterator[tuple[Zones, int]]:
    with authority() as served:
        yield served


@pytest.fixture
def zones(dns: tuple[Zones, int]) -> Iterator[Zones]:
    dns[0].clear()
    yield dns[0]
    dns[0].clear()


@pytest.fixture
def api(client: TestClient, tenant: Tenant) -> Api:
    return Api(client, tenant)


def _dns_settings(app: FastAPI, port: int, timeout: float = 1.0) -> Settings:
    settings: Settings = app.state.settings
    return settings.model_copy(
        update={"dns_resolvers": f"127.0.0.1:{port}", "dns_timeout": timeout}
    )


def _verification(api: Api, domain_id: str) -> dict[str, Any]:
    answer = api.get("domains", domain_id, "verification")
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["result"]
    return result


@pytest.mark.parametrize("token", ["write", "read"])
def test_a_pending_domain_shows_the_record_to_publish(
    client: TestClient, app: FastAPI, tenant: Tenant, api: Api, token: str
) -> None:
    created = protect(
        api.create, app.state.db, f"new-{token}-{tenant.id[:8]}.example", active=False
    )
    record = _verification(api, created["id"])
    login(client, tenant.write_token if token == "write" else tenant.read_token)
    page = client.get(f"/dashboard/domains/{created['id']}")
    assert page.status_code == 200
    ownership = _part(page.text, "ownership-heading")
    assert "Status: PENDING" in ownership
    assert f"<code>{record['txt_record_name']}</code>" in ownership
    assert f"<code>{record['txt_record_value']}</code>" in ownership
    line = f'{record["txt_record_name"]}. 300 IN TXT "{record["txt_record_value"]}"'
    assert line in html.unescape(ownership)
    assert "Awaiting the DNS TXT record" in ownership
    # Asked again by itself while pending.
    assert (
        f'hx-get="/dashboard/domains/{created["id"]}/verification" hx-trigger="every 15s"'
        in ownership
    )
    dns_part = _text(_part(page.text, "dns-heading"))
    assert "SPF Not read yet." in dns_part
    assert "DMARC Not read yet." in dns_part
    assert " style=" not in page.text


def test_spf_and_dmarc_findings_then_verified(
    client: TestClient, app: FastAPI, tenant: Tenant, api: Api, zones: Zones, dns: tuple[Zones, int]
) -> None:
    name = f"dns-{tenant.id[:8]}.example"
    created = protect(api.create, app.state.db, name, active=False)
    zones.publish(f'{name}. 60 IN TXT "v=spf1 ip4:192.0.2.1 -all"')
    zones.publish(f'_dmarc.{name}. 60 IN TXT "v=DMARC1; p=none; rua=mailto:d@{name}"')
    settings = _dns_settings(app, dns[1])
    check(app.state.db, settings, created["id"])
    login(client, tenant.read_token)

    page = client.get(f"/dashboard/domains/{created['id']}").text
    found = _text(_part(page, "dns-heading"))
    assert "SPF good: The SPF record ends in -all or ~all" in found
    assert "What was seen: 'v=spf1 ip4:192.0.2.1 -all' ends in -all" in found
    assert "DMARC none: No DMARC record, or p=none" in found
    assert "p=none asks receivers to take no action" in found
    assert "Not yet" not in found
    assert "Status: PENDING" in page

    record = _verification(api, created["id"])
    zones.publish(f'{record["txt_record_name"]}. 60 IN TXT "{record["txt_record_value"]}"')
    check(app.state.db, settings, created["id"])
    # The polled part now says so, and asks no more.
    part = client.get(
        f"/dashboard/domains/{created['id']}/verification", headers={"hx-request": "true"}
    )
    assert part.status_code == 200
    assert part.text.lstrip().startswith('<div id="domain-status">')
    assert "<html" not in part.text
    assert "Status: ACTIVE" in part.text
    assert "Verified: mailpolicy decides the mail for this domain." in part.text
    assert "hx-trigger" not in part.text
    whole = client.get(f"/dashboard/domains/{created['id']}").text
    assert "hx-trigger" not in _part(whole, "ownership-heading")
    assert "Publish this TXT record" not in whole


def test_a_dns_that_does_not_answer_is_said(
    client: TestClient, app: FastAPI, tenant: Tenant, api: Api
) -> None:
    created = protect(api.create, app.state.db, f"quiet-{tenant.id[:8]}.example", active=False)
    with silent_resolver() as port:
        check(app.state.db, _dns_settings(app, port, timeout=0.3), created["id"])
    login(client, tenant.read_token)
    page = client.get(f"/dashboard/domains/{created['id']}").text
    warning = re.search(r'<p class="warn" role="status">(.*?)</p>', page, re.S)
    assert warning
    assert warning.group(1).startswith("DNS could not be asked at the last check:")
    assert "Next check" in _part(page, "dns-heading")


def test_a_domain_the_operator_activated_needs_no_record(
    client: TestClient, app: FastAPI, tenant: Tenant, api: Api
) -> None:
    created = protect(api.create, app.state.db, f"byhand-{tenant.id[:8]}.example")
    assert api.get("domains", created["id"], "verification").status_code == 204
    login(client, tenant.write_token)
    whole = client.get(f"/dashboard/domains/{created['id']}").text
    # The entry's facts: an object's fields with their values, names as people write them.
    facts = re.search(r'<dl class="facts card">(.*?)</dl>', whole, re.S)
    assert facts
    shown = _text(facts.group(1))
    assert "Authorization Authorized: Yes Status message:" in shown
    assert "SPF status" in shown
    assert "DMARC status" in shown
    assert "O365 tenant ID" in shown
    ownership = _part(whole, "ownership-heading")
    assert "Status: ACTIVE" in ownership
    assert "Verified by the operator" in ownership
    assert "TXT record name" not in ownership
    assert "hx-trigger" not in ownership


def test_the_status_part_alone_and_another_accounts_domain(
    client: TestClient, app: FastAPI, tenant: Tenant, other_tenant: Tenant, api: Api
) -> None:
    mine = protect(api.create, app.state.db, f"mine-{tenant.id[:8]}.example", active=False)
    theirs = protect(
        Api(client, other_tenant).create,
        app.state.db,
        f"theirs-{other_tenant.id[:8]}.example",
        active=False,
    )
    login(client, tenant.write_token)
    # Opened whole, the status part sends the browser to the domain's page.
    opened = client.get(f"/dashboard/domains/{mine['id']}/verification", follow_redirects=False)
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/dashboard/domains/{mine['id']}"
    for path in (
        f"/dashboard/domains/{theirs['id']}",
        f"/dashboard/domains/{theirs['id']}/verification",
    ):
        answer = client.get(path, headers={"hx-request": "true"})
        assert answer.status_code == 404
        assert theirs["domain"] not in answer.text


def test_a_visitor_without_a_session_is_sent_to_the_login(
    client: TestClient, app: FastAPI, api: Api, tenant: Tenant
) -> None:
    created = protect(api.create, app.state.db, f"anon-{tenant.id[:8]}.example", active=False)
    for path in (
        f"/dashboard/domains/{created['id']}",
        f"/dashboard/domains/{created['id']}/verification",
    ):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/dashboard"


def test_check_dns_now(
    client: TestClient,
    app: FastAPI,
    tenant: Tenant,
    other_tenant: Tenant,
    api: Api,
    zones: Zones,
    dns: tuple[Zones, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ "Check DNS now" does what `mailpolicy domains verify` does, for a Write session, on a
    domain of its own account; the status it changes is the token's in the history."""
    monkeypatch.setattr(app.state, "settings", _dns_settings(app, dns[1]))
    name = f"now-{tenant.id[:8]}.example"
    created = protect(api.create, app.state.db, name, active=False)
    theirs = protect(
        Api(client, other_tenant).create,
        app.state.db,
        f"notmine-{other_tenant.id[:8]}.example",
        active=False,
    )
    record = _verification(api, created["id"])
    zones.publish(f'{record["txt_record_name"]}. 60 IN TXT "{record["txt_record_value"]}"')
    zones.publish(f'{name}. 60 IN TXT "v=spf1 -all"')
    path = f"/dashboard/domains/{created['id']}"

    # A Read session sees the button disabled, and says why; a forced post changes nothing.
    csrf = login(client, tenant.read_token)
    button = re.search(r'<button type="submit" id="check-dns"[^>]*>', client.get(path).text)
    assert button
    assert "disabled" in button.group(0)
    refused = client.post(path + "/check", data={"csrf_token": csrf})
    assert refused.status_code == 403
    assert "can only read" in refused.text
    assert "Status: PENDING" in client.get(path).text

    writer = TestClient(app, base_url="http://127.0.0.1")
    csrf = login(writer, tenant.write_token)
    assert writer.post(path + "/check", data={}).status_code == 403  # no CSRF token
    # Another account's domain is not found, and not checked.
    other = writer.post(f"/dashboard/domains/{theirs['id']}/check", data={"csrf_token": csrf})
    assert other.status_code == 404
    assert theirs["domain"] not in other.text

    answer = writer.post(path + "/check", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == path + "?checked=1"
    page = writer.get(answer.headers["location"]).text
    assert "DNS was asked just now" in page
    assert "Status: ACTIVE" in _part(page, "ownership-heading")
    assert "SPF good" in _text(_part(page, "dns-heading"))
    assert api.get("domains", created["id"]).json()["result"]["status"] == "ACTIVE"
    with app.state.db.transaction(write=False) as session:
        token_id = session.scalar(
            select(ApiToken.id).where(ApiToken.secret_hash == digest(tenant.write_token))
        )
    history = client.get(
        f"/client/v4/accounts/{tenant.id}/email-security/audit",
        params={"entry_id": created["id"], "action": "verify"},
        headers=tenant.read,
    ).json()["result"]
    assert [event["actor"] for event in history] == [f"token:{token_id}"]
    assert Api(client, other_tenant).get("domains", theirs["id"]).json()["result"]["status"] == (
        "PENDING"
    )
    writer.close()
