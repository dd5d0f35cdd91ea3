"""The table of settings resources the API tests run over: one descriptor per resource (`Resource`),
saying how to make distinct valid entries, how to edit one, and which filters (`Filter`),
orderings and search fields its list takes; `RESOURCES` holds all eight, `BY_PATH` finds one by
its path, `FULL_BATCH` those whose batch takes all four arrays, and `params` makes pytest
parameters of them. `batch` and `put_item` make bodies for the batch endpoints.

tests/api/test_contract.py runs the contract every resource keeps over this table; other
test modules reuse it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pytest

Entry = dict[str, Any]
QueryValue = str | list[str]

INTEGRATION_A = "6f1c5a8e-1b7e-4f57-9a52-1d3e9b1b5a01"
INTEGRATION_B = "0b8d2c4f-7a3e-4d0c-8e51-2c6a9f3d7b02"


@dataclass(frozen=True)
class Filter:
    """A list filter: a value some entries match, one that leaves out some of those, and what
    matching means for an entry as the API returns it."""

    param: str
    hit: QueryValue
    miss: QueryValue
    holds: Callable[[Entry, QueryValue], bool]


def flag(name: str) -> Filter:
    return Filter(name, "true", "false", lambda entry, value: entry[name] is (value == "true"))


def equals(name: str, hit: str, miss: str) -> Filter:
    return Filter(name, hit, miss, lambda entry, value: entry[name] == value)


@dataclass(frozen=True)
class Resource:
    path: str
    id_param: str
    make: Callable[[int], Entry]  # a valid create body; distinct for distinct n
    patch: Entry  # a valid PATCH body for make(0)'s entry, every value different from it
    required: tuple[str, ...]  # required on create
    filters: tuple[Filter, ...] = ()
    orderings: tuple[str, ...] = ()
    search: tuple[str, ...] = ()  # the text fields `search` looks in
    batch: Literal["full", "deletes", "none"] = "full"
    # A minimal batch `puts` item for an entry (without id), for resources with a full batch.
    put: Callable[[Entry], Entry] | None = None
    # A field and a value that pass the schema but not the resource's semantic checks.
    invalid: tuple[str, Any] = ("pattern", "(unclosed")
    # Output fields besides the timestamps that follow every write.
    volatile: tuple[str, ...] = ()
    # The create body says additionalProperties: false.
    strict: bool = False
    # The nullable free-text field (None: the resource has none).
    note: str | None = "comments"

    def __str__(self) -> str:
        return self.path


def _allow_policy(n: int) -> Entry:
    # Pairs (2k, 2k+1) share a pattern and differ in a flag, so ordering by pattern has ties.
    k = n // 2
    pattern_type, pattern = (
        ("EMAIL", f"friend{k}@partner.example"),
        ("DOMAIN", f"partner{k}.example.org"),
        ("IP", f"203.0.113.{k + 1}"),
    )[k % 3]
    return {
        "pattern": pattern,
        "pattern_type": pattern_type,
        "is_regex": False,
        "is_trusted_sender": n % 2 == 0,
        "is_acceptable_sender": n % 3 == 0,
        "is_exempt_recipient": n % 4 == 1,
        "verify_sender": n % 5 != 0,
        "comments": f"Allowed sender {n}",
    }


def _blocked_sender(n: int) -> Entry:
    # A pattern and its regex twin are distinct entries that tie when ordered by pattern.
    k = n // 2
    pattern_type, pattern = (
        ("EMAIL", f"spammer{k}@bad.example"),
        ("DOMAIN", f"spam{k}.example.net"),
        ("IP", f"198.51.100.{k + 1}"),
    )[k % 3]
    return {
        "pattern": pattern,
        "pattern_type": pattern_type,
        "is_regex": n % 2 == 1,
        "comments": f"Blocked sender {n}",
    }


def domain_body(name: str, **overrides: Any) -> Entry:
    body: Entry = {
        "domain": name,
        "allowed_delivery_modes": ["DIRECT"],
        "drop_dispositions": ["MALICIOUS"],
        "ip_restrictions": [],
        "regions": ["GLOBAL"],
    }
    return {**body, **overrides}


def _domain(n: int) -> Entry:
    return domain_body(
        f"corp{n}.example.com",
        allowed_delivery_modes=(["DIRECT"], ["BCC", "DIRECT"], ["JOURNAL"])[n % 3],
        drop_dispositions=["MALICIOUS", "SPAM"] if n % 2 else ["MALICIOUS"],
        integration_id=INTEGRATION_A if n % 2 == 0 else None,
        transport=f"smtp://Relay{n}.corp.example",
    )


def _impersonation(n: int) -> Entry:
    # Pairs share a display name, so ordering by name has ties.
    return {
        "name": f"Person {n // 2}",
        "email": f"person{n}@corp.example",
        "is_email_regex": False,
        "provenance": "SNOOPY-OFFICE_365" if n % 3 == 2 else "A1S_INTERNAL",
        "comments": f"Registered person {n}",
    }


def _sending_restriction(n: int) -> Entry:
    return {
        "domain": f"tls{n}.example.com",
        "exclude": [f"legacy.tls{n}.example.com"] if n % 2 else [],
        "comments": f"TLS required {n}",
    }


def _trusted_domain(n: int) -> Entry:
    # Pairs share a pattern and differ in is_recent, so ordering by pattern has ties.
    return {
        "pattern": f"partner{n // 2}.example.com",
        "is_regex": False,
        "is_recent": n % 2 == 0,
        "is_similarity": n % 3 == 0,
        "comments": f"Trusted partner {n}",
    }


def _url_ignore_pattern(n: int) -> Entry:
    return {"pattern": rf"^https://docs{n}\.example\.com/", "comments": f"Ignored URL {n}"}


def _content_policy(n: int) -> Entry:
    # Pairs share a name, so ordering by name has ties.
    return {
        "name": f"Policy {n // 2}",
        "pattern": f"invoice +#?0*{n}([^0-9]|$)",
        "targets": ["SUBJECT"] if n % 2 == 0 else ["SUBJECT", "BODY"],
        "enabled": n % 3 != 0,
        "notes": f"Content policy {n}",
    }


def _one_of(name: str) -> Callable[[Entry, QueryValue], bool]:
    return lambda entry, values: entry[name] in values


def _includes(name: str) -> Callable[[Entry, QueryValue], bool]:
    return lambda entry, value: value in entry[name]


RESOURCES: tuple[Resource, ...] = (
    Resource(
        path="allow_policies",
        id_param="policy_id",
        make=_allow_policy,
        patch={"verify_sender": True, "comments": "Patched by the contract suite"},
        required=(
            "is_acceptable_sender",
            "is_exempt_recipient",
            "is_regex",
            "is_trusted_sender",
            "pattern",
            "pattern_type",
            "verify_sender",
        ),
        filters=(
            flag("is_exempt_recipient"),
            flag("is_trusted_sender"),
            flag("is_acceptable_sender"),
            flag("verify_sender"),
            equals("pattern_type", "DOMAIN", "IP"),
            equals("pattern", "partner1.example.org", "nobody@partner.example"),
        ),
        orderings=("pattern", "created_at"),
        search=("pattern", "comments"),
        put=lambda e: {"pattern": e["pattern"], "pattern_type": e["pattern_type"]},
    ),
    Resource(
        path="block_senders",
        id_param="pattern_id",
        make=_blocked_sender,
        patch={"pattern": "patched@bad.example", "comments": "Patched by the contract suite"},
        required=("is_regex", "pattern", "pattern_type"),
        filters=(
            equals("pattern_type", "IP", "EMAIL"),
            equals("pattern", "spam1.example.net", "nobody@bad.example"),
        ),
        orderings=("pattern", "created_at"),
        search=("pattern", "comments"),
        put=lambda e: {
            "pattern": e["pattern"],
            "pattern_type": e["pattern_type"],
            "is_regex": e["is_regex"],
        },
    ),
    Resource(
        path="domains",
        id_param="domain_id",
        make=_domain,
        patch={
            "lookback_hops": 7,
            "transport": "smtp://patched.corp.example",
            "require_tls_inbound": True,
            "regions": ["US", "DE"],
        },
        required=(
            "allowed_delivery_modes",
            "domain",
            "drop_dispositions",
            "ip_restrictions",
            "regions",
        ),
        filters=(
            Filter(
                "allowed_delivery_mode", "DIRECT", "RETRO_SCAN", _includes("allowed_delivery_modes")
            ),
            Filter(
                "active_delivery_mode",
                "DIRECT",
                "BCC",
                lambda entry, value: entry["allowed_delivery_modes"][0] == value,
            ),
            Filter(
                "domain",
                ["corp1.example.com", "corp3.example.com"],
                ["absent.example.com"],
                _one_of("domain"),
            ),
            equals("integration_id", INTEGRATION_A, INTEGRATION_B),
            equals("status", "PENDING", "ACTIVE"),
        ),
        orderings=("domain", "created_at"),
        search=("domain", "transport"),
        put=lambda _e: {
            "allowed_delivery_modes": ["BCC"],
            "drop_dispositions": [],
            "ip_restrictions": [],
            "lookback_hops": 2,
            "regions": ["AU"],
        },
        invalid=("domain", "not a domain"),
        volatile=("emails_processed",),
        strict=True,
        note=None,
    ),
    Resource(
        path="impersonation_registry",
        id_param="impersonation_registry_id",
        make=_impersonation,
        patch={"name": "Patched Person", "comments": "Patched by the contract suite"},
        required=("email", "is_email_regex", "name"),
        filters=(equals("provenance", "SNOOPY-OFFICE_365", "SNOOPY-GOOGLE_DIRECTORY"),),
        orderings=("name", "email", "created_at"),
        search=("name", "email", "comments"),
        batch="none",
        invalid=("email", "(unclosed"),
    ),
    Resource(
        path="sending_domain_restrictions",
        id_param="sending_domain_restriction_id",
        make=_sending_restriction,
        patch={"exclude": ["mx.tls0.example.com"], "comments": "Patched by the contract suite"},
        required=("domain", "exclude"),
        orderings=("domain", "created_at"),
        search=("domain", "comments"),
        batch="deletes",
        invalid=("domain", "(unclosed"),
    ),
    Resource(
        path="trusted_domains",
        id_param="trusted_domain_id",
        make=_trusted_domain,
        patch={"is_similarity": False, "comments": "Patched by the contract suite"},
        required=("is_recent", "is_regex", "is_similarity", "pattern"),
        filters=(
            flag("is_recent"),
            flag("is_similarity"),
            equals("pattern", "partner1.example.com", "partner9.example.com"),
        ),
        orderings=("pattern", "created_at"),
        search=("pattern", "comments"),
        put=lambda e: {
            "pattern": e["pattern"],
            "is_regex": e["is_regex"],
            "is_recent": False,
            "is_similarity": False,
        },
    ),
    Resource(
        path="content_policies",
        id_param="policy_id",
        make=_content_policy,
        patch={"enabled": True, "notes": "Patched by the contract suite"},
        required=("enabled", "name", "pattern", "targets"),
        filters=(flag("enabled"), equals("name", "Policy 1", "Policy 99")),
        orderings=("name", "created_at"),
        search=("name", "pattern", "notes"),
        put=lambda e: {
            "name": e["name"],
            "pattern": e["pattern"],
            "targets": e["targets"],
            "enabled": e["enabled"],
        },
        note="notes",
    ),
    Resource(
        path="url_ignore_patterns",
        id_param="pattern_id",
        make=_url_ignore_pattern,
        patch={"comments": "Patched by the contract suite"},
        required=("pattern",),
        put=lambda e: {"pattern": e["pattern"]},
        strict=True,
    ),
)

BY_PATH = {r.path: r for r in RESOURCES}
FULL_BATCH = tuple(r for r in RESOURCES if r.batch == "full")


def params(resources: tuple[Resource, ...] = RESOURCES) -> list[Any]:
    return [pytest.param(r, id=r.path) for r in resources]


ARRAYS = ("deletes", "patches", "puts", "posts")


def batch(**arrays: list[Any]) -> dict[str, list[Any]]:
    return {name: arrays.get(name, []) for name in ARRAYS}


def put_item(resource: Resource, entry: Entry) -> Entry:
    assert resource.put is not None
    return {**resource.put(entry), "id": entry["id"]}
