"""The pure policy engine: standard library and RE2 only.

Build a :class:`Snapshot` from the settings lists with :func:`build_snapshot` (or from rules
of every kind, mixed, with :func:`snapshot_of`), then call :func:`evaluate` for each message.
Snapshots are immutable; rebuild and swap on change, or let a :class:`SnapshotBuilder`
apply the entries that changed.

This module is the engine's one door: nothing outside the engine imports its submodules (the
linter enforces it; docs/architecture.md). The normalisers and pattern checks are exported
too, so that what the API stores is keyed exactly as the engine reads it.
"""

from mailpolicy.engine import evaluator as _evaluator
from mailpolicy.engine.changes import SnapshotBuilder
from mailpolicy.engine.evaluator import evaluate
from mailpolicy.engine.model import (
    DISPOSITIONS,
    TARGET_BODY,
    TARGET_SUBJECT,
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
from mailpolicy.engine.parse import normalize_domain, normalize_name, normalize_path
from mailpolicy.engine.regex import (
    MAX_MEM,
    MAX_PROGRAM_SIZE,
    RegexError,
    check_regex,
    regex_options,
)
from mailpolicy.engine.snapshot import (
    Rule,
    RuleKey,
    Snapshot,
    body_policies,
    build_snapshot,
    prepare_pattern,
    reference_domains,
    rule_key,
    snapshot_of,
)

# Whether mypyc compiled the engine (setup.py), or its Python sources run as they are
# (installed with MAILPOLICY_PURE_PYTHON=1).
COMPILED = not (_evaluator.__file__ or "").endswith(".py")

__all__ = [
    "COMPILED",
    "DISPOSITIONS",
    "MAX_MEM",
    "MAX_PROGRAM_SIZE",
    "TARGET_BODY",
    "TARGET_SUBJECT",
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
    "Rule",
    "RuleKey",
    "SendingDomainRestrictionRule",
    "Snapshot",
    "SnapshotBuilder",
    "TLSInfo",
    "TrustedDomainRule",
    "Verdict",
    "body_policies",
    "build_snapshot",
    "check_regex",
    "evaluate",
    "normalize_domain",
    "normalize_name",
    "normalize_path",
    "prepare_pattern",
    "reference_domains",
    "regex_options",
    "rule_key",
    "snapshot_of",
]
