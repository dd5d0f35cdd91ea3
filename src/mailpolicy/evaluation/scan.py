"""POST /accounts/{account_id}/email-security/scan: a whole message (RFC 5322 bytes) through the
detections and the settings, exactly as the milter would take it at the end of the message.

The message is read into the milter's own `Transaction` (headers as Postfix passes them, the
body after them), scanned by rspamd with the envelope the query gives, and decided by the
engine with the findings for this account (lookalikes of its own domains included). The answer
is evaluate's, plus what was found and how the scan went. Nothing is recorded or delivered.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from email.utils import getaddresses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy.orm import Session

from mailpolicy.api.deps import ReadAccess, ReadUnit
from mailpolicy.api.envelope import Closed, answers, ok, single
from mailpolicy.api.schemas import NoNul
from mailpolicy.detect.pipeline import Detected, Detector
from mailpolicy.engine import Snapshot, TLSInfo, evaluate
from mailpolicy.errors import ValidationFailed
from mailpolicy.evaluation.endpoints import RecipientVerdictRead
from mailpolicy.evaluation.message import FindingDisposition, FindingKind, fields_from_eml
from mailpolicy.evaluation.snapshots import SnapshotCache
from mailpolicy.milter.session import Connection, Transaction, build_message, detect
from mailpolicy.resources.patterns import email_problem

# As many recipients as a single SMTP transaction takes in Postfix's default configuration.
MAX_RECIPIENTS = 1000
HEADER_LINE_LIMIT = 998
# The largest request body any configuration admits (MAILPOLICY_MAX_BODY_BYTES is at most this).
MAX_MESSAGE_BYTES = 1 << 30  # RFC 5322 2.1.1, the limit a line of a header may not pass


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"'{value}' is not an IPv4 or IPv6 address") from None


def _sender(value: str) -> str:
    stripped = value.strip().strip("<>")
    problem = email_problem(stripped) if stripped else None
    if problem:
        raise ValueError(problem)
    return stripped


def _recipients(value: str) -> str:
    listed = [part.strip().strip("<>") for part in value.split(",")]
    if not any(listed):
        raise ValueError("give at least one address, e.g. 'ann@example.com,bob@example.com'")
    if len(listed) > MAX_RECIPIENTS:
        raise ValueError(f"at most {MAX_RECIPIENTS} recipients, {len(listed)} given")
    for number, address in enumerate(listed, 1):
        problem = email_problem(address)
        if problem:
            raise ValueError(f"recipient {number} ('{address}'): {problem}")
    return ",".join(listed)


class ScanQuery(NoNul, BaseModel):
    model_config = {"extra": "forbid"}
    client_ip: Annotated[str, Field(max_length=64), AfterValidator(_ip)] = Field(
        description="The address the message came from, as the MTA saw it.",
        examples=["192.0.2.25"],
    )
    envelope_from: Annotated[str, Field(max_length=998), AfterValidator(_sender)] | None = Field(
        default=None,
        description="MAIL FROM (default: the message's Return-Path, else its From address; "
        "empty for a bounce).",
    )
    recipients: Annotated[str, Field(max_length=200_000), AfterValidator(_recipients)] | None = (
        Field(
            default=None,
            description="RCPT TO, comma-separated (default: the To and Cc addresses).",
            examples=["ann@example.com,bob@example.com"],
        )
    )
    client_hostname: str | None = Field(default=None, max_length=253)
    helo: str | None = Field(default=None, max_length=253)
    tls: str | None = Field(
        default=None,
        max_length=64,
        description="The TLS protocol of the session (none: plaintext).",
        examples=["TLSv1.3"],
    )
    tls_cipher: str | None = Field(default=None, max_length=255)


class FindingRead(Closed):
    kind: FindingKind
    disposition: FindingDisposition
    domain: str | None
    source: str | None = Field(description="The engine: rspamd, clamav, dmarc, rdap, lookalike.")
    label: str | None = Field(description="What it saw (a symbol, a signature, a domain).")


class SymbolRead(Closed):
    name: str
    score: float
    options: list[str]


class ScanSummaryRead(Closed):
    engine: Literal["rspamd"]
    status: Literal["off", "ok", "failed", "skipped"] = Field(
        description="off: no rspamd is configured; failed: rspamd did not answer in time or "
        "refused; skipped: larger than scan_max_bytes."
    )
    detail: str | None
    action: str | None
    score: float | None
    required_score: float | None
    symbols: list[SymbolRead]


class AuthenticationRead(Closed):
    spf: str
    dkim: list[dict[str, str]]
    dmarc: str


class ScanRead(Closed):
    recipients: list[RecipientVerdictRead]
    findings: list[FindingRead] = Field(description="Every detection for this account.")
    scan: ScanSummaryRead
    authentication: AuthenticationRead = Field(
        description="The SPF, DKIM and DMARC results the engine read (trusted ones only)."
    )
    deferred: bool = Field(
        description="The scan failed and scan_failure is tempfail: the milter would answer "
        "451 and decide nothing. The verdicts say what it decides without the scan."
    )


router = APIRouter(prefix="/accounts/{account_id}/email-security", tags=["evaluate"])

_RFC822_BODY = {
    "requestBody": {
        "required": True,
        "description": "The whole message as it would arrive over SMTP: headers, an empty "
        "line, the body. At most MAILPOLICY_MAX_BODY_BYTES (1 MiB unless configured; never "
        "over 1 GiB), or a 413.",
        "content": {
            "message/rfc822": {
                "schema": {"type": "string", "format": "binary", "maxLength": MAX_MESSAGE_BYTES}
            }
        },
    }
}


def split_message(raw: bytes) -> tuple[list[tuple[str, bytes]], bytes]:
    """The header fields (name, value as Postfix passes it: folding kept, the space after the
    colon dropped) and the body of an RFC 5322 message, CRLF line ends throughout."""
    data = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if data.startswith(b"\r\n"):
        head, body = b"", data[2:]
    else:
        head, separator, body = data.partition(b"\r\n\r\n")
        if not separator:
            head, body = data.removesuffix(b"\r\n"), b""
    fields: list[tuple[str, bytes]] = []
    for number, line in enumerate(head.split(b"\r\n") if head else [], 1):
        if line[:1] in (b" ", b"\t") and fields:
            previous, folded = fields[-1]
            fields[-1] = (previous, folded + b"\r\n" + line)
            continue
        key, colon, value = line.partition(b":")
        printable = all(33 <= c <= 126 for c in key)
        if not colon or not key or not printable or len(line) > HEADER_LINE_LIMIT:
            shown = line[:60].decode("utf-8", "replace")
            raise ValidationFailed(
                f"line {number} of the message ('{shown}') is not a header field: a message "
                "starts with its header fields ('Name: value'), then an empty line, then the "
                "body (send the message itself, as Content-Type message/rfc822)",
                pointer="",
            )
        fields.append((key.decode("ascii"), value.removeprefix(b" ")))
    if not fields:
        raise ValidationFailed(
            "the message has no header fields: send the whole message, headers first "
            "(From, To, Subject, ...), as Content-Type message/rfc822",
            pointer="",
        )
    return fields, body


def _transaction(
    fields: list[tuple[str, bytes]],
    body: bytes,
    sender: str,
    recipients: list[str],
    *,
    body_limit: int,
    scan_cap: int,
) -> Transaction:
    transaction = Transaction(
        sender=sender,
        recipients=list(recipients),
        wants_body=True,
        body_limit=body_limit,
        scan_cap=scan_cap,
    )
    for name, value in fields:
        transaction.add_header(name, value)
    transaction.add_body(body)
    return transaction


def _envelope(query: ScanQuery, raw: bytes) -> tuple[str, list[str]]:
    """MAIL FROM and RCPT TO: from the query, else from the message's own headers."""
    found = fields_from_eml(raw)
    sender = query.envelope_from
    if sender is None:
        given = found.get("envelope_from")
        if given is None:
            people = getaddresses([str(found.get("header_from", ""))])
            given = next((address for _, address in people if "@" in address), "")
        sender = "" if given and email_problem(given) else given
    if query.recipients is not None:
        recipients = query.recipients.split(",")
    else:
        recipients = [r for r in found.get("recipients", []) if not email_problem(r)]
        if not recipients:
            raise ValidationFailed(
                "the message has no To or Cc address to decide for: name the recipients "
                "with the query parameter recipients=ann@example.com,bob@example.com",
                pointer="/recipients",
            )
    return sender, recipients[:MAX_RECIPIENTS]


