"""`mailpolicy domains`: the protected domains, activated by the operator's word or verified
by their DNS.

`verify` asks DNS now rather than waiting for the background verifier, and says what it found
line by line. A record that is missing or wrong is an answer, so it exits 0; it exits 1 when
DNS could not be asked at all (or there is no such domain).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from mailpolicy import migrate
from mailpolicy.access.accounts import require_account
from mailpolicy.audit.events import CLI
from mailpolicy.cli.context import load_settings, session_scope, show
from mailpolicy.cli.reporting import CliError, out
from mailpolicy.db import Database
from mailpolicy.timefmt import iso

domains_app = typer.Typer(help="Protected domains.", no_args_is_help=True)


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

    settings = load_settings()
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
        table = Table("id", "account", "domain", "status", "spf", "dmarc", "dns checked")
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
    show(table)
