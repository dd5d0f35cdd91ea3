"""The official `cloudflare` SDK, pointed at the live test server by changing base_url only."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from cloudflare import AsyncCloudflare, Cloudflare
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from mailpolicy.api.server import server_config
from mailpolicy.config import Settings
from tests.conftest import LiveServer, Tenant


class _CurrentApp:
    """An ASGI app that hands each request to the app of the test that is running."""

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.app
        if app is None:
            raise RuntimeError("a request arrived between tests")
        await app(scope, receive, send)


@pytest.fixture(scope="session")
def _shared_server() -> Iterator[tuple[int, _CurrentApp]]:
    """One uvicorn server on 127.0.0.1 for the whole session: starting and stopping one per test
    costs more than the tests themselves. Each test still gets its own app and database."""
    switch = _CurrentApp()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    server = uvicorn.Server(
        server_config(
            switch, Settings(), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    yield port, switch
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def live_server(app: FastAPI, _shared_server: tuple[int, _CurrentApp]) -> Iterator[LiveServer]:
    """Like the suite-wide live_server (this test's app on a real socket), on the shared server."""
    port, switch = _shared_server
    switch.app = app
    yield LiveServer(f"http://127.0.0.1:{port}/client/v4", app)
    switch.app = None


@pytest.fixture(autouse=True)
def _no_cloudflare_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK reads CLOUDFLARE_* variables; a developer's real credentials must not leak in."""
    for name in list(os.environ):
        if name.startswith("CLOUDFLARE_"):
            monkeypatch.delenv(name)


@dataclass
class RequestLog:
    """Every request a client sent (an httpx event hook records them)."""

    requests: list[httpx.Request] = field(default_factory=list)

    def record(self, request: httpx.Request) -> None:
        self.requests.append(request)

    async def arecord(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def pages(self) -> list[str | None]:
        return [r.url.params.get("page") for r in self.requests]


@pytest.fixture
def sdk(live_server: LiveServer, tenant: Tenant) -> Iterator[Cloudflare]:
    """A write-token client that never retries, so an error cannot be hidden by a retry, and
    that validates every response against the SDK's types."""
    with Cloudflare(
        base_url=live_server.base_url,
        api_token=tenant.write_token,
        max_retries=0,
        _strict_response_validation=True,
    ) as client:
        yield client


@pytest.fixture
def make_sdk(live_server: LiveServer) -> Iterator[Callable[..., Cloudflare]]:
    """Clients with other credentials or options; all are closed when the test ends."""
    made: list[Cloudflare] = []

    def factory(**kwargs: Any) -> Cloudflare:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("_strict_response_validation", True)
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
        kwargs.setdefault("_strict_response_validation", True)
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


def changed(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
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
IMPERSONATION = {"name": "Chief Executive", "email": "chief@example.com", "is_email_regex": False}
SENDING_RESTRICTION = {"domain": "bank.example.com", "exclude": ["legacy.bank.example.com"]}
TRUSTED_DOMAIN = {
    "pattern": "partner.example.com",
    "is_recent": True,
    "is_regex": False,
    "is_similarity": False,
}
URL_IGNORE = {"pattern": r"^https://intranet\.example\.com/"}
CONTENT_POLICY = {
    "name": "Gift cards",
    "pattern": r"gift\s+cards?",
    "targets": ["SUBJECT", "BODY"],
    "enabled": True,
    "notes": "a classic",
}

CASES = [
    ResourceCase(
        "allow_policies",
        "AllowPolicy",
        ALLOW_POLICY,
        {"comments": "edited", "is_acceptable_sender": True},
        lambda n: changed(ALLOW_POLICY, pattern=f"user{n}@example.com"),
    ),
    ResourceCase(
        "block_senders",
        "BlockSender",
        BLOCK_SENDER,
        {"pattern": "spam.example.org", "comments": "edited"},
        lambda n: changed(BLOCK_SENDER, pattern=f"spam{n}.example.net"),
    ),
    ResourceCase(
        "domains",
        "Domain",
        DOMAIN,
        {"lookback_hops": 3, "drop_dispositions": ["MALICIOUS", "SPAM"]},
        lambda n: changed(DOMAIN, domain=f"d{n}.example.com"),
    ),
    ResourceCase(
        "impersonation_registry",
        "ImpersonationRegistry",
        IMPERSONATION,
        {"comments": "edited", "name": "The Chief Executive"},
        lambda n: changed(IMPERSONATION, name=f"Person {n}", email=f"p{n}@example.com"),
    ),
    ResourceCase(
        "sending_domain_restrictions",
        "SendingDomainRestriction",
        SENDING_RESTRICTION,
        {"comments": "edited", "exclude": []},
        lambda n: changed(SENDING_RESTRICTION, domain=f"bank{n}.example.com", exclude=[]),
    ),
    ResourceCase(
        "trusted_domains",
        "TrustedDomain",
        TRUSTED_DOMAIN,
        {"is_similarity": True, "comments": "edited"},
        lambda n: changed(TRUSTED_DOMAIN, pattern=f"partner{n}.example.com"),
    ),
    ResourceCase(
        "content_policies",
        "ContentPolicy",
        CONTENT_POLICY,
        {"enabled": False, "notes": "edited", "targets": ["BODY"]},
        lambda n: changed(CONTENT_POLICY, pattern=rf"gift card {n}\b"),
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
