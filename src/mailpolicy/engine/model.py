"""Value types exchanged with the policy engine: settings rules, messages and verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Most severe first; the final disposition is the first of these a remaining finding has.
DISPOSITIONS: tuple[str, ...] = (
    "MALICIOUS",
    "MALICIOUS-BEC",
    "SUSPICIOUS",
    "SPAM",
    "SPOOF",
    "BULK",
)
NONE = "NONE"
FINDING_KINDS: tuple[str, ...] = ("content", "recent_domain", "lookalike_domain")
PATTERN_TYPES: tuple[str, ...] = ("EMAIL", "DOMAIN", "IP", "UNKNOWN")

RESOURCE_ALLOW = "allow_policies"
RESOURCE_BLOCK = "block_senders"
RESOURCE_TRUSTED_DOMAINS = "trusted_domains"
RESOURCE_IMPERSONATION = "impersonation_registry"
RESOURCE_DOMAINS = "domains"
RESOURCE_RESTRICTIONS = "sending_domain_restrictions"
RESOURCE_CONTENT = "content_policies"
# Not a settings resource: the reasons that tell a detection (a finding with a source).
RESOURCE_DETECTIONS = "detections"

# The parts of a message a content policy can target.
TARGET_SUBJECT = "SUBJECT"
TARGET_BODY = "BODY"

ACTION_DELIVER = "deliver"
ACTION_DROP = "drop"


@dataclass(frozen=True, slots=True)
class AllowPolicyRule:
    id: str
    pattern: str
    pattern_type: str
    is_regex: bool
    is_trusted_sender: bool
    is_acceptable_sender: bool
    is_exempt_recipient: bool
    verify_sender: bool


@dataclass(frozen=True, slots=True)
class BlockedSenderRule:
    id: str
    pattern: str
    pattern_type: str
    is_regex: bool


@dataclass(frozen=True, slots=True)
class TrustedDomainRule:
    id: str
    pattern: str
    is_regex: bool
    is_recent: bool
    is_similarity: bool


@dataclass(frozen=True, slots=True)
class ImpersonationRule:
    id: str
    name: str
    email: str
    is_email_regex: bool


@dataclass(frozen=True, slots=True)
class ProtectedDomainRule:
    id: str
    domain: str
    status: str | None
    drop_dispositions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SendingDomainRestrictionRule:
    id: str
    domain: str
    exclude: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ContentPolicyRule:
    id: str
    name: str
    pattern: str
    targets: tuple[str, ...]
    enabled: bool


@dataclass(frozen=True, slots=True)
class TLSInfo:
    protocol: str
    cipher: str


@dataclass(frozen=True, slots=True)
class DKIMResult:
    domain: str
    result: str


@dataclass(frozen=True, slots=True)
class AuthResults:
    spf: str = "none"
    dkim: tuple[DKIMResult, ...] = ()
    dmarc: str = "none"

    def sender_verified(self) -> bool:
        """True when DMARC, SPF or any DKIM signature passed."""
        if self.dmarc.lower() == "pass" or self.spf.lower() == "pass":
            return True
        return any(sig.result.lower() == "pass" for sig in self.dkim)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    disposition: str
    domain: str | None = None
    # Where a detection came from (the engine that found it, "rspamd" or "clamav", or one of
    # mailpolicy's own checks: "lookalike", "rdap", "dmarc") and what it saw there (symbol
    # names, a signature, the domain imitated). A finding with a source is told in the
    # verdict's reasons, with what became of it.
    source: str | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        # A misspelt disposition would otherwise rank as nothing and silently let mail through.
        if self.disposition not in DISPOSITIONS:
            raise ValueError(
                f"unknown finding disposition {self.disposition!r}; "
                f"expected one of {', '.join(DISPOSITIONS)}"
            )
        if self.kind not in FINDING_KINDS:
            raise ValueError(
                f"unknown finding kind {self.kind!r}; expected one of {', '.join(FINDING_KINDS)}"
            )


@dataclass(frozen=True, slots=True)
class Message:
    envelope_from: str
    header_from: str
    recipients: tuple[str, ...]
    client_ip: str
    reply_to: str | None = None
    client_hostname: str | None = None
    helo: str | None = None
    tls: TLSInfo | None = None
    auth: AuthResults = AuthResults()
    findings: tuple[Finding, ...] = ()
    # What content policies read: the decoded Subject and the message's text.
    subject: str | None = None
    body: str | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    resource: str
    id: str
    pattern: str
    field: str
    effect: str
    honoured: bool
    note: str
    # For a detection: the entry that removed or superseded it ("allow_policies/<id>").
    overridden_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        told: dict[str, Any] = {
            "resource": self.resource,
            "id": self.id,
            "pattern": self.pattern,
            "field": self.field,
            "effect": self.effect,
            "honoured": self.honoured,
            "note": self.note,
        }
        if self.overridden_by:
            told["overridden_by"] = self.overridden_by
        return told


@dataclass(frozen=True, slots=True)
class RecipientVerdict:
    recipient: str
    disposition: str
    action: str
    unprotected: bool
    reasons: tuple[Reason, ...]
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "disposition": self.disposition,
            "action": self.action,
            "unprotected": self.unprotected,
            "reasons": [reason.to_dict() for reason in self.reasons],
            "explanation": self.explanation,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    recipients: tuple[RecipientVerdict, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"recipients": [recipient.to_dict() for recipient in self.recipients]}
