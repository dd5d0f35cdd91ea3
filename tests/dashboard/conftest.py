"""One app and migrated database per test module, reached through the dashboard's pages.

`client` is a fresh browser-like client per test (its own cookies);
tests.support.dashboard.login(client, token) logs it in through the login form."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mailpolicy.app import create_app
from mailpolicy.config import Settings
from tests.support.api import Tenant, make_tenant
from tests.support.databases import Databases

_serial = itertools.count()


@pytest.fixture(scope="module")
def app(databases: Databases) -> Iterator[FastAPI]:
    application = create_app(Settings(database_url=databases.fresh(), rate_limit=0))
    yield application
    application.state.db.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture
def tenant(app: FastAPI) -> Tenant:
    return make_tenant(app.state.db, f"dash{next(_serial)}")


@pytest.fixture
def other_tenant(app: FastAPI) -> Tenant:
    return make_tenant(app.state.db, f"dashother{next(_serial)}")
