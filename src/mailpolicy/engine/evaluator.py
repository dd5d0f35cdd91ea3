"""Evaluating one message against a snapshot.

Everything that depends only on the message (its sender addresses, client IP, display
name and findings) is looked up once per message; only the exempt-recipient and
protected-domain lookups are made per recipient. A lookup that finds nothing allocates
nothing, because most messages match no entry at all.
"""

from __future__ import annotations

from mailpolicy.engine.decide import (
    FIELD_BODY,
    FIELD_CLIENT_HOSTNAME,
    FIELD_CLIENT_IP,
    FIELD_ENVELOPE_FROM,
    FIELD_HEADER_FROM,
    FIELD_REPLY_TO,
    FIELD_SUBJECT,
    NO_FINDINGS,
    NO_MATCHES,
    ContentHit,
    ImpersonationHit,
    Matches,
    Outcome,
    PolicyEntry,
    ProtectedEntry,
    RestrictionEntry,
    RestrictionHit,
    SenderHit,
    TrustedDomainEntry,
    TrustedDomainHit,
    message_outcome,
    recipient_verdict,
)
from mailpolicy.engine.index import domain_lookup
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

_EMPTY: tuple[()] = ()


SenderFound = tuple[tuple[PolicyEntry, ...], tuple[RestrictionEntry, ...]]
_NOTHING: SenderFound = (_EMPTY, _EMPTY)


def _sender_lookup(snapshot: Snapshot, address: str | None, regex_live: bool) -> SenderFound:
    """Sender entries and TLS restrictions for one sender address, in one domain walk."""
    if address is None:
        return _NOTHING
    senders = snapshot.sender_emails.get(address, _EMPTY)
    restrictions: tuple[RestrictionEntry, ...] = _EMPTY
    domains = snapshot.sender_domains
    domain = address[address.rfind("@") + 1 :]
    while True:
        slot = domains.get(domain)
        if slot is not None:
            senders += slot[0]
            restrictions += slot[1]
        dot = domain.find(".")
        if dot < 0:
            break
        domain = domain[dot + 1 :]
    regex = snapshot.sender_regex
    if regex_live and regex is not None:
        senders += regex.match(address)
    if senders or restrictions:
        return senders, restrictions
    return _NOTHING


def _address_hits(
    fields: tuple[tuple[str, str | None, SenderFound], ...],
) -> tuple[list[SenderHit], list[RestrictionHit]]:
    sender_hits: list[SenderHit] = []
    restriction_hits: list[RestrictionHit] = []
    for field, address, (senders, restrictions) in fields:
        sender_hits.extend([(entry, field) for entry in senders])
        if restrictions and address is not None and field != FIELD_REPLY_TO:
            domain = address[address.rfind("@") + 1 :]
            restriction_hits.extend(
                [(entry, field, domain, entry.excluded_by(domain)) for entry in restrictions]
            )
    return sender_hits, restriction_hits


def _client_hits(
    snapshot: Snapshot, message: Message, client_texts: tuple[str, str], regex_live: bool
) -> tuple[SenderHit, ...]:
    """Sender entries matching the client IP address or host name."""
    found: tuple[SenderHit, ...] = _EMPTY
    client_ip = message.client_ip
    if snapshot.sender_ipv4 or snapshot.sender_ipv6:
        ip = parse_ip(client_ip)
        if ip is not None:
            version, value = ip
            family = snapshot.sender_ipv4 if version == 4 else snapshot.sender_ipv6
            entries = family.lookup(value)
            if version == 6 and snapshot.sender_ipv4:
                mapped = ipv4_mapped(value)
                if mapped is not None:
                    entries += snapshot.sender_ipv4.lookup(mapped)
            if entries:
                found = tuple((entry, FIELD_CLIENT_IP) for entry in entries)
    regex = snapshot.sender_regex
    if regex_live and regex is not None:
        ip_text, hostname = client_texts
        if ip_text:
            entries = regex.match(ip_text)
            if entries:
                found += tuple((entry, FIELD_CLIENT_IP) for entry in entries)
        if hostname:
            entries = regex.match(hostname)
            if entries:
                found += tuple((entry, FIELD_CLIENT_HOSTNAME) for entry in entries)
    return found


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
    hits: list[TrustedDomainHit] = []
    seen: set[str] = set()
    regex = snapshot.trusted_regex
    for finding in message.findings:
        if not finding.domain or finding.kind == "content":
            continue
        domain = normalize_domain(finding.domain)
        if domain in seen:
            continue
        seen.add(domain)
        found: tuple[TrustedDomainEntry, ...] = domain_lookup(snapshot.trusted_domains, domain)
        if regex is not None:
            found += regex.match(domain)
        hits.extend([(entry, domain) for entry in found])
    return hits


