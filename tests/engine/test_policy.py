"""Matching rules and precedence, one named case per rule and per step."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import Any

import pytest

from mailpolicy.engine import (
    AllowPolicyRule,
    AuthResults,
    BlockedSenderRule,
    ContentPolicyRule,
    DKIMResult,
    Finding,
    ImpersonationRule,
    Message,
    ProtectedDomainRule,
    RecipientVerdict,
    SendingDomainRestrictionRule,
    TLSInfo,
    TrustedDomainRule,
    build_snapshot,
    evaluate,
)
from tests.support.reference import build_naive, evaluate_naive

TLS = TLSInfo("TLSv1.3", "TLS_AES_128_GCM_SHA256")
DMARC_PASS = AuthResults(dmarc="pass")
SPF_PASS = AuthResults(spf="pass")
DKIM_PASS = AuthResults(dkim=(DKIMResult("other.org", "fail"), DKIMResult("example.com", "pass")))
ALL_FAIL = AuthResults(spf="softfail", dkim=(DKIMResult("example.com", "fail"),), dmarc="fail")

CORP = ProtectedDomainRule("dom-corp", "corp.com", "ACTIVE", ("MALICIOUS", "MALICIOUS-BEC"))


def allow(
    pattern: str,
    pattern_type: str = "DOMAIN",
    *,
    rule_id: str = "allow-1",
    regex: bool = False,
    trusted: bool = False,
    acceptable: bool = False,
    exempt: bool = False,
    verify: bool = False,
) -> AllowPolicyRule:
    return AllowPolicyRule(
        id=rule_id,
        pattern=pattern,
        pattern_type=pattern_type,
        is_regex=regex,
        is_trusted_sender=trusted,
        is_acceptable_sender=acceptable,
        is_exempt_recipient=exempt,
        verify_sender=verify,
    )


def block(
    pattern: str, pattern_type: str = "DOMAIN", *, rule_id: str = "block-1", regex: bool = False
) -> BlockedSenderRule:
    return BlockedSenderRule(rule_id, pattern, pattern_type, regex)


def trusted_domain(
    pattern: str,
    *,
    rule_id: str = "td-1",
    regex: bool = False,
    recent: bool = False,
    similarity: bool = False,
) -> TrustedDomainRule:
    return TrustedDomainRule(rule_id, pattern, regex, recent, similarity)


def message(
    sender: str = "alice@example.com",
    *,
    header: str | None = None,
    recipients: tuple[str, ...] = ("bob@corp.com",),
    ip: str = "198.51.100.7",
    reply_to: str | None = None,
    hostname: str | None = "mx1.example.com",
    tls: TLSInfo | None = TLS,
    auth: AuthResults = DMARC_PASS,
    findings: tuple[Finding, ...] = (),
    subject: str | None = None,
    body: str | None = None,
) -> Message:
    return Message(
        envelope_from=sender,
        header_from=sender if header is None else header,
        recipients=recipients,
        client_ip=ip,
        reply_to=reply_to,
        client_hostname=hostname,
        tls=tls,
        auth=auth,
        findings=findings,
        subject=subject,
        body=body,
    )


def content(
    pattern: str,
    *targets: str,
    rule_id: str = "cp-1",
    name: str = "Invoice fraud",
    enabled: bool = True,
) -> ContentPolicyRule:
    return ContentPolicyRule(rule_id, name, pattern, targets or ("SUBJECT",), enabled)


@dataclass(frozen=True)
class Settings:
    allow_policies: tuple[AllowPolicyRule, ...] = ()
    blocked_senders: tuple[BlockedSenderRule, ...] = ()
    trusted_domains: tuple[TrustedDomainRule, ...] = ()
    impersonation: tuple[ImpersonationRule, ...] = ()
    domains: tuple[ProtectedDomainRule, ...] = (CORP,)
    restrictions: tuple[SendingDomainRestrictionRule, ...] = ()
    content_policies: tuple[ContentPolicyRule, ...] = ()

    def kwargs(self) -> dict[str, Any]:
        return {
            "content_policies": self.content_policies,
            "allow_policies": self.allow_policies,
            "blocked_senders": self.blocked_senders,
            "trusted_domains": self.trusted_domains,
            "impersonation": self.impersonation,
            "domains": self.domains,
            "restrictions": self.restrictions,
        }


# (resource, id, field, effect, honoured)
ReasonKey = tuple[str, str, str, str, bool]


@dataclass(frozen=True)
class Expect:
    disposition: str = "NONE"
    action: str = "deliver"
    reasons: tuple[ReasonKey, ...] = ()
    unprotected: bool = False
    # Substrings the notes (joined) and the explanation must contain.
    notes: tuple[str, ...] = ()
    explanation: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


PROTECTED: ReasonKey = ("domains", "dom-corp", "recipient", "protected_domain", True)


def _check(verdict: RecipientVerdict, expect: Expect) -> None:
    assert verdict.disposition == expect.disposition
    assert verdict.action == expect.action
    assert verdict.unprotected is expect.unprotected
    got = tuple((r.resource, r.id, r.field, r.effect, r.honoured) for r in verdict.reasons)
    assert got == expect.reasons
    notes = " | ".join(reason.note for reason in verdict.reasons)
    for note in expect.notes:
        assert note in notes
    for part in expect.explanation:
        assert part in verdict.explanation
    assert verdict.explanation.endswith(".")


def _run(settings: Settings, msg: Message) -> tuple[RecipientVerdict, ...]:
    verdict = evaluate(msg, build_snapshot(**settings.kwargs()))
    # Every case doubles as a differential check against the linear-scan reference.
    assert evaluate_naive(msg, build_naive(**settings.kwargs())) == verdict
    return verdict.recipients


def _blocked(*reasons: ReasonKey) -> Expect:
    return Expect("MALICIOUS", "drop", (*reasons, PROTECTED))


def _block_reason(field_name: str, rule_id: str = "block-1") -> ReasonKey:
    return ("block_senders", rule_id, field_name, "block", True)


MATCHING = [
    # Exact addresses.
    pytest.param(
        Settings(blocked_senders=(block("spam@evil.com", "EMAIL"),)),
        message("spam@evil.com"),
        _blocked(_block_reason("envelope_from"), _block_reason("header_from")),
        id="email-exact",
    ),
    pytest.param(
        Settings(blocked_senders=(block("Spam@Evil.COM", "EMAIL"),)),
        message("SPAM@EVIL.com"),
        _blocked(_block_reason("envelope_from"), _block_reason("header_from")),
        id="email-uppercase",
    ),
    pytest.param(
        Settings(blocked_senders=(block("spam@evil.com", "EMAIL"),)),
        message("ham@evil.com"),
        Expect(reasons=(PROTECTED,)),
        id="email-other-local-part",
    ),
    pytest.param(
        Settings(blocked_senders=(block("spam@evil.com", "EMAIL"),)),
        message("spam@mail.evil.com"),
        Expect(reasons=(PROTECTED,)),
        id="email-not-subdomain",
    ),
    # Domains: the domain and its subdomains, walking labels, never lookalikes.
    pytest.param(
        Settings(blocked_senders=(block("example.com"),)),
        message("a@example.com"),
        _blocked(_block_reason("envelope_from"), _block_reason("header_from")),
        id="domain-exact",
    ),
    pytest.param(
        Settings(blocked_senders=(block("example.com"),)),
        message("a@mail.eu.example.com"),
        _blocked(_block_reason("envelope_from"), _block_reason("header_from")),
        id="domain-subdomain",
    ),
    pytest.param(
        Settings(blocked_senders=(block("example.com"),)),
        message("a@badexample.com"),
        Expect(reasons=(PROTECTED,)),
        id="domain-lookalike-not-matched",
    ),
    pytest.param(
        Settings(blocked_senders=(block("example.com"),)),
        message("a@example.com.evil.net"),
        Expect(reasons=(PROTECTED,)),
        id="domain-as-prefix-not-matched",
    ),
    pytest.param(
        Settings(blocked_senders=(block("EXAMPLE.com"),)),
        message("A@Mail.Example.COM"),
        _blocked(_block_reason("envelope_from"), _block_reason("header_from")),
        id="domain-uppercase",
    ),
    pytest.param(
        Settings(blocked_senders=(block("example.com"),)),
        message("a@other.org", hostname="mail.example.com"),
        Expect(reasons=(PROTECTED,)),
        id="domain-ignores-client-hostname",
    ),
    # IP addresses and networks.
    pytest.param(
        Settings(blocked_senders=(block("203.0.113.9", "IP"),)),
        message(ip="203.0.113.9"),
        _blocked(_block_reason("client_ip")),
        id="ipv4-exact",
    ),
    pytest.param(
        Settings(blocked_senders=(block("203.0.113.0/24", "IP"),)),
        message(ip="203.0.113.200"),
        _blocked(_block_reason("client_ip")),
        id="ipv4-cidr",
    ),
    pytest.param(
        Settings(blocked_senders=(block("203.0.113.0/24", "IP"),)),
        message(ip="203.0.114.1"),
        Expect(reasons=(PROTECTED,)),
        id="ipv4-cidr-outside",
    ),
    pytest.param(
        Settings(blocked_senders=(block("203.0.113.77/16", "IP"),)),
        message(ip="203.0.1.1"),
        _blocked(_block_reason("client_ip")),
        id="ipv4-cidr-host-bits-ignored",
    ),
    pytest.param(
        Settings(blocked_senders=(block("2001:db8:abcd::/48", "IP"),)),
        message(ip="2001:db8:abcd:12::1"),
        _blocked(_block_reason("client_ip")),
        id="ipv6-cidr",
    ),
    pytest.param(
        Settings(blocked_senders=(block("2001:db8:abcd::/48", "IP"),)),
        message(ip="2001:db8:abce::1"),
        Expect(reasons=(PROTECTED,)),
        id="ipv6-cidr-outside",
    ),
    pytest.param(
        Settings(blocked_senders=(block("2001:DB8::25", "IP"),)),
        message(ip="2001:db8:0:0::25"),
        _blocked(_block_reason("client_ip")),
        id="ipv6-exact-other-spelling",
    ),
    pytest.param(
        Settings(blocked_senders=(block("192.0.2.0/24", "IP"),)),
        message(ip="::ffff:192.0.2.10"),
        _blocked(_block_reason("client_ip")),
        id="ipv4-mapped-ipv6",
    ),
    pytest.param(
        Settings(blocked_senders=(block("192.0.2.0/24", "IP"),)),
        message(ip="not-an-ip"),
        Expect(reasons=(PROTECTED,)),
        id="client-ip-garbage",
    ),
    # Regular expressions: the whole field, case-insensitively, on every sender field.
    pytest.param(
        Settings(blocked_senders=(block(r".*@example\.com", "EMAIL", regex=True),)),
        message("A@EXAMPLE.COM"),
        _blocked(_block_reason("envelope_from"), _block_reason("header_from")),
        id="regex-address-case-insensitive",
    ),
    pytest.param(
        Settings(blocked_senders=(block(r"example\.com", "DOMAIN", regex=True),)),
        message("a@other.org", hostname="mail.example.com.evil.net"),
        Expect(reasons=(PROTECTED,)),
        id="regex-whole-field-hostname",
    ),
    pytest.param(
        Settings(blocked_senders=(block(r"example\.com", "DOMAIN", regex=True),)),
        message("a@example.com"),
        Expect(reasons=(PROTECTED,)),
        id="regex-whole-field-address",
    ),
    pytest.param(
        Settings(blocked_senders=(block(r"mx[0-9]+\.evil\.net", "DOMAIN", regex=True),)),
        message("a@other.org", hostname="MX12.evil.net."),
        _blocked(_block_reason("client_hostname")),
        id="regex-client-hostname",
    ),
    pytest.param(
        Settings(blocked_senders=(block(r"203\.0\.113\.[0-9]+", "IP", regex=True),)),
        message(ip="203.0.113.5"),
        _blocked(_block_reason("client_ip")),
        id="regex-client-ip",
    ),
    pytest.param(
        Settings(blocked_senders=(block(r"a@x\.com|b@y\.com", "EMAIL", regex=True),)),
        message("za@x.com"),
        Expect(reasons=(PROTECTED,)),
        id="regex-alternation-anchored",
    ),
    # Which sender fields are consulted.
    pytest.param(
        Settings(blocked_senders=(block("evil.com"),)),
        message("a@ok.org", reply_to="Boss <boss@evil.com>"),
        _blocked(_block_reason("reply_to")),
        id="reply-to",
    ),
    pytest.param(
        Settings(blocked_senders=(block("evil.com"),)),
        message("bounce@evil.com", header="a@ok.org"),
        _blocked(_block_reason("envelope_from")),
        id="envelope-only",
    ),
    pytest.param(
        Settings(blocked_senders=(block("ok.org"),)),
        message("", header="a@ok.org"),
        _blocked(_block_reason("header_from")),
        id="bounce-empty-envelope",
    ),
    pytest.param(
        Settings(blocked_senders=(block(r".*", "EMAIL", regex=True),)),
        message("<>", header="garbage", ip="", hostname=None),
        Expect(reasons=(PROTECTED,)),
        id="bounce-null-path-matches-nothing",
    ),
    pytest.param(
        Settings(blocked_senders=(block("chief@corp.com", "EMAIL"),)),
        message("x@evil.com", header='"chief@corp.com" <x@evil.com>'),
        Expect(reasons=(PROTECTED,)),
        id="display-name-address-not-matched",
    ),
    pytest.param(
        Settings(blocked_senders=(block("evil.com"),)),
        message("x@ok.org", header='"chief@corp.com" <x@evil.com>'),
        _blocked(_block_reason("header_from")),
        id="display-name-real-address-matched",
    ),
    pytest.param(
        Settings(blocked_senders=(block("evil.com"),)),
        message("x@ok.org", header="not an address at all"),
        Expect(reasons=(PROTECTED,)),
        id="header-from-garbage",
    ),
    # Legacy UNKNOWN patterns are read by their shape.
    pytest.param(
        Settings(blocked_senders=(block("spam@evil.com", "UNKNOWN"),)),
        message("spam@evil.com", header="x@ok.org"),
        _blocked(_block_reason("envelope_from")),
        id="unknown-as-email",
    ),
    pytest.param(
        Settings(blocked_senders=(block("203.0.113.0/24", "UNKNOWN"),)),
        message(ip="203.0.113.1"),
        _blocked(_block_reason("client_ip")),
        id="unknown-as-ip",
    ),
    pytest.param(
        Settings(blocked_senders=(block("evil.com", "UNKNOWN"),)),
        message("a@mx.evil.com", header="x@ok.org"),
        _blocked(_block_reason("envelope_from")),
        id="unknown-as-domain",
    ),
    pytest.param(
        Settings(blocked_senders=(block("203.0.113.0/24", "IP"),)),
        message("a@203.0.113.1"),
        Expect(reasons=(PROTECTED,)),
        id="ip-pattern-ignores-addresses",
    ),
]


@pytest.mark.parametrize(("settings", "msg", "expect"), MATCHING)
def test_matching(settings: Settings, msg: Message, expect: Expect) -> None:
    (verdict,) = _run(settings, msg)
    _check(verdict, expect)


def _allow_reason(
    effect: str, field_name: str, honoured: bool, rule_id: str = "allow-1"
) -> ReasonKey:
    return ("allow_policies", rule_id, field_name, effect, honoured)


MALICIOUS = Finding("content", "MALICIOUS")
SUSPICIOUS = Finding("content", "SUSPICIOUS")
SPAM = Finding("content", "SPAM")
BULK = Finding("content", "BULK")
SPOOF = Finding("content", "SPOOF")
RESTRICT_BANK = SendingDomainRestrictionRule("res-1", "bank.com", ("legacy.bank.com",))
EXEMPT_BOB = allow("bob@corp.com", "EMAIL", rule_id="allow-x", exempt=True)
JANE = ImpersonationRule("imp-1", "Jane Doe", "jane@corp.com", False)


def _restriction(field_name: str, honoured: bool) -> ReasonKey:
    return ("sending_domain_restrictions", "res-1", field_name, "require_tls", honoured)


def _impersonation(honoured: bool, rule_id: str = "imp-1") -> ReasonKey:
    return ("impersonation_registry", rule_id, "header_from_name", "impersonation", honoured)


PRECEDENCE = [
    # Step 1: TLS restrictions.
    pytest.param(
        Settings(restrictions=(RESTRICT_BANK,)),
        message("alerts@bank.com", tls=None),
        Expect(
            "NONE",
            "drop",
            (_restriction("envelope_from", True), _restriction("header_from", True), PROTECTED),
            explanation=(
                "Dropped: sender domain bank.com requires TLS (restriction res-1) and the "
                "message arrived without TLS.",
            ),
        ),
        id="restriction-drops-without-tls",
    ),
    pytest.param(
        Settings(restrictions=(RESTRICT_BANK,)),
        message("alerts@bank.com"),
        Expect(
            reasons=(
                _restriction("envelope_from", True),
                _restriction("header_from", True),
                PROTECTED,
            ),
            notes=("satisfied: the message arrived over TLS (TLSv1.3)",),
        ),
        id="restriction-satisfied-with-tls",
    ),
    pytest.param(
        Settings(restrictions=(RESTRICT_BANK,)),
        message("a@eu.mail.bank.com", tls=None),
        Expect(
            "NONE",
            "drop",
            (_restriction("envelope_from", True), _restriction("header_from", True), PROTECTED),
        ),
        id="restriction-covers-subdomains",
    ),
    pytest.param(
        Settings(restrictions=(RESTRICT_BANK,)),
        message("a@mx.legacy.bank.com", tls=None),
        Expect(
            reasons=(
                _restriction("envelope_from", False),
                _restriction("header_from", False),
                PROTECTED,
            ),
            notes=("not applied: mx.legacy.bank.com is excluded (legacy.bank.com)",),
        ),
        id="restriction-exclude-covers-subdomains",
    ),
    pytest.param(
        Settings(restrictions=(RESTRICT_BANK,)),
        message("a@notbank.com", tls=None),
        Expect(reasons=(PROTECTED,)),
        id="restriction-lookalike-not-restricted",
    ),
    pytest.param(
        Settings(restrictions=(RESTRICT_BANK,)),
        message("bounce@relay.org", header="alerts@bank.com", tls=None),
        Expect("NONE", "drop", (_restriction("header_from", True), PROTECTED)),
        id="restriction-header-from-domain",
    ),
    pytest.param(
        Settings(restrictions=(RESTRICT_BANK,), allow_policies=(EXEMPT_BOB,)),
        message("alerts@bank.com", tls=None, findings=(SPAM,)),
        Expect(
            "NONE",
            "drop",
            (
                _restriction("envelope_from", True),
                _restriction("header_from", True),
                _allow_reason("exempt_recipient", "recipient", True, "allow-x"),
                PROTECTED,
            ),
        ),
        id="restriction-beats-exempt-recipient",
    ),
    pytest.param(
        Settings(
            restrictions=(RESTRICT_BANK,),
            allow_policies=(allow("bank.com", trusted=True),),
        ),
        message("alerts@bank.com", header="x@ok.org", tls=None, findings=(MALICIOUS,)),
        Expect(
            "NONE",
            "drop",
            (
                _restriction("envelope_from", True),
                _allow_reason("trusted_sender", "envelope_from", True),
                PROTECTED,
            ),
        ),
        id="restriction-beats-trusted-sender",
    ),
    # Step 2: exempt recipients.
    pytest.param(
        Settings(allow_policies=(EXEMPT_BOB,)),
        message(findings=(MALICIOUS, SPAM)),
        Expect(
            reasons=(_allow_reason("exempt_recipient", "recipient", True, "allow-x"), PROTECTED),
            explanation=("recipient is exempt (allow policy allow-x)",),
        ),
        id="exempt-recipient-receives-everything",
    ),
    pytest.param(
        Settings(allow_policies=(EXEMPT_BOB,), blocked_senders=(block("evil.com"),)),
        message("x@evil.com"),
        Expect(
            reasons=(
                _allow_reason("exempt_recipient", "recipient", True, "allow-x"),
                ("block_senders", "block-1", "envelope_from", "block", False),
                ("block_senders", "block-1", "header_from", "block", False),
                PROTECTED,
            ),
            notes=("overridden by exempt recipient allow policy allow-x",),
        ),
        id="exempt-beats-block",
    ),
    pytest.param(
        Settings(allow_policies=(allow("CORP.com", exempt=True, verify=True),)),
        message(auth=ALL_FAIL, findings=(MALICIOUS,)),
        Expect(reasons=(_allow_reason("exempt_recipient", "recipient", True), PROTECTED)),
        id="exempt-ignores-verify-sender",
    ),
    pytest.param(
        Settings(
            allow_policies=(allow(r"bob(\+.*)?@corp\.com", "EMAIL", regex=True, exempt=True),)
        ),
        message(recipients=("Bob+News@corp.com",), findings=(MALICIOUS,)),
        Expect(reasons=(_allow_reason("exempt_recipient", "recipient", True), PROTECTED)),
        id="exempt-regex",
    ),
    pytest.param(
        Settings(allow_policies=(allow("corp.com", exempt=True),)),
        message("x@corp.com", recipients=("chief@other.org",), findings=(MALICIOUS,)),
        Expect("MALICIOUS", unprotected=True),
        id="exempt-does-not-match-sender",
    ),
    # Step 3: blocked senders.
    pytest.param(
        Settings(blocked_senders=(block("evil.com"),)),
        message("x@evil.com", findings=(BULK,)),
        Expect(
            "MALICIOUS",
            "drop",
            (_block_reason("envelope_from"), _block_reason("header_from"), PROTECTED),
            notes=("CUSTOM_BLOCK_LIST",),
            explanation=("blocked sender block-1",),
        ),
        id="block-is-malicious",
    ),
    pytest.param(
        Settings(
            blocked_senders=(block("evil.com"),),
            allow_policies=(allow("x@evil.com", "EMAIL", trusted=True, acceptable=True),),
        ),
        message("x@evil.com", header="x@ok.org"),
        Expect(
            "MALICIOUS",
            "drop",
            (
                _block_reason("envelope_from"),
                _allow_reason("trusted_sender", "envelope_from", False),
                _allow_reason("acceptable_sender", "envelope_from", False),
                PROTECTED,
            ),
            notes=("overridden by blocked sender block-1",),
        ),
        id="block-beats-allow",
    ),
    # Step 4: trusted senders and verify_sender.
    pytest.param(
        Settings(allow_policies=(allow("partner.com", trusted=True),)),
        message("a@partner.com", header="a@other.org", findings=(MALICIOUS, SPAM)),
        Expect(
            reasons=(_allow_reason("trusted_sender", "envelope_from", True), PROTECTED),
            explanation=("sender is trusted (allow policy allow-1)",),
        ),
        id="trusted-removes-malicious",
    ),
    pytest.param(
        Settings(allow_policies=(allow("partner.com", trusted=True, verify=True),)),
        message("a@partner.com", header="a@other.org", auth=ALL_FAIL, findings=(MALICIOUS,)),
        Expect(
            "MALICIOUS",
            "drop",
            (_allow_reason("trusted_sender", "envelope_from", False), PROTECTED),
            notes=("ignored: verify_sender requires DMARC, SPF or DKIM pass",),
        ),
        id="verify-sender-fails",
    ),
    pytest.param(
        Settings(allow_policies=(allow("partner.com", trusted=True, verify=True),)),
        message("a@partner.com", header="a@other.org", auth=DMARC_PASS, findings=(MALICIOUS,)),
        Expect(
            reasons=(_allow_reason("trusted_sender", "envelope_from", True), PROTECTED),
            notes=("(verify_sender satisfied)",),
        ),
        id="verify-sender-dmarc-pass",
    ),
    pytest.param(
        Settings(allow_policies=(allow("partner.com", trusted=True, verify=True),)),
        message("a@partner.com", header="a@other.org", auth=SPF_PASS, findings=(MALICIOUS,)),
        Expect(reasons=(_allow_reason("trusted_sender", "envelope_from", True), PROTECTED)),
        id="verify-sender-spf-pass",
    ),
    pytest.param(
        Settings(allow_policies=(allow("partner.com", trusted=True, verify=True),)),
        message("a@partner.com", header="a@other.org", auth=DKIM_PASS, findings=(MALICIOUS,)),
        Expect(reasons=(_allow_reason("trusted_sender", "envelope_from", True), PROTECTED)),
        id="verify-sender-dkim-pass",
    ),
    pytest.param(
        Settings(
            allow_policies=(allow("partner.com", trusted=True),),
            impersonation=(JANE,),
        ),
        message("x@partner.com", header='"Jane Doe" <x@partner.com>'),
        Expect(
            reasons=(
                _allow_reason("trusted_sender", "envelope_from", True),
                _allow_reason("trusted_sender", "header_from", True),
                _impersonation(False),
                PROTECTED,
            ),
            notes=("overridden by trusted sender allow policy allow-1",),
        ),
        id="trusted-removes-impersonation",
    ),
    pytest.param(
        Settings(allow_policies=(allow("partner.com", trusted=True, acceptable=True),)),
        message("a@partner.com", header="a@other.org", findings=(SPAM,)),
        Expect(
            reasons=(
                _allow_reason("trusted_sender", "envelope_from", True),
                _allow_reason("acceptable_sender", "envelope_from", False),
                PROTECTED,
            ),
            notes=("superseded by trusted sender allow policy allow-1",),
        ),
        id="each-flag-its-own-effect",
    ),
    # Step 5: impersonation registry.
    pytest.param(
        Settings(impersonation=(JANE,)),
        message("x@evil.com", header='"Jane Doe" <x@evil.com>'),
        Expect(
            "MALICIOUS-BEC",
            "drop",
            (_impersonation(True), PROTECTED),
            notes=("the address is not jane@corp.com",),
            explanation=("impersonation of registered name 'Jane Doe' (entry imp-1)",),
        ),
        id="impersonation-adds-bec",
    ),
    pytest.param(
        Settings(impersonation=(JANE,)),
        message("x@evil.com", header='"  jane   DOE " <x@evil.com>'),
        Expect("MALICIOUS-BEC", "drop", (_impersonation(True), PROTECTED)),
        id="impersonation-whitespace-and-case",
    ),
    pytest.param(
        Settings(impersonation=(JANE,)),
        message("x@evil.com", header="=?utf-8?b?SmFuZSBEb2U=?= <x@evil.com>"),
        Expect("MALICIOUS-BEC", "drop", (_impersonation(True), PROTECTED)),
        id="impersonation-encoded-word",
    ),
    pytest.param(
        Settings(impersonation=(JANE,)),
        message("jane@corp.com", header='"Jane Doe" <Jane@Corp.com>'),
        Expect(
            reasons=(_impersonation(False), PROTECTED),
            notes=("not applied: the sender address is registered for this name",),
        ),
        id="impersonation-registered-address",
    ),
    pytest.param(
        Settings(
            impersonation=(
                JANE,
                ImpersonationRule("imp-2", "jane doe", "jane.doe@home.net", False),
            )
        ),
        message("jane.doe@home.net", header="Jane Doe <jane.doe@home.net>"),
        Expect(reasons=(_impersonation(False, "imp-2"), PROTECTED)),
        id="impersonation-any-registered-address",
    ),
    pytest.param(
        Settings(impersonation=(ImpersonationRule("imp-1", "Jane Doe", r".*@corp\.com", True),)),
        message("jane.d@corp.com", header="Jane Doe <jane.d@corp.com>"),
        Expect(reasons=(_impersonation(False), PROTECTED)),
        id="impersonation-regex-email-matches",
    ),
    pytest.param(
        Settings(impersonation=(ImpersonationRule("imp-1", "Jane Doe", r".*@corp\.com", True),)),
        message("jane@corp.com.evil.net", header="Jane Doe <jane@corp.com.evil.net>"),
        Expect(
            "MALICIOUS-BEC",
            "drop",
            (_impersonation(True), PROTECTED),
            notes=(r"does not match .*@corp\.com",),
        ),
        id="impersonation-regex-email-whole-field",
    ),
    pytest.param(
        Settings(
            impersonation=(ImpersonationRule("imp-1", "chief@corp.com", "chief@corp.com", False),)
        ),
        message("x@evil.com", header='"chief@corp.com" <x@evil.com>'),
        Expect("MALICIOUS-BEC", "drop", (_impersonation(True), PROTECTED)),
        id="impersonation-address-as-display-name",
    ),
    pytest.param(
        Settings(impersonation=(JANE,)),
        message("x@evil.com", header='"Jane Doer" <x@evil.com>'),
        Expect(reasons=(PROTECTED,)),
        id="impersonation-other-name",
    ),
    pytest.param(
        Settings(impersonation=(JANE,), blocked_senders=(block("evil.com"),)),
        message("x@evil.com", header='"Jane Doe" <x@ok.org>'),
        Expect(
            "MALICIOUS",
            "drop",
            (_block_reason("envelope_from"), _impersonation(False), PROTECTED),
            notes=("overridden by blocked sender block-1",),
        ),
        id="impersonation-under-block",
    ),
    # Step 6: acceptable senders.
    pytest.param(
        Settings(allow_policies=(allow("news.org", acceptable=True),)),
        message("a@news.org", header="a@x.org", findings=(SPAM, BULK, SPOOF)),
        Expect(
            reasons=(_allow_reason("acceptable_sender", "envelope_from", True), PROTECTED),
            explanation=("every finding was removed",),
        ),
        id="acceptable-removes-spam-bulk-spoof",
    ),
    pytest.param(
        Settings(allow_policies=(allow("news.org", acceptable=True),)),
        message("a@news.org", header="a@x.org", findings=(SPAM, SUSPICIOUS)),
        Expect(
            "SUSPICIOUS",
            reasons=(_allow_reason("acceptable_sender", "envelope_from", True), PROTECTED),
            explanation=("protected domain corp.com does not drop SUSPICIOUS",),
        ),
        id="acceptable-keeps-suspicious",
    ),
    pytest.param(
        Settings(allow_policies=(allow("news.org", acceptable=True),)),
        message("a@news.org", header="a@x.org", findings=(MALICIOUS,)),
        Expect(
            "MALICIOUS",
            "drop",
            (_allow_reason("acceptable_sender", "envelope_from", True), PROTECTED),
        ),
        id="acceptable-keeps-malicious",
    ),
    pytest.param(
        Settings(allow_policies=(allow("news.org", acceptable=True),), impersonation=(JANE,)),
        message("a@news.org", header="Jane Doe <a@news.org>"),
        Expect(
            "MALICIOUS-BEC",
            "drop",
            (
                _impersonation(True),
                _allow_reason("acceptable_sender", "envelope_from", True),
                _allow_reason("acceptable_sender", "header_from", True),
                PROTECTED,
            ),
        ),
        id="acceptable-keeps-impersonation",
    ),
    pytest.param(
        Settings(allow_policies=(allow("news.org", acceptable=True, verify=True),)),
        message("a@news.org", header="a@x.org", auth=ALL_FAIL, findings=(SPAM,)),
        Expect(
            "SPAM",
            reasons=(_allow_reason("acceptable_sender", "envelope_from", False), PROTECTED),
            notes=("ignored: verify_sender",),
        ),
        id="acceptable-verify-sender-fails",
    ),
    # Step 7: trusted domains.
    pytest.param(
        Settings(trusted_domains=(trusted_domain("young.io", recent=True),)),
        message(findings=(Finding("recent_domain", "MALICIOUS", "young.io"),)),
        Expect(
            reasons=(
                ("trusted_domains", "td-1", "finding_domain", "trusted_recent", True),
                PROTECTED,
            ),
        ),
        id="trusted-domain-recent",
    ),
    pytest.param(
        Settings(trusted_domains=(trusted_domain("paypa1.com", similarity=True),)),
        message(findings=(Finding("lookalike_domain", "MALICIOUS", "mail.PAYPA1.com"),)),
        Expect(
            reasons=(
                ("trusted_domains", "td-1", "finding_domain", "trusted_similarity", True),
                PROTECTED,
            ),
        ),
        id="trusted-domain-similarity-subdomain",
    ),
    pytest.param(
        Settings(trusted_domains=(trusted_domain("young.io", recent=True),)),
        message(findings=(Finding("lookalike_domain", "SUSPICIOUS", "young.io"),)),
        Expect("SUSPICIOUS", reasons=(PROTECTED,)),
        id="trusted-domain-recent-keeps-lookalike",
    ),
    pytest.param(
        Settings(trusted_domains=(trusted_domain("young.io", recent=True, similarity=True),)),
        message(
            findings=(Finding("recent_domain", "SPAM"), Finding("content", "BULK", "young.io"))
        ),
        Expect("SPAM", reasons=(PROTECTED,)),
        id="finding-without-domain-not-removed",
    ),
    pytest.param(
        Settings(trusted_domains=(trusted_domain("example.com", recent=True),)),
        message(findings=(Finding("recent_domain", "SPAM", "badexample.com"),)),
        Expect("SPAM", reasons=(PROTECTED,)),
        id="trusted-domain-lookalike-not-covered",
    ),
    pytest.param(
        Settings(trusted_domains=(trusted_domain(r"cdn[0-9]+\.net", regex=True, recent=True),)),
        message(
            findings=(
                Finding("recent_domain", "SPAM", "cdn7.net"),
                Finding("recent_domain", "BULK", "x.cdn7.net"),
            )
        ),
        Expect(
            "BULK",
            reasons=(
                ("trusted_domains", "td-1", "finding_domain", "trusted_recent", True),
                PROTECTED,
            ),
        ),
        id="trusted-domain-regex-whole-field",
    ),
    # Step 8: most severe remaining finding.
    pytest.param(
        Settings(),
        message(findings=(BULK, SUSPICIOUS, SPAM)),
        Expect(
            "SUSPICIOUS",
            explanation=("disposition SUSPICIOUS from a content finding",),
            reasons=(PROTECTED,),
        ),
        id="most-severe-wins",
    ),
    pytest.param(
        Settings(),
        message(findings=(Finding("content", "MALICIOUS-BEC"), MALICIOUS)),
        Expect("MALICIOUS", "drop", (PROTECTED,)),
        id="malicious-above-bec",
    ),
    # Step 9: protected domains.
    pytest.param(
        Settings(
            domains=(
                CORP,
                ProtectedDomainRule("dom-eu", "eu.corp.com", "ACTIVE", ("SPAM",)),
            )
        ),
        message(recipients=("ann@mail.eu.corp.com",), findings=(SPAM,)),
        Expect(
            "SPAM",
            "drop",
            (("domains", "dom-eu", "recipient", "protected_domain", True),),
            explanation=("protected domain eu.corp.com drops SPAM",),
        ),
        id="protected-domain-nearest-parent",
    ),
    pytest.param(
        Settings(domains=(ProtectedDomainRule("dom-p", "corp.com", "PENDING", ("SPAM",)),)),
        message(findings=(SPAM,)),
        Expect(
            "SPAM",
            "drop",
            (("domains", "dom-p", "recipient", "protected_domain", True),),
            notes=("is not active (status PENDING)",),
        ),
        id="protected-domain-not-active-noted",
    ),
    pytest.param(
        Settings(),
        message(recipients=("someone@elsewhere.org",), findings=(MALICIOUS,)),
        Expect(
            "MALICIOUS",
            unprotected=True,
            explanation=("elsewhere.org is not a protected domain",),
        ),
        id="unprotected-recipient",
    ),
    pytest.param(
        Settings(),
        message(recipients=("notcorp.com@x.org", "a@notcorp.com")),
        Expect(unprotected=True),
        id="protected-domain-lookalike-unprotected",
    ),
    pytest.param(
        Settings(),
        message(findings=(SPAM,)),
        Expect(
            "SPAM",
            reasons=(PROTECTED,),
            explanation=("protected domain corp.com does not drop SPAM",),
        ),
        id="protected-domain-does-not-drop",
    ),
]


def _content(field_name: str, honoured: bool = True, rule_id: str = "cp-1") -> ReasonKey:
    return ("content_policies", rule_id, field_name, "content_policy", honoured)


CONTENT = [
    pytest.param(
        Settings(content_policies=(content(r"overdue invoice"),)),
        message(subject="Re: OVERDUE Invoice #4411 - pay today"),
        Expect(
            "MALICIOUS",
            "drop",
            (_content("subject"), PROTECTED),
            notes=("content policy 'Invoice fraud' found in the subject",),
            explanation=("content policy 'Invoice fraud' (cp-1) matched the subject",),
        ),
        id="content-found-anywhere-in-subject-ignoring-case",
    ),
    pytest.param(
        Settings(content_policies=(content(r"wire\s+transfer", "BODY"),)),
        message(subject="wire transfer", body="Hello,\nplease make the wire  transfer now."),
        _blocked(_content("body")),
        id="content-body-target-reads-the-body-only",
    ),
    pytest.param(
        Settings(content_policies=(content(r"wire transfer", "BODY"),)),
        message(subject="wire transfer", body="Nothing to see."),
        Expect(reasons=(PROTECTED,)),
        id="content-body-target-ignores-the-subject",
    ),
    pytest.param(
        Settings(content_policies=(content(r"lottery", "SUBJECT", "BODY"),)),
        message(subject="Lottery win", body="You won the lottery"),
        _blocked(_content("subject"), _content("body")),
        id="content-both-targets",
    ),
    pytest.param(
        Settings(content_policies=(content(r"lottery", enabled=False),)),
        message(subject="Lottery win"),
        Expect(reasons=(PROTECTED,)),
        id="content-disabled-policy-ignored",
    ),
    pytest.param(
        Settings(content_policies=(content(r"^urgent$"),)),
        message(subject="not urgent at all"),
        Expect(reasons=(PROTECTED,)),
        id="content-anchors-respected",
    ),
    pytest.param(
        Settings(content_policies=(content(r"lottery"),)),
        message(),
        Expect(reasons=(PROTECTED,)),
        id="content-no-subject-no-match",
    ),
    pytest.param(
        Settings(content_policies=(content(r"lottery"),), allow_policies=(EXEMPT_BOB,)),
        message(subject="lottery"),
        Expect(
            reasons=(
                _allow_reason("exempt_recipient", "recipient", True, "allow-x"),
                _content("subject", honoured=False),
                PROTECTED,
            ),
            notes=("overridden by exempt recipient allow policy allow-x",),
        ),
        id="content-exempt-recipient-wins",
    ),
    pytest.param(
        Settings(
            content_policies=(content(r"lottery"),),
            allow_policies=(allow("example.com", trusted=True),),
        ),
        message(subject="lottery"),
        Expect(
            "MALICIOUS",
            "drop",
            (
                _content("subject"),
                _allow_reason("trusted_sender", "envelope_from", False),
                _allow_reason("trusted_sender", "header_from", False),
                PROTECTED,
            ),
            notes=("overridden by content policy cp-1",),
        ),
        id="content-beats-trusted-sender",
    ),
    pytest.param(
        Settings(
            content_policies=(content(r"lottery"),),
            blocked_senders=(block("example.com"),),
        ),
        message(subject="lottery"),
        Expect(
            "MALICIOUS",
            "drop",
            (
                _block_reason("envelope_from"),
                _block_reason("header_from"),
                _content("subject"),
                PROTECTED,
            ),
            explanation=("sender matched blocked sender block-1",),
        ),
        id="content-and-block-both-honoured-block-explains",
    ),
    pytest.param(
        Settings(
            content_policies=(content(r"lottery"),),
            impersonation=(JANE,),
        ),
        message(header='"Jane Doe" <jane@evil.example>', subject="lottery"),
        Expect(
            "MALICIOUS",
            "drop",
            (_content("subject"), _impersonation(False), PROTECTED),
            notes=("overridden by content policy cp-1",),
        ),
        id="content-overrides-impersonation",
    ),
    pytest.param(
        Settings(
            content_policies=(
                content(r"prize", rule_id="cp-2", name="Prize"),
                content(r"prize", rule_id="cp-1", name="Prize again"),
            )
        ),
        message(subject="a prize"),
        Expect(
            "MALICIOUS",
            "drop",
            (_content("subject"), _content("subject", rule_id="cp-2"), PROTECTED),
            explanation=("content policy 'Prize again' (cp-1)",),
        ),
        id="content-lowest-id-explains",
    ),
    pytest.param(
        Settings(content_policies=(content(r"lottery"),), restrictions=(RESTRICT_BANK,)),
        message("alerts@bank.com", tls=None, subject="lottery"),
        Expect(
            "MALICIOUS",
            "drop",
            (
                _restriction("envelope_from", True),
                _restriction("header_from", True),
                _content("subject"),
                PROTECTED,
            ),
            explanation=("requires TLS",),
        ),
        id="content-after-tls-restriction",
    ),
    pytest.param(
        Settings(content_policies=(content(r"caf\x{e9}"),)),
        message(subject="Caf\u00c9 menu"),
        _blocked(_content("subject")),
        id="content-unicode-case-folded",
    ),
]


@pytest.mark.parametrize(("settings", "msg", "expect"), CONTENT)
def test_content_policies(settings: Settings, msg: Message, expect: Expect) -> None:
    (verdict,) = _run(settings, msg)
    _check(verdict, expect)


@pytest.mark.parametrize(("settings", "msg", "expect"), PRECEDENCE)
def test_precedence(settings: Settings, msg: Message, expect: Expect) -> None:
    verdicts = _run(settings, msg)
    _check(verdicts[0], expect)


def test_multiple_recipients_in_order() -> None:
    settings = Settings(
        allow_policies=(EXEMPT_BOB,),
        domains=(CORP, ProtectedDomainRule("dom-eu", "eu.corp.com", "ACTIVE", ("SPAM",))),
    )
    msg = message(
        recipients=("Carol@EU.corp.com", "bob@corp.com", "dave@elsewhere.org", "not an address"),
        findings=(SPAM,),
    )
    verdicts = _run(settings, msg)
    assert [v.recipient for v in verdicts] == [
        "Carol@EU.corp.com",
        "bob@corp.com",
        "dave@elsewhere.org",
        "not an address",
    ]
    assert [(v.disposition, v.action, v.unprotected) for v in verdicts] == [
        ("SPAM", "drop", False),
        ("NONE", "deliver", False),
        ("SPAM", "deliver", True),
        ("SPAM", "deliver", True),
    ]
    assert "the recipient is not a protected domain" in verdicts[3].explanation


def test_verdict_to_dict() -> None:
    settings = Settings(blocked_senders=(block("evil.com"),))
    verdict = evaluate(
        message("x@evil.com", header="x@ok.org"), build_snapshot(**settings.kwargs())
    )
    assert verdict.to_dict() == {
        "recipients": [
            {
                "recipient": "bob@corp.com",
                "disposition": "MALICIOUS",
                "action": "drop",
                "unprotected": False,
                "reasons": [
                    {
                        "resource": "block_senders",
                        "id": "block-1",
                        "pattern": "evil.com",
                        "field": "envelope_from",
                        "effect": "block",
                        "honoured": True,
                        "note": "blocked sender: disposition MALICIOUS "
                        "(attribute CUSTOM_BLOCK_LIST)",
                    },
                    {
                        "resource": "domains",
                        "id": "dom-corp",
                        "pattern": "corp.com",
                        "field": "recipient",
                        "effect": "protected_domain",
                        "honoured": True,
                        "note": "protected domain corp.com (ACTIVE); "
                        "drops MALICIOUS, MALICIOUS-BEC",
                    },
                ],
                "explanation": "Dropped: sender matched blocked sender block-1, disposition "
                "MALICIOUS; protected domain corp.com drops MALICIOUS.",
            }
        ]
    }


def test_no_settings_delivers_everything_unprotected() -> None:
    verdict = evaluate(message(findings=(MALICIOUS,)), build_snapshot())
    (only,) = verdict.recipients
    assert (only.disposition, only.action, only.unprotected) == ("MALICIOUS", "deliver", True)


@pytest.mark.parametrize(
    ("kind", "disposition"),
    [
        pytest.param("content", "malicious", id="lowercase-disposition"),
        pytest.param("content", "PHISH", id="unknown-disposition"),
        pytest.param("url", "SPAM", id="unknown-kind"),
    ],
)
def test_finding_rejects_unknown_values(kind: str, disposition: str) -> None:
    with pytest.raises(ValueError, match="unknown finding"):
        Finding(kind, disposition)


@pytest.mark.parametrize(
    ("settings", "skipped"),
    [
        pytest.param(
            Settings(blocked_senders=(block("not an ip", "IP"),)),
            ("block_senders", "block-1", "'not an ip' is not an IP address or CIDR network"),
            id="bad-ip",
        ),
        pytest.param(
            Settings(allow_policies=(allow("nobody", "EMAIL", trusted=True),)),
            ("allow_policies", "allow-1", "'nobody' is not an email address"),
            id="bad-email",
        ),
        pytest.param(
            Settings(blocked_senders=(block("a b.com"),)),
            ("block_senders", "block-1", "'a b.com' is not a domain name"),
            id="bad-domain",
        ),
        pytest.param(
            Settings(impersonation=(ImpersonationRule("imp-1", "  ", "x@y.com", False),)),
            ("impersonation_registry", "imp-1", "the registered name is empty"),
            id="empty-name",
        ),
        pytest.param(
            Settings(impersonation=(ImpersonationRule("imp-1", "Jane", "(", True),)),
            ("impersonation_registry", "imp-1", "not a valid RE2 regular expression: missing ): ("),
            id="bad-impersonation-regex",
        ),
        pytest.param(
            Settings(content_policies=(content("(unclosed"),)),
            (
                "content_policies",
                "cp-1",
                "not a valid RE2 regular expression: missing ): (unclosed",
            ),
            id="bad-content-regex",
        ),
        pytest.param(
            Settings(domains=(CORP, ProtectedDomainRule("dom-2", "CORP.com", None, ()))),
            ("domains", "dom-2", "duplicate of domain dom-corp (corp.com)"),
            id="duplicate-domain",
        ),
    ],
)
def test_unusable_entries_are_skipped(settings: Settings, skipped: tuple[str, str, str]) -> None:
    snapshot = build_snapshot(**settings.kwargs())
    assert snapshot.skipped == (skipped,)


def test_snapshot_is_frozen() -> None:
    snapshot = build_snapshot(blocked_senders=[block("evil.com")])
    with pytest.raises(AttributeError):
        snapshot.skipped = ()  # type: ignore[misc]
    assert snapshot.entries == 1


def test_generators_are_accepted() -> None:
    snapshot = build_snapshot(blocked_senders=(block(f"evil{i}.com") for i in range(3)))
    assert snapshot.entries == 3
    (verdict,) = evaluate(message("a@evil2.com"), snapshot).recipients
    assert verdict.disposition == "MALICIOUS"


@pytest.mark.parametrize(
    "enabled", [pytest.param(True, id="enabled"), pytest.param(False, id="disabled")]
)
def test_build_leaves_collector_as_it_found_it(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        build_snapshot(blocked_senders=[block("evil.com")])
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()
