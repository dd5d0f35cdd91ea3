"""The `mailpolicy` command: serve, migrate, administer accounts, tokens, keys and domains, and
read what happened (hit counts, the audit history, the messages decided on, what a change
would do).

A command never ends in a traceback: whatever stops it is told in one line on stderr (a few
when several settings are wrong at once), with a non-zero exit status: 2 for a bad argument or
setting, 1 for anything else. MAILPOLICY_DEBUG=1 lets an error through with its traceback.

Each command group lives in a module of its own, built on the shared `reporting` (how errors
are told) and `context` (settings, the database, tables). This module only puts them together,
so that no command module imports it and the order `mailpolicy --help` lists them in is set in
one place: the top-level commands in the order they are registered, then the groups.
"""

from __future__ import annotations

import sys

import typer

from mailpolicy.cli import access, db, domains, evaluate, history, messages, scan, serve
from mailpolicy.cli.reporting import Reporting, debug, fail

app = typer.Typer(
    help="mailpolicy: self-hosted email security policy service.",
    no_args_is_help=True,
    cls=Reporting,
    # With MAILPOLICY_DEBUG=1 errors come through as plain Python tracebacks.
    pretty_exceptions_enable=False,
)
app.add_typer(db.db_app, name="db")
app.add_typer(access.accounts_app, name="accounts")
app.add_typer(access.tokens_app, name="tokens")
app.add_typer(access.keys_app, name="keys")
app.add_typer(domains.domains_app, name="domains")
app.add_typer(messages.messages_app, name="messages")
app.command()(serve.serve)
app.command()(serve.milter)
app.command()(history.stats)
app.command()(history.audit)
app.command()(evaluate.evaluate)
app.command()(scan.scan)
app.command()(messages.whatif)


def main() -> None:
    """The `mailpolicy` command, as installed and as `python -m mailpolicy`."""
    try:
        app()
    except Exception as exc:  # outside any command: the group reports what happens inside one
        if debug():
            raise
        sys.exit(fail(exc))