@dataclass(frozen=True)
class Prepared:
    """One message to scan: what the milter would hold of it at the end of the message."""

    connection: Connection
    transaction: Transaction
    recipients: list[str]


def prepare(raw: bytes, query: ScanQuery, detector: Detector, body_limit: int) -> Prepared:
    """The message and its envelope, as the milter would have them; a ValidationFailed names
    what is wrong with either."""
    if not raw.strip():
        raise ValidationFailed(
            "a message is required: send it as the request body, Content-Type message/rfc822 "
            "(e.g. curl --data-binary @message.eml)",
            pointer="",
        )
    fields, body = split_message(raw)
    sender, recipients = _envelope(query, raw)
    transaction = _transaction(
        fields,
        body,
        sender,
        recipients,
        body_limit=body_limit,
        scan_cap=detector.scan_max_bytes if detector.scanning else 0,
    )
    tls = TLSInfo(query.tls, query.tls_cipher or "") if query.tls else None
    connection = Connection(query.client_ip, query.client_hostname, query.helo, tls)
    return Prepared(connection, transaction, recipients)


def scan(prepared: Prepared, detector: Detector, trusted_id: str | None) -> Detected:
    """Every detection that does not depend on the account (it waits on rspamd and RDAP)."""
    return detect(
        detector, prepared.connection, prepared.transaction, trusted_id=trusted_id, queue_id=None
    )


