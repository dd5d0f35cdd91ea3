"""Lookup structures whose cost depends on the message, not on the number of entries.

* exact addresses and domains: hash maps; a domain lookup walks the labels of the field's
  domain (``mail.example.com``, ``example.com``, ``com``), so it costs O(labels);
* IP addresses and CIDR blocks: per address family, one hash map per prefix length that
  occurs, keyed by the network number; a lookup probes each of those maps once, so it
  costs O(prefix lengths) (at most 33 for IPv4, 129 for IPv6) whatever the entry count;
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

# (bits shifted off, network number -> entries), longest prefix first.
IpTables = tuple[tuple[int, dict[int, tuple[T, ...]]], ...]


@dataclass(frozen=True, slots=True, eq=False)
class RegexSet(Generic[T]):
    """Patterns compiled into as few RE2 sets as RE2's memory limit allows (normally one)."""

    sets: tuple[tuple[Any, tuple[tuple[T, ...], ...]], ...]

    def match(self, text: str) -> tuple[T, ...]:
        """Entries whose pattern matches the whole of ``text``."""
        found: tuple[T, ...] = ()
        for compiled, entries in self.sets:
            indexes = compiled.Match(text)
            if indexes:
                for index in indexes:
                    found += entries[index]
        return found


def _compile_set(patterns: Sequence[str]) -> Any:
    compiled = re2.Set.FullMatchSet(set_options(len(patterns)))
    for pattern in patterns:
        compiled.Add(pattern)
    compiled.Compile()
    return compiled


def build_regex_set(
    by_pattern: dict[str, list[T]],
) -> tuple[RegexSet[T] | None, list[tuple[T, str]]]:
    """Compile ``pattern -> entries`` into a set; also return ``(entry, reason)`` rejects."""
    rejected: list[tuple[T, str]] = []
    groups: list[tuple[Any, tuple[tuple[T, ...], ...]]] = []

    def compile_group(patterns: list[str]) -> None:
        try:
            compiled = _compile_set(patterns)
        except re2.error:
            # One set can exceed RE2's memory budget even when every pattern fits alone;
            # halving keeps every pattern active instead of dropping the whole list.
            if len(patterns) == 1:
                rejected.extend(
                    (entry, "RE2 could not compile the pattern")
                    for entry in by_pattern[patterns[0]]
                )
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


def ip_lookup(tables: IpTables[T], value: int) -> tuple[T, ...]:
    """Entries whose address or network contains the address ``value``."""
    found: tuple[T, ...] = ()
    for shift, table in tables:
        hit = table.get(value >> shift)
        if hit is not None:
            found += hit
    return found


def domain_lookup(table: dict[str, tuple[T, ...]], domain: str) -> tuple[T, ...]:
    """Entries stored under ``domain`` or any parent of it."""
    found: tuple[T, ...] = ()
    while True:
        hit = table.get(domain)
        if hit is not None:
            found += hit
        dot = domain.find(".")
        if dot < 0:
            return found
        domain = domain[dot + 1 :]


class PatternIndexBuilder(Generic[T]):
    """Accumulates the entries of one list by pattern kind, then freezes them."""

    __slots__ = ("domains", "emails", "ip", "regex")

    def __init__(self) -> None:
        self.emails: dict[str, list[T]] = {}
        self.domains: dict[str, list[T]] = {}
        self.ip: dict[int, dict[int, dict[int, list[T]]]] = {4: {}, 6: {}}
        self.regex: dict[str, list[T]] = {}

    def add_email(self, address: str, entry: T) -> None:
        self.emails.setdefault(address, []).append(entry)

    def add_domain(self, domain: str, entry: T) -> None:
        self.domains.setdefault(domain, []).append(entry)

    def add_network(self, version: int, network: int, prefixlen: int, entry: T) -> None:
        shift = (32 if version == 4 else 128) - prefixlen
        table = self.ip[version].setdefault(shift, {})
        table.setdefault(network >> shift, []).append(entry)

    def add_regex(self, pattern: str, entry: T) -> None:
        self.regex.setdefault(pattern, []).append(entry)

    def frozen_emails(self) -> dict[str, tuple[T, ...]]:
        return {key: tuple(entries) for key, entries in self.emails.items()}

    def frozen_domains(self) -> dict[str, tuple[T, ...]]:
        return {key: tuple(entries) for key, entries in self.domains.items()}

    def ip_tables(self, version: int) -> IpTables[T]:
        by_shift = self.ip[version]
        return tuple(
            (shift, {net: tuple(entries) for net, entries in by_shift[shift].items()})
            for shift in sorted(by_shift)
        )
