"""The worked examples in docs/policy.md must be what the engine really says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailpolicy.engine import (
    AllowPolicyRule,
    AuthResults,
    BlockedSenderRule,
    ContentPolicyRule,
    Finding,
    ImpersonationRule,
    Message,
    ProtectedDomainRule,
    SendingDomainRestrictionRule,
    TLSInfo,
    TrustedDomainRule,
    Verdict,
    build_snapshot,
    evaluate,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "policy.md"
TLS = TLSInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384")
CORP = ProtectedDomainRule("d-corp", "corp.example", "ACTIVE", ("MALICIOUS", "MALICIOUS-BEC"))
BANK = SendingDomainRestrictionRule("r-bank", "bank.example", ("legacy.bank.example",))
BAD = BlockedSenderRule("b-bad", "bad.example", "DOMAIN", False)
PARTNER = AllowPolicyRule("a-partner", "partner.example", "DOMAIN", False, True, False, False, True)
MALICIOUS = Finding("content", "MALICIOUS")


def _message(sender: str, header: str | None = None, **fields: object) -> Message:
    fields.setdefault("recipients", ("ann@corp.example",))
    fields.setdefault("tls", TLS)
    return Message(
        envelope_from=sender,
        header_from=header or sender,
        client_ip="203.0.113.10",
        **fields,  # type: ignore[arg-type]
    )


def _verdict(message: Message, **settings: object) -> Verdict:
    settings.setdefault("domains", [CORP])
    return evaluate(message, build_snapshot(**settings))  # type: ignore[arg-type]


EXAMPLES = [
    pytest.param(
        _verdict(_message("alerts@bank.example", tls=None), restrictions=[BANK]), id="step-1"
    ),
    pytest.param(
        _verdict(_message("alerts@mx.legacy.bank.example", tls=None), restrictions=[BANK]),
        id="step-1-excluded",
    ),
    pytest.param(_verdict(_message("alerts@bank.example"), restrictions=[BANK]), id="step-1-tls"),
    pytest.param(
        _verdict(
            _message(
                "x@bad.example",
                recipients=("abuse@corp.example", "ann@corp.example"),
                findings=(MALICIOUS,),
            ),
            allow_policies=[
                AllowPolicyRule(
                    "a-abuse", "abuse@corp.example", "EMAIL", False, False, False, True, False
                )
            ],
            blocked_senders=[BAD],
        ),
        id="step-2",
    ),
    pytest.param(
        _verdict(
            _message("billing@mail.bad.example"),
            blocked_senders=[BAD],
            allow_policies=[
                AllowPolicyRule(
                    "a-billing",
                    "billing@mail.bad.example",
                    "EMAIL",
                    False,
                    True,
                    False,
                    False,
                    False,
                )
            ],
        ),
        id="step-3",
    ),
    pytest.param(
        _verdict(
            _message(
                "reports@partner.example",
                auth=AuthResults(spf="pass", dmarc="pass"),
                subject="Urgent: buy GIFT CARDS today",
            ),
            allow_policies=[PARTNER],
            content_policies=[
                ContentPolicyRule("c-gift", "Gift cards", r"gift\s+cards?", ("SUBJECT",), True)
            ],
        ),
        id="step-3-content",
    ),
    pytest.param(
        _verdict(
            _message(
                "reports@partner.example",
                auth=AuthResults(spf="pass", dmarc="pass"),
                findings=(MALICIOUS,),
            ),
            allow_policies=[PARTNER],
        ),
        id="step-4-verified",
    ),
    pytest.param(
        _verdict(
            _message(
                "reports@partner.example",
                auth=AuthResults(spf="fail", dmarc="fail"),
                findings=(MALICIOUS,),
            ),
            allow_policies=[PARTNER],
        ),
        id="step-4-unverified",
    ),
    pytest.param(
        _verdict(
            _message(
                "exec.office@freemail.example", '"  jane   DOE" <exec.office@freemail.example>'
            ),
            impersonation=[ImpersonationRule("i-jane", "Jane Doe", "jane.doe@corp.example", False)],
        ),
        id="step-5",
    ),
    pytest.param(
        _verdict(
            _message("jane.doe@corp.example", '"Jane Doe" <jane.doe@corp.example>'),
            impersonation=[ImpersonationRule("i-jane", "Jane Doe", "jane.doe@corp.example", False)],
        ),
        id="step-5-registered",
    ),
    pytest.param(
        _verdict(
            _message(
                "digest@news.example",
                findings=(Finding("content", "BULK"), Finding("content", "SUSPICIOUS")),
            ),
            allow_policies=[
                AllowPolicyRule(
                    "a-news", "news.example", "DOMAIN", False, False, True, False, False
                )
            ],
        ),
        id="step-6",
    ),
    pytest.param(
        _verdict(
            _message(
                "hello@startup.example",
                findings=(
                    Finding("recent_domain", "SUSPICIOUS", "startup.example"),
                    Finding("lookalike_domain", "SPOOF", "corp-example.example"),
                ),
            ),
            trusted_domains=[TrustedDomainRule("t-startup", "startup.example", False, True, False)],
        ),
        id="step-7",
    ),
    pytest.param(
        _verdict(
            _message(
                "x@somewhere.example",
                findings=(
                    Finding("content", "BULK"),
                    Finding("content", "SPAM"),
                    Finding("lookalike_domain", "SUSPICIOUS", "c0rp.example"),
                ),
            )
        ),
        id="step-8",
    ),
    pytest.param(
        _verdict(
            _message(
                "x@somewhere.example",
                recipients=("ann@corp.example", "bob@eu.corp.example", "carol@elsewhere.example"),
                findings=(Finding("content", "SPAM"),),
            ),
            domains=[CORP, ProtectedDomainRule("d-eu", "eu.corp.example", "PENDING", ("SPAM",))],
        ),
        id="step-9",
    ),
]


def _quoted(text: str) -> str:
    """The documentation's prose: wrapped lines joined, as a reader sees them."""
    return " ".join(text.split())


@pytest.mark.parametrize("verdict", EXAMPLES)
def test_documented_examples(verdict: Verdict) -> None:
    doc = _quoted(DOC.read_text(encoding="utf-8"))
    for recipient in verdict.recipients:
        for reason in recipient.reasons:
            assert _quoted(reason.note) in doc, reason.note
        explanation = _quoted(recipient.explanation)
        # Long explanations are quoted in full; tables quote their distinctive tail.
        assert explanation in doc or explanation.split(";")[-1].strip() in doc, explanation


def test_full_verdict_in_documentation_matches() -> None:
    doc = DOC.read_text(encoding="utf-8")
    block = doc.split("```json\n", 1)[1].split("```", 1)[0]
    step_3 = next(example.values[0] for example in EXAMPLES if example.id == "step-3")
    assert isinstance(step_3, Verdict)
    assert json.loads(block) == step_3.recipients[0].to_dict()
