"""The migrated schema, read back: the tables the models declare (`MODEL_TABLES`), the tables a
database has (`tables`), every revision in order (`revisions`), what differs between a database
and the models (`schema_diff`), and a walk up and down every revision (`walk_every_revision`).
Used on SQLite by tests/test_migrations.py and on PostgreSQL by tests/pg/test_migrations.py.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, inspect

from mailpolicy import migrate
from mailpolicy.db import Base
from mailpolicy.messages import search as message_search
from mailpolicy.resources import search_index

MODEL_TABLES = frozenset(Base.metadata.tables)


def managed(name: str | None, type_: str, parent_names: object) -> bool:
    """Whether the comparison looks at an object: not the search indexes of message records and
    of settings lists (FTS5 tables and their shadow tables on SQLite, pg_trgm indexes on
    PostgreSQL), which their migrations make and the models do not declare."""
    return message_search.managed(name, type_, parent_names) and search_index.managed(
        name, type_, parent_names
    )


def tables(engine: Engine) -> set[str]:
    """The database's tables, but the search indexes' (which the models do not declare)."""
    return {name for name in inspect(engine).get_table_names() if managed(name, "table", {})}


def revisions(url: str) -> list[str]:
    """Every revision from base to head, in order."""
    script = ScriptDirectory.from_config(migrate.alembic_config(url))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def schema_diff(engine: Engine, metadata: MetaData = Base.metadata) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": managed}
        )
        return list(compare_metadata(context, metadata))


def walk_every_revision(url: str, engine: Engine) -> None:
    """Up one revision at a time to head (the schema then the models'), and down to base."""
    steps = revisions(url)
    assert steps
    for revision in steps:
        migrate.upgrade(url, revision)
        assert migrate.current(url) == revision
    assert schema_diff(engine) == []
    for below, revision in reversed(list(zip([None, *steps[:-1]], steps, strict=True))):
        assert migrate.current(url) == revision
        migrate.downgrade(url, "-1")
        assert migrate.current(url) == below
    assert tables(engine) & MODEL_TABLES == set()
