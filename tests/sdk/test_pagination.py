"""The SDK's auto-pagination (no `page` on the first request, then 2, 3, ... until an empty page)
walks every resource's list exactly once, sync and async; result_info says where it is."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cloudflare import AsyncCloudflare, Cloudflare

from tests.support.api import LiveServer, Tenant
from tests.support.sdk import CASE_PARAMS, CASES, RequestLog, ResourceCase

TOTAL = 45
PER_PAGE = 20


def fill(client: Cloudflare, account: str, case: ResourceCase, count: int = TOTAL) -> set[str]:
    resource = getattr(client.email_security.settings, case.attr)
    return {resource.create(account_id=account, **case.nth(n)).id for n in range(count)}


def logged_client(live_server: LiveServer, tenant: Tenant, log: RequestLog) -> Cloudflare:
    http = httpx.Client(event_hooks={"request": [log.record]})
    return Cloudflare(
        base_url=live_server.base_url,
        api_token=tenant.read_token,
        max_retries=0,
        http_client=http,
        _strict_response_validation=True,
    )


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_auto_pagination_visits_every_entry_once(
    sdk: Cloudflare, live_server: LiveServer, tenant: Tenant, case: ResourceCase
) -> None:
    created = fill(sdk, tenant.id, case)
    log = RequestLog()
    with logged_client(live_server, tenant, log) as reader:
        resource = getattr(reader.email_security.settings, case.attr)
        seen = [entry.id for entry in resource.list(account_id=tenant.id, per_page=PER_PAGE)]
    assert len(seen) == TOTAL
    assert set(seen) == created
    # No page on the first request, then 2, 3 and 4 (empty), which ends the walk.
    assert log.pages() == [None, "2", "3", "4"]
    assert {r.url.params.get("per_page") for r in log.requests} == {str(PER_PAGE)}


def test_result_info_describes_each_page(sdk: Cloudflare, tenant: Tenant) -> None:
    case = CASES[0]
    fill(sdk, tenant.id, case)
    policies = sdk.email_security.settings.allow_policies
    expected = {1: PER_PAGE, 2: PER_PAGE, 3: TOTAL - 2 * PER_PAGE, 4: 0}
    for number, count in expected.items():
        page = policies.list(account_id=tenant.id, page=number, per_page=PER_PAGE)
        info: Any = page.result_info
        assert info is not None
        assert (info.page, info.per_page) == (number, PER_PAGE)
        # count and total_count are not in the SDK's model, but they come through on it.
        assert (info.count, info.total_count) == (count, TOTAL)
        assert len(page.result) == count
    first = policies.list(account_id=tenant.id, per_page=PER_PAGE)
    assert first.has_next_page()
    last = policies.list(account_id=tenant.id, page=4, per_page=PER_PAGE)
    assert not last.has_next_page()


def test_pages_in_order_do_not_overlap(sdk: Cloudflare, tenant: Tenant) -> None:
    case = CASES[0]
    fill(sdk, tenant.id, case)
    policies = sdk.email_security.settings.allow_policies
    walked = [
        [entry.pattern for entry in page.result]
        for page in policies.list(
            account_id=tenant.id, per_page=PER_PAGE, order="pattern", direction="desc"
        ).iter_pages()
    ]
    # The SDK stops at the first empty page, which it also yields.
    assert [len(p) for p in walked] == [20, 20, 5, 0]
    flat = [pattern for page in walked for pattern in page]
    assert flat == sorted(flat, reverse=True)
    assert len(set(flat)) == TOTAL


@pytest.mark.parametrize(
    "case", [p for p in CASE_PARAMS if p.id in {"allow_policies", "url_ignore_patterns"}]
)
def test_async_auto_pagination(
    sdk: Cloudflare,
    make_async_sdk: Callable[..., AsyncCloudflare],
    tenant: Tenant,
    case: ResourceCase,
) -> None:
    created = fill(sdk, tenant.id, case)
    log = RequestLog()

    async def scenario() -> list[str]:
        http = httpx.AsyncClient(event_hooks={"request": [log.arecord]})
        async with make_async_sdk(api_token=tenant.read_token, http_client=http) as client:
            resource = getattr(client.email_security.settings, case.attr)
            return [e.id async for e in resource.list(account_id=tenant.id, per_page=PER_PAGE)]

    seen = asyncio.run(scenario())
    assert len(seen) == TOTAL
    assert set(seen) == created
    assert log.pages() == [None, "2", "3", "4"]