def answer(
    prepared: Prepared,
    detected: Detected,
    detector: Detector,
    trusted_id: str | None,
    account_id: str,
    snapshot: Snapshot,
) -> dict[str, Any]:
    """The scan's answer for one account: evaluate's verdicts, the findings, the scan."""
    message = build_message(
        prepared.connection,
        prepared.transaction,
        prepared.recipients,
        trusted_id,
        detected.for_account(account_id, snapshot),
        detected.auth_results,
    )
    verdict: dict[str, Any] = evaluate(message, snapshot).to_dict()
    auth = message.auth
    return {
        **verdict,
        "findings": [asdict(finding) for finding in message.findings],
        "scan": detected.scan.summary(),
        "authentication": {
            "spf": auth.spf,
            "dkim": [{"domain": d.domain, "result": d.result} for d in auth.dkim],
            "dmarc": auth.dmarc,
        },
        "deferred": detected.scan.status == "failed" and detector.failure == "tempfail",
    }


@router.post(
    "/scan",
    summary="Scan a message and evaluate it against the settings",
    responses=answers(
        single(ScanRead), "Per recipient: the verdict and why, with every detection."
    ),
    openapi_extra=_RFC822_BODY,
)
async def scan_message(
    request: Request,
    access: ReadAccess,
    unit: ReadUnit,
    query: Annotated[ScanQuery, Query()],
) -> JSONResponse:
    """Run one whole message through rspamd, ClamAV and mailpolicy's own detections, then the
    account's settings, as the milter would at the end of the message. Nothing is kept."""
    detector: Detector = request.app.state.detector
    trusted_id: str | None = request.app.state.trusted_authserv_id
    prepared = prepare(
        await request.body(), query, detector, request.app.state.milter_max_body_bytes
    )
    # The scan waits on rspamd (and RDAP): off the event loop, and before any database read,
    # so no connection is held while it waits.
    detected = await run_in_threadpool(scan, prepared, detector, trusted_id)
    cache: SnapshotCache = request.app.state.snapshots

    def work(session: Session) -> dict[str, Any]:
        snapshot = cache.get(session, access.account_id)
        return answer(prepared, detected, detector, trusted_id, access.account_id, snapshot)

    return ok(await unit(work))
