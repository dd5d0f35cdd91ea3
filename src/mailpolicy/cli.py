"""The `mailpolicy` command: serve, migrate, and administer accounts, tokens, keys and domains."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailpolicy import migrate
from mailpolicy.auth import (
    Account,
    ApiKey,
    ApiToken,
    Permission,
    create_account,
    create_key,
    create_token,
)
from mailpolicy.config import Settings
from mailpolicy.db import Database, utcnow
from mailpolicy.errors import ApiError
from mailpolicy.timefmt import iso

app = typer.Typer(
    help="mailpolicy: self-hosted email security policy service.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
accounts_app = typer.Typer(help="Accounts.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (Authorization: Bearer).", no_args_is_help=True)
keys_app = typer.Typer(help="Legacy API keys (X-Auth-Email + X-Auth-Key).", no_args_is_help=True)
domains_app = typer.Typer(help="Protected domains.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(accounts_app, name="accounts")
app.add_typer(tokens_app, name="tokens")
app.add_typer(keys_app, name="keys")
app.add_typer(domains_app, name="domains")

# Human-facing notes go to stderr so that stdout stays clean for scripts.
err = Console(stderr=True)
out = Console(soft_wrap=True)

AccountOpt = Annotated[str, typer.Option("--account", help="Account id (32 hex characters).")]
PermissionOpt = Annotated[Permission, typer.Option("--permission", help="read or write.")]


@contextmanager
def session_scope() -> Iterator[Session]:
    settings = Settings()
    migrate.upgrade(settings.database_url)
    database = Database(settings.database_url)
    try:
        with database.transaction() as session:
            yield session
    except ApiError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        database.dispose()


def _table(*columns: str) -> Table:
    return Table(*columns)


# ---- serve / db ---------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (MAILPOLICY_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (MAILPOLICY_PORT).")] = None,
) -> None:
    """Migrate the database, create a first account on an empty one, and serve the API."""
    import uvicorn

    from mailpolicy.app import create_app

    settings = Settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings.model_copy(update=overrides)
    migrate.upgrade(settings.database_url)
    _bootstrap(settings)
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level
    )


def _bootstrap(settings: Settings) -> None:
    database = Database(settings.database_url)
    try:
        with database.transaction() as session:
            account = session.scalar(select(Account).order_by(Account.created_at))
            base = f"http://{settings.host}:{settings.port}/client/v4"
            if account is None:
                account = create_account(session, "default")
                _, secret = create_token(
                    session, account.id, Permission.WRITE, "bootstrap write token"
                )
                out.print(f"mailpolicy: created account {account.id}")
                out.print("mailpolicy: Write API token (shown once, store it now):")
                out.print(secret)
            else:
                out.print(f"mailpolicy: account {account.id}")
                out.print(
                    "mailpolicy: new token: .venv/bin/mailpolicy tokens create "
                    f"--account {account.id} --permission write"
                )
            out.print(f"mailpolicy: API at {base}/accounts/{account.id}/email-security/settings/")
    finally:
        database.dispose()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    url = Settings().database_url
    migrate.upgrade(url, revision)
    out.print(f"database at revision {migrate.current(url)}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert migrations down to REVISION ('base' removes everything)."""
    url = Settings().database_url
    migrate.downgrade(url, revision)
    out.print(f"database at revision {migrate.current(url)}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision."""
    out.print(migrate.current(Settings().database_url) or "base")


# ---- accounts ---------------------------------------------------------------------------


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Option(help="A label for people.")] = "default",
) -> None:
    """Create an account; its id is printed alone on the last line."""
    with session_scope() as session:
        account = create_account(session, name)
        out.print(account.id)


@accounts_app.command("list")
def accounts_list() -> None:
    """List accounts."""
    with session_scope() as session:
        table = _table("id", "name", "created_at")
        for account in session.scalars(select(Account).order_by(Account.created_at)):
            table.add_row(account.id, account.name, iso(account.created_at))
        out.print(table)


# ---- tokens ---------------------------------------------------------------------------


@tokens_app.command("create")
def tokens_create(
    account: AccountOpt,
    permission: PermissionOpt = Permission.READ,
    name: Annotated[str, typer.Option(help="A label for people.")] = "",
) -> None:
    """Create an API token; the token is printed once, alone on the last line of stdout."""
    with session_scope() as session:
        token, secret = create_token(session, account, permission, name)
        err.print(f"token {token.id} ({token.permission}) for account {account}")
        out.print(secret)


@tokens_app.command("list")
def tokens_list(account: Annotated[str | None, typer.Option("--account")] = None) -> None:
    """List API tokens (never their secrets)."""
    with session_scope() as session:
        query = select(ApiToken).order_by(ApiToken.created_at)
        if account:
            query = query.where(ApiToken.account_id == account)
        table = _table("id", "account", "permission", "name", "created_at", "revoked_at")
        for t in session.scalars(query):
            table.add_row(
                t.id, t.account_id, t.permission, t.name, iso(t.created_at), iso(t.revoked_at) or ""
            )
        out.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from tokens list).")],
) -> None:
    """Revoke an API token; requests carrying it are refused from now on."""
    with session_scope() as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            err.print(f"[red]error:[/red] no token {token_id}")
            raise typer.Exit(1)
        token.revoked_at = token.revoked_at or utcnow()
        out.print(f"revoked {token_id}")


# ---- legacy keys ---------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    email: Annotated[str, typer.Option("--email", help="The X-Auth-Email this key goes with.")],
    account: AccountOpt,
    permission: PermissionOpt = Permission.WRITE,
) -> None:
    """Create a legacy API key; the key is printed once, alone on the last line of stdout."""
    with session_scope() as session:
        key, secret = create_key(session, email, account, permission)
        err.print(f"key {key.id} ({key.permission}) for {key.email} on account {account}")
        out.print(secret)


@keys_app.command("list")
def keys_list() -> None:
    """List legacy API keys (never their secrets)."""
    with session_scope() as session:
        table = _table("id", "email", "account", "permission", "created_at", "revoked_at")
        for k in session.scalars(select(ApiKey).order_by(ApiKey.created_at)):
            table.add_row(
                k.id,
                k.email,
                k.account_id,
                k.permission,
                iso(k.created_at),
                iso(k.revoked_at) or "",
            )
        out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from keys list).")],
) -> None:
    """Revoke a legacy API key."""
    with session_scope() as session:
        key = session.get(ApiKey, key_id)
        if key is None:
            err.print(f"[red]error:[/red] no key {key_id}")
            raise typer.Exit(1)
        key.revoked_at = key.revoked_at or utcnow()
        out.print(f"revoked {key_id}")


# ---- domains ---------------------------------------------------------------------------


@domains_app.command("activate")
def domains_activate(domain_id: Annotated[str, typer.Argument(help="The domain's id.")]) -> None:
    """Assert ownership of a domain: it becomes active and needs no DNS TXT record."""
    from mailpolicy.resources.domains import activate

    with session_scope() as session:
        row = activate(session, domain_id)
        out.print(f"{row.domain} ({row.id}) is active")
