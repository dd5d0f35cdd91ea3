"""Building the immutable, indexed snapshot of every settings list the engine consults.

A snapshot is never changed after it is built. When settings change the caller builds a
new one and swaps the reference; evaluations in flight keep the snapshot they started
with, so readers never wait for writers.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import re2

from mailpolicy.engine.decide import (
    EFFECT_ACCEPTABLE,
    EFFECT_BLOCK,
    EFFECT_EXEMPT,
    EFFECT_TRUSTED,
    ContentEntry,
    ImpersonationTarget,
    PolicyEntry,
    ProtectedEntry,
    RestrictionEntry,
    TrustedDomainEntry,
    protected_entry,
)
from mailpolicy.engine.index import (
    IpIndex,
    PatternIndexBuilder,
    RegexSet,
    build_regex_set,
    build_search_set,
)
from mailpolicy.engine.model import (
    RESOURCE_ALLOW,
    RESOURCE_BLOCK,
    RESOURCE_CONTENT,
    RESOURCE_DOMAINS,
    RESOURCE_IMPERSONATION,
    RESOURCE_RESTRICTIONS,
    RESOURCE_TRUSTED_DOMAINS,
    TARGET_BODY,
    TARGET_SUBJECT,
    AllowPolicyRule,
    BlockedSenderRule,
    ContentPolicyRule,
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
    return KIND_DOMAIN, indexed_domain(pattern)


def indexed_domain(pattern: str) -> str:
    """A domain pattern as stored; raises :class:`PatternError` if it is not a domain."""
    domain = normalize_domain(pattern)
    if not domain or "@" in domain or len(domain.split(maxsplit=1)) != 1:
        raise PatternError(f"{pattern!r} is not a domain name")
    return domain


def impersonation_entry(rule: ImpersonationRule) -> ImpersonationTarget:
    """The registry entry for ``rule``; raises :class:`PatternError` if it is unusable."""
    if not normalize_name(rule.name):
        raise PatternError("the registered name is empty")
    if rule.is_email_regex:
        try:
            check_regex(rule.email)
        except RegexError as exc:
            raise PatternError(str(exc)) from None
        return ImpersonationTarget(
            rule.id, rule.name, rule.email, None, re2.compile(rule.email, regex_options())
        )
    key = normalize_path(rule.email) or rule.email.strip().lower()
    return ImpersonationTarget(rule.id, rule.name, rule.email, key, None)


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
    return RestrictionEntry(rule.id, indexed_domain(rule.domain), excludes)


# What a sender domain (or a parent of it) carries: sender-side allow and block entries,
# and TLS restrictions. One walk up the labels of a sender domain collects both.
SenderSlot = tuple[tuple[PolicyEntry, ...], tuple[RestrictionEntry, ...]]
# What a recipient domain (or a parent) carries: exempt-recipient entries, protected domain.
RecipientSlot = tuple[tuple[PolicyEntry, ...], ProtectedEntry | None]


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    """Every settings list, indexed for evaluation. Build with :func:`build_snapshot`.

    The maps are never modified after the build; treat them as read-only.
    """

    sender_emails: dict[str, tuple[PolicyEntry, ...]]
    sender_domains: dict[str, SenderSlot]
    sender_ipv4: IpIndex[PolicyEntry]
    sender_ipv6: IpIndex[PolicyEntry]
    sender_regex: RegexSet[PolicyEntry] | None
    recipient_emails: dict[str, tuple[PolicyEntry, ...]]
    recipient_domains: dict[str, RecipientSlot]
    recipient_regex: RegexSet[PolicyEntry] | None
    trusted_domains: dict[str, tuple[TrustedDomainEntry, ...]]
    trusted_regex: RegexSet[TrustedDomainEntry] | None
    impersonation: dict[str, tuple[ImpersonationTarget, ...]]
    # Enabled content policies, by target; each pattern is found anywhere in its text.
    content_subject: RegexSet[ContentEntry] | None
    content_body: RegexSet[ContentEntry] | None
    skipped: tuple[Skipped, ...]
    entries: int


def _index_pattern(builder: PatternIndexBuilder[Any], kind: str, key: Any, entry: Any) -> None:
    if kind == KIND_EMAIL:
        builder.add_email(key, entry)
    elif kind == KIND_DOMAIN:
        builder.add_domain(key, entry)
    elif kind == KIND_IP:
        version, network, prefixlen = key
        builder.add_network(version, network, prefixlen, entry)
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
    return KIND_DOMAIN, indexed_domain(rule.pattern)


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
    registry: dict[str, list[ImpersonationTarget]],
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
            domain = indexed_domain(rule.domain)
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


def index_content(
    rules: Iterable[ContentPolicyRule],
    subject: dict[str, list[ContentEntry]],
    body: dict[str, list[ContentEntry]],
    skipped: list[Skipped],
) -> int:
    count = 0
    for rule in rules:
        count += 1
        if not rule.enabled:
            continue
        try:
            check_regex(rule.pattern)
        except RegexError as exc:
            skipped.append((RESOURCE_CONTENT, rule.id, str(exc)))
            continue
        entry = ContentEntry(rule.id, rule.name, rule.pattern)
        if TARGET_SUBJECT in rule.targets:
            subject.setdefault(rule.pattern, []).append(entry)
        if TARGET_BODY in rule.targets:
            body.setdefault(rule.pattern, []).append(entry)
    return count


@contextmanager
def collector_paused() -> Iterator[None]:
    # A build allocates millions of small objects and no reference cycles worth collecting;
    # left running, the cyclic collector rescans the growing heap again and again, which
    # costs about 40 % of a million-entry build. Reference counting still frees everything.
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def build_snapshot(
    *,
    allow_policies: Iterable[AllowPolicyRule] = (),
    blocked_senders: Iterable[BlockedSenderRule] = (),
    trusted_domains: Iterable[TrustedDomainRule] = (),
    impersonation: Iterable[ImpersonationRule] = (),
    domains: Iterable[ProtectedDomainRule] = (),
    restrictions: Iterable[SendingDomainRestrictionRule] = (),
    content_policies: Iterable[ContentPolicyRule] = (),
) -> Snapshot:
    """Index the settings lists.

    Never raises on bad data: an unusable entry (a regex RE2 refuses or finds too complex,
    an IP pattern that is no address, ...) is left out and listed in
    :attr:`Snapshot.skipped` as ``(resource, id, reason)``.
    """
    with collector_paused():
        return build_parts(
            allow_policies,
            blocked_senders,
            trusted_domains,
            impersonation,
            domains,
            restrictions,
            content_policies,
        ).snapshot


# Any one settings entry, as the engine reads it.
Rule = (
    AllowPolicyRule
    | BlockedSenderRule
    | TrustedDomainRule
    | ImpersonationRule
    | ProtectedDomainRule
    | SendingDomainRestrictionRule
    | ContentPolicyRule
)


# Which entry a rule is: (resource, id).
RuleKey = tuple[str, str]


def rule_key(rule: Rule) -> RuleKey:
    if isinstance(rule, AllowPolicyRule):
        return (RESOURCE_ALLOW, rule.id)
    if isinstance(rule, BlockedSenderRule):
        return (RESOURCE_BLOCK, rule.id)
    if isinstance(rule, TrustedDomainRule):
        return (RESOURCE_TRUSTED_DOMAINS, rule.id)
    if isinstance(rule, ImpersonationRule):
        return (RESOURCE_IMPERSONATION, rule.id)
    if isinstance(rule, ProtectedDomainRule):
        return (RESOURCE_DOMAINS, rule.id)
    if isinstance(rule, SendingDomainRestrictionRule):
        return (RESOURCE_RESTRICTIONS, rule.id)
    return (RESOURCE_CONTENT, rule.id)


def snapshot_of(rules: Iterable[Rule]) -> Snapshot:
    """:func:`build_snapshot` of rules of every kind, mixed: each kind keeps its order."""
    allow: list[AllowPolicyRule] = []
    blocked: list[BlockedSenderRule] = []
    trusted: list[TrustedDomainRule] = []
    impersonation: list[ImpersonationRule] = []
    domains: list[ProtectedDomainRule] = []
    restrictions: list[SendingDomainRestrictionRule] = []
    content: list[ContentPolicyRule] = []
    for rule in rules:
        if isinstance(rule, AllowPolicyRule):
            allow.append(rule)
        elif isinstance(rule, BlockedSenderRule):
            blocked.append(rule)
        elif isinstance(rule, TrustedDomainRule):
            trusted.append(rule)
        elif isinstance(rule, ImpersonationRule):
            impersonation.append(rule)
        elif isinstance(rule, ProtectedDomainRule):
            domains.append(rule)
        elif isinstance(rule, SendingDomainRestrictionRule):
            restrictions.append(rule)
        else:
            content.append(rule)
    return build_snapshot(
        allow_policies=allow,
        blocked_senders=blocked,
        trusted_domains=trusted,
        impersonation=impersonation,
        domains=domains,
        restrictions=restrictions,
        content_policies=content,
    )


class Parts:
    """A snapshot and what its build found wrong, by cause: the entries left out on their own
    account (one reason each, in build order), and those a regex set's compiler refused, per
    set (what a build that follows changes must keep apart; see mailpolicy.engine.changes)."""

    __slots__ = (
        "content_rejected",
        "policy_rejected",
        "rule_skipped",
        "snapshot",
        "trusted_rejected",
    )

    def __init__(
        self,
        snapshot: Snapshot,
        rule_skipped: list[Skipped],
        policy_rejected: list[Skipped],
        trusted_rejected: list[Skipped],
        content_rejected: list[Skipped],
    ) -> None:
        self.snapshot = snapshot
        self.rule_skipped = rule_skipped
        self.policy_rejected = policy_rejected
        self.trusted_rejected = trusted_rejected
        self.content_rejected = content_rejected


def build_parts(
    allow_policies: Iterable[AllowPolicyRule],
    blocked_senders: Iterable[BlockedSenderRule],
    trusted_domains: Iterable[TrustedDomainRule],
    impersonation: Iterable[ImpersonationRule],
    domains: Iterable[ProtectedDomainRule],
    restrictions: Iterable[SendingDomainRestrictionRule],
    content_policies: Iterable[ContentPolicyRule],
) -> Parts:
    skipped: list[Skipped] = []
    content_subject: dict[str, list[ContentEntry]] = {}
    content_body: dict[str, list[ContentEntry]] = {}
    sender: PatternIndexBuilder[PolicyEntry] = PatternIndexBuilder()
    exempt: PatternIndexBuilder[PolicyEntry] = PatternIndexBuilder()
    trusted: PatternIndexBuilder[TrustedDomainEntry] = PatternIndexBuilder()
    registry: dict[str, list[ImpersonationTarget]] = {}
    protected: dict[str, ProtectedEntry] = {}
    restricted: dict[str, list[RestrictionEntry]] = {}
    count = (
        _index_allow(allow_policies, sender, exempt, skipped)
        + _index_blocked(blocked_senders, sender, skipped)
        + _index_trusted(trusted_domains, trusted, skipped)
        + _index_registry(impersonation, registry, skipped)
        + _index_protected(domains, protected, skipped)
        + _index_restrictions(restrictions, restricted, skipped)
        + index_content(content_policies, content_subject, content_body, skipped)
    )

    rule_skipped = list(skipped)
    sender_regex, recipient_regex, policy_rejected = policy_regex_sets(sender.regex, exempt.regex)
    trusted_regex, trusted_rejected = trusted_regex_set(trusted.regex)
    subject_set, body_set, content_rejected = content_sets(content_subject, content_body)
    skipped.extend(policy_rejected)
    skipped.extend(trusted_rejected)
    skipped.extend(content_rejected)

    sender_domains: dict[str, SenderSlot] = {
        domain: (tuple(entries), ()) for domain, entries in sender.domains.items()
    }
    for domain, restriction_list in restricted.items():
        policies = sender_domains.get(domain, ((), ()))[0]
        sender_domains[domain] = (policies, tuple(restriction_list))
    recipient_domains: dict[str, RecipientSlot] = {
        domain: (tuple(entries), None) for domain, entries in exempt.domains.items()
    }
    for domain, protected_here in protected.items():
        exempts = recipient_domains.get(domain, ((), None))[0]
        recipient_domains[domain] = (exempts, protected_here)

    snapshot = Snapshot(
        sender_emails=sender.frozen_emails(),
        sender_domains=sender_domains,
        sender_ipv4=sender.ip_index(4),
        sender_ipv6=sender.ip_index(6),
        sender_regex=sender_regex,
        recipient_emails=exempt.frozen_emails(),
        recipient_domains=recipient_domains,
        recipient_regex=recipient_regex,
        trusted_domains=trusted.frozen_domains(),
        trusted_regex=trusted_regex,
        impersonation={name: tuple(entries) for name, entries in registry.items()},
        content_subject=subject_set,
        content_body=body_set,
        skipped=tuple(dict.fromkeys(skipped)),
        entries=count,
    )
    return Parts(snapshot, rule_skipped, policy_rejected, trusted_rejected, content_rejected)


def policy_regex_sets(
    sender: dict[str, list[PolicyEntry]], exempt: dict[str, list[PolicyEntry]]
) -> tuple[RegexSet[PolicyEntry] | None, RegexSet[PolicyEntry] | None, list[Skipped]]:
    """The sender and recipient regex sets of allow policies and blocked senders, and the
    entries their compiler refused."""
    sender_regex, sender_rejected = build_regex_set(sender)
    recipient_regex, exempt_rejected = build_regex_set(exempt)
    rejected = [
        (policy.resource, policy.id, reason)
        for policy, reason in (*sender_rejected, *exempt_rejected)
    ]
    return sender_regex, recipient_regex, rejected


def trusted_regex_set(
    by_pattern: dict[str, list[TrustedDomainEntry]],
) -> tuple[RegexSet[TrustedDomainEntry] | None, list[Skipped]]:
    found, rejected = build_regex_set(by_pattern)
    return found, [(RESOURCE_TRUSTED_DOMAINS, entry.id, reason) for entry, reason in rejected]


def content_sets(
    subject: dict[str, list[ContentEntry]], body: dict[str, list[ContentEntry]]
) -> tuple[RegexSet[ContentEntry] | None, RegexSet[ContentEntry] | None, list[Skipped]]:
    subject_set, subject_rejected = build_search_set(subject)
    body_set, body_rejected = build_search_set(body)
    rejected = [
        (RESOURCE_CONTENT, entry.id, reason)
        for entry, reason in (*subject_rejected, *body_rejected)
    ]
    return subject_set, body_set, rejected


def body_policies(snapshot: Snapshot) -> dict[str, str]:
    """The enabled content policies that read a message's body, id -> pattern (what a replay
    without the body must know it is not asked)."""
    found: dict[str, str] = {}
    if snapshot.content_body is not None:
        for _, groups in snapshot.content_body.sets:
            for entries in groups:
                for entry in entries:
                    found[entry.id] = entry.pattern
    return found


def reference_domains(snapshot: Snapshot) -> tuple[str, ...]:
    """The domains a lookalike would imitate: the protected domains and the domains of the
    impersonation registry's addresses (an address pattern names no one domain)."""
    found = {domain for domain, slot in snapshot.recipient_domains.items() if slot[1] is not None}
    for targets in snapshot.impersonation.values():
        for target in targets:
            if target.email_key:
                found.add(target.email_key.rpartition("@")[2])
    return tuple(sorted(found))
