"""PostgreSQL-only tests: a throwaway cluster for the module, fresh migrated databases on it, and
tenants with real credentials."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from mailpolicy import migrate
from mailpolicy.db import Database
from tests.support.api import Tenant, make_tenant
from tests.support.postgres import Cluster

_serial = itertools.count()


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    made = Cluster()
    migrate.upgrade(made.create_database("template_pg_tests"))
    yield made
    made.destroy()


@pytest.fixture
def pg_url(cluster: Cluster) -> str:
    return cluster.create_database(f"pg_{next(_serial)}", template="template_pg_tests")


@pytest.fixture
def pg_tenant(pg_url: str) -> Iterator[Tenant]:
    database = Database(pg_url)
    try:
        yield make_tenant(database, f"pg{next(_serial)}")
    finally:
        database.dispose()
