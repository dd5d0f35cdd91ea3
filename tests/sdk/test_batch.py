"""`batch(deletes=, patches=, puts=, posts=)` through the SDK for the four resources it offers it
on: one request, applied in order, typed results, and all or nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cloudflare import AsyncCloudflare, BadRequestError, Cloudflare, NotFoundError
from cloudflare.types.email_security import settings as types

from tests.support.api import Tenant
from tests.support.sdk import (
    ALLOW_POLICY,
    BLOCK_SENDER,
    CONTENT_POLICY,
    DOMAIN,
    TRUSTED_DOMAIN,
    changed,
)


@dataclass(frozen=True)
class BatchCase:
    attr: str
    response: type[Any]
    create: Callable[[int], dict[str, Any]]
    patch: dict[str, Any]
    put: dict[str, Any]
    bad_post: dict[str, Any]
    bad_field: str


BATCH_CASES = [
    pytest.param(
        BatchCase(
            "allow_policies",
            types.AllowPolicyBatchResponse,
            lambda n: changed(ALLOW_POLICY, pattern=f"user{n}@example.com"),
            {"comments": "patched", "verify_sender": False},
            changed(ALLOW_POLICY, pattern="replaced@example.com", comments=None),
            changed(ALLOW_POLICY, pattern="not an email"),
            "pattern",
        ),
        id="allow_policies",
    ),
    pytest.param(
        BatchCase(
            "block_senders",
            types.BlockSenderBatchResponse,
            lambda n: changed(BLOCK_SENDER, pattern=f"spam{n}.example.net"),
            {"comments": "patched"},
            {"pattern": "203.0.113.7", "pattern_type": "IP", "is_regex": False},
            changed(BLOCK_SENDER, pattern="not a domain"),
            "pattern",
        ),
        id="block_senders",
    ),
    pytest.param(
        BatchCase(
            "domains",
            types.DomainBatchResponse,
            lambda n: changed(DOMAIN, domain=f"d{n}.example.com"),
            {"lookback_hops": 5},
            {
                "allowed_delivery_modes": ["BCC"],
                "drop_dispositions": [],
                "ip_restrictions": ["192.0.2.0/24"],
                "regions": ["US"],
                "lookback_hops": 2,
            },
            changed(DOMAIN, domain="not a domain"),
            "domain",
        ),
        id="domains",
    ),
    pytest.param(
        BatchCase(
            "trusted_domains",
            types.TrustedDomainBatchResponse,
            lambda n: changed(TRUSTED_DOMAIN, pattern=f"partner{n}.example.com"),
            {"comments": "patched", "is_recent": False},
            {
                "pattern": "replaced.example.com",
                "is_recent": False,
                "is_regex": False,
                "is_similarity": True,
            },
            changed(TRUSTED_DOMAIN, pattern="not a domain"),
            "pattern",
        ),
        id="trusted_domains",
    ),
    pytest.param(
        BatchCase(
            "content_policies",
            types.ContentPolicyBatchResponse,
            lambda n: changed(CONTENT_POLICY, pattern=f"gift card {n}"),
            {"enabled": False},
            {"name": "Replaced", "pattern": "wire transfer", "targets": ["BODY"], "enabled": True},
            changed(CONTENT_POLICY, pattern="(unclosed"),
            "pattern",
        ),
        id="content_policies",
    ),
]


def _fields(entry: Any, expected: dict[str, Any]) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in expected}


@pytest.mark.parametrize("case", BATCH_CASES)
def test_batch_applies_all_four_arrays(sdk: Cloudflare, tenant: Tenant, case: BatchCase) -> None:
    resource = getattr(sdk.email_security.settings, case.attr)
    gone, patched, replaced = (
        resource.create(account_id=tenant.id, **case.create(n)).id for n in range(3)
    )
    post = case.create(99)

    result = resource.batch(
        account_id=tenant.id,
        deletes=[{"id": gone}],
        patches=[{"id": patched, **case.patch}],
        puts=[{"id": replaced, **case.put}],
        posts=[post],
    )

    assert isinstance(result, case.response)
    assert [d.id for d in result.deletes] == [gone]
    assert [p.id for p in result.patches] == [patched]
    assert _fields(result.patches[0], case.patch) == case.patch
    assert [p.id for p in result.puts] == [replaced]
    assert _fields(result.puts[0], case.put) == case.put
    assert len(result.posts) == 1
    assert isinstance(result.posts[0].id, str)
    assert _fields(result.posts[0], post) == post
    assert result.posts[0].id not in {gone, patched, replaced}

    remaining = {e.id for e in resource.list(account_id=tenant.id).result}
    assert remaining == {patched, replaced, result.posts[0].id}
    with pytest.raises(NotFoundError):
        resource.get(gone, account_id=tenant.id)
    assert _fields(resource.get(replaced, account_id=tenant.id), case.put) == case.put


@pytest.mark.parametrize("case", BATCH_CASES)
def test_batch_is_all_or_nothing(sdk: Cloudflare, tenant: Tenant, case: BatchCase) -> None:
    resource = getattr(sdk.email_security.settings, case.attr)
    first = resource.create(account_id=tenant.id, **case.create(0))
    second = resource.create(account_id=tenant.id, **case.create(1))

    with pytest.raises(BadRequestError) as caught:
        resource.batch(
            account_id=tenant.id,
            deletes=[{"id": first.id}],
            patches=[{"id": second.id, **case.patch}],
            puts=[],
            posts=[case.create(2), case.bad_post],
        )

    error = caught.value
    assert error.status_code == 400
    body: Any = error.body
    assert body["success"] is False
    assert body["errors"][0]["source"]["pointer"] == f"/posts/1/{case.bad_field}"
    # Nothing of the batch was applied: the delete, the patch and the first post are undone.
    listed = resource.list(account_id=tenant.id).result
    assert {e.id for e in listed} == {first.id, second.id}
    assert resource.get(second.id, account_id=tenant.id).to_dict() == second.to_dict()


@pytest.mark.parametrize("case", BATCH_CASES)
def test_batch_with_an_unknown_id_is_404(sdk: Cloudflare, tenant: Tenant, case: BatchCase) -> None:
    resource = getattr(sdk.email_security.settings, case.attr)
    kept = resource.create(account_id=tenant.id, **case.create(0))
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(NotFoundError) as caught:
        resource.batch(
            account_id=tenant.id,
            deletes=[{"id": kept.id}, {"id": missing}],
            patches=[],
            puts=[],
            posts=[],
        )
    body: Any = caught.value.body
    assert body["errors"][0]["source"]["pointer"] == "/deletes/1/id"
    assert resource.get(kept.id, account_id=tenant.id).id == kept.id


def test_async_batch(
    sdk: Cloudflare, make_async_sdk: Callable[..., AsyncCloudflare], tenant: Tenant
) -> None:
    existing = sdk.email_security.settings.block_senders.create(
        account_id=tenant.id, **BLOCK_SENDER
    )

    async def scenario() -> types.BlockSenderBatchResponse | None:
        async with make_async_sdk(api_token=tenant.write_token) as client:
            return await client.email_security.settings.block_senders.batch(
                account_id=tenant.id,
                deletes=[{"id": existing.id}],
                patches=[],
                puts=[],
                posts=[changed(BLOCK_SENDER, pattern="other.example.net")],
            )

    result = asyncio.run(scenario())
    assert isinstance(result, types.BlockSenderBatchResponse)
    assert [d.id for d in result.deletes or []] == [existing.id]
    assert [p.pattern for p in result.posts or []] == ["other.example.net"]
    assert result.patches == []
    assert result.puts == []
