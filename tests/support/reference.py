"""A reference evaluator that checks every entry against every message field: the test oracle.

It exists to be obviously right rather than fast: tests compare the indexed engine with it
on randomly generated settings and messages, and the benchmark reports how much faster
the indexed engine is. It lives with the tests because nothing in the service runs it.

It shares the precedence code (:mod:`mailpolicy.engine.decide`) and pattern validation with
the engine, but none of the lookup structures, and it parses addresses with
:func:`email.utils.parseaddr` alone and IP addresses with :mod:`ipaddress`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import re2

from mailpolicy.engine.decide import (
    FIELD_BODY,
    FIELD_CLIENT_HOSTNAME,
    FIELD_CLIENT_IP,
    FIELD_ENVELOPE_FROM,
    FIELD_HEADER_FROM,
    FIELD_REPLY_TO,
    FIELD_SUBJECT,
    ContentEntry,
    ContentHit,
    ImpersonationHit,
    ImpersonationTarget,
    Matches,
    PolicyEntry,
    ProtectedEntry,
    RestrictionEntry,
    RestrictionHit,
    SenderHit,
    TrustedDomainEntry,
    TrustedDomainHit,
    message_outcome,
    protected_entry,
    recipient_verdict,
)
from mailpolicy.engine.model import (
    TARGET_BODY,
    TARGET_SUBJECT,
    AllowPolicyRule,
    BlockedSenderRule,
    ContentPolicyRule,
    ImpersonationRule,
    Message,
    ProtectedDomainRule,
    SendingDomainRestrictionRule,
    TrustedDomainRule,
    Verdict,
)
from mailpolicy.engine.parse import (
    normalize_domain,
    normalize_name,
    normalize_path,
    parse_mailbox_slow,
)
from mailpolicy.engine.regex import RegexError, check_regex, encode_text, full_match, regex_options
from mailpolicy.engine.snapshot import (
    KIND_DOMAIN,
    KIND_EMAIL,
    KIND_IP,
    KIND_REGEX,
    PatternError,
    block_entry,
    impersonation_entry,
    indexed_domain,
    policy_entries,
    prepare_pattern,
    restriction_entry,
    trusted_domain_pattern,
)

# (entry, kind, key): key is an address, a domain, an ipaddress network or a compiled regex.
Pattern = tuple[Any, str, Any]


@dataclass(frozen=True, slots=True, eq=False)
class NaiveSnapshot:
    sender: tuple[Pattern, ...]
    exempt: tuple[Pattern, ...]
    trusted_domains: tuple[Pattern, ...]
    impersonation: tuple[ImpersonationTarget, ...]
    protected: tuple[ProtectedEntry, ...]
    restrictions: tuple[RestrictionEntry, ...]
    # (entry, target, compiled pattern) of every enabled content policy.
    content: tuple[tuple[ContentEntry, str, Any], ...]


def _compiled(kind: str, key: Any) -> Any:
    return re2.compile(key, regex_options()) if kind == KIND_REGEX else key


def _key(kind: str, key: Any, pattern: str) -> Any:
    """What a pattern is compared with: IP networks are re-read here by ipaddress alone."""
    if kind == KIND_IP:
        return ipaddress.ip_network(pattern.strip(), strict=False)
    return _compiled(kind, key)


def _sender_patterns(
    allow_policies: Iterable[AllowPolicyRule], blocked_senders: Iterable[BlockedSenderRule]
) -> tuple[list[Pattern], list[Pattern]]:
    sender: list[Pattern] = []
    exempt: list[Pattern] = []
    for allow in allow_policies:
        sender_entries, exempt_entry = policy_entries(allow)
        try:
            kind, key = prepare_pattern(allow.pattern, allow.pattern_type, allow.is_regex)
        except PatternError:
            continue
        key = _key(kind, key, allow.pattern)
        sender.extend((entry, kind, key) for entry in sender_entries)
        if exempt_entry is not None and kind != KIND_IP:
            exempt.append((exempt_entry, kind, key))
    for block in blocked_senders:
        try:
            kind, key = prepare_pattern(block.pattern, block.pattern_type, block.is_regex)
        except PatternError:
            continue
        sender.append((block_entry(block), kind, _key(kind, key, block.pattern)))
    return sender, exempt


def _trusted_patterns(trusted_domains: Iterable[TrustedDomainRule]) -> list[Pattern]:
    trusted: list[Pattern] = []
    for td in trusted_domains:
        try:
            kind, key = trusted_domain_pattern(td)
        except PatternError:
            continue
        entry = TrustedDomainEntry(td.id, td.pattern, td.is_recent, td.is_similarity)
        trusted.append((entry, kind, _compiled(kind, key)))
    return trusted


def build_naive(
    *,
    allow_policies: Iterable[AllowPolicyRule] = (),
    blocked_senders: Iterable[BlockedSenderRule] = (),
    trusted_domains: Iterable[TrustedDomainRule] = (),
    impersonation: Iterable[ImpersonationRule] = (),
    domains: Iterable[ProtectedDomainRule] = (),
    restrictions: Iterable[SendingDomainRestrictionRule] = (),
    content_policies: Iterable[ContentPolicyRule] = (),
) -> NaiveSnapshot:
    """The same settings as :func:`~mailpolicy.engine.build_snapshot` takes, as flat lists."""
    sender, exempt = _sender_patterns(allow_policies, blocked_senders)
    registry: list[ImpersonationTarget] = []
    for imp in impersonation:
        try:
            registry.append(impersonation_entry(imp))
        except PatternError:
            continue
    protected: list[ProtectedEntry] = []
    for rule in domains:
        try:
            domain = indexed_domain(rule.domain)
        except PatternError:
            continue
        if all(existing.domain != domain for existing in protected):
            protected.append(protected_entry(rule, domain))
    restricted: list[RestrictionEntry] = []
    for restriction in restrictions:
        try:
            restricted.append(restriction_entry(restriction))
        except PatternError:
            continue
    content: list[tuple[ContentEntry, str, Any]] = []
    for policy in content_policies:
        if not policy.enabled:
            continue
        try:
            check_regex(policy.pattern)
        except RegexError:
            continue
        compiled = re2.compile(policy.pattern, regex_options())
        entry = ContentEntry(policy.id, policy.name, policy.pattern)
        content.extend((entry, target, compiled) for target in dict.fromkeys(policy.targets))
    return NaiveSnapshot(
        tuple(sender),
        tuple(exempt),
        tuple(_trusted_patterns(trusted_domains)),
        tuple(registry),
        tuple(protected),
        tuple(restricted),
        tuple(content),
    )


def _under(domain: str, parent: str) -> bool:
    return domain == parent or domain.endswith("." + parent)


def _mailbox(value: str | None) -> tuple[str, str | None]:
    if not value or not value.strip():
        return "", None
    return parse_mailbox_slow(value.strip())


def _address_matches(kind: str, key: Any, address: str) -> bool:
    if kind == KIND_EMAIL:
        return bool(address == key)
    if kind == KIND_DOMAIN:
        return _under(address.rpartition("@")[2], key)
    if kind == KIND_REGEX:
        return full_match(key, address)
    return False


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _ip_matches(key: Any, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if ip.version == key.version:
        return bool(ip in key)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return bool(ip.ipv4_mapped in key)
    return False


Addresses = tuple[tuple[str, str | None], ...]


def _sender_hits(
    message: Message, addresses: Addresses, patterns: Iterable[Pattern]
) -> list[SenderHit]:
    ip = _ip(message.client_ip)
    ip_text = message.client_ip.strip().lower()
    hostname = (message.client_hostname or "").strip().lower().rstrip(".")
    hits: list[SenderHit] = []
    for entry, kind, key in patterns:
        for field, address in addresses:
            if address is not None and _address_matches(kind, key, address):
                hits.append((entry, field))
        if kind == KIND_IP and ip is not None and _ip_matches(key, ip):
            hits.append((entry, FIELD_CLIENT_IP))
        if kind == KIND_REGEX:
            if ip_text and full_match(key, ip_text):
                hits.append((entry, FIELD_CLIENT_IP))
            if hostname and full_match(key, hostname):
                hits.append((entry, FIELD_CLIENT_HOSTNAME))
    return hits


def _restriction_hits(
    addresses: Addresses, restrictions: Iterable[RestrictionEntry]
) -> list[RestrictionHit]:
    hits: list[RestrictionHit] = []
    for restriction in restrictions:
        for field, address in addresses:
            if address is None:
                continue
            domain = address.rpartition("@")[2]
            if _under(domain, restriction.domain):
                covering = [x for x in restriction.excludes if _under(domain, x)]
                excluded_by = max(covering, key=len) if covering else None
                hits.append((restriction, field, domain, excluded_by))
    return hits


def _impersonation_hits(
    name: str, address: str | None, registry: Iterable[ImpersonationTarget]
) -> list[ImpersonationHit]:
    if not name:
        return []
    wanted = normalize_name(name)
    same_name = [entry for entry in registry if normalize_name(entry.name) == wanted]
    registered = [entry for entry in same_name if entry.is_registered_address(address)]
    if registered:
        return [(entry, False) for entry in registered]
    return [(entry, True) for entry in same_name]


def _trusted_domain_hits(message: Message, patterns: Iterable[Pattern]) -> list[TrustedDomainHit]:
    hits: list[TrustedDomainHit] = []
    domains = dict.fromkeys(
        normalize_domain(f.domain) for f in message.findings if f.domain and f.kind != "content"
    )
    for domain in domains:
        for entry, kind, key in patterns:
            if (kind == KIND_DOMAIN and _under(domain, key)) or (
                kind == KIND_REGEX and full_match(key, domain)
            ):
                hits.append((entry, domain))
    return hits


def _content_hits(message: Message, snapshot: NaiveSnapshot) -> list[ContentHit]:
    texts = {TARGET_SUBJECT: message.subject, TARGET_BODY: message.body}
    fields = {TARGET_SUBJECT: FIELD_SUBJECT, TARGET_BODY: FIELD_BODY}
    hits: list[ContentHit] = []
    for entry, target, compiled in snapshot.content:
        text = texts[target]
        if text and compiled.search(encode_text(text)) is not None:
            hits.append((entry, fields[target]))
    return hits


def evaluate_naive(message: Message, snapshot: NaiveSnapshot) -> Verdict:
    """The verdict :func:`~mailpolicy.engine.evaluate` must give, found by linear scans."""
    envelope = normalize_path(message.envelope_from)
    name, header = _mailbox(message.header_from)
    reply = _mailbox(message.reply_to)[1]
    addresses = (
        (FIELD_ENVELOPE_FROM, envelope),
        (FIELD_HEADER_FROM, header),
        (FIELD_REPLY_TO, reply),
    )
    matches = Matches(
        _restriction_hits(addresses[:2], snapshot.restrictions),
        _sender_hits(message, addresses, snapshot.sender),
        _impersonation_hits(name, header, snapshot.impersonation),
        _trusted_domain_hits(message, snapshot.trusted_domains),
        _content_hits(message, snapshot),
    )
    verdicts = []
    for recipient in message.recipients:
        address = normalize_path(recipient)
        exempt: list[PolicyEntry] = []
        domain: str | None = None
        protected: ProtectedEntry | None = None
        if address is not None:
            exempt = [e for e, kind, key in snapshot.exempt if _address_matches(kind, key, address)]
            domain = address.rpartition("@")[2]
            covering = [p for p in snapshot.protected if _under(domain, p.domain)]
            if covering:
                protected = max(covering, key=lambda p: len(p.domain))
        outcome = message_outcome(message, matches, exempt)
        verdicts.append(recipient_verdict(recipient, domain, outcome, protected))
    return Verdict(tuple(verdicts))