def _content_hits(snapshot: Snapshot, message: Message) -> list[ContentHit]:
    hits: list[ContentHit] = []
    for index, field, text in (
        (snapshot.content_subject, FIELD_SUBJECT, message.subject),
        (snapshot.content_body, FIELD_BODY, message.body),
    ):
        if index is not None and text:
            hits.extend([(entry, field) for entry in index.match(text)])
    return hits


def _matches(message: Message, snapshot: Snapshot) -> Matches:
    """Every message-wide match."""
    envelope = normalize_path(message.envelope_from)
    name, header = parse_mailbox(message.header_from)
    reply = parse_mailbox(message.reply_to)[1] if message.reply_to else None
    client_texts = (
        message.client_ip.strip().lower(),
        (message.client_hostname or "").strip().lower().rstrip("."),
    )
    regex = snapshot.sender_regex
    regex_live = regex is not None and regex.may_match_any(
        [text for text in (envelope, header, reply, *client_texts) if text]
    )
    # The senders are usually one address written two or three times: look it up once.
    at_envelope = _sender_lookup(snapshot, envelope, regex_live)
    at_header = at_envelope
    if header != envelope:
        at_header = _sender_lookup(snapshot, header, regex_live)
    if reply is None:
        at_reply = _NOTHING
    elif reply == header:
        at_reply = at_header
    else:
        at_reply = _sender_lookup(snapshot, reply, regex_live)
    sender_hits: list[SenderHit] = []
    restriction_hits: list[RestrictionHit] = []
    if at_envelope is not _NOTHING or at_header is not _NOTHING or at_reply is not _NOTHING:
        sender_hits, restriction_hits = _address_hits(
            (
                (FIELD_ENVELOPE_FROM, envelope, at_envelope),
                (FIELD_HEADER_FROM, header, at_header),
                (FIELD_REPLY_TO, reply, at_reply),
            )
        )
    client_hits = _client_hits(snapshot, message, client_texts, regex_live)
    if client_hits:
        sender_hits.extend(client_hits)
    impersonation = (
        _impersonation_hits(snapshot, name, header) if name and snapshot.impersonation else []
    )
    trusted = (
        _trusted_domain_hits(snapshot, message)
        if message.findings and (snapshot.trusted_domains or snapshot.trusted_regex)
        else []
    )
    content = (
        _content_hits(snapshot, message)
        if snapshot.content_subject is not None or snapshot.content_body is not None
        else []
    )
    if not (restriction_hits or sender_hits or impersonation or trusted or content):
        return NO_MATCHES
    return Matches(restriction_hits, sender_hits, impersonation, trusted, content)


def _recipient_lookup(
    snapshot: Snapshot, address: str, domain: str, regex_live: bool
) -> tuple[tuple[PolicyEntry, ...], ProtectedEntry | None]:
    """Exempt-recipient entries and the nearest protected domain, in one domain walk."""
    exempt = snapshot.recipient_emails.get(address, _EMPTY)
    protected: ProtectedEntry | None = None
    domains = snapshot.recipient_domains
    while True:
        slot = domains.get(domain)
        if slot is not None:
            exempt += slot[0]
            if protected is None:
                protected = slot[1]
        dot = domain.find(".")
        if dot < 0:
            break
        domain = domain[dot + 1 :]
    regex = snapshot.recipient_regex
    if regex_live and regex is not None:
        exempt += regex.match(address)
    return exempt, protected


def evaluate(message: Message, snapshot: Snapshot) -> Verdict:
    """The verdict for every recipient of ``message`` under the settings in ``snapshot``."""
    matches = _matches(message, snapshot)
    outcome: Outcome | None = None
    verdicts: list[RecipientVerdict] = []
    addresses = [normalize_path(recipient) for recipient in message.recipients]
    regex = snapshot.recipient_regex
    regex_live = regex is not None and regex.may_match_any([a for a in addresses if a])
    for recipient, address in zip(message.recipients, addresses, strict=True):
        if address is None:
            domain = None
            exempt: tuple[PolicyEntry, ...] = _EMPTY
            protected = None
        else:
            domain = address[address.rfind("@") + 1 :]
            exempt, protected = _recipient_lookup(snapshot, address, domain, regex_live)
        if exempt:
            recipient_outcome = message_outcome(message, matches, exempt)
        else:
            if outcome is None:
                outcome = message_outcome(message, matches)
            if outcome is NO_FINDINGS and protected is not None:
                verdicts.append(protected.clean_verdict(recipient))
                continue
            recipient_outcome = outcome
        verdicts.append(recipient_verdict(recipient, domain, recipient_outcome, protected))
    return Verdict(tuple(verdicts))
