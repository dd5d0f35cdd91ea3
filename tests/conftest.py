"""Fixtures shared by every suite: a real, Alembic-migrated database per test, the app over HTTP,
accounts with real tokens, and a live server on 127.0.0.1 for clients that need a socket."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mailpolicy import migrate
from mailpolicy.access.accounts import create_account
from mailpolicy.access.credentials import Permission, create_key, create_token
from mailpolicy.api.server import server_config
from mailpolicy.app import create_app
from mailpolicy.audit.events import CLI
from mailpolicy.config import Settings
from mailpolicy.db import Database
from tests.support.databases import Databases
from tests.support.databases import kind as database_kind

SETTINGS_PATH = "/client/v4/accounts/{account}/email-security/settings"


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated by Alembic, for tests about SQLite files themselves."""
    path = tmp_path_factory.mktemp("template") / "mailpolicy.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def databases() -> Iterator[Databases]:
    """Fresh migrated databases on the run's database (MAILPOLICY_TEST_DATABASE)."""
    made = Databases(database_kind())
    yield made
    made.close()


@pytest.fixture
def database_url(databases: Databases) -> str:
    return databases.fresh()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.db.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


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


@pytest.fixture
def tenant(app: FastAPI) -> Tenant:
    return make_tenant(app.state.db, "alpha")


@pytest.fixture
def other_tenant(app: FastAPI) -> Tenant:
    return make_tenant(app.state.db, "beta")


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


@pytest.fixture
def api(client: TestClient, tenant: Tenant) -> Api:
    return Api(client, tenant)


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class LiveServer:
    base_url: str  # e.g. http://127.0.0.1:PORT/client/v4
    app: FastAPI


@contextmanager
def serving(app: FastAPI) -> Iterator[LiveServer]:
    """`app` on a real socket (127.0.0.1 only) until the block ends."""
    port = _free_port()
    server = uvicorn.Server(
        server_config(
            app,
            app.state.settings,
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
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}/client/v4", app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    """The app on a real socket (127.0.0.1 only), stopped when the test ends."""
    with serving(app) as server:
        yield server
