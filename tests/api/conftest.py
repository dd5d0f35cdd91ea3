"""One app and migrated database per test module; each test gets accounts of its own.

Every settings entry belongs to an account, so fresh accounts isolate one test from another as well
as a fresh database would, while building the app (most of a test's cost) happens once per module.
Sharing the database also means every test runs beside other accounts' data, which is where a
missing account filter would show.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mailpolicy.app import create_app
from mailpolicy.config import Settings
from tests.conftest import Tenant, make_tenant

# Account names feed the legacy key's email address, which must not repeat across accounts.
_serial = itertools.count()


@pytest.fixture(scope="module")
def app(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    path = tmp_path_factory.mktemp("api") / "mailpolicy.db"
    shutil.copyfile(template_db, path)
    application = create_app(Settings(database_url=f"sqlite:///{path}"))
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
