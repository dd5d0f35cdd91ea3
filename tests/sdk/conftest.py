"""The official `cloudflare` SDK, pointed at the live test server by changing base_url only."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cloudflare import AsyncCloudflare, Cloudflare

from tests.conftest import LiveServer, Tenant


@pytest.fixture(autouse=True)
def _no_cloudflare_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK reads CLOUDFLARE_* variables; a developer's real credentials must not leak in."""
    for name in list(os.environ):
        if name.startswith("CLOUDFLARE_"):
            monkeypatch.delenv(name)


@dataclass
class RequestLog:
    """Every request a client sent, as (method, path, query params)."""

    requests: list[httpx.Request] = field(default_factory=list)

    def record(self, request: httpx.Request) -> None:
        self.requests.append(request)

    async def arecord(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def pages(self) -> list[str | None]:
        return [r.url.params.get("page") for r in self.requests]


@pytest.fixture
def sdk(live_server: LiveServer, tenant: Tenant) -> Iterator[Cloudflare]:
    """A write-token client that never retries, so an error cannot be hidden by a retry."""
    with Cloudflare(
        base_url=live_server.base_url, api_token=tenant.write_token, max_retries=0
    ) as client:
        yield client


@pytest.fixture
def make_sdk(live_server: LiveServer) -> Iterator[Callable[..., Cloudflare]]:
    """Clients with other credentials or options; all are closed when the test ends."""
    made: list[Cloudflare] = []

    def factory(**kwargs: Any) -> Cloudflare:
        kwargs.setdefault("max_retries", 0)
        client = Cloudflare(base_url=live_server.base_url, **kwargs)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


@pytest.fixture
def make_async_sdk(live_server: LiveServer) -> Callable[..., AsyncCloudflare]:
    """An async client factory; use the client inside `async with` in the test's coroutine."""

    def factory(**kwargs: Any) -> AsyncCloudflare:
        kwargs.setdefault("max_retries", 0)
        return AsyncCloudflare(base_url=live_server.base_url, **kwargs)

    return factory


@dataclass(frozen=True)
class ResourceCase:
    """One settings resource as the SDK sees it: its attribute, its types, sample bodies."""

    attr: str  # client.email_security.settings.<attr>
    types: str  # prefix of its response types, e.g. "AllowPolicy"
    create: dict[str, Any]
    edit: dict[str, Any]
    # Makes the n-th of many distinct entries (for pagination), from `create`.
    nth: Callable[[int], dict[str, Any]]


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


ALLOW_POLICY = {
    "pattern": "partner@example.com",
    "pattern_type": "EMAIL",
    "is_regex": False,
    "is_trusted_sender": True,
    "is_acceptable_sender": False,
    "is_exempt_recipient": False,
    "verify_sender": True,
    "comments": "a partner",
}
BLOCK_SENDER = {"pattern": "spam.example.net", "pattern_type": "DOMAIN", "is_regex": False}
DOMAIN = {
    "domain": "mail.example.com",
    "allowed_delivery_modes": ["DIRECT"],
    "drop_dispositions": ["MALICIOUS"],
    "ip_restrictions": [],
    "regions": ["GLOBAL"],
}
IMPERSONATION = {"name": "Chief Executive", "email": "ceo@example.com", "is_email_regex": False}
SENDING_RESTRICTION = {"domain": "bank.example.com", "exclude": ["legacy.bank.example.com"]}
TRUSTED_DOMAIN = {
    "pattern": "partner.example.com",
    "is_recent": True,
    "is_regex": False,
    "is_similarity": False,
}
URL_IGNORE = {"pattern": r"^https://intranet\.example\.com/"}

CASES = [
    ResourceCase(
        "allow_policies",
        "AllowPolicy",
        ALLOW_POLICY,
        {"comments": "edited", "is_acceptable_sender": True},
        lambda n: _with(ALLOW_POLICY, pattern=f"user{n}@example.com"),
    ),
    ResourceCase(
        "block_senders",
        "BlockSender",
        BLOCK_SENDER,
        {"pattern": "spam.example.org", "comments": "edited"},
        lambda n: _with(BLOCK_SENDER, pattern=f"spam{n}.example.net"),
    ),
    ResourceCase(
        "domains",
        "Domain",
        DOMAIN,
        {"lookback_hops": 3, "drop_dispositions": ["MALICIOUS", "SPAM"]},
        lambda n: _with(DOMAIN, domain=f"d{n}.example.com"),
    ),
    ResourceCase(
        "impersonation_registry",
        "ImpersonationRegistry",
        IMPERSONATION,
        {"comments": "edited", "name": "The Chief Executive"},
        lambda n: _with(IMPERSONATION, name=f"Person {n}", email=f"p{n}@example.com"),
    ),
    ResourceCase(
        "sending_domain_restrictions",
        "SendingDomainRestriction",
        SENDING_RESTRICTION,
        {"comments": "edited", "exclude": []},
        lambda n: _with(SENDING_RESTRICTION, domain=f"bank{n}.example.com", exclude=[]),
    ),
    ResourceCase(
        "trusted_domains",
        "TrustedDomain",
        TRUSTED_DOMAIN,
        {"is_similarity": True, "comments": "edited"},
        lambda n: _with(TRUSTED_DOMAIN, pattern=f"partner{n}.example.com"),
    ),
    ResourceCase(
        "url_ignore_patterns",
        "URLIgnorePattern",
        URL_IGNORE,
        {"comments": "edited"},
        lambda n: {"pattern": rf"^https://host{n}\.example\.com/"},
    ),
]
CASE_PARAMS = [pytest.param(case, id=case.attr) for case in CASES]
