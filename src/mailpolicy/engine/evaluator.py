"""Evaluating one message against a snapshot.

Everything that depends only on the message (its sender addresses, client IP, display
name and findings) is looked up once; only the exempt-recipient and protected-domain
lookups are repeated per recipient.
"""

from __future__ import annotations

from mailpolicy.engine.decide import (
    FIELD_CLIENT_HOSTNAME,
    FIELD_CLIENT_IP,
    FIELD_ENVELOPE_FROM,
    FIELD_HEADER_FROM,
    FIELD_REPLY_TO,
    NO_MATCHES,
    ImpersonationHit,
    Matches,
    Outcome,
    PolicyEntry,
    ProtectedEntry,
    RestrictionHit,
    SenderHit,
    TrustedDomainEntry,
    TrustedDomainHit,
    message_outcome,
    recipient_verdict,
)
from mailpolicy.engine.index import PatternIndex
from mailpolicy.engine.model import Message, RecipientVerdict, Verdict
from mailpolicy.engine.parse import (
    ipv4_mapped,
    normalize_domain,
    normalize_name,
    normalize_path,
    parse_ip,
    parse_mailbox,
)
from mailpolicy.engine.snapshot import Snapshot


def _ip_hits(index: PatternIndex[PolicyEntry], client_ip: str) -> list[PolicyEntry]:
    ip = parse_ip(client_ip)
    if ip is None:
        return []
    version, value = ip
    found = index.ip_hits(version, value)
    if version == 6 and index.ipv4:
        mapped = ipv4_mapped(value)
        if mapped is not None:
            found.extend(index.ip_hits(4, mapped))
    return found


def _sender_hits(
    index: PatternIndex[PolicyEntry],
    addresses: tuple[tuple[str, str | None], ...],
    client_ip: str,
    hostname: str | None,
) -> list[SenderHit]:
    hits: list[SenderHit] = []
    last_address: str | None = None
    last_found: list[PolicyEntry] = []
    for field, address in addresses:
        if address is None:
            continue
        # The envelope and header senders are usually the same address: look it up once.
        if address != last_address:
            last_address = address
            last_found = index.address_hits(address)
        hits.extend((entry, field) for entry in last_found)
    if index.ipv4 or index.ipv6:
        hits.extend((entry, FIELD_CLIENT_IP) for entry in _ip_hits(index, client_ip))
    regex = index.regex
    if regex is not None:
        ip_text = client_ip.strip().lower()
        if ip_text:
            hits.extend((entry, FIELD_CLIENT_IP) for entry in regex.match(ip_text))
        if hostname:
            hits.extend((entry, FIELD_CLIENT_HOSTNAME) for entry in regex.match(hostname))
    return hits


def _restriction_hits(
    snapshot: Snapshot, envelope: str | None, header: str | None
) -> list[RestrictionHit]:
    restrictions = snapshot.restrictions
    hits: list[RestrictionHit] = []
    for field, address in ((FIELD_ENVELOPE_FROM, envelope), (FIELD_HEADER_FROM, header)):
        if address is None:
            continue
        sender_domain = address[address.rfind("@") + 1 :]
        domain = sender_domain
        while True:
            found = restrictions.get(domain)
            if found is not None:
                for entry in found:
                    hits.append((entry, field, sender_domain, entry.excluded_by(sender_domain)))
            dot = domain.find(".")
            if dot < 0:
                break
            domain = domain[dot + 1 :]
    return hits


def _impersonation_hits(
    snapshot: Snapshot, name: str, address: str | None
) -> list[ImpersonationHit]:
    entries = snapshot.impersonation.get(normalize_name(name))
    if entries is None:
        return []
    registered = [entry for entry in entries if entry.is_registered_address(address)]
    if registered:
        return [(entry, False) for entry in registered]
    return [(entry, True) for entry in entries]


def _trusted_domain_hits(snapshot: Snapshot, message: Message) -> list[TrustedDomainHit]:
    index = snapshot.trusted_domains
    hits: list[TrustedDomainHit] = []
    seen: set[str] = set()
    for finding in message.findings:
        if not finding.domain or finding.kind == "content":
            continue
        domain = normalize_domain(finding.domain)
        if domain in seen:
            continue
        seen.add(domain)
        found: list[TrustedDomainEntry] = []
        index.domain_hits(domain, found)
        if index.regex is not None:
            found.extend(index.regex.match(domain))
        for entry in found:
            hits.append((entry, domain))
    return hits


def _protected(snapshot: Snapshot, domain: str | None) -> ProtectedEntry | None:
    if domain is None:
        return None
    protected = snapshot.protected
    while True:
        entry = protected.get(domain)
        if entry is not None:
            return entry
        dot = domain.find(".")
        if dot < 0:
            return None
        domain = domain[dot + 1 :]


def _matches(message: Message, snapshot: Snapshot) -> tuple[Matches, str | None]:
    """Every message-wide match, and the header sender address."""
    envelope = normalize_path(message.envelope_from)
    name, header = parse_mailbox(message.header_from)
    restrictions = _restriction_hits(snapshot, envelope, header) if snapshot.restrictions else []
    senders: list[SenderHit] = []
    if not snapshot.sender.is_empty():
        reply = parse_mailbox(message.reply_to)[1] if message.reply_to else None
        hostname = message.client_hostname
        senders = _sender_hits(
            snapshot.sender,
            ((FIELD_ENVELOPE_FROM, envelope), (FIELD_HEADER_FROM, header), (FIELD_REPLY_TO, reply)),
            message.client_ip,
            hostname.strip().lower().rstrip(".") if hostname else None,
        )
    impersonation = (
        _impersonation_hits(snapshot, name, header) if name and snapshot.impersonation else []
    )
    trusted_domains = (
        _trusted_domain_hits(snapshot, message)
        if message.findings and not snapshot.trusted_domains.is_empty()
        else []
    )
    if not (restrictions or senders or impersonation or trusted_domains):
        return NO_MATCHES, header
    return Matches(restrictions, senders, impersonation, trusted_domains), header


def evaluate(message: Message, snapshot: Snapshot) -> Verdict:
    """The verdict for every recipient of ``message`` under the settings in ``snapshot``."""
    matches, _header = _matches(message, snapshot)
    outcome: Outcome | None = None
    exempt_index = None if snapshot.exempt.is_empty() else snapshot.exempt
    verdicts: list[RecipientVerdict] = []
    for recipient in message.recipients:
        address = normalize_path(recipient)
        domain = None if address is None else address[address.rfind("@") + 1 :]
        exempt = (
            exempt_index.address_hits(address)
            if exempt_index is not None and address is not None
            else []
        )
        if exempt:
            recipient_outcome = message_outcome(message, matches, exempt)
        else:
            if outcome is None:
                outcome = message_outcome(message, matches)
            recipient_outcome = outcome
        verdicts.append(
            recipient_verdict(recipient, domain, recipient_outcome, _protected(snapshot, domain))
        )
    return Verdict(tuple(verdicts))
