"""`mailpolicy scan FILE.eml`: one whole message through rspamd (ClamAV behind it), mailpolicy's
own detections and the account's settings, as the milter would take it, and as POST /scan
answers. The detections are configured by the same MAILPOLICY_ settings as the milter's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape

from mailpolicy.access.accounts import require_account
from mailpolicy.cli.context import AccountOpt, load_settings, session_scope
from mailpolicy.cli.evaluate import ClientHostnameOpt, HeloOpt, TlsProtocolOpt, print_verdicts
from mailpolicy.cli.reporting import USAGE, CliError, out
from mailpolicy.errors import ValidationFailed

# Where each ScanQuery field comes from on the command line.
_OPTIONS = {
    "client_ip": "--client-ip",
    "envelope_from": "--envelope-from",
    "recipients": "--rcpt",
    "client_hostname": "--client-hostname",
    "helo": "--helo",
    "tls": "--tls-protocol",
    "tls_cipher": "--tls-cipher",
}


def scan(
    message: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", exists=True, dir_okay=False, help="The message (RFC 5322, .eml)."
        ),
    ],
    account: AccountOpt,
    client_ip: Annotated[
        str,
        typer.Option(
            "--client-ip", metavar="IP", help="The address of the server that sent the message."
        ),
    ],
    envelope_from: Annotated[
        str | None,
        typer.Option(
            "--envelope-from",
            metavar="ADDRESS",
            help="MAIL FROM ('' for a bounce); default: Return-Path, else the From address.",
        ),
    ] = None,
    recipient: Annotated[
        list[str] | None,
        typer.Option(
            "--rcpt", metavar="ADDRESS", help="Envelope recipient (repeat); default: To and Cc."
        ),
    ] = None,
    client_hostname: ClientHostnameOpt = None,
    helo: HeloOpt = None,
    tls_protocol: TlsProtocolOpt = None,
    tls_cipher: Annotated[str | None, typer.Option("--tls-cipher", metavar="NAME")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Scan a message and show what the account's settings do to it, recipient by recipient,
    with every detection and the setting that overrode it. Nothing is kept or sent."""
    from mailpolicy.detect.pipeline import Detector
    from mailpolicy.evaluation.scan import ScanQuery, answer, prepare
    from mailpolicy.evaluation.scan import scan as run_scan
    from mailpolicy.evaluation.snapshots import load_snapshot

    given = {
        "client_ip": client_ip,
        "envelope_from": envelope_from,
        "recipients": ",".join(recipient) if recipient else None,
        "client_hostname": client_hostname,
        "helo": helo,
        "tls": tls_protocol,
        "tls_cipher": tls_cipher,
    }
    try:
        query = ScanQuery.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        problems = [
            f"{_OPTIONS.get(str(e['loc'][0]), str(e['loc'][0]))}: "
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors(include_url=False)
        ]
        raise CliError("\n".join(problems), USAGE) from None
    try:
        raw = message.read_bytes()
    except OSError as exc:
        raise CliError(f"{message}: {exc.strerror}", USAGE) from None
    settings = load_settings()
    detector = Detector(settings)
    try:
        try:
            prepared = prepare(raw, query, detector, settings.milter_max_body_bytes)
        except ValidationFailed as exc:
            words = str(exc).replace(
                "the query parameter recipients=ann@example.com,bob@example.com",
                "--rcpt ADDRESS (once for each)",
            )
            raise CliError(f"{message}: {words}", USAGE) from None
        trusted = settings.trusted_authserv_id
        detected = run_scan(prepared, detector, trusted)
        with session_scope(write=False) as session:
            require_account(session, account)
            told = answer(
                prepared, detected, detector, trusted, account, load_snapshot(session, account)
            )
    finally:
        detector.close()
    if as_json:
        out.print_json(json.dumps(told))
        return
    summary = told["scan"]
    if summary["status"] == "ok":
        out.print(
            f"rspamd: action {summary['action']!r}, score {summary['score']} "
            f"(reject at {summary['required_score']})"
        )
    else:
        detail = f": {summary['detail']}" if summary["detail"] else ""
        out.print(escape(f"rspamd: {summary['status']}{detail}"))
    if told["deferred"]:
        out.print("[yellow]the milter would answer 451 (scan_failure is tempfail)[/yellow]")
    for finding in told["findings"]:
        where = f" ({finding['domain']})" if finding["domain"] else ""
        out.print(
            escape(
                f"found {finding['disposition']} by {finding['source'] or 'upstream'}: "
                f"{finding['label'] or finding['kind']}{where}"
            )
        )
    print_verdicts(told["recipients"])
