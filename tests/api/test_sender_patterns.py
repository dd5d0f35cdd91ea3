"""Sender patterns (allow policies and blocked senders): checked by type, regexes by RE2, and no
exact duplicates."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, assert_error
from tests.support.resources import BY_PATH, Resource

SENDER_RESOURCES = [pytest.param(BY_PATH[p], id=p) for p in ("allow_policies", "block_senders")]

ACCEPTED = [
    pytest.param("EMAIL", "user@example.com", id="email"),
    pytest.param("EMAIL", "first.last+tag@mail.example.co.uk", id="email-subaddress"),
    pytest.param("DOMAIN", "example.com", id="domain"),
    pytest.param("DOMAIN", "mail.example.co.uk", id="subdomain"),
    pytest.param("IP", "8.8.8.8", id="ipv4"),
    pytest.param("IP", "2606:4700:4700::1111", id="ipv6"),
    pytest.param("IP", "8.8.8.0/24", id="cidr-v4"),
    pytest.param("IP", "2606:4700::/32", id="cidr-v6"),
    pytest.param("IP", "192.0.2.10", id="documentation-192.0.2"),
    pytest.param("IP", "198.51.100.0/24", id="documentation-198.51.100"),
    pytest.param("IP", "203.0.113.7", id="documentation-203.0.113"),
    pytest.param("IP", "2001:db8::/32", id="documentation-2001-db8"),
    pytest.param("IP", "2001:db8:1::5", id="documentation-2001-db8-host"),
    # IPv6 forms of public IPv4 senders are judged by the IPv4 address they carry.
    pytest.param("IP", "::ffff:203.0.113.7", id="ipv4-mapped-public"),
    pytest.param("IP", "64:ff9b::808:808", id="nat64-public"),
    pytest.param("IP", "2002:808:808::/48", id="6to4-public"),
]

REFUSED = [
    pytest.param("EMAIL", "not-an-email", id="email-no-at"),
    pytest.param("EMAIL", "user@", id="email-no-domain"),
    pytest.param("EMAIL", "@example.com", id="email-no-local-part"),
    pytest.param("EMAIL", "example.com", id="email-given-a-domain"),
    pytest.param("DOMAIN", "localhost", id="domain-single-label"),
    pytest.param("DOMAIN", "-bad.example.com", id="domain-leading-hyphen"),
    pytest.param("DOMAIN", "exa mple.com", id="domain-space"),
    pytest.param("DOMAIN", "user@example.com", id="domain-given-an-email"),
    pytest.param("DOMAIN", "192.0.2.1", id="domain-given-an-ip"),
    pytest.param("IP", "not-an-ip", id="ip-garbage"),
    pytest.param("IP", "256.1.1.1", id="ip-out-of-range"),
    pytest.param("IP", "10.1.2.3", id="private-10"),
    pytest.param("IP", "10.0.0.0/8", id="private-10-cidr"),
    pytest.param("IP", "192.168.1.1", id="private-192.168"),
    pytest.param("IP", "127.0.0.1", id="loopback-v4"),
    pytest.param("IP", "::1", id="loopback-v6"),
    pytest.param("IP", "169.254.10.1", id="link-local-v4"),
    pytest.param("IP", "fe80::1", id="link-local-v6"),
    pytest.param("IP", "224.0.0.1", id="multicast-v4"),
    pytest.param("IP", "ff02::1", id="multicast-v6"),
    pytest.param("IP", "0.0.0.0", id="unspecified-v4"),  # noqa: S104 - a pattern, not a bind address
    pytest.param("IP", "::", id="unspecified-v6"),
    pytest.param("IP", "fd00::1", id="unique-local-fd"),
    pytest.param("IP", "fc00::/7", id="unique-local-cidr"),
    pytest.param("IP", "8.8.8.1/24", id="host-bits-v4"),
    pytest.param("IP", "2606:4700::1/32", id="host-bits-v6"),
    # IPv6 forms that carry a private or loopback IPv4 address are that address.
    pytest.param("IP", "::ffff:10.0.0.1", id="ipv4-mapped-private"),
    pytest.param("IP", "::10.0.0.1", id="ipv4-compatible-private"),
    pytest.param("IP", "::127.0.0.1", id="ipv4-compatible-loopback"),
    pytest.param("IP", "64:ff9b::10.0.0.1", id="nat64-private"),
    pytest.param("IP", "64:ff9b::7f00:1", id="nat64-loopback"),
    pytest.param("IP", "2002:0a00:0001::/48", id="6to4-private"),
    pytest.param("IP", "2002:c0a8::/32", id="6to4-private-block"),
    pytest.param("IP", "2002::/16", id="6to4-everything"),
]

REGEXES_REFUSED = [
    pytest.param("(a", "not a valid RE2", id="unbalanced"),
    pytest.param("x{1001}", "not a valid RE2", id="repeat-over-1000"),
    # Valid RE2, but its program is over the size cap: one pattern must not dominate the set.
    pytest.param("[a-z]{1000}", "too complex", id="over-program-size-cap"),
]


def sender(resource: Resource, pattern_type: str, pattern: str, **extra: Any) -> dict[str, Any]:
    body = {**resource.make(0), "pattern_type": pattern_type, "pattern": pattern, "is_regex": False}
    return {**body, **extra}


@pytest.mark.parametrize("resource", SENDER_RESOURCES)
@pytest.mark.parametrize(("pattern_type", "pattern"), ACCEPTED)
def test_pattern_accepted(api: Api, resource: Resource, pattern_type: str, pattern: str) -> None:
    created = api.create(resource.path, sender(resource, pattern_type, pattern))
    assert (created["pattern_type"], created["pattern"]) == (pattern_type, pattern)


@pytest.mark.parametrize("resource", SENDER_RESOURCES)
@pytest.mark.parametrize(("pattern_type", "pattern"), REFUSED)
def test_pattern_refused(api: Api, resource: Resource, pattern_type: str, pattern: str) -> None:
    response = api.post(resource.path, json=sender(resource, pattern_type, pattern))
    assert_error(response, 400, "/pattern")
    assert api.get(resource.path).json()["result"] == []


@pytest.mark.parametrize("resource", SENDER_RESOURCES)
def test_carried_ipv4_is_named(api: Api, resource: Resource) -> None:
    response = api.post(resource.path, json=sender(resource, "IP", "64:ff9b::10.0.0.1"))
    body = assert_error(response, 400, "/pattern", contains="NAT64 form of IPv4 10.0.0.1")
    assert "private range 10.0.0.0/8" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("pattern_type", "sent", "stored"),
    [
        pytest.param("EMAIL", "  user@example.com\t", "user@example.com", id="email"),
        pytest.param("DOMAIN", " example.com ", "example.com", id="domain"),
        pytest.param("IP", " 203.0.113.7\n", "203.0.113.7", id="ip"),
        pytest.param("IP", " 2001:db8::/32 ", "2001:db8::/32", id="ipv6-cidr"),
    ],
)
@pytest.mark.parametrize("resource", SENDER_RESOURCES)
def test_surrounding_whitespace_is_trimmed(
    api: Api, resource: Resource, pattern_type: str, sent: str, stored: str
) -> None:
    created = api.create(resource.path, sender(resource, pattern_type, sent))
    assert created["pattern"] == stored
    # Trimmed the same way on PATCH, and the trimmed pattern is the entry's identity.
    other = api.create(resource.path, sender(resource, "EMAIL", "other@example.com"))
    patched = api.patch(
        resource.path, other["id"], json={"pattern_type": pattern_type, "pattern": sent}
    )
    assert_error(patched, 409, contains=created["id"])
    blank = api.patch(resource.path, other["id"], json={"pattern": "   "})
    assert_error(blank, 400, "/pattern")


@pytest.mark.parametrize(
    ("pattern_type", "first", "second"),
    [
        pytest.param("DOMAIN", "example.com", "example.com.", id="trailing-dot"),
        pytest.param("DOMAIN", "Example.COM", "example.com.", id="case-and-dot"),
        pytest.param("IP", "203.0.113.7", "203.0.113.7/32", id="host-and-slash-32"),
        pytest.param("IP", "2001:db8::1", "2001:0db8:0:0::1", id="ipv6-spellings"),
    ],
)
@pytest.mark.parametrize("resource", SENDER_RESOURCES)
def test_what_matches_the_same_senders_is_a_duplicate(
    api: Api, resource: Resource, pattern_type: str, first: str, second: str
) -> None:
    """The 409 rule uses the policy engine's normalisers: two patterns it treats as one are
    one entry."""
    created = api.create(resource.path, sender(resource, pattern_type, first))
    response = api.post(resource.path, json=sender(resource, pattern_type, second))
    assert_error(response, 409, contains=created["id"])


@pytest.mark.parametrize("resource", SENDER_RESOURCES)
@pytest.mark.parametrize(("pattern_type", "pattern"), REFUSED[:3] + REFUSED[10:14])
def test_pattern_refused_on_patch(
    api: Api, resource: Resource, pattern_type: str, pattern: str
) -> None:
    entry = api.create(resource.path, sender(resource, "EMAIL", "ok@example.com"))
    response = api.patch(
        resource.path, entry["id"], json={"pattern_type": pattern_type, "pattern": pattern}
    )
    assert_error(response, 400, "/pattern")
    assert api.get(resource.path, entry["id"]).json()["result"] == entry


@pytest.mark.parametrize("resource", SENDER_RESOURCES)
def test_changing_only_the_type_rechecks_the_pattern(api: Api, resource: Resource) -> None:
    entry = api.create(resource.path, sender(resource, "EMAIL", "ok@example.com"))
    assert_error(
        api.patch(resource.path, entry["id"], json={"pattern_type": "IP"}), 400, "/pattern"
    )
    assert api.get(resource.path, entry["id"]).json()["result"] == entry


@pytest.mark.parametrize("resource", SENDER_RESOURCES)
def test_unknown_pattern_type_refused(api: Api, resource: Resource) -> None:
    response = api.post(resource.path, json=sender(resource, "UNKNOWN", "user@example.com"))
    assert_error(response, 400, "/pattern_type", contains="UNKNOWN")
    entry = api.create(resource.path, sender(resource, "EMAIL", "user@example.com"))
    response = api.patch(resource.path, entry["id"], json={"pattern_type": "UNKNOWN"})
    assert_error(response, 400, "/pattern_type")
    assert api.get(resource.path, entry["id"]).json()["result"] == entry


@pytest.mark.parametrize("resource", SENDER_RESOURCES)
def test_regex_patterns_compiled_by_re2(api: Api, resource: Resource) -> None:
    body = sender(resource, "EMAIL", r".*@(mail\.)?example\.com", is_regex=True)
    created = api.create(resource.path, body)
    assert created["is_regex"] is True
    assert created["pattern"] == body["pattern"]


@pytest.mark.parametrize("resource", SENDER_RESOURCES)
@pytest.mark.parametrize(("pattern", "message"), REGEXES_REFUSED)
def test_regex_refused(api: Api, resource: Resource, pattern: str, message: str) -> None:
    response = api.post(resource.path, json=sender(resource, "EMAIL", pattern, is_regex=True))
    assert_error(response, 400, "/pattern", contains=message)
    entry = api.create(resource.path, sender(resource, "EMAIL", "ok@example.com"))
    response = api.patch(resource.path, entry["id"], json={"is_regex": True, "pattern": pattern})
    assert_error(response, 400, "/pattern", contains=message)
    assert api.get(resource.path, entry["id"]).json()["result"] == entry


@pytest.mark.parametrize("resource", SENDER_RESOURCES)
def test_exact_duplicate_is_409(api: Api, resource: Resource) -> None:
    first = api.create(resource.path, sender(resource, "EMAIL", "dup@example.com"))
    response = api.post(resource.path, json=sender(resource, "EMAIL", "dup@example.com"))
    assert_error(response, 409, contains=first["id"])
    # Addresses compare case-insensitively: this is the same sender.
    response = api.post(resource.path, json=sender(resource, "EMAIL", "DUP@Example.COM"))
    assert_error(response, 409)
    assert [e["id"] for e in api.get(resource.path).json()["result"]] == [first["id"]]


@pytest.mark.parametrize("resource", SENDER_RESOURCES)
def test_regex_twin_is_not_a_duplicate(api: Api, resource: Resource) -> None:
    api.create(resource.path, sender(resource, "EMAIL", "twin@example.com"))
    api.create(resource.path, sender(resource, "EMAIL", "twin@example.com", is_regex=True))
    assert api.get(resource.path).json()["result_info"]["total_count"] == 2


@pytest.mark.parametrize("resource", SENDER_RESOURCES)
def test_patch_into_a_duplicate_is_409(api: Api, resource: Resource) -> None:
    api.create(resource.path, sender(resource, "EMAIL", "taken@example.com"))
    other = api.create(resource.path, sender(resource, "EMAIL", "free@example.com"))
    response = api.patch(resource.path, other["id"], json={"pattern": "taken@example.com"})
    assert_error(response, 409)
    assert api.get(resource.path, other["id"]).json()["result"] == other


@pytest.mark.parametrize("resource", SENDER_RESOURCES)
def test_patch_to_itself_is_not_a_duplicate(api: Api, resource: Resource) -> None:
    entry = api.create(resource.path, sender(resource, "EMAIL", "same@example.com"))
    response = api.patch(resource.path, entry["id"], json={"pattern": "same@example.com"})
    assert response.status_code == 200, response.text
