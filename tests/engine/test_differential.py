"""The indexed engine must agree with the linear-scan reference on random settings and mail.

Settings and messages are drawn from a small vocabulary so that subdomains, lookalikes,
overlapping networks, shared display names and repeated addresses collide often.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from mailpolicy.engine import (
    DISPOSITIONS,
    AllowPolicyRule,
    AuthResults,
    BlockedSenderRule,
    ContentPolicyRule,
    DKIMResult,
    Finding,
    ImpersonationRule,
    Message,
    ProtectedDomainRule,
    SendingDomainRestrictionRule,
    TLSInfo,
    TrustedDomainRule,
    build_snapshot,
    evaluate,
)
from tests.support.reference import build_naive, evaluate_naive

DOMAINS = [
    "example.com",
    "mail.example.com",
    "badexample.com",
    "example.com.evil.net",
    "evil.net",
    "a.evil.net",
    "corp.com",
    "eu.corp.com",
    "x.eu.corp.com",
    "partner.org",
    "bank.com",
    "legacy.bank.com",
    "mx.legacy.bank.com",
    "com",
]
LOCALS = ["a", "bob", "chief", "jane", "Spam"]
NAMES = [
    "Jane Doe",
    "  jane   DOE",
    "John Smith",
    "chief@corp.com",
    "\uff2a\uff41\uff4e\uff45 \uff24\uff4f\uff45",
    "",
]
REGEXES = [
    r".*@example\.com",
    r"(a|bob)@.*",
    r"example\.com",
    r".*\.evil\.net",
    r"192\.0\.2\.[0-9]+",
    r"2001:db8:.*",
    r"mx[0-9]*\..*",
    r"[a-z]+@(eu\.)?corp\.com",
    r"jane@.*|chief@.*",
    "(",
    ".{1000}",
    # Shapes the one-pass screen must treat exactly as a field-by-field match would.
    r"^(a|bob)@example\.com$",
    r"\Ajane@.*\z",
    r"(?-m)^mx[0-9]*\..*$",
    r"[^@]+@corp\.com",
    r"(?s).*\.evil\.net",
    r"\bbob\b.*",
    r"(?i:BOB)@.*",
]
PATTERN_TYPES = ["EMAIL", "DOMAIN", "IP", "UNKNOWN"]


def _ip(rnd: random.Random) -> str:
    roll = rnd.random()
    if roll < 0.45:
        return f"192.0.2.{rnd.randrange(256)}"
    if roll < 0.6:
        return f"198.51.{rnd.randrange(100, 102)}.{rnd.randrange(256)}"
    if roll < 0.85:
        return f"2001:db8:{rnd.randrange(3):x}::{rnd.randrange(0x10000):x}"
    if roll < 0.95:
        return f"::ffff:192.0.2.{rnd.randrange(256)}"
    return rnd.choice(["", "garbage", "010.0.0.1", "fe80::1%eth0"])


def _network(rnd: random.Random) -> str:
    address = _ip(rnd)
    if ":" in address and "%" not in address:
        return f"{address}/{rnd.choice([32, 48, 64, 120, 128])}"
    if rnd.random() < 0.5:
        return f"{address}/{rnd.choice([8, 16, 24, 28, 32])}"
    return address


CONTENT_PATTERNS = [
    r"invoice",
    r"wire\s+transfer",
    r"^urgent",
    r"lottery$",
    r"(?i)GIFT card",
    "caf\u00e9",
]
TEXTS = [
    "Invoice 4411 attached",
    "URGENT: wire  transfer",
    "you won the LOTTERY",
    "Gift card codes",
    "Caf\u00c9 menu",
    "nothing here",
]


def _address(rnd: random.Random) -> str:
    address = f"{rnd.choice(LOCALS)}@{rnd.choice(DOMAINS)}"
    return address.upper() if rnd.random() < 0.1 else address


def _sender_pattern(rnd: random.Random) -> tuple[str, str, bool]:
    if rnd.random() < 0.2:
        return rnd.choice(REGEXES), rnd.choice(PATTERN_TYPES), True
    kind = rnd.choice(PATTERN_TYPES)
    if kind == "EMAIL":
        return _address(rnd), kind, False
    if kind == "IP":
        return _network(rnd), kind, False
    if kind == "DOMAIN":
        return rnd.choice(DOMAINS), kind, False
    return rnd.choice([_address(rnd), _network(rnd), rnd.choice(DOMAINS)]), kind, False


def random_settings(rnd: random.Random) -> dict[str, Any]:
    serial = iter(range(1_000_000))

    def ident(prefix: str) -> str:
        return f"{prefix}{next(serial)}"

    allow = []
    for _ in range(rnd.randrange(8)):
        pattern, kind, regex = _sender_pattern(rnd)
        allow.append(
            AllowPolicyRule(
                ident("allow-"),
                pattern,
                kind,
                regex,
                rnd.random() < 0.4,
                rnd.random() < 0.4,
                rnd.random() < 0.2,
                rnd.random() < 0.5,
            )
        )
    blocked = []
    for _ in range(rnd.randrange(6)):
        pattern, kind, regex = _sender_pattern(rnd)
        blocked.append(BlockedSenderRule(ident("block-"), pattern, kind, regex))
    trusted = []
    for _ in range(rnd.randrange(5)):
        regex = rnd.random() < 0.2
        trusted.append(
            TrustedDomainRule(
                ident("td-"),
                rnd.choice(REGEXES) if regex else rnd.choice(DOMAINS),
                regex,
                rnd.random() < 0.6,
                rnd.random() < 0.6,
            )
        )
    registry = []
    for _ in range(rnd.randrange(4)):
        regex = rnd.random() < 0.3
        email = rnd.choice(REGEXES) if regex else _address(rnd)
        registry.append(ImpersonationRule(ident("imp-"), rnd.choice(NAMES), email, regex))
    domains = [
        ProtectedDomainRule(
            ident("dom-"),
            rnd.choice(DOMAINS),
            rnd.choice(["ACTIVE", "PENDING", "active", None]),
            tuple(d for d in DISPOSITIONS if rnd.random() < 0.4),
        )
        for _ in range(rnd.randrange(5))
    ]
    restrictions = [
        SendingDomainRestrictionRule(
            ident("res-"),
            rnd.choice(DOMAINS),
            tuple(rnd.choice(DOMAINS) for _ in range(rnd.randrange(3))),
        )
        for _ in range(rnd.randrange(3))
    ]
    content = [
        ContentPolicyRule(
            ident("cp-"),
            rnd.choice(NAMES),
            rnd.choice(CONTENT_PATTERNS),
            tuple(rnd.sample(["SUBJECT", "BODY"], rnd.randrange(1, 3))),
            rnd.random() < 0.8,
        )
        for _ in range(rnd.randrange(3))
    ]
    return {
        "content_policies": content,
        "allow_policies": allow,
        "blocked_senders": blocked,
        "trusted_domains": trusted,
        "impersonation": registry,
        "domains": domains,
        "restrictions": restrictions,
    }


def _header(rnd: random.Random) -> str:
    address = _address(rnd)
    roll = rnd.random()
    if roll < 0.3:
        return address
    if roll < 0.7:
        return f'"{rnd.choice(NAMES)}" <{address}>'
    if roll < 0.8:
        return f"{rnd.choice(NAMES).strip()} <{address}>"
    if roll < 0.9:
        return f"{address} ({rnd.choice(NAMES)})"
    return rnd.choice(["garbage", "", "<>", '"Jane Doe" <>', "=?utf-8?q?Jane_Doe?= <x@evil.net>"])


def random_message(rnd: random.Random) -> Message:
    findings = tuple(
        Finding(
            rnd.choice(["content", "recent_domain", "lookalike_domain"]),
            rnd.choice(DISPOSITIONS),
            rnd.choice([None, *DOMAINS, "MAIL.Example.com."]),
        )
        for _ in range(rnd.randrange(4))
    )
    auth = AuthResults(
        spf=rnd.choice(["pass", "fail", "none", "softfail"]),
        dkim=tuple(
            DKIMResult(rnd.choice(DOMAINS), rnd.choice(["pass", "fail"]))
            for _ in range(rnd.randrange(3))
        ),
        dmarc=rnd.choice(["pass", "fail", "none"]),
    )
    recipients = tuple(
        _address(rnd) if rnd.random() < 0.9 else rnd.choice(["<>", "nobody", "<A@CORP.COM>"])
        for _ in range(rnd.randrange(1, 4))
    )
    return Message(
        envelope_from=rnd.choice([_address(rnd), "", "<>", f"<{_address(rnd)}>"]),
        header_from=_header(rnd),
        recipients=recipients,
        client_ip=_ip(rnd),
        reply_to=_header(rnd) if rnd.random() < 0.3 else None,
        client_hostname=rnd.choice([None, "mx1.example.com", "MX.evil.net.", "mail.corp.com"]),
        tls=TLSInfo("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256") if rnd.random() < 0.5 else None,
        auth=auth,
        findings=findings,
        subject=rnd.choice([None, "", *TEXTS]),
        body=rnd.choice([None, "", *TEXTS, "\n".join(TEXTS)]),
    )


@pytest.mark.parametrize("seed", range(8))
def test_engine_agrees_with_linear_scan(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(25):
        settings = random_settings(rnd)
        snapshot = build_snapshot(**settings)
        naive = build_naive(**settings)
        for _ in range(20):
            message = random_message(rnd)
            expected = evaluate_naive(message, naive)
            assert evaluate(message, snapshot) == expected, message


def test_random_cases_exercise_every_effect() -> None:
    """Guards the generator: the differential test is only as good as what it reaches."""
    rnd = random.Random(0)
    seen: set[tuple[str, bool]] = set()
    actions: set[str] = set()
    for _ in range(200):
        settings = random_settings(rnd)
        snapshot = build_snapshot(**settings)
        for _ in range(20):
            for verdict in evaluate(random_message(rnd), snapshot).recipients:
                actions.add(verdict.action)
                seen.update((reason.effect, reason.honoured) for reason in verdict.reasons)
    effects = {
        "require_tls",
        "exempt_recipient",
        "block",
        "trusted_sender",
        "impersonation",
        "acceptable_sender",
        "trusted_recent",
        "trusted_similarity",
        "protected_domain",
        "content_policy",
    }
    assert {effect for effect, _ in seen} == effects
    for effect in effects - {"protected_domain", "exempt_recipient"}:
        assert (effect, False) in seen, effect
    assert actions == {"deliver", "drop"}


HOSTILE = [
    "a", "@", ".", "<", ">", '"', "\\", " ", "\t", "\r\n", "=?", "?=", "?b?", "?q?", "utf-8",
    "%", ":", "[", "]", "(", ")", ",", ";", "é", "\u200b", "\udcff", "\x00", "\uff4a", "/",
    "0", "1", "::", "ffff", "\ufeff", "ß", "=?utf-8?b?AAAAA?=",
]  # fmt: skip


def test_hostile_fields_never_raise() -> None:
    """Any string in any field yields a verdict (the same as the reference), never an error."""
    rnd = random.Random(7)

    def junk() -> str:
        return "".join(rnd.choice(HOSTILE) for _ in range(rnd.randrange(12)))

    settings: dict[str, Any] = {
        "allow_policies": [AllowPolicyRule("a", "x.com", "DOMAIN", False, True, True, True, True)],
        "blocked_senders": [
            BlockedSenderRule("b", ".*", "EMAIL", True),
            BlockedSenderRule("c", "::/0", "IP", False),
            BlockedSenderRule("d", "0.0.0.0/0", "IP", False),
        ],
        "impersonation": [
            ImpersonationRule("i", "a", "a@a", False),
            ImpersonationRule("j", "1", ".*@a", True),
        ],
        "trusted_domains": [TrustedDomainRule("t", "a", False, True, True)],
        "domains": [ProtectedDomainRule("d", "a", None, ("MALICIOUS",))],
        "restrictions": [SendingDomainRestrictionRule("r", "a", ("b",))],
        "content_policies": [
            ContentPolicyRule("cp", "any", "a", ("SUBJECT", "BODY"), True),
            ContentPolicyRule("cq", "line", "(?m)^=\\?", ("BODY",), True),
        ],
    }
    snapshot = build_snapshot(**settings)
    naive = build_naive(**settings)
    for _ in range(3000):
        message = Message(
            envelope_from=junk(),
            header_from=junk(),
            recipients=tuple(junk() for _ in range(rnd.randrange(3))),
            client_ip=junk(),
            reply_to=junk() or None,
            client_hostname=junk() or None,
            findings=tuple(
                Finding(
                    rnd.choice(["content", "recent_domain", "lookalike_domain"]), "SPAM", junk()
                )
                for _ in range(rnd.randrange(3))
            ),
            subject=junk() or None,
            body=junk() or None,
        )
        verdict = evaluate(message, snapshot)
        assert verdict == evaluate_naive(message, naive), message
        verdict.to_dict()
