"""What a protected domain's DNS says: its ownership TXT record, its SPF and its DMARC status.

Only DNS is read here, never the database (mailpolicy.dns.verifier writes what is found). Every
question goes to the resolvers of `MAILPOLICY_DNS_RESOLVERS` (the system's when unset) through
dnspython. An answer that a name or record does not exist is an answer; a question that gets no
answer (a timeout, SERVFAIL, a refused query) raises `DnsUnavailable`, so a domain is never judged
on DNS that could not be read.

SPF records are parsed, and their DNS-querying terms counted through includes and redirects, by
checkdmarc's SPF parser; DMARC records by its DMARC parser. The classification into the API's
statuses is mailpolicy's (docs/compatibility.md):

- SPF: `none` no record; `invalid` several records, a syntax error, or more than 10 DNS-querying
  terms (RFC 7208 section 4.6.4); otherwise by the `all` that ends evaluation (the record's own,
  else its redirect target's): `-all`/`~all` `good`, `?all` `neutral`, `+all` or none `open`.
- DMARC, at `_dmarc.<domain>`: `none` no record, or `p=none` (a policy that asks receivers to do
  nothing); `invalid` several records, a syntax error, or no `p` tag; `good` p=quarantine or
  p=reject.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from mailpolicy.config import Settings, parse_resolvers

log = logging.getLogger(__name__)

SpfStatus = Literal["none", "good", "neutral", "open", "invalid"]
DmarcStatus = Literal["none", "good", "invalid"]

# dnspython's word for "no answer could be had", as opposed to an answer that says "none".
_UNANSWERED = (
    dns.resolver.LifetimeTimeout,
    dns.resolver.NoNameservers,
    dns.resolver.YXDOMAIN,
    dns.exception.Timeout,
    OSError,
)
_ALL_TERM = re.compile(r"^([+\-~?]?)all$", re.IGNORECASE)
_QUALIFIERS: dict[str, SpfStatus] = {
    "-": "good",
    "~": "good",
    "?": "neutral",
    "+": "open",
    "": "open",
}


class DnsUnavailable(Exception):
    """DNS could not be asked (or gave no answer): nothing is concluded from it."""


@dataclass(frozen=True)
class Finding:
    status: str
    detail: str  # why, in a sentence for the operator


@dataclass(frozen=True)
class Ownership:
    found: bool
    # Records at the challenge name that hold another value (a typo, an older token).
    other_values: int
    detail: str


class Questions(dns.resolver.Resolver):
    """A resolver that remembers whether any question of one check went unanswered.

    checkdmarc follows SPF includes and redirects itself and, when a lookup times out, reports a
    missing record; remembering the timeout here keeps such a check from being read as a verdict
    on the record.
    """

    def __init__(self, nameservers: Sequence[dns.nameserver.Nameserver] | None, timeout: float):
        super().__init__(configure=not nameservers)
        if nameservers:
            self.nameservers = list(nameservers)
        self.timeout = min(timeout, 2.0)  # per attempt, so one lost datagram is retried
        self.lifetime = timeout
        self.unanswered: list[str] = []
        self._lock = threading.Lock()

    def resolve(
        self, qname: dns.name.Name | str, rdtype: Any = dns.rdatatype.A, *args: Any, **kwargs: Any
    ) -> dns.resolver.Answer:
        try:
            return super().resolve(qname, rdtype, *args, **kwargs)
        except _UNANSWERED as exc:
            with self._lock:
                kind = rdtype if isinstance(rdtype, str) else dns.rdatatype.to_text(rdtype)
                self.unanswered.append(f"{qname} {kind}: {exc}")
            raise

    def forget_failures(self) -> None:
        with self._lock:
            self.unanswered.clear()

    def check_answered(self) -> None:
        with self._lock:
            if self.unanswered:
                raise DnsUnavailable(self.unanswered[0])


def nameservers(settings: Settings) -> list[dns.nameserver.Nameserver] | None:
    """The configured resolvers, host names looked up once (None: the system's)."""
    if not settings.dns_resolvers:
        return None
    found: list[dns.nameserver.Nameserver] = []
    for host, port in parse_resolvers(settings.dns_resolvers):
        try:
            address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][4][0]
        except OSError as exc:
            raise DnsUnavailable(f"the resolver {host} has no address: {exc}") from None
        found.append(dns.nameserver.Do53Nameserver(str(address), port))
    return found


def resolver(settings: Settings) -> Questions:
    try:
        return Questions(nameservers(settings), settings.dns_timeout)
    except dns.resolver.NoResolverConfiguration as exc:
        raise DnsUnavailable(f"no DNS resolver is configured: {exc}") from None


