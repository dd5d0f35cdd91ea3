"""The same Alembic migrations on PostgreSQL: to head, step by step down to base and up again,
and the migrated schema exactly what the models declare."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from mailpolicy import migrate
from mailpolicy.db import make_engine
from tests.support.migrations import MODEL_TABLES, schema_diff, tables, walk_every_revision
from tests.support.postgres import Cluster


@pytest.fixture
def url(cluster: Cluster) -> str:
    return cluster.create_database(f"migrations_{uuid.uuid4().hex[:8]}")


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    made = make_engine(url)
    yield made
    made.dispose()


def test_the_migrated_schema_matches_the_models(url: str, engine: Engine) -> None:
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head(url)
    assert tables(engine) == MODEL_TABLES | {"alembic_version"}
    assert schema_diff(engine) == []


def test_every_revision_goes_up_and_down_one_step_at_a_time(url: str, engine: Engine) -> None:
    walk_every_revision(url, engine)
    migrate.upgrade(url)
    assert schema_diff(engine) == []
