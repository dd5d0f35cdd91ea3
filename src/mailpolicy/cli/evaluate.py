"""`mailpolicy evaluate`: what the account's settings do to one message, recipient by
recipient, and why, without sending it.

The message is given by options, by an --eml file, or both (options override what the file
says), and is checked by the API's own MessageBody; each complaint is turned back into the
option, or the --eml header, it came from. The engine is imported only once the message is
valid, and through `mailpolicy.engine` at the time of the call, which is where tests replace it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape

from mailpolicy.access.accounts import require_account
from mailpolicy.cli.context import AccountOpt, session_scope
from mailpolicy.cli.reporting import USAGE, CliError, out


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


# The connection's options, as evaluate and scan both take them.
ClientHostnameOpt = Annotated[str | None, typer.Option("--client-hostname", metavar="HOST")]
HeloOpt = Annotated[str | None, typer.Option("--helo", metavar="HOST")]
TlsProtocolOpt = Annotated[
    str | None,
    typer.Option("--tls-protocol", metavar="NAME", help="e.g. TLSv1.3; omit for plaintext."),
]
REQUIRED_UNLESS_EML = "[dim red]\\[required unless --eml has {}][/]"


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
    client_hostname: ClientHostnameOpt = None,
    helo: HeloOpt = None,
    tls_protocol: TlsProtocolOpt = None,
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
    print_verdicts(verdict.to_dict()["recipients"])


def print_verdicts(recipients: list[dict[str, Any]]) -> None:
    """Each recipient's verdict as evaluate (and scan) answer it, with every reason."""
    for each in recipients:
        colour = "red" if each["action"] == "drop" else "green"
        flag = " (unprotected)" if each["unprotected"] else ""
        action = f"[{colour}]{each['action']}[/{colour}]"
        out.print(
            f"[bold]{each['recipient']}[/bold]: {action}, disposition {each['disposition']}{flag}"
        )
        out.print(f"  {escape(each['explanation'])}")
        for r in each["reasons"]:
            mark = "[green]honoured[/green]" if r["honoured"] else "[yellow]overridden[/yellow]"
            where = f"{r['resource']} {r['id']}"
            text = f"{where}: {r['pattern']!r} matched {r['field']} ({r['effect']}); {r['note']}"
            if r.get("overridden_by"):
                text += f"; overridden by {r['overridden_by']}"
            out.print(f"  - {mark} {escape(text)}")
