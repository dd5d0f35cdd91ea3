"""The same Alembic migrations on PostgreSQL: to head, step by step down to base and up again,
and the migrated schema exactly what the models declare."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from mailpolicy import migrate
from mailpolicy.db import make_engine
from tests.support.postgres import Cluster
from tests.test_migrations import MODEL_TABLES, revisions, schema_diff, tables


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
    steps = revisions(url)
    for revision in steps:
        migrate.upgrade(url, revision)
        assert migrate.current(url) == revision
    assert schema_diff(engine) == []
    for below, revision in reversed(list(zip([None, *steps[:-1]], steps, strict=True))):
        assert migrate.current(url) == revision
        migrate.downgrade(url, "-1")
        assert migrate.current(url) == below
    assert tables(engine) & MODEL_TABLES == set()
    migrate.upgrade(url)
    assert schema_diff(engine) == []
