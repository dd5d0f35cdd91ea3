"""The `mailpolicy` command: serve, migrate, administer accounts, tokens, keys and domains, and
read what happened (hit counts, the audit history).

A command never ends in a traceback: whatever stops it is told in one line on stderr (a few
when several settings are wrong at once), with a non-zero exit status: 2 for a bad argument or
setting, 1 for anything else. MAILPOLICY_DEBUG=1 lets an error through with its traceback.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from alembic.util.exc import CommandError
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session
from typer.core import TyperGroup

from mailpolicy import migrate
from mailpolicy.access.accounts import Account, create_account, require_account
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
from mailpolicy.config import Settings
from mailpolicy.db import Database
from mailpolicy.errors import ApiError, ValidationFailed
from mailpolicy.resources.patterns import email_problem
from mailpolicy.timefmt import iso

ENV_PREFIX = "MAILPOLICY_"
DATABASE_VARIABLE = f"{ENV_PREFIX}DATABASE_URL"
DEBUG_VARIABLE = f"{ENV_PREFIX}DEBUG"
# Several problems at once (a message with many bad recipients, say) are cut to this many lines.
MAX_ERROR_LINES = 10
USAGE = 2  # exit status for a bad argument or setting, as for Typer's own usage errors
FAILURE = 1
MAX_PAGE = 1000  # what one query of a listing reads at most


class CliError(Exception):
    """Something the user can fix, said in a line (one per problem); `code` is the exit status."""

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(message)
        self.code = code


def _debug() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _masked(url: str) -> str:
    """A database URL as it may be shown: its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Whatever stands between the scheme and an @ may be a password.
        return f"{url.split(':', 1)[0]}:***@{url.rpartition('@')[2]}" if "@" in url else url


def _database_in_force() -> str:
    try:
        return _masked(Settings().database_url)
    except ValidationError:
        return "the database"


def _setting_problems(exc: ValidationError) -> list[str]:
    """One line per bad MAILPOLICY_* variable, naming it (and its value, for numbers and flags)."""
    lines = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        kind = error["type"]
        if kind == "bool_parsing":
            problem = "should be true or false"
        elif kind == "int_parsing":
            problem = "should be a whole number"
        elif kind == "float_parsing":
            problem = "should be a number"
        else:
            problem = error["msg"].removeprefix("Input ").removeprefix("Value error, ")
        info = Settings.model_fields.get(field)
        if info is not None and info.annotation in (bool, int, float):
            problem += f", got {error['input']!r}"
        lines.append(f"{ENV_PREFIX}{field.upper()} {problem}")
    return lines


def _problems(exc: Exception) -> tuple[list[str], int]:
    """What stopped a command, in lines for people, and the exit status that goes with it."""
    if isinstance(exc, CliError):
        return str(exc).splitlines(), exc.code
    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        return _setting_problems(exc), USAGE
    if isinstance(exc, ApiError):
        return [str(exc)], USAGE if isinstance(exc, ValidationFailed) else FAILURE
    if isinstance(exc, CommandError):
        return [f"cannot migrate the database: {exc}"], FAILURE
    if isinstance(exc, StatementError) and exc.orig is not None:
        # Never the statement or its parameters: those can hold secrets' digests.
        reason = f"{exc.orig} ({type(exc.orig).__name__})"
        return [f"database {_database_in_force()}: {reason}"], FAILURE
    if isinstance(exc, SQLAlchemyError):
        return [f"database {_database_in_force()}: {exc}"], FAILURE
    if isinstance(exc, ImportError):
        return [f"a module mailpolicy needs is missing: {exc}"], FAILURE
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return [f"{where}{exc.strerror}"], FAILURE
    kind = type(exc).__name__ if type(exc).__module__ == "builtins" else type(exc).__qualname__
    detail = f": {exc}" if str(exc) else ""
    return [
        f"unexpected {kind}{detail} (run with {DEBUG_VARIABLE}=1 to see the full traceback)"
    ], FAILURE


def _fail(exc: Exception) -> int:
    """Tell the user what stopped the command, in as few lines as it takes; the exit status."""
    lines, code = _problems(exc)
    lines = [_one_line(line) for line in lines] or ["failed"]
    if len(lines) > MAX_ERROR_LINES:
        more = len(lines) - MAX_ERROR_LINES + 1
        lines = [*lines[: MAX_ERROR_LINES - 1], f"... and {more} more problems"]
    for line in lines:
        err.print(f"[red]error:[/red] {escape(line)}", emoji=False)
    return code


