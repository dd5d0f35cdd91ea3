"""`mailpolicy db`: the database schema's migrations, up, down and where it stands.

A revision that does not exist is a bad argument, told with where the database is and every
revision there is to choose from, since Alembic's own message names neither.
"""

from __future__ import annotations

from typing import Annotated

import typer
from alembic.util.exc import CommandError

from mailpolicy import migrate
from mailpolicy.cli.context import load_settings
from mailpolicy.cli.reporting import USAGE, CliError, out

db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


def _revisions(url: str) -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config(url))
    known = [r.revision for r in reversed(list(script.walk_revisions()))]
    return ", ".join(["base", *known, "head"])


def _migrate(direction: str, url: str, revision: str) -> None:
    step = migrate.upgrade if direction == "upgrade" else migrate.downgrade
    try:
        step(url, revision)
    except (CommandError, AssertionError) as exc:
        # Alembic's resolver stops on a bare assertion for a step past the last revision
        # (head+5, say) or an empty one: both are a bad REVISION, as an unknown one is.
        reason = str(exc) or "no such revision"
        at = migrate.current(url) or "base"
        raise CliError(
            f"cannot {direction} to {revision!r}: {reason} "
            f"(the database is at {at}; revisions: {_revisions(url)})",
            USAGE,
        ) from None


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    url = load_settings().database_url
    _migrate("upgrade", url, revision)
    out.print(f"database at revision {migrate.current(url) or 'base'}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert migrations down to REVISION ('base' removes everything)."""
    url = load_settings().database_url
    _migrate("downgrade", url, revision)
    out.print(f"database at revision {migrate.current(url) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision."""
    out.print(migrate.current(load_settings().database_url) or "base")
