"""The settings resources as the official SDK's tests see them: one `ResourceCase` per resource
(its attribute on the client, its types, sample bodies), all eight in `CASES` and as pytest
parameters in `CASE_PARAMS`, the sample bodies on their own, `changed` to vary one, and a
`RequestLog` of what a client sent.

The fixtures that make clients and point them at a live server are in tests/sdk/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest


@dataclass
class RequestLog:
    """Every request a client sent (an httpx event hook records them)."""

    requests: list[httpx.Request] = field(default_factory=list)

    def record(self, request: httpx.Request) -> None:
        self.requests.append(request)

    async def arecord(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def pages(self) -> list[str | None]:
        return [r.url.params.get("page") for r in self.requests]


@dataclass(frozen=True)
class ResourceCase:
    """One settings resource as the SDK sees it: its attribute, its types, sample bodies."""

    attr: str  # client.email_security.settings.<attr>
    types: str  # prefix of its response types, e.g. "AllowPolicy"
    create: dict[str, Any]
    edit: dict[str, Any]
    # Makes the n-th of many distinct entries (for pagination), from `create`.
    nth: Callable[[int], dict[str, Any]]


def changed(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


ALLOW_POLICY = {
    "pattern": "partner@example.com",
    "pattern_type": "EMAIL",
    "is_regex": False,
    "is_trusted_sender": True,
    "is_acceptable_sender": False,
    "is_exempt_recipient": False,
    "verify_sender": True,
    "comments": "a partner",
}
BLOCK_SENDER = {"pattern": "spam.example.net", "pattern_type": "DOMAIN", "is_regex": False}
DOMAIN = {
    "domain": "mail.example.com",
    "allowed_delivery_modes": ["DIRECT"],
    "drop_dispositions": ["MALICIOUS"],
    "ip_restrictions": [],
    "regions": ["GLOBAL"],
}
IMPERSONATION = {"name": "Chief Executive", "email": "chief@example.com", "is_email_regex": False}
SENDING_RESTRICTION = {"domain": "bank.example.com", "exclude": ["legacy.bank.example.com"]}
TRUSTED_DOMAIN = {
    "pattern": "partner.example.com",
    "is_recent": True,
    "is_regex": False,
    "is_similarity": False,
}
URL_IGNORE = {"pattern": r"^https://intranet\.example\.com/"}
CONTENT_POLICY = {
    "name": "Gift cards",
    "pattern": r"gift\s+cards?",
    "targets": ["SUBJECT", "BODY"],
    "enabled": True,
    "notes": "a classic",
}

CASES = [
    ResourceCase(
        "allow_policies",
        "AllowPolicy",
        ALLOW_POLICY,
        {"comments": "edited", "is_acceptable_sender": True},
        lambda n: changed(ALLOW_POLICY, pattern=f"user{n}@example.com"),
    ),
    ResourceCase(
        "block_senders",
        "BlockSender",
        BLOCK_SENDER,
        {"pattern": "spam.example.org", "comments": "edited"},
        lambda n: changed(BLOCK_SENDER, pattern=f"spam{n}.example.net"),
    ),
    ResourceCase(
        "domains",
        "Domain",
        DOMAIN,
        {"lookback_hops": 3, "drop_dispositions": ["MALICIOUS", "SPAM"]},
        lambda n: changed(DOMAIN, domain=f"d{n}.example.com"),
    ),
    ResourceCase(
        "impersonation_registry",
        "ImpersonationRegistry",
        IMPERSONATION,
        {"comments": "edited", "name": "The Chief Executive"},
        lambda n: changed(IMPERSONATION, name=f"Person {n}", email=f"p{n}@example.com"),
    ),
    ResourceCase(
        "sending_domain_restrictions",
        "SendingDomainRestriction",
        SENDING_RESTRICTION,
        {"comments": "edited", "exclude": []},
        lambda n: changed(SENDING_RESTRICTION, domain=f"bank{n}.example.com", exclude=[]),
    ),
    ResourceCase(
        "trusted_domains",
        "TrustedDomain",
        TRUSTED_DOMAIN,
        {"is_similarity": True, "comments": "edited"},
        lambda n: changed(TRUSTED_DOMAIN, pattern=f"partner{n}.example.com"),
    ),
    ResourceCase(
        "content_policies",
        "ContentPolicy",
        CONTENT_POLICY,
        {"enabled": False, "notes": "edited", "targets": ["BODY"]},
        lambda n: changed(CONTENT_POLICY, pattern=rf"gift card {n}\b"),
    ),
    ResourceCase(
        "url_ignore_patterns",
        "URLIgnorePattern",
        URL_IGNORE,
        {"comments": "edited"},
        lambda n: {"pattern": rf"^https://host{n}\.example\.com/"},
    ),
]
CASE_PARAMS = [pytest.param(case, id=case.attr) for case in CASES]
