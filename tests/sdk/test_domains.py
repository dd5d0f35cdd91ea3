"""Domains through the SDK: create, update (PUT), edit (PATCH), filtered lists, the deprecated
bulk delete, and the verification endpoint the SDK has no method for (raw HTTP)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cloudflare import AsyncCloudflare, BadRequestError, Cloudflare, NotFoundError
from cloudflare.types.email_security import settings as types

from mailpolicy.audit.events import CLI
from mailpolicy.resources.domains import activate
from tests.support.api import LiveServer, Tenant
from tests.support.sdk import DOMAIN, changed


def create(sdk: Cloudflare, tenant: Tenant, name: str, **changes: Any) -> Any:
    return sdk.email_security.settings.domains.create(
        account_id=tenant.id, **changed(DOMAIN, domain=name, **changes)
    )


def activate_domain(live_server: LiveServer, domain_id: str) -> None:
    with live_server.app.state.db.transaction() as session:
        activate(session, domain_id, CLI)


def verification(live_server: LiveServer, tenant: Tenant, domain_id: str) -> httpx.Response:
    settings = f"{live_server.base_url}/accounts/{tenant.id}/email-security/settings"
    return httpx.get(f"{settings}/domains/{domain_id}/verification", headers=tenant.read)


def test_create_returns_a_pending_domain(sdk: Cloudflare, tenant: Tenant) -> None:
    created = create(
        sdk,
        tenant,
        "Mail.Example.COM",
        transport="mx.example.com",
        require_tls_inbound=True,
        folder="Inbox",
        lookback_hops=4,
    )
    assert isinstance(created, types.DomainCreateResponse)
    assert created.domain == "mail.example.com"
    assert created.status == "PENDING"
    assert created.allowed_delivery_modes == ["DIRECT"]
    assert created.drop_dispositions == ["MALICIOUS"]
    assert created.regions == ["GLOBAL"]
    assert (created.transport, created.require_tls_inbound, created.folder) == (
        "mx.example.com",
        True,
        "Inbox",
    )
    assert created.lookback_hops == 4
    assert created.authorization is not None
    assert created.authorization.authorized is False
    assert isinstance(created.authorization.timestamp, dt.datetime)
    assert created.emails_processed is not None
    assert created.emails_processed.total_emails_processed == 0


def test_update_replaces_every_mutable_field(sdk: Cloudflare, tenant: Tenant) -> None:
    created = create(sdk, tenant, "mail.example.com", transport="mx.example.com", lookback_hops=7)
    replaced = sdk.email_security.settings.domains.update(
        created.id,
        account_id=tenant.id,
        allowed_delivery_modes=["BCC", "JOURNAL"],
        drop_dispositions=["SPAM"],
        ip_restrictions=["192.0.2.0/24"],
        regions=["US", "DE"],
        lookback_hops=2,
    )
    assert isinstance(replaced, types.DomainUpdateResponse)
    assert replaced.id == created.id
    assert replaced.domain == "mail.example.com"
    assert replaced.allowed_delivery_modes == ["BCC", "JOURNAL"]
    assert replaced.drop_dispositions == ["SPAM"]
    assert replaced.ip_restrictions == ["192.0.2.0/24"]
    assert replaced.regions == ["US", "DE"]
    assert replaced.lookback_hops == 2
    # Left out of a full replacement, optional fields go back to their defaults.
    assert replaced.transport == ""
    assert replaced.require_tls_inbound is None
    fetched = sdk.email_security.settings.domains.get(created.id, account_id=tenant.id)
    assert fetched.to_dict() == replaced.to_dict()


def test_update_without_lookback_hops_sets_the_default(sdk: Cloudflare, tenant: Tenant) -> None:
    created = create(sdk, tenant, "mail.example.com", lookback_hops=5)
    replaced = sdk.email_security.settings.domains.update(
        created.id,
        account_id=tenant.id,
        allowed_delivery_modes=["BCC"],
        drop_dispositions=[],
        ip_restrictions=[],
        regions=["US"],
    )
    assert replaced.lookback_hops == 1


def test_the_domain_name_cannot_change(sdk: Cloudflare, tenant: Tenant) -> None:
    created = create(sdk, tenant, "mail.example.com")
    with pytest.raises(BadRequestError) as caught:
        sdk.email_security.settings.domains.edit(
            created.id, account_id=tenant.id, extra_body={"domain": "other.example.com"}
        )
    body: Any = caught.value.body
    assert body["errors"][0]["source"]["pointer"] == "/domain"
    assert sdk.email_security.settings.domains.get(created.id, account_id=tenant.id).domain == (
        "mail.example.com"
    )


def test_edit_changes_only_what_is_sent(sdk: Cloudflare, tenant: Tenant) -> None:
    created = create(sdk, tenant, "mail.example.com", transport="mx.example.com")
    edited = sdk.email_security.settings.domains.edit(
        created.id, account_id=tenant.id, regions=["AU"], require_tls_outbound=True
    )
    assert isinstance(edited, types.DomainEditResponse)
    assert edited.regions == ["AU"]
    assert edited.require_tls_outbound is True
    assert edited.transport == "mx.example.com"
    assert edited.allowed_delivery_modes == created.allowed_delivery_modes
    assert edited.modified_at is not None
    assert created.modified_at is not None
    assert edited.modified_at > created.modified_at


def test_create_refuses_unknown_fields(sdk: Cloudflare, tenant: Tenant) -> None:
    """CreateDomain is additionalProperties: false."""
    with pytest.raises(BadRequestError) as caught:
        sdk.email_security.settings.domains.create(
            account_id=tenant.id, **DOMAIN, extra_body={"colour": "blue"}
        )
    body: Any = caught.value.body
    assert body["errors"][0]["source"]["pointer"] == "/colour"


def test_list_filters_by_status_and_domain(
    sdk: Cloudflare, live_server: LiveServer, tenant: Tenant
) -> None:
    one = create(sdk, tenant, "one.example.com")
    two = create(sdk, tenant, "two.example.com", allowed_delivery_modes=["BCC", "DIRECT"])
    three = create(sdk, tenant, "three.example.com")
    activate_domain(live_server, two.id)
    domains = sdk.email_security.settings.domains

    def ids(**filters: Any) -> set[str]:
        return {d.id for d in domains.list(account_id=tenant.id, **filters)}

    # The SDK types status in capitals; the server answers either.
    assert ids(status="PENDING") == {one.id, three.id}
    assert ids(status="ACTIVE") == {two.id}
    assert ids(domain=["one.example.com", "THREE.example.com"]) == {one.id, three.id}
    assert ids(domain=["two.example.com"], status="PENDING") == set()
    assert ids(allowed_delivery_mode="BCC") == {two.id}
    assert ids(active_delivery_mode="DIRECT") == {one.id, three.id}
    assert ids(search="thr") == {three.id}
    ordered = [d.domain for d in domains.list(account_id=tenant.id, order="domain")]
    assert ordered == ["one.example.com", "three.example.com", "two.example.com"]
    assert domains.get(two.id, account_id=tenant.id).status == "ACTIVE"


def test_verification_until_activated(
    sdk: Cloudflare, live_server: LiveServer, tenant: Tenant
) -> None:
    created = create(sdk, tenant, "mail.example.com")
    pending = verification(live_server, tenant, created.id)
    assert pending.status_code == 200
    result = pending.json()["result"]
    assert result["status"] == "PENDING"
    assert result["txt_record_name"] == "_cf-email-sec-challenge.mail.example.com"
    assert result["txt_record_value"]
    assert result["last_checked_at"] is None

    activate_domain(live_server, created.id)
    verified = verification(live_server, tenant, created.id)
    assert verified.status_code == 204
    assert verified.content == b""
    fetched = sdk.email_security.settings.domains.get(created.id, account_id=tenant.id)
    assert fetched.authorization is not None
    assert fetched.authorization.authorized is True


def test_verification_of_an_unknown_domain_is_404(live_server: LiveServer, tenant: Tenant) -> None:
    response = verification(live_server, tenant, "00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert response.json()["success"] is False


def test_bulk_delete_sends_its_array_through_extra_body(sdk: Cloudflare, tenant: Tenant) -> None:
    one = create(sdk, tenant, "one.example.com")
    two = create(sdk, tenant, "two.example.com")
    kept = create(sdk, tenant, "kept.example.com")
    with pytest.deprecated_call():
        page = sdk.email_security.settings.domains.bulk_delete(
            account_id=tenant.id, extra_body=[{"id": one.id}, {"id": two.id}]
        )
    assert all(isinstance(d, types.DomainBulkDeleteResponse) for d in page.result)
    assert [d.id for d in page] == [one.id, two.id]
    remaining = [d.id for d in sdk.email_security.settings.domains.list(account_id=tenant.id)]
    assert remaining == [kept.id]


def test_bulk_delete_without_a_body_is_a_clear_400(sdk: Cloudflare, tenant: Tenant) -> None:
    """The SDK's bulk_delete sends no body unless given extra_body; that is the caller's mistake."""
    kept = create(sdk, tenant, "kept.example.com")
    with pytest.deprecated_call(), pytest.raises(BadRequestError) as caught:
        sdk.email_security.settings.domains.bulk_delete(account_id=tenant.id)
    assert caught.value.status_code == 400
    body: Any = caught.value.body
    assert "body" in body["errors"][0]["message"].lower()
    assert sdk.email_security.settings.domains.get(kept.id, account_id=tenant.id).id == kept.id


def test_bulk_delete_with_an_unknown_id_deletes_nothing(sdk: Cloudflare, tenant: Tenant) -> None:
    kept = create(sdk, tenant, "kept.example.com")
    with pytest.deprecated_call(), pytest.raises(NotFoundError) as caught:
        sdk.email_security.settings.domains.bulk_delete(
            account_id=tenant.id,
            extra_body=[{"id": kept.id}, {"id": "00000000-0000-4000-8000-000000000000"}],
        )
    body: Any = caught.value.body
    assert body["errors"][0]["source"]["pointer"] == "/1/id"
    assert sdk.email_security.settings.domains.get(kept.id, account_id=tenant.id).id == kept.id


def test_async_domains(
    sdk: Cloudflare, make_async_sdk: Callable[..., AsyncCloudflare], tenant: Tenant
) -> None:
    doomed = create(sdk, tenant, "doomed.example.com")

    async def scenario() -> tuple[Any, Any, list[str], list[str]]:
        async with make_async_sdk(api_token=tenant.write_token) as client:
            domains = client.email_security.settings.domains
            created = await domains.create(account_id=tenant.id, **DOMAIN)
            assert created is not None
            replaced = await domains.update(
                created.id,
                account_id=tenant.id,
                allowed_delivery_modes=["API"],
                drop_dispositions=[],
                ip_restrictions=[],
                regions=["IN"],
                lookback_hops=3,
            )
            pending = [d.id async for d in domains.list(account_id=tenant.id, status="PENDING")]
            with pytest.deprecated_call():
                deleted = await domains.bulk_delete(
                    account_id=tenant.id, extra_body=[{"id": doomed.id}]
                )
            return created, replaced, pending, [d.id for d in deleted.result]

    created, replaced, pending, deleted = asyncio.run(scenario())
    assert isinstance(replaced, types.DomainUpdateResponse)
    assert (replaced.regions, replaced.lookback_hops) == (["IN"], 3)
    assert set(pending) == {created.id, doomed.id}
    assert deleted == [doomed.id]
