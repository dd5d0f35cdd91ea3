"""`mailpolicy accounts`, `tokens` and `keys`: who may use the API, and with what.

A secret (a token or a legacy key) is printed once, alone on the last line of stdout, so a
script can take it with `tail -1`; what it is for goes to stderr. Listings never show secrets.
Creating or revoking one is recorded in the audit history with `cli` as its actor.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from mailpolicy.access.accounts import Account, create_account
from mailpolicy.access.credentials import (
    ApiKey,
    ApiToken,
    Credential,
    Permission,
    create_key,
    create_token,
    revoke,
)
from mailpolicy.audit.events import CLI
from mailpolicy.cli.context import AccountOpt, session_scope, show
from mailpolicy.cli.reporting import USAGE, CliError, err, out
from mailpolicy.resources.patterns import email_problem
from mailpolicy.timefmt import iso

accounts_app = typer.Typer(help="Accounts.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (Authorization: Bearer).", no_args_is_help=True)
keys_app = typer.Typer(help="Legacy API keys (X-Auth-Email + X-Auth-Key).", no_args_is_help=True)

PermissionOpt = Annotated[Permission, typer.Option("--permission", help="read or write.")]


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
        table = Table("id", "name", "created_at")
        for account in session.scalars(select(Account).order_by(Account.created_at)):
            table.add_row(account.id, account.name, iso(account.created_at))
        show(table)


# ---- tokens ---------------------------------------------------------------------------


@tokens_app.command("create")
def tokens_create(
    account: AccountOpt,
    permission: PermissionOpt = Permission.READ,
    name: Annotated[str, typer.Option(help="A label for people.")] = "",
) -> None:
    """Create an API token; the token is printed once, alone on the last line of stdout."""
    with session_scope() as session:
        token, secret = create_token(session, account, permission, name, by=CLI)
        err.print(f"token {token.id} ({token.permission}) for account {account}")
        out.print(secret)


@tokens_app.command("list")
def tokens_list(account: Annotated[str | None, typer.Option("--account")] = None) -> None:
    """List API tokens (never their secrets)."""
    with session_scope() as session:
        query = select(ApiToken).order_by(ApiToken.created_at)
        if account:
            query = query.where(ApiToken.account_id == account)
        table = Table("id", "account", "permission", "name", "created_at", "revoked_at")
        for t in session.scalars(query):
            table.add_row(
                t.id, t.account_id, t.permission, t.name, iso(t.created_at), iso(t.revoked_at) or ""
            )
        show(table)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from tokens list).")],
) -> None:
    """Revoke an API token; requests carrying it are refused from now on."""
    _revoke(ApiToken, token_id, "token")


# ---- legacy keys ---------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    email: Annotated[
        str,
        typer.Option("--email", metavar="ADDRESS", help="The X-Auth-Email this key goes with."),
    ],
    account: AccountOpt,
    permission: PermissionOpt = Permission.WRITE,
) -> None:
    """Create a legacy API key; the key is printed once, alone on the last line of stdout."""
    problem = email_problem(email.strip())
    if problem:
        raise CliError(f"--email: {problem}", USAGE)
    with session_scope() as session:
        key, secret = create_key(session, email, account, permission, by=CLI)
        err.print(f"key {key.id} ({key.permission}) for {key.email} on account {account}")
        out.print(secret)


@keys_app.command("list")
def keys_list() -> None:
    """List legacy API keys (never their secrets)."""
    with session_scope() as session:
        table = Table("id", "email", "account", "permission", "created_at", "revoked_at")
        for k in session.scalars(select(ApiKey).order_by(ApiKey.created_at)):
            table.add_row(
                k.id,
                k.email,
                k.account_id,
                k.permission,
                iso(k.created_at),
                iso(k.revoked_at) or "",
            )
        show(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from keys list).")],
) -> None:
    """Revoke a legacy API key."""
    _revoke(ApiKey, key_id, "key")


def _revoke(model: type[Credential], secret_id: str, label: str) -> None:
    with session_scope() as session:
        if revoke(session, model, secret_id, CLI) is None:
            raise CliError(f"no {label} {secret_id} (see {label}s list)")
        out.print(f"revoked {secret_id}")
