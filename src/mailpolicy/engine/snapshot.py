"""Building the immutable, indexed snapshot of every settings list the engine consults.

A snapshot is never changed after it is built. When settings change the caller builds a
new one and swaps the reference; evaluations in flight keep the snapshot they started
with, so readers never wait for writers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import re2

from mailpolicy.engine.decide import (
    EFFECT_ACCEPTABLE,
    EFFECT_BLOCK,
    EFFECT_EXEMPT,
    EFFECT_TRUSTED,
    ImpersonationEntry,
    PolicyEntry,
    ProtectedEntry,
    RestrictionEntry,
    TrustedDomainEntry,
    protected_entry,
)
from mailpolicy.engine.index import PatternIndex, PatternIndexBuilder
from mailpolicy.engine.model import (
    RESOURCE_ALLOW,
    RESOURCE_BLOCK,
    RESOURCE_DOMAINS,
    RESOURCE_IMPERSONATION,
    RESOURCE_RESTRICTIONS,
    RESOURCE_TRUSTED_DOMAINS,
    AllowPolicyRule,
    BlockedSenderRule,
    ImpersonationRule,
    ProtectedDomainRule,
    SendingDomainRestrictionRule,
    TrustedDomainRule,
)
from mailpolicy.engine.parse import (
    classify_unknown,
    normalize_domain,
    normalize_name,
    normalize_path,
    parse_network,
)
from mailpolicy.engine.regex import RegexError, check_regex, regex_options

KIND_EMAIL = "EMAIL"
KIND_DOMAIN = "DOMAIN"
KIND_IP = "IP"
KIND_REGEX = "REGEX"

# A skipped entry: (resource, id, why it takes no part in evaluation).
Skipped = tuple[str, str, str]


class PatternError(ValueError):
    """A stored pattern that cannot be used; the message says why."""


def prepare_pattern(pattern: str, pattern_type: str, is_regex: bool) -> tuple[str, Any]:
    """``(kind, key)`` of a pattern as indexes store it; raises :class:`PatternError`.

    The key is the normalised address or domain, an IP network, or the regex itself.
    """
    if is_regex:
        try:
            check_regex(pattern)
        except RegexError as exc:
            raise PatternError(str(exc)) from None
        return KIND_REGEX, pattern
    kind = pattern_type.upper()
    if kind not in (KIND_EMAIL, KIND_DOMAIN, KIND_IP):
        kind = classify_unknown(pattern.strip())
    if kind == KIND_EMAIL:
        address = normalize_path(pattern)
        if address is None:
            raise PatternError(f"{pattern!r} is not an email address")
        return KIND_EMAIL, address
    if kind == KIND_IP:
        network = parse_network(pattern)
        if network is None:
            raise PatternError(f"{pattern!r} is not an IP address or CIDR network")
        return KIND_IP, network
    return KIND_DOMAIN, domain_key(pattern)


def domain_key(pattern: str) -> str:
    """A domain pattern as stored; raises :class:`PatternError` if it is not a domain."""
    domain = normalize_domain(pattern)
    if not domain or "@" in domain or any(ch.isspace() for ch in domain):
        raise PatternError(f"{pattern!r} is not a domain name")
    return domain


def impersonation_entry(rule: ImpersonationRule) -> ImpersonationEntry:
    """The registry entry for ``rule``; raises :class:`PatternError` if it is unusable."""
    if not normalize_name(rule.name):
        raise PatternError("the registered name is empty")
    if rule.is_email_regex:
        try:
            check_regex(rule.email)
        except RegexError as exc:
            raise PatternError(str(exc)) from None
        return ImpersonationEntry(
            rule.id, rule.name, rule.email, None, re2.compile(rule.email, regex_options())
        )
    key = normalize_path(rule.email) or rule.email.strip().lower()
    return ImpersonationEntry(rule.id, rule.name, rule.email, key, None)


def policy_entries(rule: AllowPolicyRule) -> tuple[list[PolicyEntry], PolicyEntry | None]:
    """The sender-side entries of an allow policy (one per flag) and its exempt entry."""
    sender: list[PolicyEntry] = []
    if rule.is_trusted_sender:
        sender.append(
            PolicyEntry(RESOURCE_ALLOW, rule.id, rule.pattern, EFFECT_TRUSTED, rule.verify_sender)
        )
    if rule.is_acceptable_sender:
        sender.append(
            PolicyEntry(
                RESOURCE_ALLOW, rule.id, rule.pattern, EFFECT_ACCEPTABLE, rule.verify_sender
            )
        )
    exempt = None
    if rule.is_exempt_recipient:
        exempt = PolicyEntry(RESOURCE_ALLOW, rule.id, rule.pattern, EFFECT_EXEMPT, False)
    return sender, exempt


def block_entry(rule: BlockedSenderRule) -> PolicyEntry:
    return PolicyEntry(RESOURCE_BLOCK, rule.id, rule.pattern, EFFECT_BLOCK, False)


def restriction_entry(rule: SendingDomainRestrictionRule) -> RestrictionEntry:
    excludes = frozenset(normalize_domain(name) for name in rule.exclude if name.strip())
    return RestrictionEntry(rule.id, domain_key(rule.domain), excludes)


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    """Every settings list, indexed for evaluation. Build with :func:`build_snapshot`."""

    sender: PatternIndex[PolicyEntry]
    exempt: PatternIndex[PolicyEntry]
    trusted_domains: PatternIndex[TrustedDomainEntry]
    impersonation: dict[str, tuple[ImpersonationEntry, ...]]
    protected: dict[str, ProtectedEntry]
    restrictions: dict[str, tuple[RestrictionEntry, ...]]
    skipped: tuple[Skipped, ...]
    entries: int


def _index_pattern(builder: PatternIndexBuilder[Any], kind: str, key: Any, entry: Any) -> None:
    if kind == KIND_EMAIL:
        builder.add_email(key, entry)
    elif kind == KIND_DOMAIN:
        builder.add_domain(key, entry)
    elif kind == KIND_IP:
        builder.add_network(key.version, int(key.network_address), key.prefixlen, entry)
    else:
        builder.add_regex(key, entry)


def _index_allow(
    rules: Iterable[AllowPolicyRule],
    sender: PatternIndexBuilder[PolicyEntry],
    exempt: PatternIndexBuilder[PolicyEntry],
    skipped: list[Skipped],
) -> int:
    count = 0
    for rule in rules:
        count += 1
        sender_entries, exempt_entry = policy_entries(rule)
        if not sender_entries and exempt_entry is None:
            continue
        try:
            kind, key = prepare_pattern(rule.pattern, rule.pattern_type, rule.is_regex)
        except PatternError as exc:
            skipped.append((RESOURCE_ALLOW, rule.id, str(exc)))
            continue
        for entry in sender_entries:
            _index_pattern(sender, kind, key, entry)
        # A recipient is an address, so an IP pattern can never exempt one.
        if exempt_entry is not None and kind != KIND_IP:
            _index_pattern(exempt, kind, key, exempt_entry)
    return count


def _index_blocked(
    rules: Iterable[BlockedSenderRule],
    sender: PatternIndexBuilder[PolicyEntry],
    skipped: list[Skipped],
) -> int:
    count = 0
    for rule in rules:
        count += 1
        try:
            kind, key = prepare_pattern(rule.pattern, rule.pattern_type, rule.is_regex)
        except PatternError as exc:
            skipped.append((RESOURCE_BLOCK, rule.id, str(exc)))
            continue
        _index_pattern(sender, kind, key, block_entry(rule))
    return count


def trusted_domain_pattern(rule: TrustedDomainRule) -> tuple[str, str]:
    """``(kind, key)`` of a trusted domain pattern; raises :class:`PatternError`."""
    if rule.is_regex:
        return prepare_pattern(rule.pattern, KIND_DOMAIN, True)
    return KIND_DOMAIN, domain_key(rule.pattern)


def _index_trusted(
    rules: Iterable[TrustedDomainRule],
    trusted: PatternIndexBuilder[TrustedDomainEntry],
    skipped: list[Skipped],
) -> int:
    count = 0
    for rule in rules:
        count += 1
        if not (rule.is_recent or rule.is_similarity):
            continue
        try:
            kind, key = trusted_domain_pattern(rule)
        except PatternError as exc:
            skipped.append((RESOURCE_TRUSTED_DOMAINS, rule.id, str(exc)))
            continue
        entry = TrustedDomainEntry(rule.id, rule.pattern, rule.is_recent, rule.is_similarity)
        _index_pattern(trusted, kind, key, entry)
    return count


def _index_registry(
    rules: Iterable[ImpersonationRule],
    registry: dict[str, list[ImpersonationEntry]],
    skipped: list[Skipped],
) -> int:
    count = 0
    for rule in rules:
        count += 1
        try:
            entry = impersonation_entry(rule)
        except PatternError as exc:
            skipped.append((RESOURCE_IMPERSONATION, rule.id, str(exc)))
            continue
        registry.setdefault(normalize_name(rule.name), []).append(entry)
    return count


def _index_protected(
    rules: Iterable[ProtectedDomainRule],
    protected: dict[str, ProtectedEntry],
    skipped: list[Skipped],
) -> int:
    count = 0
    for rule in rules:
        count += 1
        try:
            domain = domain_key(rule.domain)
        except PatternError as exc:
            skipped.append((RESOURCE_DOMAINS, rule.id, str(exc)))
            continue
        existing = protected.get(domain)
        if existing is not None:
            reason = f"duplicate of domain {existing.rule.id} ({domain})"
            skipped.append((RESOURCE_DOMAINS, rule.id, reason))
            continue
        protected[domain] = protected_entry(rule, domain)
    return count


def _index_restrictions(
    rules: Iterable[SendingDomainRestrictionRule],
    restricted: dict[str, list[RestrictionEntry]],
    skipped: list[Skipped],
) -> int:
    count = 0
    for rule in rules:
        count += 1
        try:
            entry = restriction_entry(rule)
        except PatternError as exc:
            skipped.append((RESOURCE_RESTRICTIONS, rule.id, str(exc)))
            continue
        restricted.setdefault(entry.domain, []).append(entry)
    return count


def build_snapshot(
    *,
    allow_policies: Iterable[AllowPolicyRule] = (),
    blocked_senders: Iterable[BlockedSenderRule] = (),
    trusted_domains: Iterable[TrustedDomainRule] = (),
    impersonation: Iterable[ImpersonationRule] = (),
    domains: Iterable[ProtectedDomainRule] = (),
    restrictions: Iterable[SendingDomainRestrictionRule] = (),
) -> Snapshot:
    """Index the settings lists.

    Never raises on bad data: an unusable entry (a regex RE2 refuses or finds too complex,
    an IP pattern that is no address, ...) is left out and listed in
    :attr:`Snapshot.skipped` as ``(resource, id, reason)``.
    """
    skipped: list[Skipped] = []
    sender: PatternIndexBuilder[PolicyEntry] = PatternIndexBuilder()
    exempt: PatternIndexBuilder[PolicyEntry] = PatternIndexBuilder()
    trusted: PatternIndexBuilder[TrustedDomainEntry] = PatternIndexBuilder()
    registry: dict[str, list[ImpersonationEntry]] = {}
    protected: dict[str, ProtectedEntry] = {}
    restricted: dict[str, list[RestrictionEntry]] = {}
    count = (
        _index_allow(allow_policies, sender, exempt, skipped)
        + _index_blocked(blocked_senders, sender, skipped)
        + _index_trusted(trusted_domains, trusted, skipped)
        + _index_registry(impersonation, registry, skipped)
        + _index_protected(domains, protected, skipped)
        + _index_restrictions(restrictions, restricted, skipped)
    )

    sender_index, sender_rejected = sender.build()
    exempt_index, exempt_rejected = exempt.build()
    trusted_index, trusted_rejected = trusted.build()
    for policy, reason in (*sender_rejected, *exempt_rejected):
        skipped.append((policy.resource, policy.id, reason))
    for td_entry, reason in trusted_rejected:
        skipped.append((RESOURCE_TRUSTED_DOMAINS, td_entry.id, reason))

    return Snapshot(
        sender=sender_index,
        exempt=exempt_index,
        trusted_domains=trusted_index,
        impersonation={name: tuple(entries) for name, entries in registry.items()},
        protected=protected,
        restrictions={domain: tuple(entries) for domain, entries in restricted.items()},
        skipped=tuple(dict.fromkeys(skipped)),
        entries=count,
    )
