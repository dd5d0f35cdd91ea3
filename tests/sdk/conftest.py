"""The official `cloudflare` SDK, pointed at the live test server by changing base_url only."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cloudflare import AsyncCloudflare, Cloudflare
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from mailpolicy.config import Settings
from tests.support.api import LiveServer, Tenant, listening


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
    with listening(switch, Settings()) as port:
        yield port, switch


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
