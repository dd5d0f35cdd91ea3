"""Allow policies through the SDK: the deprecated alias flags, and the list filters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from cloudflare import AsyncCloudflare, BadRequestError, Cloudflare

from tests.support.api import Tenant
from tests.support.sdk import ALLOW_POLICY, changed

CURRENT_TO_ALIAS = {
    "is_trusted_sender": "is_sender",
    "is_acceptable_sender": "is_spoof",
    "is_exempt_recipient": "is_recipient",
}


def assert_aliases_mirror(policy: Any) -> None:
    for current, alias in CURRENT_TO_ALIAS.items():
        assert getattr(policy, alias) is getattr(policy, current), alias
        assert isinstance(getattr(policy, alias), bool)


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param(
            {
                "is_trusted_sender": True,
                "is_acceptable_sender": False,
                "is_exempt_recipient": False,
            },
            id="trusted",
        ),
        pytest.param(
            {
                "is_trusted_sender": False,
                "is_acceptable_sender": True,
                "is_exempt_recipient": False,
            },
            id="acceptable",
        ),
        pytest.param(
            {
                "is_trusted_sender": False,
                "is_acceptable_sender": False,
                "is_exempt_recipient": True,
            },
            id="exempt",
        ),
    ],
)
def test_deprecated_aliases_come_back(
    sdk: Cloudflare, tenant: Tenant, flags: dict[str, bool]
) -> None:
    policies = sdk.email_security.settings.allow_policies
    created = policies.create(account_id=tenant.id, **changed(ALLOW_POLICY, **flags))
    assert created is not None
    for name, value in flags.items():
        assert getattr(created, name) is value
    assert_aliases_mirror(created)
    assert_aliases_mirror(policies.get(created.id, account_id=tenant.id))
    assert_aliases_mirror(policies.list(account_id=tenant.id).result[0])


def test_editing_through_an_alias_sets_the_current_flag(sdk: Cloudflare, tenant: Tenant) -> None:
    policies = sdk.email_security.settings.allow_policies
    created = policies.create(
        account_id=tenant.id, **changed(ALLOW_POLICY, is_trusted_sender=False)
    )
    assert created is not None
    assert created.is_trusted_sender is False
    edited = policies.edit(created.id, account_id=tenant.id, is_sender=True, is_spoof=True)
    assert edited is not None
    assert (edited.is_trusted_sender, edited.is_sender) == (True, True)
    assert (edited.is_acceptable_sender, edited.is_spoof) == (True, True)
    assert (edited.is_exempt_recipient, edited.is_recipient) == (False, False)


def test_an_alias_that_contradicts_its_current_flag_is_refused(
    sdk: Cloudflare, tenant: Tenant
) -> None:
    policies = sdk.email_security.settings.allow_policies
    with pytest.raises(BadRequestError) as caught:
        policies.create(
            account_id=tenant.id, **changed(ALLOW_POLICY, is_trusted_sender=True), is_sender=False
        )
    body: Any = caught.value.body
    assert body["errors"][0]["source"]["pointer"] == "/is_sender"
    assert policies.list(account_id=tenant.id).result == []


def test_list_filters(sdk: Cloudflare, tenant: Tenant) -> None:
    policies = sdk.email_security.settings.allow_policies
    trusted = policies.create(account_id=tenant.id, **ALLOW_POLICY)
    exempt = policies.create(
        account_id=tenant.id,
        **changed(
            ALLOW_POLICY,
            pattern="inbox@example.com",
            is_trusted_sender=False,
            is_exempt_recipient=True,
            verify_sender=False,
        ),
    )
    network = policies.create(
        account_id=tenant.id,
        **changed(
            ALLOW_POLICY,
            pattern="203.0.113.0/24",
            pattern_type="IP",
            is_trusted_sender=False,
            is_acceptable_sender=True,
            comments="relay network",
        ),
    )
    assert trusted is not None
    assert exempt is not None
    assert network is not None

    def ids(**filters: Any) -> set[str]:
        return {p.id for p in policies.list(account_id=tenant.id, **filters)}

    assert ids(is_trusted_sender=True) == {trusted.id}
    assert ids(is_exempt_recipient=True) == {exempt.id}
    assert ids(is_acceptable_sender=True) == {network.id}
    assert ids(verify_sender=False) == {exempt.id}
    assert ids(pattern_type="IP") == {network.id}
    assert ids(pattern_type="EMAIL") == {trusted.id, exempt.id}
    assert ids(pattern="inbox@example.com") == {exempt.id}
    assert ids(search="relay") == {network.id}
    ordered = [p.pattern for p in policies.list(account_id=tenant.id, order="pattern")]
    assert ordered == sorted(ordered)
    assert len(ordered) == 3


def test_async_aliases(make_async_sdk: Callable[..., AsyncCloudflare], tenant: Tenant) -> None:
    async def scenario() -> Any:
        async with make_async_sdk(api_token=tenant.write_token) as client:
            policies = client.email_security.settings.allow_policies
            created = await policies.create(account_id=tenant.id, **ALLOW_POLICY)
            assert created is not None
            return await policies.edit(created.id, account_id=tenant.id, is_recipient=True)

    edited = asyncio.run(scenario())
    assert (edited.is_exempt_recipient, edited.is_recipient) == (True, True)
    assert_aliases_mirror(edited)
