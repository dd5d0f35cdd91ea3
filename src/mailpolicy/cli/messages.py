"""`mailpolicy messages` and `mailpolicy whatif`: the mail mailpolicy decided on, for the
operator with a shell.

`messages search` takes the investigate list's filters (checked by the API's own query model,
so the command line accepts what the API accepts); `show` and `trace` print one record;
`release` releases quarantined mail through Postfix as the API does, as the author `cli` in
the audit history. `whatif --file changes.json` replays recent mail with a proposed change,
the body the API's what-if takes, and applies nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from mailpolicy.access.accounts import require_account
from mailpolicy.audit.events import CLI
from mailpolicy.cli.context import AccountOpt, load_settings, session_scope, show
from mailpolicy.cli.reporting import USAGE, CliError, err, out
from mailpolicy.timefmt import iso

messages_app = typer.Typer(
    help="Message records: search, show, trace, release.", no_args_is_help=True
)

Option = typer.Option


def _problems(exc: ValidationError, options: bool = True) -> CliError:
    lines = []
    for error in exc.errors():
        where = "/".join(str(part) for part in error["loc"])
        name = f"--{where.replace('_', '-')}" if options else f"/{where}"
        lines.append(f"{name}: {error['msg']}")
    return CliError("\n".join(lines), USAGE)


@messages_app.command("search")
def search(
    account: AccountOpt,
    sender: Annotated[
        str | None, Option(help="Envelope or header sender: address or domain.")
    ] = None,
    recipient: Annotated[str | None, Option(help="A recipient: address or domain.")] = None,
    subject: Annotated[str | None, Option(help="Words of the subject, any order.")] = None,
    query: Annotated[
        str | None, Option(help="Words of sender, recipients, subject, Message-ID.")
    ] = None,
    disposition: Annotated[
        str | None, Option("--disposition", help="MALICIOUS, SPAM, ..., NONE.")
    ] = None,
    action: Annotated[
        str | None, Option(help="delivered, refused_at_rcpt, quarantined, ...")
    ] = None,
    quarantined: Annotated[bool, Option("--quarantined", help="Only mail still held.")] = False,
    start: Annotated[str | None, Option(help="RFC 3339; default 30 days ago.")] = None,
    end: Annotated[str | None, Option(help="RFC 3339; default now.")] = None,
    limit: Annotated[int, Option(min=1, max=1000)] = 50,
) -> None:
    """The account's message records that match, newest first."""
    from mailpolicy.messages.query import InvestigateQuery, list_records

    given: dict[str, Any] = {
        "sender": sender,
        "recipient": recipient,
        "subject": subject,
        "query": query,
        "final_disposition": disposition,
        "action": action,
        "start": start,
        "end": end,
        "per_page": limit,
    }
    if quarantined:
        given["delivery_status"] = "quarantined"
    try:
        filters = InvestigateQuery.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise _problems(exc) from None
    with session_scope(write=False) as session:
        require_account(session, account)
        page = list_records(session, account, filters)
        table = Table("id", "scanned_at", "from", "to", "subject", "disposition", "action")
        for record in page.records:
            recipients = page.recipients[record.id]
            table.add_row(
                record.id,
                iso(record.scanned_at),
                escape(record.envelope_from or "<>"),
                escape(", ".join(r.address for r in recipients)),
                escape(record.subject or ""),
                record.final_disposition,
                record.action,
            )
    show(table)
    err.print(f"{len(page.records)} of {page.total} messages")


def _one(account: str, record_id: str) -> dict[str, Any]:
    from mailpolicy.messages.query import as_wire, get_record, recipients_of

    with session_scope(write=False) as session:
        require_account(session, account)
        found = get_record(session, account, record_id)
        return as_wire(found, recipients_of(session, [found.id])[found.id])


RecordArg = Annotated[str, typer.Argument(metavar="ID", help="Investigate id or Postfix queue id.")]


@messages_app.command("show")
def show_message(account: AccountOpt, record_id: RecordArg) -> None:
    """One record, as the API's investigate answer (JSON)."""
    out.print_json(json.dumps(_one(account, record_id)))