def txt_records(questions: Questions, name: str) -> list[str]:
    """The TXT records at `name`, each one's strings joined; [] when there are none."""
    try:
        answer = questions.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except _UNANSWERED as exc:
        raise DnsUnavailable(f"{name} TXT: {exc}") from None
    except dns.exception.DNSException as exc:  # a malformed answer is no answer
        raise DnsUnavailable(f"{name} TXT: {exc}") from None
    return [
        b"".join(rdata.strings).decode("utf-8", "replace")
        for rdata in answer
        if hasattr(rdata, "strings")
    ]


def ownership(questions: Questions, record_name: str, expected: str) -> Ownership:
    values = txt_records(questions, record_name)
    if expected in (v.strip() for v in values):
        return Ownership(True, 0, f"Found the TXT record {record_name}.")
    if values:
        return Ownership(
            False,
            len(values),
            f"{record_name} has {len(values)} TXT record(s), none with the expected value "
            f"{expected}.",
        )
    return Ownership(False, 0, f"No TXT record at {record_name} yet.")


def _is_spf(text: str) -> bool:
    # RFC 7208 section 4.5: exactly "v=spf1", then a space or the end.
    lowered = text.lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


def _own_all(record: str) -> str | None:
    for term in record.split()[1:]:
        match = _ALL_TERM.match(term)
        if match:
            return match.group(1)
    return None


def _ending(record: str, parsed: dict[str, Any], via: str = "") -> tuple[SpfStatus, str]:
    """The status the `all` that ends evaluation gives (the record's own, else its redirect
    target's), and how it was reached."""
    qualifier = _own_all(record)
    if qualifier is not None:
        return _QUALIFIERS[qualifier], f"ends in {qualifier or '+'}all{via}"
    redirect = parsed.get("redirect")
    if isinstance(redirect, dict) and isinstance(redirect.get("record"), str):
        return _ending(
            redirect["record"],
            redirect.get("parsed") or {},
            f" (through redirect={redirect.get('domain')}){via}",
        )
    # No all and no redirect: mail from anywhere is neutral, so nothing is refused.
    return "open", f"has no all term{via}"


_checkdmarc_lock = threading.Lock()


def _fresh_checkdmarc() -> None:
    """checkdmarc keeps answers for half an hour; a check here must see the DNS of now."""
    from checkdmarc import utils

    with _checkdmarc_lock:
        utils.DNS_CACHE.clear()


def spf(questions: Questions, domain: str) -> Finding:
    from checkdmarc.spf import SPFError, parse_spf_record

    records = [r for r in txt_records(questions, domain) if _is_spf(r.strip())]
    if not records:
        return Finding("none", f"{domain} publishes no SPF record")
    if len(records) > 1:
        return Finding(
            "invalid", f"{domain} publishes {len(records)} SPF records; RFC 7208 allows one"
        )
    record = records[0].strip()
    _fresh_checkdmarc()
    questions.forget_failures()
    try:
        parsed = parse_spf_record(record, domain, resolver=questions, timeout=questions.lifetime)
    except SPFError as exc:
        questions.check_answered()  # a lookup that timed out is not an error in the record
        return Finding("invalid", str(exc))
    questions.check_answered()
    status, how = _ending(record, dict(parsed["parsed"]))
    lookups = parsed["dns_lookups"]
    return Finding(status, f"{record!r} {how}; {lookups} of 10 DNS lookups")


def dmarc(questions: Questions, domain: str) -> Finding:
    from checkdmarc.dmarc import DMARCError, parse_dmarc_record

    name = f"_dmarc.{domain}"
    records = [r.strip() for r in txt_records(questions, name)]
    records = [r for r in records if r.lower().startswith("v=dmarc1")]
    if not records:
        return Finding("none", f"{name} publishes no DMARC record")
    if len(records) > 1:
        return Finding("invalid", f"{name} publishes {len(records)} DMARC records; one is allowed")
    _fresh_checkdmarc()
    questions.forget_failures()
    try:
        parsed = parse_dmarc_record(records[0], domain, resolver=questions)
    except DMARCError as exc:
        return Finding("invalid", str(exc))
    policy = parsed["tags"]["p"]
    if not policy.get("explicit"):
        return Finding("invalid", f"{records[0]!r} has no p (policy) tag")
    value = str(policy["value"]).lower()
    if value in {"quarantine", "reject"}:
        verb = {"quarantine": "quarantined", "reject": "rejected"}[value]
        return Finding("good", f"{records[0]!r}: mail that fails DMARC is to be {verb}")
    return Finding("none", f"{records[0]!r}: p=none asks receivers to take no action on failures")
