"""Normalisation of addresses, display names, domains and IP addresses."""

from __future__ import annotations

import random

import pytest

from mailpolicy.engine.parse import (
    classify_unknown,
    ipv4_mapped,
    normalize_domain,
    normalize_name,
    normalize_path,
    parse_ip,
    parse_mailbox,
    parse_mailbox_slow,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("Jane@Example.COM", "jane@example.com", id="lowercased"),
        pytest.param("<jane@example.com>", "jane@example.com", id="angle-brackets"),
        pytest.param(" <jane@example.com> ", "jane@example.com", id="surrounding-space"),
        pytest.param("jane@example.com.", "jane@example.com", id="trailing-dot"),
        pytest.param("", None, id="bounce-empty"),
        pytest.param("<>", None, id="bounce-null-path"),
        pytest.param("postmaster", None, id="no-domain"),
        pytest.param("@example.com", None, id="no-local-part"),
        pytest.param("jane@", None, id="empty-domain"),
        pytest.param('"a@b"@example.com', '"a@b"@example.com', id="quoted-local-part"),
    ],
)
def test_normalize_path(value: str, expected: str | None) -> None:
    assert normalize_path(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("jane@example.com", ("", "jane@example.com"), id="bare"),
        pytest.param(
            '"Jane Doe" <Jane@Example.com>', ("Jane Doe", "jane@example.com"), id="quoted"
        ),
        pytest.param("Jane Doe <jane@example.com>", ("Jane Doe", "jane@example.com"), id="plain"),
        pytest.param(
            '"chief@corp.com" <x@evil.com>', ("chief@corp.com", "x@evil.com"), id="address-as-name"
        ),
        pytest.param("jane@example.com (Jane)", ("Jane", "jane@example.com"), id="comment"),
        pytest.param(
            "=?utf-8?q?Jane_D=C3=B6e?= <jane@example.com>",
            ("Jane Döe", "jane@example.com"),
            id="encoded-word",
        ),
        pytest.param(
            "=?utf-8?b?AAAAA?= <jane@example.com>",
            ("=?utf-8?b?AAAAA?=", "jane@example.com"),
            id="broken-base64-word",
        ),
        pytest.param(
            "=?no-such-charset?q?Jane?= <jane@example.com>",
            ("=?no-such-charset?q?Jane?=", "jane@example.com"),
            id="unknown-charset-word",
        ),
        pytest.param('"Jane Doe" <>', ("Jane Doe", None), id="empty-address"),
        pytest.param("not an address", ("", None), id="garbage"),
        pytest.param("a@b@c.com", ("", None), id="two-at-signs"),
        pytest.param("Undisclosed recipients:;", ("", None), id="empty-group"),
        pytest.param("", ("", None), id="empty"),
        pytest.param("   ", ("", None), id="blank"),
    ],
)
def test_parse_mailbox(value: str, expected: tuple[str, str | None]) -> None:
    assert parse_mailbox(value) == expected


def test_fast_mailbox_parsing_agrees_with_parseaddr() -> None:
    """The shortcut for common header shapes must read every header as parseaddr does."""
    rnd = random.Random(20240611)
    pieces = [
        "jane", "Doe", " ", "  ", '"', "<", ">", "@", ".", "..", "x.com", "-", "_", "+",
        "\\", "\t", "ä", "(", ")", ",", ":", ";", "[", "]", "=?utf-8?q?a?=", "@x", "a@b.c",
        "A@B.C.", "<>", "!", "#",
    ]  # fmt: skip
    for _ in range(100_000):
        value = "".join(rnd.choice(pieces) for _ in range(rnd.randrange(1, 8)))
        text = value.strip()
        expected = parse_mailbox_slow(text) if text else ("", None)
        assert parse_mailbox(value) == expected, value


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("Jane Doe", "jane doe", id="casefold"),
        pytest.param("  JANE   doe ", "jane doe", id="whitespace-runs"),
        pytest.param("Jane\tDoe", "jane doe", id="tab"),
        pytest.param("\uff2a\uff41\uff4e\uff45 \uff24\uff4f\uff45", "jane doe", id="fullwidth"),
        pytest.param("Jane\u200b Doe", "jane doe", id="zero-width-space"),
        pytest.param("Jane\u00a0Doe", "jane doe", id="no-break-space"),
        pytest.param("Straße", "strasse", id="casefold-not-lower"),
    ],
)
def test_normalize_name(name: str, expected: str) -> None:
    assert normalize_name(name) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("Example.COM", "example.com", id="case"),
        pytest.param("@example.com", "example.com", id="leading-at"),
        pytest.param(".example.com.", "example.com", id="dots"),
    ],
)
def test_normalize_domain(value: str, expected: str) -> None:
    assert normalize_domain(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("192.0.2.1", (4, 0xC0000201), id="ipv4"),
        pytest.param(" 192.0.2.1 ", (4, 0xC0000201), id="ipv4-space"),
        pytest.param("2001:db8::1", (6, 0x20010DB8000000000000000000000001), id="ipv6"),
        pytest.param("2001:DB8::1", (6, 0x20010DB8000000000000000000000001), id="ipv6-upper"),
        pytest.param("fe80::1%eth0", (6, 0xFE800000000000000000000000000001), id="ipv6-scoped"),
        pytest.param("010.0.0.1", None, id="leading-zero"),
        pytest.param("192.0.2", None, id="short"),
        pytest.param("mail.example.com", None, id="hostname"),
        pytest.param("", None, id="empty"),
        pytest.param("\x00", None, id="nul"),
        pytest.param("1.2.3.\udcff", None, id="surrogate"),
    ],
)
def test_parse_ip(value: str, expected: tuple[int, int] | None) -> None:
    assert parse_ip(value) == expected


def test_ipv4_mapped() -> None:
    parsed = parse_ip("::ffff:192.0.2.1")
    assert parsed is not None
    assert ipv4_mapped(parsed[1]) == 0xC0000201
    other = parse_ip("2001:db8::1")
    assert other is not None
    assert ipv4_mapped(other[1]) is None


@pytest.mark.parametrize(
    ("pattern", "kind"),
    [
        pytest.param("jane@example.com", "EMAIL", id="email"),
        pytest.param("192.0.2.1", "IP", id="ipv4"),
        pytest.param("192.0.2.0/24", "IP", id="ipv4-cidr"),
        pytest.param("2001:db8::/32", "IP", id="ipv6-cidr"),
        pytest.param("example.com", "DOMAIN", id="domain"),
    ],
)
def test_classify_unknown(pattern: str, kind: str) -> None:
    assert classify_unknown(pattern) == kind