@messages_app.command("trace")
def trace_message(account: AccountOpt, record_id: RecordArg) -> None:
    """One message's path: mailpolicy's decision, stage by stage, then Postfix's lines."""
    from mailpolicy.messages.query import get_record, recipients_of
    from mailpolicy.messages.trace import trace

    with session_scope(write=False) as session:
        require_account(session, account)
        found = get_record(session, account, record_id)
        told = trace(found, recipients_of(session, [found.id])[found.id])
    for side in ("inbound", "outbound"):
        lines = told[side]["lines"]
        if not lines:
            continue
        out.print(f"[bold]{side}[/bold]" + (" (pending)" if told[side]["pending"] else ""))
        for line in lines:
            out.print(f"  {line['logged_at']}  {escape(line['message'])}", soft_wrap=True)


@messages_app.command("release")
def release_messages(
    account: AccountOpt,
    record_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Investigate ids.")],
) -> None:
    """Release quarantined messages through Postfix's hold queue (as the API's release)."""
    from mailpolicy.messages import actions
    from mailpolicy.messages.release import PostfixQueue

    settings = load_settings()
    queue = PostfixQueue(settings.postfix_config_dir, settings.postfix_command_prefix)
    with session_scope() as session:
        require_account(session, account)
        results = actions.release(session, queue, account, record_ids, CLI)
    failed = False
    for result in results:
        if result.error:
            failed = True
            err.print(f"[red]{result.id}[/red]: {escape(result.error)}")
        else:
            out.print(f"{result.id}: released to {', '.join(result.delivered)}")
    if failed:
        raise typer.Exit(1)


def whatif(
    account: AccountOpt,
    file: Annotated[
        Path,
        Option(
            "--file", exists=True, dir_okay=False, help="The proposed changes, as the API's body."
        ),
    ],
    start: Annotated[str | None, Option(help="RFC 3339; default 7 days ago.")] = None,
    end: Annotated[str | None, Option(help="RFC 3339; default now.")] = None,
    as_json: Annotated[bool, Option("--json", help="The API's answer, as JSON.")] = False,
) -> None:
    """Which recent messages a settings change would decide differently; applies nothing."""
    from pydantic import TypeAdapter

    from mailpolicy.audit.query import Instant
    from mailpolicy.config import Rules
    from mailpolicy.db import Database
    from mailpolicy.messages.whatif import body_model, what_if

    try:
        proposal = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CliError(f"{file}: not JSON ({exc})", USAGE) from None
    try:
        body = body_model().model_validate(proposal)
    except ValidationError as exc:
        raise _problems(exc, options=False) from None
    instant = TypeAdapter(Instant)
    bounds: list[dt.datetime | None] = []
    for name, value in (("start", start), ("end", end)):
        try:
            bounds.append(instant.validate_python(value))
        except ValidationError as exc:
            raise CliError(f"--{name}: {exc.errors()[0]['msg']}", USAGE) from None
    settings = load_settings()
    with session_scope(write=False) as session:
        require_account(session, account)
    database = Database(settings.database_url, settings.pool())
    try:
        result = what_if(
            database,
            account,
            body,
            Rules(allow_private_ips=settings.allow_private_ips),
            bounds[0],
            bounds[1],
        )
    finally:
        database.dispose()
    if as_json:
        out.print_json(json.dumps(result))
        return
    table = Table("id", "scanned_at", "recipient", "before", "after", "why")
    for message in result["messages"]:
        for change in message["recipients"]:
            before, after = change["before"], change["after"]
            table.add_row(
                message["id"],
                message["scanned_at"],
                escape(change["address"]),
                f"{before['disposition']} {before['action']}",
                f"{after['disposition']} {after['action']}",
                escape(after["explanation"]),
            )
    show(table)
    err.print(
        f"{result['changed_messages']} of {result['examined']} messages would change "
        f"({result['not_replayable']} could not be replayed)"
    )
