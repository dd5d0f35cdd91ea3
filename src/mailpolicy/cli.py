"""The `mailpolicy` command: serve, migrate, and administer accounts, tokens, keys and domains."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy as email_policy
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailpolicy import migrate
from mailpolicy.accounts import Account, create_account, require_account
from mailpolicy.auth import ApiKey, ApiToken, Permission, create_key, create_token
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
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def _show(table: Table) -> None:
    # Off a terminal rich would fit tables to 80 columns and cut ids that scripts need whole.
    console = out if out.is_terminal else Console(soft_wrap=True, width=10_000)
    console.print(table)


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
    from mailpolicy.server import server_config

    settings = Settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings.model_copy(update=overrides)
    migrate.upgrade(settings.database_url)
    _bootstrap(settings)
    uvicorn.Server(server_config(create_app(settings), settings)).run()


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
        _show(table)


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
        _show(table)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from tokens list).")],
) -> None:
    """Revoke an API token; requests carrying it are refused from now on."""
    _revoke(ApiToken, token_id, "token")


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
        _show(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from keys list).")],
) -> None:
    """Revoke a legacy API key."""
    _revoke(ApiKey, key_id, "key")


Secret = TypeVar("Secret", ApiToken, ApiKey)


def _revoke(model: type[Secret], secret_id: str, label: str) -> None:
    with session_scope() as session:
        row = session.get(model, secret_id)
        if row is None:
            err.print(f"[red]error:[/red] no {label} {secret_id}")
            raise typer.Exit(1)
        row.revoked_at = row.revoked_at or utcnow()
        out.print(f"revoked {secret_id}")


# ---- domains ---------------------------------------------------------------------------


@domains_app.command("activate")
def domains_activate(domain_id: Annotated[str, typer.Argument(help="The domain's id.")]) -> None:
    """Assert ownership of a domain: it becomes active and needs no DNS TXT record."""
    from mailpolicy.resources.domains import activate

    with session_scope() as session:
        row = activate(session, domain_id)
        out.print(f"{row.domain} ({row.id}) is active")


# ---- evaluate ---------------------------------------------------------------------------


def _headers_from_eml(path: Path) -> dict[str, Any]:
    """From, Reply-To, Return-Path and the To/Cc recipients of an RFC 5322 message."""
    with path.open("rb") as handle:
        parsed = BytesParser(policy=email_policy.default).parse(handle, headersonly=True)
    found: dict[str, Any] = {}
    if parsed["From"] is not None:
        found["header_from"] = str(parsed["From"])
    if parsed["Reply-To"] is not None:
        found["reply_to"] = str(parsed["Reply-To"])
    if parsed["Return-Path"] is not None:
        found["envelope_from"] = str(parsed["Return-Path"]).strip().strip("<>")
    to = [str(v) for v in parsed.get_all("To", []) + parsed.get_all("Cc", [])]
    found["recipients"] = [addr for _, addr in getaddresses(to) if addr]
    return found


def _pairs(values: list[str], option: str, size: int) -> list[list[str]]:
    pairs = []
    for value in values:
        parts = value.split(":", size - 1)
        if len(parts) < size - (1 if option == "--finding" else 0):
            shape = "KIND:DISPOSITION[:DOMAIN]" if option == "--finding" else "DOMAIN:RESULT"
            err.print(f"[red]error:[/red] {option} takes {shape}, got {value!r}")
            raise typer.Exit(2)
        pairs.append(parts)
    return pairs


@app.command()
def evaluate(
    account: AccountOpt,
    envelope_from: Annotated[
        str | None, typer.Option("--envelope-from", help="MAIL FROM ('' for a bounce).")
    ] = None,
    header_from: Annotated[str | None, typer.Option("--header-from", help="RFC 5322 From.")] = None,
    reply_to: Annotated[str | None, typer.Option("--reply-to")] = None,
    recipient: Annotated[
        list[str] | None, typer.Option("--rcpt", help="Envelope recipient (repeat).")
    ] = None,
    client_ip: Annotated[str | None, typer.Option("--client-ip")] = None,
    client_hostname: Annotated[str | None, typer.Option("--client-hostname")] = None,
    helo: Annotated[str | None, typer.Option("--helo")] = None,
    tls_protocol: Annotated[
        str | None, typer.Option("--tls-protocol", help="e.g. TLSv1.3; omit for plaintext.")
    ] = None,
    tls_cipher: Annotated[str, typer.Option("--tls-cipher")] = "unknown",
    spf: Annotated[
        str,
        typer.Option("--spf", help="pass, fail, softfail, neutral, none, temperror, permerror."),
    ] = "none",
    dkim: Annotated[
        list[str] | None, typer.Option("--dkim", help="DOMAIN:RESULT (repeat).")
    ] = None,
    dmarc: Annotated[str, typer.Option("--dmarc", help="pass, fail or none.")] = "none",
    finding: Annotated[
        list[str] | None, typer.Option("--finding", help="KIND:DISPOSITION[:DOMAIN] (repeat).")
    ] = None,
    eml: Annotated[
        Path | None,
        typer.Option(
            "--eml",
            exists=True,
            dir_okay=False,
            help="Read From/Reply-To (and defaults) from an RFC 5322 file.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Show what the account's settings do to one message, recipient by recipient, and why."""
    from pydantic import ValidationError

    from mailpolicy.evaluation import MessageBody
    from mailpolicy.handlers import validation_items
    from mailpolicy.snapshot import load_snapshot

    fields: dict[str, Any] = _headers_from_eml(eml) if eml else {}
    given = {
        "envelope_from": envelope_from,
        "header_from": header_from,
        "reply_to": reply_to,
        "recipients": recipient or None,
        "client_ip": client_ip,
        "client_hostname": client_hostname,
        "helo": helo,
    }
    fields.update({k: v for k, v in given.items() if v is not None})
    fields.setdefault("envelope_from", "")
    fields["tls"] = {"protocol": tls_protocol, "cipher": tls_cipher} if tls_protocol else None
    fields["auth"] = {
        "spf": spf,
        "dmarc": dmarc,
        "dkim": [{"domain": d, "result": r} for d, r in _pairs(dkim or [], "--dkim", 2)],
    }
    fields["findings"] = [
        {"kind": p[0], "disposition": p[1], **({"domain": p[2]} if len(p) > 2 else {})}
        for p in _pairs(finding or [], "--finding", 3)
    ]
    try:
        body = MessageBody.model_validate(fields)
    except ValidationError as exc:
        for item in validation_items([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]):
            err.print(f"[red]error:[/red] {item.message}")
        raise typer.Exit(2) from None

    from mailpolicy.engine import evaluate as run

    with session_scope() as session:
        require_account(session, account)
        verdict = run(body.to_message(), load_snapshot(session, account))
    if as_json:
        out.print_json(json.dumps(verdict.to_dict()))
        return
    for each in verdict.recipients:
        colour = "red" if each.action == "drop" else "green"
        flag = " (unprotected)" if each.unprotected else ""
        action = f"[{colour}]{each.action}[/{colour}]"
        out.print(f"[bold]{each.recipient}[/bold]: {action}, disposition {each.disposition}{flag}")
        out.print(f"  {escape(each.explanation)}")
        for r in each.reasons:
            mark = "[green]honoured[/green]" if r.honoured else "[yellow]overridden[/yellow]"
            where = f"{r.resource} {r.id}"
            text = escape(f"{where}: {r.pattern!r} matched {r.field} ({r.effect}); {r.note}")
            out.print(f"  - {mark} {text}")
