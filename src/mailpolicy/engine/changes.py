"""Snapshots that follow changes: a write to a few entries costs a few entries' work.

A :class:`SnapshotBuilder` holds every rule of one account and the snapshot built from them.
:meth:`SnapshotBuilder.apply` takes the entries that changed and gives a new snapshot that
shares everything the change did not touch with the one before: the maps it touches are
copied (a pointer copy), then only the keys of the changed entries are rewritten. The old
snapshot is never modified, so evaluations in flight keep reading it.

The result is exactly what :func:`~mailpolicy.engine.snapshot.build_snapshot` would build from
the same rules in the builder's order (its :meth:`~SnapshotBuilder.rules`): a rule keeps its
place when it is edited, and a new rule comes last. Within one key, entries are kept in the
full build's order: by kind (allow policies before blocked senders), then by that place.
Regex sets, content policies and the IP ranges are rebuilt whole when an entry of theirs
changes: they are small next to the address and domain maps, which are what grow to millions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mailpolicy.engine.decide import (
    EFFECT_ACCEPTABLE,
    ContentEntry,
    ImpersonationTarget,
    PolicyEntry,
    ProtectedEntry,
    RestrictionEntry,
    TrustedDomainEntry,
    protected_entry,
)
from mailpolicy.engine.index import ip_index_of
from mailpolicy.engine.model import (
    RESOURCE_ALLOW,
    RESOURCE_BLOCK,
    RESOURCE_CONTENT,
    RESOURCE_DOMAINS,
    RESOURCE_IMPERSONATION,
    RESOURCE_RESTRICTIONS,
    RESOURCE_TRUSTED_DOMAINS,
    AllowPolicyRule,
    BlockedSenderRule,
    ContentPolicyRule,
    ImpersonationRule,
    ProtectedDomainRule,
    SendingDomainRestrictionRule,
    TrustedDomainRule,
)
from mailpolicy.engine.parse import normalize_name
from mailpolicy.engine.snapshot import (
    KIND_EMAIL,
    KIND_IP,
    KIND_REGEX,
    Parts,
    PatternError,
    Rule,
    RuleKey,
    Skipped,
    Snapshot,
    block_entry,
    build_parts,
    collector_paused,
    content_sets,
    impersonation_entry,
    index_content,
    indexed_domain,
    policy_entries,
    policy_regex_sets,
    prepare_pattern,
    restriction_entry,
    rule_key,
    trusted_domain_pattern,
    trusted_regex_set,
)

# The order of kinds in a full build (and in its list of skipped entries).
_KIND_RANK = {
    RESOURCE_ALLOW: 0,
    RESOURCE_BLOCK: 1,
    RESOURCE_TRUSTED_DOMAINS: 2,
    RESOURCE_IMPERSONATION: 3,
    RESOURCE_DOMAINS: 4,
    RESOURCE_RESTRICTIONS: 5,
    RESOURCE_CONTENT: 6,
}

# The maps keyed by address or domain that one entry adds to (ip: (version, shift, network)).
SENDER_EMAILS = "sender_emails"
SENDER_DOMAINS = "sender_domains"
SENDER_IP = "sender_ip"
RECIPIENT_EMAILS = "recipient_emails"
RECIPIENT_DOMAINS = "recipient_domains"
RESTRICTIONS = "restrictions"
PROTECTED = "protected"
TRUSTED = "trusted_domains"
IMPERSONATION = "impersonation"

# (map, key, entry): what one rule puts where.
Contribution = tuple[str, Any, Any]


class _Effects:
    """What one rule adds to the snapshot: keyed entries, why it was left out, its regex."""

    __slots__ = ("contributions", "policy_regex", "skip", "trusted_regex")

    def __init__(self) -> None:
        self.contributions: list[Contribution] = []
        self.skip: str | None = None
        self.policy_regex = False
        self.trusted_regex = False


def _pattern_contributions(
    effects: _Effects, kind: str, key: Any, entries: list[PolicyEntry], exempt: PolicyEntry | None
) -> None:
    if kind == KIND_REGEX:
        effects.policy_regex = True
        return
    if kind == KIND_IP:
        version, network, prefixlen = key
        shift = (32 if version == 4 else 128) - prefixlen
        for entry in entries:
            effects.contributions.append((SENDER_IP, (version, shift, network >> shift), entry))
        return  # a recipient is an address: an IP pattern never exempts one
    sender_map = SENDER_EMAILS if kind == KIND_EMAIL else SENDER_DOMAINS
    for entry in entries:
        effects.contributions.append((sender_map, key, entry))
    if exempt is not None:
        recipient_map = RECIPIENT_EMAILS if kind == KIND_EMAIL else RECIPIENT_DOMAINS
        effects.contributions.append((recipient_map, key, exempt))


def effects_of(rule: Rule) -> _Effects:
    """Where ``rule`` goes in a snapshot, as the full build would put it."""
    effects = _Effects()
    try:
        if isinstance(rule, AllowPolicyRule):
            sender, exempt = policy_entries(rule)
            if sender or exempt is not None:
                kind, key = prepare_pattern(rule.pattern, rule.pattern_type, rule.is_regex)
                _pattern_contributions(effects, kind, key, sender, exempt)
        elif isinstance(rule, BlockedSenderRule):
            kind, key = prepare_pattern(rule.pattern, rule.pattern_type, rule.is_regex)
            _pattern_contributions(effects, kind, key, [block_entry(rule)], None)
        elif isinstance(rule, TrustedDomainRule):
            if rule.is_recent or rule.is_similarity:
                kind, key = trusted_domain_pattern(rule)
                if kind == KIND_REGEX:
                    effects.trusted_regex = True
                else:
                    entry = TrustedDomainEntry(
                        rule.id, rule.pattern, rule.is_recent, rule.is_similarity
                    )
                    effects.contributions.append((TRUSTED, key, entry))
        elif isinstance(rule, ImpersonationRule):
            target = impersonation_entry(rule)
            effects.contributions.append((IMPERSONATION, normalize_name(rule.name), target))
        elif isinstance(rule, ProtectedDomainRule):
            effects.contributions.append((PROTECTED, indexed_domain(rule.domain), rule))
        elif isinstance(rule, SendingDomainRestrictionRule):
            restriction = restriction_entry(rule)
            effects.contributions.append((RESTRICTIONS, restriction.domain, restriction))
    except PatternError as exc:
        effects.skip = str(exc)
    return effects


def _entry_key(entry: Any) -> RuleKey:
    if isinstance(entry, PolicyEntry):
        return (entry.resource, entry.id)
    if isinstance(entry, TrustedDomainEntry):
        return (RESOURCE_TRUSTED_DOMAINS, entry.id)
    if isinstance(entry, ImpersonationTarget):
        return (RESOURCE_IMPERSONATION, entry.id)
    if isinstance(entry, RestrictionEntry):
        return (RESOURCE_RESTRICTIONS, entry.id)
    if isinstance(entry, ContentEntry):
        return (RESOURCE_CONTENT, entry.id)
    assert isinstance(entry, ProtectedDomainRule)
    return (RESOURCE_DOMAINS, entry.id)


class _Change:
    """What one apply rewrites: each (map, key) and the entries it gets, and which of the
    structures rebuilt whole (regex sets, content policies) it touches."""

    __slots__ = ("content", "policy_regex", "touched", "trusted_regex")

    def __init__(self) -> None:
        self.touched: dict[tuple[str, Any], list[Any]] = {}
        self.policy_regex = False
        self.trusted_regex = False
        self.content = False

    def touch(self, effects: _Effects, *, keep: bool) -> None:
        for target, map_key, entry in effects.contributions:
            entries = self.touched.setdefault((target, map_key), [])
            if keep:
                entries.append(entry)
        self.policy_regex |= effects.policy_regex
        self.trusted_regex |= effects.trusted_regex


def _put(table: dict[Any, Any], key: Any, value: Any) -> None:
    """``table[key] = value``, or no ``key`` at all for an empty value (as a full build)."""
    if value:
        table[key] = value
    else:
        table.pop(key, None)


class _Maps:
    """The keyed maps of a snapshot, each copied the first time a change writes to it."""

    __slots__ = ("copies", "old")

    def __init__(self, old: Snapshot) -> None:
        self.old = old
        self.copies: dict[str, dict[Any, Any]] = {}

    def get(self, name: str) -> dict[Any, Any]:
        found = self.copies.get(name)
        if found is not None:
            return found
        old = self.old
        source: dict[Any, Any]
        if name == SENDER_EMAILS:
            source = old.sender_emails
        elif name == SENDER_DOMAINS:
            source = old.sender_domains
        elif name == RECIPIENT_EMAILS:
            source = old.recipient_emails
        elif name == RECIPIENT_DOMAINS:
            source = old.recipient_domains
        elif name == TRUSTED:
            source = old.trusted_domains
        else:
            source = old.impersonation
        return source

    def copy(self, name: str) -> dict[Any, Any]:
        found = self.copies.get(name)
        if found is None:
            found = self.copies[name] = dict(self.get(name))
        return found


def _claimed(rule: Rule) -> str | None:
    """The domain a protected domain entry claims, if it is one that names a usable domain."""
    if not isinstance(rule, ProtectedDomainRule):
        return None
    try:
        return indexed_domain(rule.domain)
    except PatternError:
        return None


class SnapshotBuilder:
    """The rules of one account and their snapshot, kept in step change by change.

    Not thread-safe: one caller applies changes at a time. Should :meth:`apply` ever raise,
    the builder is left in no known state: drop it and build a new one.
    """

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._rules: dict[RuleKey, Rule] = {}
        self._seq: dict[RuleKey, int] = {}
        for rule in rules:
            key = rule_key(rule)
            if key not in self._rules:
                self._seq[key] = len(self._seq)
            self._rules[key] = rule
        self._next = len(self._seq)
        with collector_paused():
            parts = build_parts(*self._by_kind())
        self.snapshot: Snapshot = parts.snapshot
        self._skips: dict[RuleKey, Skipped] = {(s[0], s[1]): s for s in parts.rule_skipped}
        self._rejected: dict[str, list[Skipped]] = {
            "policy": parts.policy_rejected,
            "trusted": parts.trusted_rejected,
            "content": parts.content_rejected,
        }
        self._policy_regex: set[RuleKey] = set()
        self._trusted_regex: set[RuleKey] = set()
        self._content: set[RuleKey] = set()
        self._claims: dict[str, list[RuleKey]] = {}
        for key, rule in self._rules.items():
            self._note(key, rule)

    def _note(self, key: RuleKey, rule: Rule) -> None:
        """Keep track of what a rule holds that the maps alone do not say."""
        if isinstance(rule, (AllowPolicyRule, BlockedSenderRule)):
            if rule.is_regex and key not in self._skips:
                self._policy_regex.add(key)
        elif isinstance(rule, TrustedDomainRule):
            flagged = rule.is_recent or rule.is_similarity
            if rule.is_regex and flagged and key not in self._skips:
                self._trusted_regex.add(key)
        elif isinstance(rule, ContentPolicyRule):
            self._content.add(key)
        else:
            domain = _claimed(rule)
            if domain is not None:
                self._claims.setdefault(domain, []).append(key)

    def _forget(self, key: RuleKey, rule: Rule) -> None:
        self._policy_regex.discard(key)
        self._trusted_regex.discard(key)
        self._content.discard(key)
        domain = _claimed(rule)
        if domain is not None:
            claims = self._claims.get(domain)
            if claims is not None and key in claims:
                claims.remove(key)
                if not claims:
                    del self._claims[domain]

    def rules(self) -> list[Rule]:
        """Every rule, in the order a full build of the same snapshot reads them."""
        return sorted(self._rules.values(), key=lambda rule: self._seq[rule_key(rule)])

    def _by_kind(self) -> tuple[list[Any], ...]:
        kinds: tuple[list[Any], ...] = ([], [], [], [], [], [], [])
        for rule in self.rules():
            kinds[_KIND_RANK[rule_key(rule)[0]]].append(rule)
        return kinds

    def _order(self, entry: Any) -> tuple[int, int, int]:
        key = _entry_key(entry)
        within = 1 if isinstance(entry, PolicyEntry) and entry.effect == EFFECT_ACCEPTABLE else 0
        return (_KIND_RANK[key[0]], self._seq[key], within)

    def apply(self, changed: Iterable[RuleKey], current: Iterable[Rule]) -> Snapshot:
        """The snapshot after a change: ``changed`` names every entry created, edited or
        deleted (``(resource, id)``), ``current`` holds those of them that exist now, as they
        are now. An entry named in neither is unchanged; one named that is unchanged costs
        nothing."""
        now = {rule_key(rule): rule for rule in current}
        keys = set(changed) | now.keys()
        before: dict[RuleKey, Rule] = {}
        for key in list(keys):
            old = self._rules.get(key)
            if old is not None and now.get(key) == old:
                keys.discard(key)
            elif old is not None:
                before[key] = old
        if not keys:
            return self.snapshot

        change = _Change()
        for key, old in before.items():
            change.touch(effects_of(old), keep=False)
            change.policy_regex |= key in self._policy_regex
            change.trusted_regex |= key in self._trusted_regex
            change.content |= key in self._content
            self._forget(key, old)
            self._skips.pop(key, None)
            del self._rules[key]
        for key in keys - now.keys():
            self._seq.pop(key, None)
        for key, rule in now.items():
            if key in keys:
                self._add(key, rule, change)
        with collector_paused():
            self.snapshot = self._rewrite(keys, change)
        return self.snapshot

    def _add(self, key: RuleKey, rule: Rule, change: _Change) -> None:
        if key not in self._seq:
            self._seq[key] = self._next
            self._next += 1
        self._rules[key] = rule
        effects = effects_of(rule)
        if effects.skip is not None:
            self._skips[key] = (key[0], key[1], effects.skip)
        change.touch(effects, keep=True)
        change.content |= isinstance(rule, ContentPolicyRule)
        self._note(key, rule)

    def _merged(
        self, old: tuple[Any, ...], keys: set[RuleKey], added: list[Any]
    ) -> tuple[Any, ...]:
        kept = [entry for entry in old if _entry_key(entry) not in keys]
        if not added:
            return tuple(kept)
        return tuple(sorted(kept + added, key=self._order))

    def _rewrite(self, keys: set[RuleKey], change: _Change) -> Snapshot:
        old = self.snapshot
        maps = _Maps(old)
        ip_tables: dict[int, dict[int, dict[int, tuple[PolicyEntry, ...]]]] = {}
        self._rewrite_maps(keys, change, maps, ip_tables)
        sender_regex, recipient_regex = old.sender_regex, old.recipient_regex
        if change.policy_regex:
            sender_regex, recipient_regex = self._policy_regex_sets()
        subject_set, body_set = old.content_subject, old.content_body
        if change.content:
            subject_set, body_set = self._content_sets()
        trusted_set = self._trusted_regex_set() if change.trusted_regex else old.trusted_regex
        skipped: list[Skipped] = sorted(
            self._skips.values(), key=lambda s: (_KIND_RANK[s[0]], self._seq[(s[0], s[1])])
        )
        for group in ("policy", "trusted", "content"):
            skipped.extend(self._rejected[group])
        return Snapshot(
            sender_emails=maps.get(SENDER_EMAILS),
            sender_domains=maps.get(SENDER_DOMAINS),
            sender_ipv4=ip_index_of(ip_tables[4]) if 4 in ip_tables else old.sender_ipv4,
            sender_ipv6=ip_index_of(ip_tables[6]) if 6 in ip_tables else old.sender_ipv6,
            sender_regex=sender_regex,
            recipient_emails=maps.get(RECIPIENT_EMAILS),
            recipient_domains=maps.get(RECIPIENT_DOMAINS),
            recipient_regex=recipient_regex,
            trusted_domains=maps.get(TRUSTED),
            trusted_regex=trusted_set,
            impersonation=maps.get(IMPERSONATION),
            content_subject=subject_set,
            content_body=body_set,
            skipped=tuple(dict.fromkeys(skipped)),
            entries=len(self._rules),
        )

    def _rewrite_maps(
        self,
        keys: set[RuleKey],
        change: _Change,
        maps: _Maps,
        ip_tables: dict[int, dict[int, dict[int, tuple[PolicyEntry, ...]]]],
    ) -> None:
        old = self.snapshot
        protected_domains: set[str] = set()
        for (target, map_key), added in change.touched.items():
            if target == PROTECTED:
                protected_domains.add(map_key)
            elif target == SENDER_IP:
                version, shift, network = map_key
                if version not in ip_tables:
                    index = old.sender_ipv4 if version == 4 else old.sender_ipv6
                    ip_tables[version] = {shift: dict(t) for shift, t in index.tables}
                networks = ip_tables[version].setdefault(shift, {})
                _put(networks, network, self._merged(networks.get(network, ()), keys, added))
            elif target in (SENDER_DOMAINS, RESTRICTIONS):
                table = maps.copy(SENDER_DOMAINS)
                policies, restrictions = table.get(map_key, ((), ()))
                if target == SENDER_DOMAINS:
                    policies = self._merged(policies, keys, added)
                else:
                    restrictions = self._merged(restrictions, keys, added)
                _put(table, map_key, (policies, restrictions) if policies or restrictions else ())
            elif target == RECIPIENT_DOMAINS:
                table = maps.copy(RECIPIENT_DOMAINS)
                exempts, protected_here = table.get(map_key, ((), None))
                exempts = self._merged(exempts, keys, added)
                keep = exempts or protected_here is not None
                _put(table, map_key, (exempts, protected_here) if keep else ())
            else:
                table = maps.copy(target)
                _put(table, map_key, self._merged(table.get(map_key, ()), keys, added))
        if protected_domains:
            table = maps.copy(RECIPIENT_DOMAINS)
            for domain in protected_domains:
                self._protect(table, domain)

    def _protect(self, table: dict[Any, Any], domain: str) -> None:
        """The protected domain `domain` as the full build decides it: the first entry (in
        the builder's order) that names it protects it, the others are duplicates."""
        claims = sorted(self._claims.get(domain, ()), key=self._seq.__getitem__)
        for key in claims[1:]:
            self._skips[key] = (key[0], key[1], f"duplicate of domain {claims[0][1]} ({domain})")
        if claims:
            self._skips.pop(claims[0], None)
        exempts, _ = table.get(domain, ((), None))
        winner: ProtectedEntry | None = None
        if claims:
            rule = self._rules[claims[0]]
            assert isinstance(rule, ProtectedDomainRule)
            winner = protected_entry(rule, domain)
        if exempts or winner is not None:
            table[domain] = (exempts, winner)
        else:
            table.pop(domain, None)

    def _sorted(self, keys: Iterable[RuleKey]) -> list[Rule]:
        return [
            self._rules[key] for key in sorted(keys, key=lambda k: (_KIND_RANK[k[0]], self._seq[k]))
        ]

    def _policy_regex_sets(self) -> tuple[Any, Any]:
        sender: dict[str, list[PolicyEntry]] = {}
        exempt: dict[str, list[PolicyEntry]] = {}
        for rule in self._sorted(self._policy_regex):
            if isinstance(rule, AllowPolicyRule):
                entries, exempt_entry = policy_entries(rule)
            else:
                assert isinstance(rule, BlockedSenderRule)
                entries, exempt_entry = [block_entry(rule)], None
            for entry in entries:
                sender.setdefault(rule.pattern, []).append(entry)
            if exempt_entry is not None:
                exempt.setdefault(rule.pattern, []).append(exempt_entry)
        sender_set, recipient_set, rejected = policy_regex_sets(sender, exempt)
        self._rejected["policy"] = rejected
        return sender_set, recipient_set

    def _trusted_regex_set(self) -> Any:
        by_pattern: dict[str, list[TrustedDomainEntry]] = {}
        for rule in self._sorted(self._trusted_regex):
            assert isinstance(rule, TrustedDomainRule)
            entry = TrustedDomainEntry(rule.id, rule.pattern, rule.is_recent, rule.is_similarity)
            by_pattern.setdefault(rule.pattern, []).append(entry)
        found, rejected = trusted_regex_set(by_pattern)
        self._rejected["trusted"] = rejected
        return found

    def _content_sets(self) -> tuple[Any, Any]:
        subject: dict[str, list[ContentEntry]] = {}
        body: dict[str, list[ContentEntry]] = {}
        skipped: list[Skipped] = []
        rules: list[ContentPolicyRule] = []
        for rule in self._sorted(self._content):
            assert isinstance(rule, ContentPolicyRule)
            rules.append(rule)
            self._skips.pop(rule_key(rule), None)
        index_content(rules, subject, body, skipped)
        for skip in skipped:
            self._skips[(skip[0], skip[1])] = skip
        subject_set, body_set, rejected = content_sets(subject, body)
        self._rejected["content"] = rejected
        return subject_set, body_set


__all__ = ["Parts", "SnapshotBuilder", "effects_of"]
