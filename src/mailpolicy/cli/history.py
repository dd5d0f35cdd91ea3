"""`mailpolicy stats` and `mailpolicy audit`: what happened, read back. How often real mail
matched each settings entry, and who changed what and when.

Both check their options with the API's own query models, so the command line accepts and
refuses exactly what the API does, and both name the option at fault in the API's words.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from mailpolicy.access.accounts import require_account
from mailpolicy.cli.context import AccountOpt, session_scope, show
from mailpolicy.cli.reporting import USAGE, CliError, err
from mailpolicy.timefmt import iso

MAX_PAGE = 1000  # what one query of a listing reads at most


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
    table = Table("resource", "id", "label", "hits", "last_hit_at", "created_at")
    for row in rows:
        table.add_row(
            row.resource,
            row.id,
            escape(row.label),
            str(row.hits),
            iso(row.last_hit_at) or "never",
            iso(row.created_at),
        )
    show(table)
    err.print(f"{len(rows)} of {total} entries")


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
        table = Table(
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
        show(table)
    err.print(f"{len(events)} of {total} events")
