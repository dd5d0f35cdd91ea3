"""Fixtures shared by every suite: a real, Alembic-migrated database per test, the app over HTTP,
accounts with real tokens, and a live server on 127.0.0.1 for clients that need a socket.

The helpers behind them (Tenant, Api, serving, ...) are in tests/support/api.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mailpolicy import migrate
from mailpolicy.app import create_app
from mailpolicy.config import Settings
from tests.support.api import Api, LiveServer, Tenant, make_tenant, serving
from tests.support.databases import Databases
from tests.support.databases import kind as database_kind


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


@pytest.fixture
def tenant(app: FastAPI) -> Tenant:
    return make_tenant(app.state.db, "alpha")


@pytest.fixture
def other_tenant(app: FastAPI) -> Tenant:
    return make_tenant(app.state.db, "beta")


@pytest.fixture
def api(client: TestClient, tenant: Tenant) -> Api:
    return Api(client, tenant)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    """The app on a real socket (127.0.0.1 only), stopped when the test ends."""
    with serving(app) as server:
        yield server
