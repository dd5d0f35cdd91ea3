"""A snapshot that follows changes is the snapshot a full build makes of the same rules.

Random changes (creates, edits, deletes) over a small pool of addresses, domains, networks
and regexes, so that entries collide on keys, protected domains are claimed twice, regexes
are refused, and entries move in and out of every structure. After every change the
builder's snapshot is compared, structure by structure, with a full build of the builder's
rules, and both decide the same messages the same way.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from mailpolicy.engine import (
    AllowPolicyRule,
    AuthResults,
    BlockedSenderRule,
    ContentPolicyRule,
    ImpersonationRule,
    Message,
    ProtectedDomainRule,
    Rule,
    SendingDomainRestrictionRule,
    Snapshot,
    SnapshotBuilder,
    TrustedDomainRule,
    evaluate,
    rule_key,
    snapshot_of,
)

DOMAINS = [
    "example.com",
    "mail.example.com",
    "corp.com",
    "Other.NET",
    "xn--80ak6aa92e.com",
    "bad domain",
]
ADDRESSES = [
    "alice@example.com",
    "bob@corp.com",
    "ALICE@Example.com",
    "eve@other.net",
    "not-an-address",
]
NETWORKS = ["198.51.100.7", "198.51.100.0/24", "2001:db8::/32", "10.0.0.0/8", "300.1.1.1"]
REGEXES = [r".*@example\.com", r"bob@.*", r"(unclosed", r"[a-z]+@corp\.com", r".*\.net"]
# Display names of the registry; a blank one is an entry the engine leaves out.
NAMES = ["Dana Whitfield", "Finance Desk", "  ", "CEO"]


def random_rule(rng: random.Random, kind: str, ident: str) -> Rule:
    flags = [rng.random() < 0.5 for _ in range(4)]
    if kind in ("allow", "block"):
        choice = rng.randrange(4)
        pattern, pattern_type, is_regex = [
            (rng.choice(ADDRESSES), "EMAIL", False),
            (rng.choice(DOMAINS), "DOMAIN", False),
            (rng.choice(NETWORKS), "IP", False),
            (rng.choice(REGEXES), rng.choice(["EMAIL", "DOMAIN", "UNKNOWN"]), True),
        ][choice]
        if kind == "block":
            return BlockedSenderRule(ident, pattern, pattern_type, is_regex)
        return AllowPolicyRule(
            ident,
            pattern,
            pattern_type,
            is_regex,
            is_trusted_sender=flags[0],
            is_acceptable_sender=flags[1],
            is_exempt_recipient=flags[2],
            verify_sender=flags[3],
        )
    if kind == "trusted":
        is_regex = rng.random() < 0.3
        pattern = rng.choice(REGEXES if is_regex else DOMAINS)
        return TrustedDomainRule(ident, pattern, is_regex, flags[0], flags[1])
    if kind == "impersonation":
        is_regex = rng.random() < 0.3
        email = rng.choice(REGEXES if is_regex else ADDRESSES)
        return ImpersonationRule(ident, rng.choice(NAMES), email, is_regex)
    if kind == "domain":
        drops = tuple(rng.sample(["SPAM", "BULK", "MALICIOUS", "SPOOF"], rng.randrange(3)))
        return ProtectedDomainRule(
            ident, rng.choice(DOMAINS), rng.choice(["ACTIVE", "PENDING"]), drops
        )
    if kind == "restriction":
        exclude = tuple(rng.sample(DOMAINS[:4], rng.randrange(3)))
        return SendingDomainRestrictionRule(ident, rng.choice(DOMAINS), exclude)
    targets = tuple(rng.sample(["SUBJECT", "BODY"], rng.randrange(1, 3)))
    return ContentPolicyRule(ident, f"policy {ident}", rng.choice(REGEXES), targets, flags[0])


KINDS = ["allow", "block", "trusted", "impersonation", "domain", "restriction", "content"]


def describe(value: Any) -> Any:
    """A snapshot as plain, comparable values (entries compare by identity, regexes not at all)."""
    if isinstance(value, Snapshot):
        return {f.name: describe(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts = [describe(getattr(value, f.name)) for f in dataclasses.fields(value)]
        return (type(value).__name__, *parts)
    if isinstance(value, dict):
        return {describe(k): describe(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return tuple(describe(v) for v in value)
    if isinstance(value, frozenset):
        return tuple(sorted(value))
    if hasattr(value, "sets"):  # a RegexSet: its entries, and whether it has a screen
        return (
            "RegexSet",
            tuple(describe(entries) for _, entries in value.sets),
            value.screen is None,
        )
    if hasattr(value, "tables"):  # an IpIndex
        return ("IpIndex", value.starts, value.ends, describe(value.tables))
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return type(value).__name__  # a compiled regex


def messages(rng: random.Random) -> list[Message]:
    senders = [a for a in ADDRESSES if "@" in a] + ["carol@mail.example.com", "dan@sub.corp.com"]
    found = []
    for _ in range(12):
        found.append(
            Message(
                envelope_from=rng.choice(senders),
                header_from=f"{rng.choice(NAMES)} <{rng.choice(senders)}>",
                recipients=(rng.choice(senders), rng.choice(senders)),
                client_ip=rng.choice(["198.51.100.7", "10.1.2.3", "2001:db8::1", "192.0.2.1"]),
                auth=AuthResults(spf="pass", dmarc=rng.choice(["pass", "fail"])),
                subject=rng.choice(["hello", "bob@corp.com", None]),
                body=rng.choice(["text alice@example.com", None]),
            )
        )
    return found


def assert_same(builder: SnapshotBuilder, mail: list[Message]) -> None:
    full = snapshot_of(builder.rules())
    assert describe(builder.snapshot) == describe(full)
    for message in mail:
        assert evaluate(message, builder.snapshot).to_dict() == evaluate(message, full).to_dict()


@pytest.mark.parametrize("seed", range(6))
def test_every_change_gives_what_a_full_build_gives(seed: int) -> None:
    rng = random.Random(seed)
    rules: dict[str, Rule] = {}
    for number in range(40):
        kind = rng.choice(KINDS)
        rules[f"{kind}-{number}"] = random_rule(rng, kind, f"{kind}-{number}")
    builder = SnapshotBuilder(rules.values())
    mail = messages(rng)
    assert_same(builder, mail)
    counter = 1000
    for _ in range(120):
        changed: list[tuple[str, str]] = []
        current: list[Rule] = []
        for _ in range(rng.choice([1, 1, 1, 3, 8])):
            action = rng.random()
            if action < 0.35 or not rules:
                kind = rng.choice(KINDS)
                counter += 1
                ident = f"{kind}-{counter}"
                rules[ident] = random_rule(rng, kind, ident)
                current.append(rules[ident])
                changed.append(rule_key(rules[ident]))
            elif action < 0.7:
                ident = rng.choice(sorted(rules))
                kind = ident.split("-")[0]
                rules[ident] = random_rule(rng, kind, ident)
                changed.append(rule_key(rules[ident]))
                current.append(rules[ident])
            else:
                ident = rng.choice(sorted(rules))
                changed.append(rule_key(rules.pop(ident)))
        # A change names each entry once, as it is now (the last of several edits wins).
        latest = {rule_key(rule): rule for rule in current}
        builder.apply(
            changed, [latest[k] for k in dict.fromkeys(changed) if k in latest and k[1] in rules]
        )
        assert_same(builder, mail)
        assert builder.snapshot.entries == len(rules)


def test_an_edit_keeps_the_entry_in_its_place_and_a_new_entry_comes_last() -> None:
    first = BlockedSenderRule("b1", "example.com", "DOMAIN", False)
    second = AllowPolicyRule("a1", "example.com", "DOMAIN", False, True, False, False, False)
    third = AllowPolicyRule("a2", "example.com", "DOMAIN", False, False, True, False, False)
    builder = SnapshotBuilder([first, second, third])
    edited = AllowPolicyRule("a1", "example.com", "DOMAIN", False, True, True, False, False)
    snapshot = builder.apply([rule_key(edited)], [edited])
    ids = [(e.id, e.effect) for e in snapshot.sender_domains["example.com"][0]]
    # Allow policies before blocked senders; a1 (edited) still before a2.
    assert ids == [
        ("a1", "trusted_sender"),
        ("a1", "acceptable_sender"),
        ("a2", "acceptable_sender"),
        ("b1", "block"),
    ]
    assert [rule_key(r) for r in builder.rules()] == [
        ("block_senders", "b1"),
        ("allow_policies", "a1"),
        ("allow_policies", "a2"),
    ]


def test_the_old_snapshot_is_left_as_it_was() -> None:
    rule = BlockedSenderRule("b1", "alice@example.com", "EMAIL", False)
    builder = SnapshotBuilder([rule])
    before = builder.snapshot
    described = describe(before)
    builder.apply([rule_key(rule)], [])
    assert describe(before) == described
    assert "alice@example.com" in before.sender_emails
    assert "alice@example.com" not in builder.snapshot.sender_emails


def test_an_unchanged_entry_costs_nothing() -> None:
    rule = BlockedSenderRule("b1", "alice@example.com", "EMAIL", False)
    builder = SnapshotBuilder([rule])
    before = builder.snapshot
    assert builder.apply([rule_key(rule)], [rule]) is before
    assert builder.apply([], []) is before


def test_deleting_an_entry_the_builder_never_held_changes_nothing() -> None:
    builder = SnapshotBuilder([])
    snapshot = builder.apply([("block_senders", "gone")], [])
    assert snapshot.entries == 0
    assert describe(snapshot) == describe(snapshot_of([]))
