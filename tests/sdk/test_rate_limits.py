"""The official SDK, with its default retry policy, waits out a 429 by itself: the server says
x-should-retry: true and Retry-After, the SDK sleeps that long and the call succeeds."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from cloudflare import AsyncCloudflare, Cloudflare, RateLimitError

from mailpolicy.config import Settings
from tests.support.api import LiveServer, Tenant
from tests.support.sdk import BLOCK_SENDER, changed

LIMIT = 2
WINDOW = 2


@pytest.fixture
def settings(database_url: str) -> Settings:
    """A quota small enough to reach, in a window short enough to wait out."""
    return Settings(database_url=database_url, rate_limit=LIMIT, rate_limit_window_seconds=WINDOW)


class Answers:
    """Every response the client received (an httpx event hook records them)."""

    def __init__(self) -> None:
        self.seen: list[httpx.Response] = []

    def record(self, response: httpx.Response) -> None:
        self.seen.append(response)

    async def arecord(self, response: httpx.Response) -> None:
        self.seen.append(response)

    def statuses(self) -> list[int]:
        return [r.status_code for r in self.seen]


def test_the_sdk_retries_a_throttled_call_after_retry_after(
    live_server: LiveServer, tenant: Tenant
) -> None:
    answers = Answers()
    http = httpx.Client(event_hooks={"response": [answers.record]})
    with Cloudflare(
        base_url=live_server.base_url,
        api_token=tenant.write_token,
        http_client=http,
        _strict_response_validation=True,
    ) as client:
        assert client.max_retries == 2  # the SDK's default policy, nothing tuned
        senders = client.email_security.settings.block_senders
        first = senders.create(account_id=tenant.id, **BLOCK_SENDER)
        assert [s.id for s in senders.list(account_id=tenant.id).result] == [first.id]
        started = time.monotonic()
        # The quota is spent: this create is refused once, waited out, and then applied.
        second = senders.create(
            account_id=tenant.id, **changed(BLOCK_SENDER, pattern="spam.example.org")
        )
        waited = time.monotonic() - started
        listed = senders.list(account_id=tenant.id)
    assert answers.statuses() == [201, 200, 429, 201, 200]
    throttled = answers.seen[2]
    wait = int(throttled.headers["retry-after"])
    assert 1 <= wait <= WINDOW
    assert waited >= wait - 0.05  # the SDK slept as told before retrying
    assert throttled.json()["errors"][0]["code"] == 10429
    assert second.pattern == "spam.example.org"
    # The refused attempt wrote nothing: the retried create exists once.
    assert sorted(s.pattern for s in listed.result) == ["spam.example.net", "spam.example.org"]


def test_the_async_sdk_recovers_too(live_server: LiveServer, tenant: Tenant) -> None:
    answers = Answers()

    async def scenario() -> list[list[object]]:
        http = httpx.AsyncClient(event_hooks={"response": [answers.arecord]})
        async with AsyncCloudflare(
            base_url=live_server.base_url,
            api_token=tenant.read_token,
            http_client=http,
            _strict_response_validation=True,
        ) as client:
            senders = client.email_security.settings.block_senders
            pages = [await senders.list(account_id=tenant.id) for _ in range(LIMIT + 1)]
            return [list(page.result) for page in pages]

    assert asyncio.run(scenario()) == [[]] * (LIMIT + 1)
    assert answers.statuses() == [200] * LIMIT + [429, 200]


def test_without_retries_the_sdk_raises_its_rate_limit_error(
    live_server: LiveServer, tenant: Tenant
) -> None:
    with Cloudflare(
        base_url=live_server.base_url, api_token=tenant.read_token, max_retries=0
    ) as client:
        senders = client.email_security.settings.block_senders
        for _ in range(LIMIT):
            senders.list(account_id=tenant.id)
        with pytest.raises(RateLimitError) as caught:
            senders.list(account_id=tenant.id)
    error = caught.value
    assert error.status_code == 429
    assert "Rate limit of 2 requests per 2 s reached for this credential" in str(error)
    assert error.response.headers["ratelimit-policy"] == f'"default";q={LIMIT};w={WINDOW}'
