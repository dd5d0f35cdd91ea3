"""The pure policy engine: standard library and RE2 only.

Build a :class:`Snapshot` from the settings lists with :func:`build_snapshot`, then call
:func:`evaluate` for each message. Snapshots are immutable; rebuild and swap on change.
"""

from mailpolicy.engine.evaluator import evaluate
from mailpolicy.engine.model import (
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
    Reason,
    RecipientVerdict,
    SendingDomainRestrictionRule,
    TLSInfo,
    TrustedDomainRule,
    Verdict,
)
from mailpolicy.engine.regex import (
    MAX_MEM,
    MAX_PROGRAM_SIZE,
    RegexError,
    check_regex,
    regex_options,
)
from mailpolicy.engine.snapshot import Snapshot, build_snapshot

__all__ = [
    "DISPOSITIONS",
    "MAX_MEM",
    "MAX_PROGRAM_SIZE",
    "AllowPolicyRule",
    "AuthResults",
    "BlockedSenderRule",
    "ContentPolicyRule",
    "DKIMResult",
    "Finding",
    "ImpersonationRule",
    "Message",
    "ProtectedDomainRule",
    "Reason",
    "RecipientVerdict",
    "RegexError",
    "SendingDomainRestrictionRule",
    "Snapshot",
    "TLSInfo",
    "TrustedDomainRule",
    "Verdict",
    "build_snapshot",
    "check_regex",
    "evaluate",
    "regex_options",
]
