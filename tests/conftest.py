"""Fixtures shared by every suite: a real, Alembic-migrated database per test, the app over HTTP,
accounts with real tokens, a live server on 127.0.0.1 for clients that need a socket, and a
throwaway clamd and rspamd for the session (started only by the tests that ask for them), asking
DNS of a loopback authority that serves the test senders' SPF and DMARC records.

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
from tests.support.authority import Zones, authority
from tests.support.databases import Databases
from tests.support.databases import kind as database_kind
from tests.support.rspamd import SENDERS_ZONE, Clamd, Rspamd, clamd_instance, rspamd_instance


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


# ---- detections ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def detect_dns() -> Iterator[tuple[Zones, int]]:
    with authority() as (zones, port):
        zones.publish(SENDERS_ZONE)
        yield zones, port


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    with clamd_instance(tmp_path_factory.mktemp("clamd")) as running:
        yield running


@pytest.fixture(scope="session")
def rspamd(
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
    detect_dns: tuple[Zones, int],
    clamd: Clamd,
) -> Iterator[Rspamd]:
    # Hyperscan's compiled public suffix list, kept in pytest's cache between runs.
    assert pytestconfig.cache is not None
    cache = pytestconfig.cache.mkdir("rspamd-hyperscan")
    with rspamd_instance(
        tmp_path_factory.mktemp("rspamd"),
        dns_port=detect_dns[1],
        clamd_port=clamd.port,
        cache=cache,
    ) as running:
        yield running