# Typer's own exits and usage errors, and a closed pipe, are Typer's to report.
_TYPERS = (typer.Exit, typer.Abort, typer.TyperException, BrokenPipeError, EOFError)


class _Reporting(TyperGroup):
    """The command group that turns any error of a command into its one-line report."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _TYPERS:
            raise
        except Exception as exc:
            if _debug():
                raise
            raise typer.Exit(_fail(exc)) from None


app = typer.Typer(
    help="mailpolicy: self-hosted email security policy service.",
    no_args_is_help=True,
    cls=_Reporting,
    # With MAILPOLICY_DEBUG=1 errors come through as plain Python tracebacks.
    pretty_exceptions_enable=False,
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


def main() -> None:
    """The `mailpolicy` command, as installed and as `python -m mailpolicy`."""
    try:
        app()
    except Exception as exc:  # outside any command: the group reports what happens inside one
        if _debug():
            raise
        sys.exit(_fail(exc))


def _show(table: Table) -> None:
    # Off a terminal rich would fit tables to 80 columns and cut ids that scripts need whole.
    console = out if out.is_terminal else Console(soft_wrap=True, width=10_000)
    console.print(table)


AccountOpt = Annotated[
    str, typer.Option("--account", metavar="ID", help="Account id (32 hex characters).")
]
PermissionOpt = Annotated[Permission, typer.Option("--permission", help="read or write.")]


def _check_database_url(url: str) -> None:
    """Refuse a database URL that cannot work, before anything connects to it: one that does
    not parse, names a driver that is not installed, or an SQLite file whose directory cannot
    be made."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CliError(
            f"{DATABASE_VARIABLE}: {_masked(url)!r} is not a database URL; "
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


def _settings() -> Settings:
    """The MAILPOLICY_* settings in force, their database URL checked."""
    settings = Settings()
    _check_database_url(settings.database_url)
    return settings


@contextmanager
def session_scope(*, write: bool = True) -> Iterator[Session]:
    """A transaction on the migrated database; a read one (`write=False`) holds no write lock."""
    settings = _settings()
    migrate.upgrade(settings.database_url)
    database = Database(settings.database_url, settings.pool())
    try:
        with database.transaction(write=write) as session:
            yield session
    finally:
        database.dispose()


def _table(*columns: str) -> Table:
    return Table(*columns)


# ---- serve / db ---------------------------------------------------------------------------


