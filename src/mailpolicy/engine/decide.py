"""Precedence: turning the settings entries that matched a message into per-recipient verdicts.

Matching (which entries apply to which message field) is done elsewhere, by the indexed
engine or by the linear-scan reference; both hand their matches to this module, so the
two can only disagree about matching, never about precedence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mailpolicy.engine.model import (
    ACTION_DELIVER,
    ACTION_DROP,
    DISPOSITIONS,
    NONE,
    RESOURCE_ALLOW,
    RESOURCE_BLOCK,
    RESOURCE_CONTENT,
    RESOURCE_DETECTIONS,
    RESOURCE_DOMAINS,
    RESOURCE_IMPERSONATION,
    RESOURCE_RESTRICTIONS,
    RESOURCE_TRUSTED_DOMAINS,
    Finding,
    Message,
    ProtectedDomainRule,
    Reason,
    RecipientVerdict,
)
from mailpolicy.engine.parse import normalize_domain
from mailpolicy.engine.regex import full_match

EFFECT_REQUIRE_TLS = "require_tls"
EFFECT_EXEMPT = "exempt_recipient"
EFFECT_BLOCK = "block"
EFFECT_CONTENT = "content_policy"
EFFECT_TRUSTED = "trusted_sender"
EFFECT_IMPERSONATION = "impersonation"
EFFECT_ACCEPTABLE = "acceptable_sender"
EFFECT_TRUSTED_RECENT = "trusted_recent"
EFFECT_TRUSTED_SIMILARITY = "trusted_similarity"
EFFECT_PROTECTED = "protected_domain"
EFFECT_DETECTION = "detection"

FIELD_ENVELOPE_FROM = "envelope_from"
FIELD_HEADER_FROM = "header_from"
FIELD_REPLY_TO = "reply_to"
FIELD_CLIENT_IP = "client_ip"
FIELD_CLIENT_HOSTNAME = "client_hostname"
FIELD_SUBJECT = "subject"
FIELD_BODY = "body"
FIELD_HEADER_FROM_NAME = "header_from_name"
FIELD_FINDING_DOMAIN = "finding_domain"
FIELD_RECIPIENT = "recipient"
FIELD_FINDING = "finding"

# Reasons are listed in precedence order, so a verdict reads top to bottom like the rules.
_EFFECT_RANK = {
    effect: rank
    for rank, effect in enumerate(
        (
            EFFECT_DETECTION,
            EFFECT_REQUIRE_TLS,
            EFFECT_EXEMPT,
            EFFECT_BLOCK,
            EFFECT_CONTENT,
            EFFECT_TRUSTED,
            EFFECT_IMPERSONATION,
            EFFECT_ACCEPTABLE,
            EFFECT_TRUSTED_RECENT,
            EFFECT_TRUSTED_SIMILARITY,
            EFFECT_PROTECTED,
        )
    )
}
_FIELD_RANK = {
    field: rank
    for rank, field in enumerate(
        (
            FIELD_ENVELOPE_FROM,
            FIELD_HEADER_FROM,
            FIELD_HEADER_FROM_NAME,
            FIELD_REPLY_TO,
            FIELD_CLIENT_IP,
            FIELD_CLIENT_HOSTNAME,
            FIELD_SUBJECT,
            FIELD_BODY,
            FIELD_RECIPIENT,
            FIELD_FINDING_DOMAIN,
            FIELD_FINDING,
        )
    )
}
_SEVERITY = {disposition: rank for rank, disposition in enumerate(DISPOSITIONS)}
_ACCEPTABLE_REMOVES = frozenset(("SPAM", "SPOOF", "BULK"))

NOTE_UNVERIFIED = "ignored: verify_sender requires DMARC, SPF or DKIM pass"


@dataclass(frozen=True, slots=True, eq=False)
class PolicyEntry:
    """One effect of an allow policy or blocked sender, as indexed."""

    resource: str
    id: str
    pattern: str
    effect: str
    verify_sender: bool


@dataclass(frozen=True, slots=True, eq=False)
class TrustedDomainEntry:
    id: str
    pattern: str
    is_recent: bool
    is_similarity: bool


@dataclass(frozen=True, slots=True, eq=False)
class ImpersonationTarget:
    id: str
    name: str
    email: str
    # Exactly one of these is set: the normalised address, or the compiled RE2 pattern.
    email_key: str | None
    email_regex: Any

    def is_registered_address(self, address: str | None) -> bool:
        if address is None:
            return False
        if self.email_regex is not None:
            return full_match(self.email_regex, address)
        return address == self.email_key


@dataclass(frozen=True, slots=True, eq=False)
class ContentEntry:
    """An enabled content policy, as indexed."""

    id: str
    name: str
    pattern: str


@dataclass(frozen=True, slots=True, eq=False)
class RestrictionEntry:
    id: str
    domain: str
    excludes: frozenset[str]

    def excluded_by(self, domain: str) -> str | None:
        """The most specific exclude entry covering ``domain`` (itself or a parent), if any."""
        excludes = self.excludes
        if not excludes:
            return None
        while True:
            if domain in excludes:
                return domain
            dot = domain.find(".")
            if dot < 0:
                return None
            domain = domain[dot + 1 :]


@dataclass(frozen=True, slots=True, eq=False)
class ProtectedEntry:
    rule: ProtectedDomainRule
    domain: str
    drops: frozenset[str]
    reason: Reason
    # The reasons of a recipient nothing else matched, shared rather than rebuilt each time.
    alone: tuple[Reason]
    clean_action: str
    clean_explanation: str

    def clean_verdict(self, recipient: str) -> RecipientVerdict:
        """The verdict for a recipient in this domain when nothing matched and nothing was found."""
        return RecipientVerdict(
            recipient, NONE, self.clean_action, False, self.alone, self.clean_explanation
        )


def protected_entry(rule: ProtectedDomainRule, domain: str) -> ProtectedEntry:
    drops = ", ".join(rule.drop_dispositions) or "nothing"
    if (rule.status or "").upper() == "ACTIVE":
        note = f"protected domain {domain} (ACTIVE); drops {drops}"
    else:
        status = (rule.status or "unset").upper()
        note = (
            f"protected domain {domain} is not active (status {status}); "
            f"its drop dispositions still apply: {drops}"
        )
    reason = Reason(
        RESOURCE_DOMAINS, rule.id, rule.domain, FIELD_RECIPIENT, EFFECT_PROTECTED, True, note
    )
    drop_set = frozenset(rule.drop_dispositions)
    partial = ProtectedEntry(rule, domain, drop_set, reason, (reason,), ACTION_DELIVER, "")
    clean = recipient_verdict("", domain, NO_FINDINGS, partial)
    return ProtectedEntry(
        rule, domain, drop_set, reason, (reason,), clean.action, clean.explanation
    )


# What matching hands to precedence, as plain tuples so the hot path builds them cheaply.
RestrictionHit = tuple[RestrictionEntry, str, str, str | None]  # entry, field, domain, excluded by
SenderHit = tuple[PolicyEntry, str]  # entry, field
ImpersonationHit = tuple[ImpersonationTarget, bool]  # entry, sender is impersonating
TrustedDomainHit = tuple[TrustedDomainEntry, str]  # entry, normalised finding domain
ContentHit = tuple[ContentEntry, str]  # entry, field (subject or body)


@dataclass(frozen=True, slots=True)
class Matches:
    """Every message-wide match: everything except the per-recipient lookups."""

    restrictions: Sequence[RestrictionHit] = ()
    senders: Sequence[SenderHit] = ()
    impersonation: Sequence[ImpersonationHit] = ()
    trusted_domains: Sequence[TrustedDomainHit] = ()
    content: Sequence[ContentHit] = ()


NO_MATCHES = Matches()


@dataclass(frozen=True, slots=True)
class Outcome:
    """The message-wide part of a verdict, shared by every recipient it applies to."""

    disposition: str
    reasons: tuple[Reason, ...]
    cause: str
    tls_drop: str | None


NO_FINDINGS = Outcome(NONE, (), "no findings", None)


@dataclass(frozen=True, slots=True)
class _Senders:
    block_id: str | None
    trusted_id: str | None
    acceptable_id: str | None
    unverified: frozenset[int]


_NO_SENDERS = _Senders(None, None, None, frozenset())
_NO_DOMAINS: dict[str, str] = {}
_EXEMPT_NOTE = "exempt recipient: receives the message whatever its findings"


def _override_notes(
    exempt_id: str | None, blocked_by: str | None, senders: _Senders
) -> tuple[str | None, str | None]:
    """Notes for the impersonation and the later steps when a decisive entry beats them.

    An exempt recipient, a blocked sender or a content policy overrides everything below
    it. A trusted sender overrides an impersonation finding and makes acceptable senders
    and trusted domains unnecessary (superseded).
    """
    if exempt_id is not None:
        note = f"overridden by exempt recipient allow policy {exempt_id}"
        return note, note
    if blocked_by is not None:
        note = f"overridden by {blocked_by}"
        return note, note
    if senders.trusted_id is not None:
        return (
            f"overridden by trusted sender allow policy {senders.trusted_id}",
            f"superseded by trusted sender allow policy {senders.trusted_id}",
        )
    return None, None


def _reason_key(reason: Reason) -> tuple[int, str, int, str, str]:
    return (
        _EFFECT_RANK[reason.effect],
        reason.id,
        _FIELD_RANK[reason.field],
        reason.pattern,
        reason.note,
    )


def _ordered(reasons: list[Reason]) -> tuple[Reason, ...]:
    if len(reasons) > 1:
        reasons.sort(key=_reason_key)
    return tuple(reasons)


def _most_severe(findings: Iterable[Finding]) -> Finding | None:
    best: Finding | None = None
    best_rank = len(DISPOSITIONS)
    for finding in findings:
        rank = _SEVERITY[finding.disposition]
        if rank < best_rank:
            best, best_rank = finding, rank
    return best


def _finding_cause(finding: Finding) -> str:
    where = f" for {finding.domain}" if finding.domain else ""
    if finding.source:
        seen = f": {finding.label}" if finding.label else ""
        return f"disposition {finding.disposition} from {finding.source}{seen}{where}"
    return f"disposition {finding.disposition} from a {finding.kind} finding{where}"


def _detected(finding: Finding) -> str:
    """A detection in words: what found it, what it saw, and the disposition it gives."""
    seen = f" {finding.label}" if finding.label else ""
    return f"{finding.source}{seen}: {finding.disposition}"


def _detection_reason(finding: Finding, honoured: bool, note: str, by: str = "") -> Reason:
    return Reason(
        RESOURCE_DETECTIONS,
        finding.source or "",
        finding.label or "",
        FIELD_FINDING,
        EFFECT_DETECTION,
        honoured,
        f"{_detected(finding)}; {note}",
        by,
    )


def _detections_kept(message: Message) -> list[Reason]:
    """The reasons of detections nothing overrode."""
    return [
        _detection_reason(finding, True, "kept") for finding in message.findings if finding.source
    ]


def _blocker(senders: _Senders, content: ContentHit | None) -> tuple[str, str] | None:
    """The entry that makes a message MALICIOUS whatever was detected: words and its key."""
    if senders.block_id is not None:
        return f"blocked sender {senders.block_id}", f"{RESOURCE_BLOCK}/{senders.block_id}"
    if content is not None:
        return f"content policy {content[0].id}", f"{RESOURCE_CONTENT}/{content[0].id}"
    return None


def _detection_reasons(
    message: Message,
    exempt_id: str | None,
    blocked_by: tuple[str, str] | None,
    senders: _Senders,
    recent: dict[str, str],
    lookalike: dict[str, str],
    reasons: list[Reason],
) -> None:
    """Append what became of each detection: kept, or which setting removed or superseded it."""
    for finding in message.findings:
        if not finding.source:
            continue
        if exempt_id is not None:
            reasons.append(
                _detection_reason(
                    finding,
                    False,
                    f"overridden by exempt recipient allow policy {exempt_id}",
                    f"{RESOURCE_ALLOW}/{exempt_id}",
                )
            )
            continue
        if blocked_by is not None:
            words, by = blocked_by
            reasons.append(_detection_reason(finding, False, f"superseded by {words}", by))
            continue
        if senders.trusted_id is not None:
            reasons.append(
                _detection_reason(
                    finding,
                    False,
                    f"removed by trusted sender allow policy {senders.trusted_id}",
                    f"{RESOURCE_ALLOW}/{senders.trusted_id}",
                )
            )
            continue
        if senders.acceptable_id is not None and finding.disposition in _ACCEPTABLE_REMOVES:
            reasons.append(
                _detection_reason(
                    finding,
                    False,
                    f"removed by acceptable sender allow policy {senders.acceptable_id}",
                    f"{RESOURCE_ALLOW}/{senders.acceptable_id}",
                )
            )
            continue
        if finding.domain and finding.kind != "content":
            cleared = recent if finding.kind == "recent_domain" else lookalike
            entry = cleared.get(normalize_domain(finding.domain))
            if entry is not None:
                reasons.append(
                    _detection_reason(
                        finding,
                        False,
                        f"removed by trusted domain {entry}",
                        f"{RESOURCE_TRUSTED_DOMAINS}/{entry}",
                    )
                )
                continue
        reasons.append(_detection_reason(finding, True, "kept"))


def _restriction_reasons(
    message: Message, hits: Sequence[RestrictionHit], reasons: list[Reason]
) -> str | None:
    """Append the restriction reasons; return the drop explanation when TLS was missing."""
    drop: tuple[str, int, str] | None = None
    tls = message.tls
    for entry, field, domain, excluded_by in hits:
        if excluded_by is not None:
            honoured, note = False, f"not applied: {domain} is excluded ({excluded_by})"
        elif tls is not None:
            honoured, note = True, f"satisfied: the message arrived over TLS ({tls.protocol})"
        else:
            honoured, note = True, "the message arrived without TLS, so it is dropped"
            candidate = (entry.id, _FIELD_RANK[field], domain)
            if drop is None or candidate < drop:
                drop = candidate
        reasons.append(
            Reason(
                RESOURCE_RESTRICTIONS,
                entry.id,
                entry.domain,
                field,
                EFFECT_REQUIRE_TLS,
                honoured,
                note,
            )
        )
    if drop is None:
        return None
    return (
        f"Dropped: sender domain {drop[2]} requires TLS (restriction {drop[0]}) "
        "and the message arrived without TLS."
    )


def _senders(message: Message, hits: Sequence[SenderHit]) -> _Senders:
    verified: bool | None = None
    unverified: set[int] = set()
    block_id: str | None = None
    trusted_id: str | None = None
    acceptable_id: str | None = None
    for entry, _field in hits:
        if entry.effect == EFFECT_BLOCK:
            if block_id is None or entry.id < block_id:
                block_id = entry.id
            continue
        if entry.verify_sender:
            if verified is None:
                verified = message.auth.sender_verified()
            if not verified:
                unverified.add(id(entry))
                continue
        if entry.effect == EFFECT_TRUSTED:
            if trusted_id is None or entry.id < trusted_id:
                trusted_id = entry.id
        elif acceptable_id is None or entry.id < acceptable_id:
            acceptable_id = entry.id
    return _Senders(block_id, trusted_id, acceptable_id, frozenset(unverified))


def _sender_reason(
    entry: PolicyEntry,
    field: str,
    senders: _Senders,
    exempt_id: str | None,
    blocked_by: str | None,
) -> Reason:
    if entry.effect == EFFECT_BLOCK:
        if exempt_id is not None:
            honoured, note = False, f"overridden by exempt recipient allow policy {exempt_id}"
        else:
            honoured = True
            note = "blocked sender: disposition MALICIOUS (attribute CUSTOM_BLOCK_LIST)"
    elif id(entry) in senders.unverified:
        honoured, note = False, NOTE_UNVERIFIED
    elif exempt_id is not None:
        honoured, note = False, f"overridden by exempt recipient allow policy {exempt_id}"
    elif blocked_by is not None:
        honoured, note = False, f"overridden by {blocked_by}"
    elif entry.effect == EFFECT_TRUSTED:
        honoured, note = True, "trusted sender: all findings removed"
    elif senders.trusted_id is not None:
        honoured = False
        note = f"superseded by trusted sender allow policy {senders.trusted_id}"
    else:
        honoured, note = True, "acceptable sender: SPAM, SPOOF and BULK findings removed"
    if honoured and entry.verify_sender:
        note += " (verify_sender satisfied)"
    return Reason(entry.resource, entry.id, entry.pattern, field, entry.effect, honoured, note)


def _first_content(hits: Sequence[ContentHit]) -> ContentHit:
    """The content policy a verdict is explained by: lowest id, then subject before body."""
    return min(hits, key=lambda hit: (hit[0].id, _FIELD_RANK[hit[1]]))


def _content_reasons(
    hits: Sequence[ContentHit], exempt_id: str | None, reasons: list[Reason]
) -> None:
    for entry, field in hits:
        if exempt_id is not None:
            honoured, note = False, f"overridden by exempt recipient allow policy {exempt_id}"
        else:
            honoured = True
            note = f"content policy {entry.name!r} found in the {field}: disposition MALICIOUS"
        reasons.append(
            Reason(RESOURCE_CONTENT, entry.id, entry.pattern, field, EFFECT_CONTENT, honoured, note)
        )


def _impersonation_reasons(
    hits: Sequence[ImpersonationHit], overridden: str | None, reasons: list[Reason]
) -> ImpersonationTarget | None:
    """Append the registry reasons; return the entry that adds a finding, if one does."""
    impersonator: ImpersonationTarget | None = None
    for entry, impersonating in hits:
        if not impersonating:
            honoured, note = False, "not applied: the sender address is registered for this name"
        elif overridden is not None:
            honoured, note = False, overridden
        else:
            relation = "does not match" if entry.email_regex is not None else "is not"
            honoured = True
            note = (
                f"display name matches a registered name but the address {relation} "
                f"{entry.email}: MALICIOUS-BEC finding added"
            )
            if impersonator is None or entry.id < impersonator.id:
                impersonator = entry
        reasons.append(
            Reason(
                RESOURCE_IMPERSONATION,
                entry.id,
                entry.name,
                FIELD_HEADER_FROM_NAME,
                EFFECT_IMPERSONATION,
                honoured,
                note,
            )
        )
    return impersonator


def _trusted_domain_reasons(
    message: Message,
    hits: Sequence[TrustedDomainHit],
    superseded: str | None,
    reasons: list[Reason],
) -> tuple[dict[str, str], dict[str, str]]:
    """Append the trusted-domain reasons; return the recent and lookalike domains cleared,
    each with the entry that cleared it (the lowest id)."""
    recent: dict[str, str] = {}
    lookalike: dict[str, str] = {}
    kinds: dict[str, set[str]] = {}
    for finding in message.findings:
        if finding.domain:
            kinds.setdefault(normalize_domain(finding.domain), set()).add(finding.kind)
    for entry, domain in hits:
        present = kinds.get(domain, set())
        for flag, kind, effect, cleared in (
            (entry.is_recent, "recent_domain", EFFECT_TRUSTED_RECENT, recent),
            (entry.is_similarity, "lookalike_domain", EFFECT_TRUSTED_SIMILARITY, lookalike),
        ):
            if not flag or kind not in present:
                continue
            if superseded is not None:
                honoured, note = False, superseded
            else:
                honoured, note = True, f"{kind} finding for {domain} removed"
                if domain not in cleared or entry.id < cleared[domain]:
                    cleared[domain] = entry.id
            reasons.append(
                Reason(
                    RESOURCE_TRUSTED_DOMAINS,
                    entry.id,
                    entry.pattern,
                    FIELD_FINDING_DOMAIN,
                    effect,
                    honoured,
                    note,
                )
            )
    return recent, lookalike


def _remaining(
    message: Message, acceptable: bool, recent: dict[str, str], lookalike: dict[str, str]
) -> list[Finding]:
    remaining: list[Finding] = []
    for finding in message.findings:
        if acceptable and finding.disposition in _ACCEPTABLE_REMOVES:
            continue
        if finding.domain and finding.kind != "content":
            cleared = recent if finding.kind == "recent_domain" else lookalike
            if normalize_domain(finding.domain) in cleared:
                continue
        remaining.append(finding)
    return remaining


def _disposition(
    message: Message,
    remaining: list[Finding],
    impersonator: ImpersonationTarget | None,
) -> tuple[str, str]:
    """Step 8: the most severe remaining finding, and how to explain it."""
    worst = _most_severe(remaining)
    if impersonator is not None and (worst is None or _SEVERITY[worst.disposition] > 1):
        return "MALICIOUS-BEC", (
            "disposition MALICIOUS-BEC from an impersonation of registered name "
            f"{impersonator.name!r} (entry {impersonator.id})"
        )
    if worst is not None:
        return worst.disposition, _finding_cause(worst)
    if message.findings or impersonator is not None:
        return NONE, "every finding was removed by allow policies or trusted domains"
    return NONE, "no findings"


def message_outcome(
    message: Message, matches: Matches, exempt: Sequence[PolicyEntry] = ()
) -> Outcome:
    """Precedence steps 1 to 8 for a recipient whose exempt-recipient matches are ``exempt``."""
    if not (
        matches.restrictions
        or matches.senders
        or matches.impersonation
        or matches.content
        or exempt
    ):
        if not message.findings:
            return NO_FINDINGS
        if not matches.trusted_domains:
            worst = _most_severe(message.findings)
            assert worst is not None
            told = tuple(_detections_kept(message))
            return Outcome(worst.disposition, told, _finding_cause(worst), None)

    reasons: list[Reason] = []
    tls_drop = (
        _restriction_reasons(message, matches.restrictions, reasons)
        if matches.restrictions
        else None
    )
    senders = _senders(message, matches.senders) if matches.senders else _NO_SENDERS
    exempt_id = min([entry.id for entry in exempt]) if exempt else None
    if exempt:
        reasons.extend(
            [
                Reason(
                    RESOURCE_ALLOW,
                    entry.id,
                    entry.pattern,
                    FIELD_RECIPIENT,
                    EFFECT_EXEMPT,
                    True,
                    _EXEMPT_NOTE,
                )
                for entry in exempt
            ]
        )
    content = _first_content(matches.content) if matches.content else None
    blocked_by = (
        f"blocked sender {senders.block_id}"
        if senders.block_id is not None
        else (f"content policy {content[0].id}" if content is not None else None)
    )
    if matches.content:
        _content_reasons(matches.content, exempt_id, reasons)
    if matches.senders:
        reasons.extend(
            [
                _sender_reason(entry, field, senders, exempt_id, blocked_by)
                for entry, field in matches.senders
            ]
        )
    overridden, superseded = _override_notes(exempt_id, blocked_by, senders)
    impersonator = (
        _impersonation_reasons(matches.impersonation, overridden, reasons)
        if matches.impersonation
        else None
    )
    recent, lookalike = (
        _trusted_domain_reasons(message, matches.trusted_domains, superseded, reasons)
        if matches.trusted_domains
        else (_NO_DOMAINS, _NO_DOMAINS)
    )
    if message.findings:
        blocker = _blocker(senders, content)
        _detection_reasons(message, exempt_id, blocker, senders, recent, lookalike, reasons)
    ordered = _ordered(reasons)

    if exempt_id is not None:
        cause = f"recipient is exempt (allow policy {exempt_id}), so no finding applies"
        return Outcome(NONE, ordered, cause, tls_drop)
    if senders.block_id is not None:
        cause = f"sender matched blocked sender {senders.block_id}, disposition MALICIOUS"
        return Outcome("MALICIOUS", ordered, cause, tls_drop)
    if content is not None:
        entry, field = content
        cause = (
            f"content policy {entry.name!r} ({entry.id}) matched the {field}, disposition MALICIOUS"
        )
        return Outcome("MALICIOUS", ordered, cause, tls_drop)
    if senders.trusted_id is not None:
        cause = (
            f"sender is trusted (allow policy {senders.trusted_id}), so all findings were removed"
        )
        return Outcome(NONE, ordered, cause, tls_drop)
    remaining = _remaining(message, senders.acceptable_id is not None, recent, lookalike)
    disposition, cause = _disposition(message, remaining, impersonator)
    return Outcome(disposition, ordered, cause, tls_drop)


def _explanation(
    outcome: Outcome, recipient_domain: str | None, protected: ProtectedEntry | None, drop: bool
) -> str:
    if outcome.tls_drop is not None:
        return outcome.tls_drop
    disposition = outcome.disposition
    if protected is None:
        where = recipient_domain or "the recipient"
        return f"Delivered: {outcome.cause}; {where} is not a protected domain."
    if drop:
        return f"Dropped: {outcome.cause}; protected domain {protected.domain} drops {disposition}."
    if disposition == NONE:
        return f"Delivered: {outcome.cause}."
    return (
        f"Delivered: {outcome.cause}; protected domain {protected.domain} "
        f"does not drop {disposition}."
    )


def recipient_verdict(
    recipient: str,
    recipient_domain: str | None,
    outcome: Outcome,
    protected: ProtectedEntry | None,
) -> RecipientVerdict:
    """Precedence step 9 (and the step 1 drop) for one recipient."""
    if protected is None:
        reasons = outcome.reasons
        drop = False
    else:
        reasons = (*outcome.reasons, protected.reason) if outcome.reasons else protected.alone
        drop = outcome.disposition in protected.drops
    explanation = _explanation(outcome, recipient_domain, protected, drop)
    action = ACTION_DROP if drop or outcome.tls_drop is not None else ACTION_DELIVER
    return RecipientVerdict(
        recipient, outcome.disposition, action, protected is None, reasons, explanation
    )
