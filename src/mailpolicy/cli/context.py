"""What the commands stand on: the MAILPOLICY_* settings, their database URL checked before
anything connects to it, a transaction on the migrated database, and tables printed whole.

A database URL that cannot work is refused here, in a line naming the variable, because
otherwise the first sign of it would be a driver's error halfway through a command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session

from mailpolicy import migrate
from mailpolicy.cli.reporting import DATABASE_VARIABLE, USAGE, CliError, masked, out
from mailpolicy.config import Settings
from mailpolicy.db import Database

AccountOpt = Annotated[
    str, typer.Option("--account", metavar="ID", help="Account id (32 hex characters).")
]


def show(table: Table) -> None:
    # Off a terminal rich would fit tables to 80 columns and cut ids that scripts need whole.
    console = out if out.is_terminal else Console(soft_wrap=True, width=10_000)
    console.print(table)


def _check_database_url(url: str) -> None:
    """Refuse a database URL that cannot work, before anything connects to it: one that does
    not parse, names a driver that is not installed, or an SQLite file whose directory cannot
    be made."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CliError(
            f"{DATABASE_VARIABLE}: {masked(url)!r} is not a database URL; "
            "use e.g. sqlite:///var/mailpolicy.db or postgresql+psycopg://USER@HOST/DATABASE",
            USAGE,
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        raise CliError(
            f"{DATABASE_VARIABLE}: no database driver {parsed.drivername!r} ({shown}); "
            "mailpolicy runs on sqlite:// and postgresql+psycopg://",
            USAGE,
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise CliError(
            f"{DATABASE_VARIABLE}: the driver for {parsed.drivername} is not installed ({exc})"
        ) from None
    if dialect.name != "sqlite":
        return
    if not parsed.database or parsed.database == ":memory:":
        raise CliError(
            f"{DATABASE_VARIABLE}: {shown} is an in-memory database, gone when the command "
            "ends; give a file, e.g. sqlite:///var/mailpolicy.db",
            USAGE,
        )
    if parsed.query.get("uri"):
        return  # a file: URI, opened by SQLite as it says
    directory = Path(parsed.database).parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(
            f"{DATABASE_VARIABLE}: cannot create the directory {directory} for {shown}: "
            f"{exc.strerror}"
        ) from None


def load_settings() -> Settings:
    """The MAILPOLICY_* settings in force, their database URL checked."""
    settings = Settings()
    _check_database_url(settings.database_url)
    return settings


@contextmanager
def session_scope(*, write: bool = True) -> Iterator[Session]:
    """A transaction on the migrated database; a read one (`write=False`) holds no write lock."""
    settings = load_settings()
    migrate.upgrade(settings.database_url)
    database = Database(settings.database_url, settings.pool())
    try:
        with database.transaction(write=write) as session:
            yield session
    finally:
        database.dispose()
