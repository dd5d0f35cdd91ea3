"""The lookup structures on their own: IP networks by prefix length, domains by label."""

from __future__ import annotations

import pytest

from mailpolicy.engine.index import IpIndex, PatternIndexBuilder, build_regex_set, domain_lookup
from mailpolicy.engine.parse import parse_ip, parse_network


def _ipv4_index(*networks: str) -> IpIndex[str]:
    builder: PatternIndexBuilder[str] = PatternIndexBuilder()
    for network in networks:
        parsed = parse_network(network)
        assert parsed is not None
        version, number, prefixlen = parsed
        builder.add_network(version, number, prefixlen, network)
    return builder.ip_index(4)


def _lookup(index: IpIndex[str], address: str) -> set[str]:
    parsed = parse_ip(address)
    assert parsed is not None
    return set(index.lookup(parsed[1]))


NESTED = ("10.0.0.0/8", "10.1.0.0/16", "10.1.2.3", "10.1.2.0/24", "10.2.0.0/16")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param(
            "10.1.2.3", {"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3"}, id="all"
        ),
        pytest.param("10.1.2.4", {"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24"}, id="three"),
        pytest.param("10.2.9.9", {"10.0.0.0/8", "10.2.0.0/16"}, id="sibling"),
        pytest.param("10.255.255.255", {"10.0.0.0/8"}, id="last-address"),
        pytest.param("11.0.0.0", set(), id="just-after"),
        pytest.param("9.255.255.255", set(), id="just-before"),
    ],
)
def test_nested_networks(address: str, expected: set[str]) -> None:
    assert _lookup(_ipv4_index(*NESTED), address) == expected


def test_ranges_merge_overlapping_and_adjacent_blocks() -> None:
    index = _ipv4_index("192.0.2.0/25", "192.0.2.128/25", "192.0.2.64/26", "198.51.100.0/24")
    assert len(index.starts) == 2
    assert _lookup(index, "192.0.2.200") == {"192.0.2.128/25"}
    assert _lookup(index, "192.0.2.70") == {"192.0.2.0/25", "192.0.2.64/26"}
    assert _lookup(index, "198.51.99.255") == set()


def test_probes_only_prefix_lengths_in_use() -> None:
    index = _ipv4_index(*NESTED)
    assert sorted(32 - shift for shift, _ in index.tables) == [8, 16, 24, 32]


def test_empty_family_is_falsy() -> None:
    builder: PatternIndexBuilder[str] = PatternIndexBuilder()
    assert not builder.ip_index(6)
    assert builder.ip_index(6).lookup(1) == ()


def test_ipv6_networks() -> None:
    builder: PatternIndexBuilder[str] = PatternIndexBuilder()
    for network in ("2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::1"):
        parsed = parse_network(network)
        assert parsed is not None
        version, number, prefixlen = parsed
        builder.add_network(version, number, prefixlen, network)
    index = builder.ip_index(6)
    address = parse_ip("2001:db8:1::1")
    assert address is not None
    assert set(index.lookup(address[1])) == {"2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::1"}
    other = parse_ip("2001:db9::1")
    assert other is not None
    assert index.lookup(other[1]) == ()


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        pytest.param("example.com", ("example",), id="exact"),
        pytest.param("a.b.example.com", ("example",), id="deep-subdomain"),
        pytest.param("mail.example.com", ("mail", "example"), id="both-levels"),
        pytest.param("badexample.com", (), id="lookalike"),
        pytest.param("example.com.evil.net", (), id="prefix"),
        pytest.param("com", (), id="parent-only"),
    ],
)
def test_domain_lookup_walks_labels(domain: str, expected: tuple[str, ...]) -> None:
    table = {"example.com": ("example",), "mail.example.com": ("mail",)}
    assert domain_lookup(table, domain) == expected


@pytest.mark.parametrize(
    ("patterns", "texts", "expected"),
    [
        pytest.param([r".*@evil\.net"], ["a@good.example", "203.0.113.5"], False, id="no-match"),
        pytest.param([r".*@evil\.net"], ["a@good.example", "x@evil.net"], True, id="second-field"),
        pytest.param([r"^x@evil\.net$"], ["a@good.example", "x@evil.net"], True, id="own-anchors"),
        pytest.param([r"evil\.net"], ["mx.evil.net"], False, id="whole-field-only"),
        pytest.param([r"a[^x]*b"], ["a1", "2b"], True, id="may-over-match-across-lines"),
        pytest.param(
            [r"\Ax@evil\.net\z"], ["a@good.example"], True, id="text-anchors-not-screened"
        ),
        pytest.param([r"(?-m)^x$"], ["y"], True, id="multiline-off-not-screened"),
        pytest.param([r"x"], ["a\nb", "c"], True, id="newline-in-field-not-screened"),
        pytest.param([r"x"], [], False, id="no-fields"),
    ],
)
def test_screen_never_misses_a_field_match(
    patterns: list[str], texts: list[str], expected: bool
) -> None:
    # The screen may say "maybe" when nothing matches (the per-field pass then decides), but
    # it must never say "no" when some field matches in full.
    regex_set, rejected = build_regex_set({p: [p] for p in patterns})
    assert rejected == []
    assert regex_set is not None
    assert regex_set.may_match_any(texts) is expected
    if any(regex_set.match(text) for text in texts):
        assert regex_set.may_match_any(texts)
