"""Lookup structures whose cost depends on the message, not on the number of entries.

* exact addresses and domains: hash maps; a domain lookup walks the labels of the field's
  domain (``mail.example.com``, ``example.com``, ``com``), so it costs O(labels);
* IP addresses and CIDR blocks: per address family, one hash map per prefix length that
  occurs, so a lookup probes at most 33 (IPv4) or 129 (IPv6) maps whatever the entry count;
* regular expressions: every pattern of one list compiled into one RE2 set, so a field is
  matched against all of them in a single pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import re2

from mailpolicy.engine.regex import set_options

T = TypeVar("T")

# (bits shifted off, network -> entries), longest prefix first.
IpTables = tuple[tuple[int, dict[int, tuple[T, ...]]], ...]


@dataclass(frozen=True, slots=True, eq=False)
class RegexSet(Generic[T]):
    """Patterns compiled into as few RE2 sets as RE2's memory limit allows (normally one)."""

    sets: tuple[tuple[Any, tuple[tuple[T, ...], ...]], ...]

    def match(self, text: str) -> list[T]:
        found: list[T] = []
        for compiled, entries in self.sets:
            indexes = compiled.Match(text)
            if indexes:
                for index in indexes:
                    found.extend(entries[index])
        return found


def _compile_set(patterns: Sequence[str]) -> Any:
    compiled = re2.Set.FullMatchSet(set_options(len(patterns)))
    for pattern in patterns:
        compiled.Add(pattern)
    compiled.Compile()
    return compiled


def build_regex_set(
    by_pattern: dict[str, list[T]],
) -> tuple[RegexSet[T] | None, list[tuple[str, str]]]:
    """Compile ``pattern -> entries`` into a set; also return ``(pattern, reason)`` rejects."""
    rejected: list[tuple[str, str]] = []
    groups: list[tuple[Any, tuple[tuple[T, ...], ...]]] = []

    def compile_group(patterns: list[str]) -> None:
        try:
            compiled = _compile_set(patterns)
        except re2.error:
            # One set can exceed RE2's memory budget even when every pattern fits alone;
            # halving keeps every pattern active instead of dropping the whole list.
            if len(patterns) == 1:
                rejected.append((patterns[0], "RE2 could not compile the pattern"))
                return
            middle = len(patterns) // 2
            compile_group(patterns[:middle])
            compile_group(patterns[middle:])
            return
        groups.append((compiled, tuple(tuple(by_pattern[p]) for p in patterns)))

    if by_pattern:
        compile_group(list(by_pattern))
    if not groups:
        return None, rejected
    return RegexSet(tuple(groups)), rejected


@dataclass(frozen=True, slots=True, eq=False)
class PatternIndex(Generic[T]):
    """Every entry of one list, by the kind of pattern it has."""

    emails: dict[str, tuple[T, ...]]
    domains: dict[str, tuple[T, ...]]
    ipv4: IpTables[T]
    ipv6: IpTables[T]
    regex: RegexSet[T] | None

    def is_empty(self) -> bool:
        return not (self.emails or self.domains or self.ipv4 or self.ipv6 or self.regex)

    def domain_hits(self, domain: str, found: list[T]) -> None:
        """Append entries whose domain pattern is ``domain`` or one of its parents."""
        domains = self.domains
        if not domains:
            return
        while True:
            hit = domains.get(domain)
            if hit is not None:
                found.extend(hit)
            dot = domain.find(".")
            if dot < 0:
                return
            domain = domain[dot + 1 :]

    def address_hits(self, address: str) -> list[T]:
        """Entries matching a normalised address by exact address, domain or regex."""
        found: list[T] = []
        if self.emails:
            hit = self.emails.get(address)
            if hit is not None:
                found.extend(hit)
        self.domain_hits(address[address.rfind("@") + 1 :], found)
        if self.regex is not None:
            found.extend(self.regex.match(address))
        return found

    def ip_hits(self, version: int, value: int) -> list[T]:
        """Entries whose address or network contains the IP address ``value``."""
        found: list[T] = []
        for shift, table in self.ipv4 if version == 4 else self.ipv6:
            hit = table.get(value >> shift)
            if hit is not None:
                found.extend(hit)
        return found


class PatternIndexBuilder(Generic[T]):
    """Mutable accumulator for a :class:`PatternIndex`; build() freezes it."""

    __slots__ = ("_domains", "_emails", "_ip", "_regex")

    def __init__(self) -> None:
        self._emails: dict[str, list[T]] = {}
        self._domains: dict[str, list[T]] = {}
        self._ip: dict[int, dict[int, dict[int, list[T]]]] = {4: {}, 6: {}}
        self._regex: dict[str, list[T]] = {}

    def add_email(self, address: str, entry: T) -> None:
        self._emails.setdefault(address, []).append(entry)

    def add_domain(self, domain: str, entry: T) -> None:
        self._domains.setdefault(domain, []).append(entry)

    def add_network(self, version: int, network: int, prefixlen: int, entry: T) -> None:
        bits = 32 if version == 4 else 128
        shift = bits - prefixlen
        table = self._ip[version].setdefault(shift, {})
        table.setdefault(network >> shift, []).append(entry)

    def add_regex(self, pattern: str, entry: T) -> None:
        self._regex.setdefault(pattern, []).append(entry)

    def build(self) -> tuple[PatternIndex[T], list[tuple[T, str]]]:
        """The frozen index, and ``(entry, reason)`` for regexes RE2 would not take."""
        regex, rejected_patterns = build_regex_set(self._regex)
        rejected = [
            (entry, reason)
            for pattern, reason in rejected_patterns
            for entry in self._regex[pattern]
        ]

        def tables(version: int) -> IpTables[T]:
            by_shift = self._ip[version]
            return tuple(
                (shift, {net: tuple(entries) for net, entries in by_shift[shift].items()})
                for shift in sorted(by_shift)
            )

        index = PatternIndex(
            {key: tuple(entries) for key, entries in self._emails.items()},
            {key: tuple(entries) for key, entries in self._domains.items()},
            tables(4),
            tables(6),
            regex,
        )
        return index, rejected