@app.command()
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

    settings = _settings()
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
    finally:
        database.dispose()


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
    url = _settings().database_url
    _migrate("upgrade", url, revision)
    out.print(f"database at revision {migrate.current(url) or 'base'}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert migrations down to REVISION ('base' removes everything)."""
    url = _settings().database_url
    _migrate("downgrade", url, revision)
    out.print(f"database at revision {migrate.current(url) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision."""
    out.print(migrate.current(_settings().database_url) or "base")


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


def _revoke(model: type[Credential], secret_id: str, label: str) -> None:
    with session_scope() as session:
        if revoke(session, model, secret_id, CLI) is None:
            raise CliError(f"no {label} {secret_id} (see {label}s list)")
        out.print(f"revoked {secret_id}")


# ---- domains ---------------------------------------------------------------------------


@domains_app.command("activate")
def domains_activate(domain_id: Annotated[str, typer.Argument(help="The domain's id.")]) -> None:
    """Assert ownership of a domain: it becomes active and needs no DNS TXT record."""
    from mailpolicy.resources.domains import activate

    with session_scope() as session:
        row = activate(session, domain_id, CLI)
        out.print(f"{row.domain} ({row.id}) is active")


@domains_app.command("verify")
def domains_verify(domain_id: Annotated[str, typer.Argument(help="The domain's id.")]) -> None:
    """Look at a domain's DNS now: its ownership TXT record (a domain that timed out is looked
    for again), SPF and DMARC. Exits 0 when DNS could be asked, 1 when it could not."""
    from mailpolicy.dns.verifier import check

    settings = _settings()
    migrate.upgrade(settings.database_url)
    database = Database(settings.database_url, settings.pool())
    try:
        report = check(database, settings, domain_id, by_operator=True)
    finally:
        database.dispose()
    out.print(f"{report.domain} ({report.domain_id}): {report.status}", markup=False)
    lines = []
    if report.ownership:
        lines.append(("ownership", report.ownership))
    if report.txt_record:
        name, value = report.txt_record
        lines.append(("publish", f'{name} TXT "{value}"'))
    for label, finding in (("SPF", report.spf), ("DMARC", report.dmarc)):
        if finding is not None:
            lines.append((label, f"{finding.status}: {finding.detail}"))
    for label, text in lines:
        out.print(f"  {label + ':':<10} {text}", markup=False, highlight=False)
    if report.error:
        raise CliError(f"DNS could not be asked: {report.error}")


@domains_app.command("list")
def domains_list(account: Annotated[str | None, typer.Option("--account")] = None) -> None:
    """Every protected domain, its status and what its DNS last said."""
    from mailpolicy.resources.domains import ProtectedDomain

    with session_scope() as session:
        query = select(ProtectedDomain).order_by(ProtectedDomain.domain)
        if account is not None:
            require_account(session, account)
            query = query.where(ProtectedDomain.account_id == account)
        table = _table("id", "account", "domain", "status", "spf", "dmarc", "dns checked")
        for row in session.scalars(query):
            table.add_row(
                row.id,
                row.account_id,
                row.domain,
                row.status or "",
                row.spf_status or "not read",
                row.dmarc_status or "not read",
                iso(row.dns_checked_at) or "never",
            )
    _show(table)


# ---- the milter and its hit counts ---------------------------------------------------------


@app.command()
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
    settings = _settings()
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


@app.command()
def stats(
    account: AccountOpt,
    resource: Annotated[
        str | None, typer.Option("--resource", help="Only this resource, e.g. block_senders.")
    ] = None,
    stale_days: Annotated[
        int | None,
        typer.Option("--stale-days", min=1, help="Only entries no message matched in N days."),
    ] = None,
    order: Annotated[
        str, typer.Option("--order", help="hits, last_hit_at or created_at.")
    ] = "hits",
    ascending: Annotated[bool, typer.Option("--asc", help="Smallest first.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
) -> None:
    """How often real mail matched each settings entry, and when it last did."""
    from mailpolicy.resources import REGISTRY
    from mailpolicy.stats.report import EntryStatsQuery, entry_report

    try:
        query = EntryStatsQuery.model_validate(
            {"resource": resource, "stale_days": stale_days, "order": order, "per_page": limit}
        )
    except ValidationError as exc:
        problems = [f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" for e in exc.errors()]
        raise CliError("\n".join(problems), USAGE) from None
    with session_scope() as session:
        require_account(session, account)
        rows, total = entry_report(
            session,
            [spec for spec, _ in REGISTRY],
            account,
            resource=query.resource,
            stale_days=query.stale_days,
            order=query.order,
            descending=not ascending,
            per_page=query.per_page,
        )
    table = _table("resource", "id", "label", "hits", "last_hit_at", "created_at")
    for row in rows:
        table.add_row(
            row.resource,
            row.id,
            escape(row.label),
            str(row.hits),
            iso(row.last_hit_at) or "never",
            iso(row.created_at),
        )
    _show(table)
    err.print(f"{len(rows)} of {total} entries")


@app.command()
def audit(
    account: AccountOpt,
    resource: Annotated[
        str | None,
        typer.Option("--resource", help="Only this resource, e.g. block_senders, tokens, keys."),
    ] = None,
    entry_id: Annotated[
        str | None, typer.Option("--entry-id", metavar="ID", help="Only this entry's events.")
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor", metavar="ACTOR", help="Only events by token:ID, key:ID, cli or verifier."
        ),
    ] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="create, edit, replace, delete, activate, verify or revoke."),
    ] = None,
    batch_id: Annotated[
        str | None,
        typer.Option("--batch-id", metavar="ID", help="Only the events of one batch request."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="TIME", help="At or after, e.g. 2026-01-31T09:30:00Z."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", metavar="TIME", help="Before this RFC 3339 time.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most N events.")] = 100,
    ascending: Annotated[bool, typer.Option("--asc", help="Oldest first.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line, as the API shows events.")
    ] = False,
) -> None:
    """Who changed what and when: the account's audit history, newest first."""
    from mailpolicy.audit.query import AuditQuery, as_dict, list_events, summary

    given = {
        "resource": resource,
        "entry_id": entry_id,
        "actor": actor,
        "action": action,
        "batch_id": batch_id,
        "since": since,
        "until": until,
    }
    try:
        query = AuditQuery.model_validate(
            {
                **{k: v for k, v in given.items() if v is not None},
                "direction": "asc" if ascending else "desc",
                "per_page": min(limit, MAX_PAGE),
            }
        )
    except ValidationError as exc:
        problems = [
            f"--{str(e['loc'][0]).replace('_', '-')}: "
            + e["msg"].removeprefix("Value error, ").removeprefix("Input ")
            for e in exc.errors()
        ]
        raise CliError("\n".join(problems), USAGE) from None
    events: list[dict[str, Any]] = []
    lines: list[str] = []
    with session_scope(write=False) as session:
        require_account(session, account)
        total = 0
        while len(events) < limit:
            rows, total = list_events(session, account, query)
            for row in rows[: limit - len(events)]:
                events.append(as_dict(row))
                lines.append(summary(row))
            if len(rows) < query.per_page:
                break
            query = query.model_copy(update={"page": query.page + 1})
    if as_json:
        for event in events:
            typer.echo(json.dumps(event, ensure_ascii=False))
    else:
        table = _table(
            "id", "occurred_at", "actor", "action", "resource", "entry_id", "batch", "change"
        )
        for event, line in zip(events, lines, strict=True):
            table.add_row(
                str(event["id"]),
                event["occurred_at"],
                event["actor"],
                event["action"],
                event["resource"],
                event["entry_id"],
                event["batch_id"] or "",
                escape(line),
            )
        _show(table)
    err.print(f"{len(events)} of {total} events")


# ---- evaluate ---------------------------------------------------------------------------


def _fields_from_eml(path: Path) -> dict[str, Any]:
    from mailpolicy.evaluation.message import fields_from_eml

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"--eml {path}: {exc.strerror}", USAGE) from None
    return fields_from_eml(data)


def _pairs(values: list[str], option: str, size: int) -> list[list[str]]:
    pairs = []
    for value in values:
        parts = value.split(":", size - 1)
        if len(parts) < size - (1 if option == "--finding" else 0):
            shape = "KIND:DISPOSITION[:DOMAIN]" if option == "--finding" else "DOMAIN:RESULT"
            raise CliError(f"{option} takes {shape}, got {value!r}", USAGE)
        pairs.append(parts)
    return pairs


# Where each MessageBody field comes from on the command line, and from an --eml file.
_OPTIONS = {
    ("envelope_from",): "--envelope-from",
    ("header_from",): "--header-from",
    ("reply_to",): "--reply-to",
    ("recipients",): "--rcpt",
    ("client_ip",): "--client-ip",
    ("client_hostname",): "--client-hostname",
    ("helo",): "--helo",
    ("tls", "protocol"): "--tls-protocol",
    ("tls", "cipher"): "--tls-cipher",
    ("auth", "spf"): "--spf",
    ("auth", "dkim"): "--dkim",
    ("auth", "dmarc"): "--dmarc",
    ("findings",): "--finding",
    ("subject",): "--subject",
    ("body",): "--body",
}
_EML_SOURCES = {
    "envelope_from": "Return-Path header",
    "header_from": "From header",
    "reply_to": "Reply-To header",
    "recipients": "To and Cc recipients",
    "subject": "Subject header",
    "body": "text",
}
_EML_SUPPLIES = {"header_from": "a From header", "recipients": "To or Cc recipients"}


def _message_problems(exc: ValidationError, from_eml: set[str], eml: Path | None) -> list[str]:
    """MessageBody's complaints, each naming the option (or the --eml header) at fault."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = tuple(str(part) for part in error["loc"])
        key = next((k for k in _OPTIONS if loc[: len(k)] == k), loc[:1])
        field = key[0] if key else ""
        if field in from_eml:
            where = f"the {_EML_SOURCES.get(field, field)} of {eml}"
        else:
            where = _OPTIONS.get(key, field or "message")
        if error["type"] == "missing" or (field == "recipients" and error["type"] == "too_short"):
            supplied = (
                f" (or an --eml file with {_EML_SUPPLIES[field]})" if field in _EML_SUPPLIES else ""
            )
            lines.append(f"{_OPTIONS.get(key, field)} is required{supplied}")
            continue
        message = error["msg"].removeprefix("Value error, ")
        if message[:2].istitle():
            message = message[0].lower() + message[1:]
        lines.append(f"{where}: {message}")
    return lines


REQUIRED_UNLESS_EML = "[dim red]\\[required unless --eml has {}][/]"


@app.command()
def evaluate(
    account: AccountOpt,
    client_ip: Annotated[
        str,
        typer.Option(
            "--client-ip",
            metavar="IP",
            help="The IP address of the server that sent the message.",
        ),
    ],
    envelope_from: Annotated[
        str | None,
        typer.Option(
            "--envelope-from",
            metavar="ADDRESS",
            help="MAIL FROM ('' for a bounce); --eml gives its Return-Path.",
        ),
    ] = None,
    header_from: Annotated[
        str | None,
        typer.Option(
            "--header-from",
            metavar="ADDRESS",
            help="RFC 5322 From, display name allowed. " + REQUIRED_UNLESS_EML.format("From"),
        ),
    ] = None,
    reply_to: Annotated[
        str | None, typer.Option("--reply-to", metavar="ADDRESS", help="RFC 5322 Reply-To.")
    ] = None,
    recipient: Annotated[
        list[str] | None,
        typer.Option(
            "--rcpt",
            metavar="ADDRESS",
            help="Envelope recipient (repeat). " + REQUIRED_UNLESS_EML.format("To or Cc"),
        ),
    ] = None,
    client_hostname: Annotated[
        str | None, typer.Option("--client-hostname", metavar="HOST")
    ] = None,
    helo: Annotated[str | None, typer.Option("--helo", metavar="HOST")] = None,
    tls_protocol: Annotated[
        str | None,
        typer.Option("--tls-protocol", metavar="NAME", help="e.g. TLSv1.3; omit for plaintext."),
    ] = None,
    tls_cipher: Annotated[str, typer.Option("--tls-cipher", metavar="NAME")] = "unknown",
    spf: Annotated[
        str,
        typer.Option(
            "--spf",
            metavar="RESULT",
            help="pass, fail, softfail, neutral, none, temperror, permerror.",
        ),
    ] = "none",
    dkim: Annotated[
        list[str] | None,
        typer.Option("--dkim", metavar="DOMAIN:RESULT", help="A DKIM result (repeat)."),
    ] = None,
    dmarc: Annotated[
        str, typer.Option("--dmarc", metavar="RESULT", help="pass, fail or none.")
    ] = "none",
    finding: Annotated[
        list[str] | None,
        typer.Option(
            "--finding",
            metavar="KIND:DISPOSITION[:DOMAIN]",
            help="An upstream scanner's finding (repeat).",
        ),
    ] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", metavar="TEXT", help="The Subject (decoded).")
    ] = None,
    body_text: Annotated[
        str | None, typer.Option("--body", metavar="TEXT", help="The message's text.")
    ] = None,
    eml: Annotated[
        Path | None,
        typer.Option(
            "--eml",
            metavar="FILE",
            exists=True,
            dir_okay=False,
            help="An RFC 5322 message: its From, Reply-To, Return-Path, To/Cc, Subject and "
            "text parts; options given as well override what it says.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Show what the account's settings do to one message, recipient by recipient, and why.

    --account and --client-ip are required; --header-from and --rcpt too, unless an --eml
    file supplies them (its From, and its To and Cc).
    """
    from mailpolicy.evaluation.message import MessageBody
    from mailpolicy.evaluation.snapshots import load_snapshot

    fields: dict[str, Any] = _fields_from_eml(eml) if eml else {}
    from_eml = {k for k, v in fields.items() if v not in (None, [])}
    given = {
        "envelope_from": envelope_from,
        "header_from": header_from,
        "reply_to": reply_to,
        "recipients": recipient or None,
        "client_ip": client_ip,
        "client_hostname": client_hostname,
        "helo": helo,
        "subject": subject,
        "body": body_text,
    }
    given = {k: v for k, v in given.items() if v is not None}
    fields.update(given)
    from_eml -= set(given)
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
        raise CliError("\n".join(_message_problems(exc, from_eml, eml)), USAGE) from None

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
