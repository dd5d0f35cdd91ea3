"""A message as the policy reads it, from the outside: the body of POST /evaluate (which the
CLI's `mailpolicy evaluate` validates too), and the fields an RFC 5322 file gives it.
"""

from __future__ import annotations

import ipaddress
from email.utils import getaddresses
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from mailpolicy import mime
from mailpolicy.api.schemas import Body
from mailpolicy.engine import AuthResults, DKIMResult, Finding, Message, TLSInfo
from mailpolicy.resources.patterns import email_problem

SpfResult = Literal["pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"]
DkimResult = Literal["pass", "fail", "neutral", "none", "policy", "temperror", "permerror"]
DmarcResult = Literal["pass", "fail", "none"]
FindingKind = Literal["content", "recent_domain", "lookalike_domain"]
FindingDisposition = Literal["MALICIOUS", "MALICIOUS-BEC", "SUSPICIOUS", "SPAM", "SPOOF", "BULK"]
# A Subject longer than this is not a header any mail system would pass on; the text is
# bounded by the request body limit as well.
MAX_SUBJECT = 16_384
MAX_TEXT = 1_000_000


def _address(value: str) -> str:
    problem = email_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _envelope_sender(value: str) -> str:
    # An empty MAIL FROM (<>) is a bounce, and legitimate.
    stripped = value.strip().strip("<>")
    return _address(stripped) if stripped else ""


def _header_address(value: str) -> str:
    addresses = [addr for _, addr in getaddresses([value]) if "@" in addr]
    if not addresses:
        raise ValueError("must contain an email address, e.g. 'Jane Doe <jane@example.com>'")
    return value


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"'{value}' is not an IPv4 or IPv6 address") from None


class TLSBody(Body):
    protocol: str = Field(max_length=64, examples=["TLSv1.3"])
    cipher: str = Field(max_length=255, examples=["TLS_AES_256_GCM_SHA384"])


class DKIMBody(Body):
    domain: str = Field(max_length=253)
    result: DkimResult


class AuthBody(Body):
    spf: SpfResult = "none"
    dkim: list[DKIMBody] = Field(default_factory=list, max_length=50)
    dmarc: DmarcResult = "none"


class FindingBody(Body):
    kind: FindingKind
    disposition: FindingDisposition
    domain: str | None = Field(default=None, max_length=253)
    source: str | None = Field(
        default=None,
        max_length=64,
        description="What found it: rspamd, clamav, lookalike, rdap, dmarc, or an engine of "
        "your own. A finding with a source is told in the verdict's reasons.",
        examples=["rspamd"],
    )
    label: str | None = Field(
        default=None,
        max_length=200,
        description="What the source saw: symbol names, a signature, the domain imitated.",
        examples=["GTUBE"],
    )


class MessageBody(Body):
    """A message as the policy sees it: envelope, headers, connection and upstream findings."""

    envelope_from: Annotated[str, AfterValidator(_envelope_sender)] = Field(
        max_length=998, description="MAIL FROM; empty for bounces."
    )
    header_from: Annotated[str, AfterValidator(_header_address)] = Field(
        max_length=998, description="RFC 5322 From, display name allowed."
    )
    reply_to: Annotated[str, AfterValidator(_header_address)] | None = Field(
        default=None, max_length=998
    )
    recipients: list[Annotated[str, Field(max_length=998), AfterValidator(_address)]] = Field(
        min_length=1, max_length=1000
    )
    client_ip: Annotated[str, Field(max_length=64), AfterValidator(_ip)]
    client_hostname: str | None = Field(default=None, max_length=253)
    helo: str | None = Field(default=None, max_length=253)
    tls: TLSBody | None = None
    auth: AuthBody = Field(default_factory=AuthBody)
    findings: list[FindingBody] = Field(default_factory=list, max_length=100)
    subject: str | None = Field(
        default=None, max_length=MAX_SUBJECT, description="The decoded Subject header."
    )
    body: str | None = Field(
        default=None,
        max_length=MAX_TEXT,
        description="The message's text (its text parts, decoded), for content policies.",
    )

    def to_message(self) -> Message:
        return Message(
            envelope_from=self.envelope_from,
            header_from=self.header_from,
            reply_to=self.reply_to,
            recipients=tuple(self.recipients),
            client_ip=self.client_ip,
            client_hostname=self.client_hostname,
            helo=self.helo,
            tls=TLSInfo(self.tls.protocol, self.tls.cipher) if self.tls else None,
            auth=AuthResults(
                spf=self.auth.spf,
                dkim=tuple(DKIMResult(d.domain, d.result) for d in self.auth.dkim),
                dmarc=self.auth.dmarc,
            ),
            findings=tuple(
                Finding(f.kind, f.disposition, f.domain, f.source, f.label) for f in self.findings
            ),
            subject=self.subject,
            body=self.body,
        )


def fields_from_eml(data: bytes) -> dict[str, Any]:
    """From, Reply-To, Return-Path, the To/Cc recipients, the Subject and the text of an
    RFC 5322 message, as MessageBody fields."""
    parsed = mime.parse(data)
    found: dict[str, Any] = {}
    for field, header in (
        ("header_from", "From"),
        ("reply_to", "Reply-To"),
        ("envelope_from", "Return-Path"),
    ):
        values = mime.header_values(parsed, header)
        if values:
            found[field] = values[0]
    if "envelope_from" in found:
        found["envelope_from"] = found["envelope_from"].strip().strip("<>")
    subject = mime.subject_of(parsed, MAX_SUBJECT)
    if subject is not None:
        found["subject"] = subject
    people = mime.header_values(parsed, "To") + mime.header_values(parsed, "Cc")
    found["recipients"] = [addr for _, addr in getaddresses(people) if addr]
    body = mime.text_of(parsed, MAX_TEXT)
    if body is not None:
        found["body"] = body
    return found
