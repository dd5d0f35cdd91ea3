"""Alembic environment: the URL comes from the caller (mailpolicy.migrate), never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

import mailpolicy.access.accounts
import mailpolicy.access.credentials
import mailpolicy.access.ratelimit
import mailpolicy.audit.events
import mailpolicy.dashboard.sessions
import mailpolicy.messages.records
import mailpolicy.messages.search
import mailpolicy.resources
import mailpolicy.stats.hits
from mailpolicy.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
        render_as_batch=True,
        compare_type=True,
        # The message search index is made by its migration; the models do not declare it.
        include_name=mailpolicy.messages.search.managed,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
