"""Running the service: `serve` for the API and `milter` for mail passing through Postfix.

Both migrate the database before they start. `serve` also makes sure there is someone to serve:
on an empty database it creates a first account and prints a write token for it, and on one
that has an account it prints the command, typed out for a POSIX shell, that mints another.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from mailpolicy import migrate
from mailpolicy.access.accounts import Account, create_account
from mailpolicy.access.credentials import Permission, create_token
from mailpolicy.audit.events import CLI
from mailpolicy.cli.context import load_settings
from mailpolicy.cli.reporting import DATABASE_VARIABLE, ENV_PREFIX, USAGE, CliError, out
from mailpolicy.config import Settings
from mailpolicy.db import Database


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (MAILPOLICY_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Listen port (MAILPOLICY_PORT).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            help="Worker processes sharing the port (MAILPOLICY_WORKERS; default 1). "
            "About one per CPU core.",
        ),
    ] = None,
) -> None:
    """Migrate the database, create a first account on an empty one, and serve the API."""
    from uvicorn.config import LOG_LEVELS

    from mailpolicy.api.server import raise_file_limit, server_config
    from mailpolicy.api.server import serve as run_server
    from mailpolicy.app import create_app

    settings = load_settings()
    if settings.log_level.lower() not in LOG_LEVELS:
        raise CliError(
            f"{ENV_PREFIX}LOG_LEVEL should be one of {', '.join(LOG_LEVELS)}, "
            f"got {settings.log_level!r}",
            USAGE,
        )
    given = {"host": host, "port": port, "workers": workers}
    settings = settings.model_copy(update={k: v for k, v in given.items() if v is not None})
    migrate.upgrade(settings.database_url)
    _bootstrap(settings)
    raise_file_limit()
    verifier = None
    if settings.dns_verify:
        from mailpolicy.dns.verifier import Verifier

        verifier = Verifier(settings)
        verifier.start()
    if settings.workers > 1:
        # Each worker makes its own app (and database pool) from the same MAILPOLICY_*
        # variables; the port is bound once, here, and shared.
        config = server_config(
            "mailpolicy.app:create_app", settings, factory=True, workers=settings.workers
        )
    else:
        config = server_config(create_app(settings), settings)
    try:
        run_server(config)
    finally:
        if verifier is not None:
            verifier.stop()


def _program() -> str:
    """This command as the user can type it again."""
    invoked = sys.argv[0] if sys.argv else ""
    if Path(invoked).name == "mailpolicy":
        return shlex.quote(invoked)
    if Path(invoked).name == "__main__.py":
        return f"{shlex.quote(sys.executable)} -m mailpolicy"
    return ".venv/bin/mailpolicy"


def _command(settings: Settings, *args: str) -> str:
    """A mailpolicy command line for a POSIX shell that reaches the same database."""
    words = [_program(), *(shlex.quote(a) for a in args)]
    if settings.database_url != Settings.model_fields["database_url"].default:
        words.insert(0, f"{DATABASE_VARIABLE}={shlex.quote(settings.database_url)}")
    return " ".join(words)


def _bootstrap(settings: Settings) -> None:
    database = Database(settings.database_url, settings.pool())
    try:
        with database.transaction() as session:
            account = session.scalar(select(Account).order_by(Account.created_at))
            base = f"http://{settings.host}:{settings.port}/client/v4"
            if account is None:
                account = create_account(session, "default")
                _, secret = create_token(
                    session, account.id, Permission.WRITE, "bootstrap write token", by=CLI
                )
                out.print(f"mailpolicy: created account {account.id}")
                out.print("mailpolicy: Write API token (shown once, store it now):")
                out.print(secret)
            else:
                out.print(f"mailpolicy: account {account.id}")
                new_token = _command(
                    settings, "tokens", "create", "--account", account.id, "--permission", "write"
                )
                # As it must be typed: no markup, highlighting or emoji codes read into it.
                out.print(
                    f"mailpolicy: new token: {new_token}",
                    markup=False,
                    highlight=False,
                    emoji=False,
                )
            out.print(f"mailpolicy: API at {base}/accounts/{account.id}/email-security/settings/")
            if settings.dashboard:
                dashboard = f"http://{settings.host}:{settings.port}/dashboard"
                out.print(f"mailpolicy: dashboard at {dashboard} (log in with the token)")
    finally:
        database.dispose()


def milter(
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            metavar="ADDRESS",
            help="inet:HOST:PORT or unix:/path (MAILPOLICY_MILTER_LISTEN; "
            "default inet:127.0.0.1:10030).",
        ),
    ] = None,
) -> None:
    """Apply the settings to mail passing through Postfix (see the README's Postfix section)."""
    import logging

    try:
        from mailpolicy.milter.service import CannotListen, libmilter_address, run
    except ImportError as exc:
        raise CliError(
            f"the milter needs pymilter ({exc}): pip install 'mailpolicy[milter]', which builds "
            "against libmilter (Debian: apt-get install libmilter-dev)"
        ) from None
    settings = load_settings()
    if listen is not None:
        settings = settings.model_copy(update={"milter_listen": listen})
    try:
        libmilter_address(settings.milter_listen)
    except ValueError as exc:
        raise CliError(f"--listen: {exc}", USAGE) from None
    migrate.upgrade(settings.database_url)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    try:
        run(settings)
    except CannotListen as exc:
        raise CliError(str(exc)) from None
