"""The API as the tests speak to it: accounts with real credentials (`Tenant`, `make_tenant`), the
test client on one account's behalf (`Api`), the v4 failure envelope (`assert_error`), a
protected domain made ACTIVE (`protect`), and the app on a real socket in this process
(`listening`, `serving`, `LiveServer`).

The fixtures that hand these out live in tests/conftest.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mailpolicy.access.accounts import create_account
from mailpolicy.access.credentials import Permission, create_key, create_token
from mailpolicy.api.server import server_config
from mailpolicy.audit.events import CLI
from mailpolicy.config import Settings
from mailpolicy.db import Database
from mailpolicy.resources.domains import activate
from tests.support.servers import free_port

SETTINGS_PATH = "/client/v4/accounts/{account}/email-security/settings"


@dataclass(frozen=True)
class Tenant:
    """An account and credentials for it."""

    id: str
    write_token: str
    read_token: str
    key_email: str
    write_key: str

    @property
    def write(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.write_token}"}

    @property
    def read(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.read_token}"}

    @property
    def legacy(self) -> dict[str, str]:
        return {"X-Auth-Email": self.key_email, "X-Auth-Key": self.write_key}

    def url(self, resource: str, *parts: str) -> str:
        return "/".join([SETTINGS_PATH.format(account=self.id), resource, *parts])


def make_tenant(database: Database, name: str) -> Tenant:
    with database.transaction() as session:
        account = create_account(session, name)
        _, write = create_token(session, account.id, Permission.WRITE, "test write", by=CLI)
        _, read = create_token(session, account.id, Permission.READ, "test read", by=CLI)
        email = f"admin@{name}.example"
        _, key = create_key(session, email, account.id, Permission.WRITE, by=CLI)
        return Tenant(account.id, write, read, email, key)


class Api:
    """The test client, speaking for one tenant with its Write token by default."""

    def __init__(self, client: TestClient, tenant: Tenant) -> None:
        self.client = client
        self.tenant = tenant

    def request(
        self,
        method: str,
        resource: str,
        *parts: str,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        return self.client.request(
            method,
            self.tenant.url(resource, *parts),
            headers=self.tenant.write if headers is None else headers,
            **kwargs,
        )

    def get(self, resource: str, *parts: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", resource, *parts, **kwargs)

    def post(self, resource: str, *parts: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", resource, *parts, **kwargs)

    def patch(self, resource: str, *parts: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", resource, *parts, **kwargs)

    def put(self, resource: str, *parts: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", resource, *parts, **kwargs)

    def delete(self, resource: str, *parts: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", resource, *parts, **kwargs)

    def create(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post(resource, json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()["result"]
        return result


def assert_error(
    response: httpx.Response, status: int, pointer: str | None = None, contains: str = ""
) -> dict[str, Any]:
    """A failure in the v4 envelope, with the status, pointer and message text expected."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["result"] is None
    assert body["messages"] == []
    assert body["errors"], body
    for error in body["errors"]:
        assert error["code"] >= 1000
        assert error["message"]
    if pointer is not None:
        pointers = [e.get("source", {}).get("pointer") for e in body["errors"]]
        assert pointer in pointers, pointers
    if contains:
        assert any(contains.lower() in e["message"].lower() for e in body["errors"]), body
    if status < 500:
        assert response.headers.get("x-should-retry") == "false"
    return body


def acceptable_sender(pattern: str, pattern_type: str = "EMAIL") -> dict[str, Any]:
    """An allow policy's create body making `pattern` an acceptable sender, nothing more."""
    return {
        "pattern": pattern,
        "pattern_type": pattern_type,
        "is_regex": False,
        "is_acceptable_sender": True,
        "is_exempt_recipient": False,
        "is_trusted_sender": False,
        "verify_sender": False,
    }


def protect(
    create: Callable[[str, dict[str, Any]], dict[str, Any]],
    database: Database,
    domain: str,
    *drops: str,
    active: bool = True,
) -> dict[str, Any]:
    """A protected domain created through the API (`create(resource, body)`), dropping the
    dispositions `drops`, and made ACTIVE (as `mailpolicy domains activate` does) if `active`."""
    created = create(
        "domains",
        {
            "domain": domain,
            "allowed_delivery_modes": ["DIRECT"],
            "drop_dispositions": list(drops),
            "ip_restrictions": [],
            "regions": ["GLOBAL"],
        },
    )
    if active:
        with database.transaction() as session:
            activate(session, created["id"], CLI)
    return created


@dataclass(frozen=True)
class LiveServer:
    base_url: str  # e.g. http://127.0.0.1:PORT/client/v4
    app: FastAPI


@contextmanager
def listening(app: Any, settings: Settings) -> Iterator[int]:
    """The ASGI `app` served by uvicorn, configured as `mailpolicy serve` configures it from
    `settings`, in a thread of this process on 127.0.0.1 (the port is yielded) until the block
    ends."""
    port = free_port()
    server = uvicorn.Server(
        server_config(
            app,
            settings,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serving(app: FastAPI) -> Iterator[LiveServer]:
    """`app` on a real socket (127.0.0.1 only) until the block ends."""
    with listening(app, app.state.settings) as port:
        yield LiveServer(f"http://127.0.0.1:{port}/client/v4", app)
