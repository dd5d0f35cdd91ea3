"""One app and migrated database per test module; each test gets accounts of its own.

Every settings entry belongs to an account, so fresh accounts isolate one test from another as well
as a fresh database would, while building the app (most of a test's cost) happens once per module.
Sharing the database also means every test runs beside other accounts' data, which is where a
missing account filter would show.
"""

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

# Account names feed the legacy key's email address, which must not repeat across accounts.
_serial = itertools.count()


@pytest.fixture(scope="module")
def app(databases: Databases) -> Iterator[FastAPI]:
    application = create_app(Settings(database_url=databases.fresh()))
    yield application
    application.state.db.dispose()


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def tenant(app: FastAPI) -> Tenant:
    return make_tenant(app.state.db, f"alpha{next(_serial)}")


@pytest.fixture
def other_tenant(app: FastAPI) -> Tenant:
    return make_tenant(app.state.db, f"beta{next(_serial)}")
