"""Lookup structures whose cost depends on the message, not on the number of entries.

* exact addresses and domains: hash maps; a domain lookup walks the labels of the field's
  domain (``mail.example.com``, ``example.com``, ``com``), so it costs O(labels);
* IP addresses and CIDR blocks: per address family, one hash map per prefix length that
  occurs, keyed by the network number; a lookup probes each of those maps once, so it
  costs O(prefix lengths) (at most 33 for IPv4, 129 for IPv6) whatever the entry count.
  A binary search over the merged ranges first turns away addresses no entry covers;
* regular expressions: every pattern of one list compiled into one RE2 set, so a field is
  matched against all of them in a single pass.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import re2

from mailpolicy.engine.regex import encode_text, set_options

T = TypeVar("T")

# (bits shifted off, network number -> entries), longest prefix first.
IpTables = tuple[tuple[int, dict[int, tuple[T, ...]]], ...]


# Takes UTF-8 bytes, returns the indexes of the patterns that match (falsy when none do).
SetMatcher = Callable[[bytes], "list[int] | None"]


class RegexSet(Generic[T]):
    """Patterns compiled into as few RE2 sets as RE2's memory limit allows (normally one)."""

    # A plain class rather than a dataclass: the engine is compiled with mypyc, which cannot
    # compile generic dataclasses. Treat instances as immutable.
    __slots__ = ("screen", "sets")

    def __init__(
        self,
        sets: tuple[tuple[SetMatcher, tuple[tuple[T, ...], ...]], ...],
        screen: SetMatcher | None = None,
    ) -> None:
        self.sets = sets
        self.screen = screen

    def may_match_any(self, texts: Sequence[str]) -> bool:
        """False only when no pattern matches the whole of any of ``texts``.

        One RE2 pass over the fields joined by newlines replaces one call per field, and
        most messages match no regex at all. True whenever the screen cannot decide.
        """
        if not texts:
            return False
        screen = self.screen
        if screen is None:
            return True
        joined = "\n".join(texts)
        if joined.count("\n") != len(texts) - 1:
            return True  # a field holding a newline would be split: match field by field
        return bool(screen(encode_text(joined)))

    def match(self, text: str) -> tuple[T, ...]:
        """Entries whose pattern matches ``text``: the whole of it, or anywhere in it for a set
        built by :func:`build_search_set`."""
        data = encode_text(text)
        found: tuple[T, ...] = ()
        for matcher, entries in self.sets:
            indexes = matcher(data)
            if indexes:
                for index in indexes:
                    found += entries[index]
        return found


def _matcher(compiled: Any) -> SetMatcher:
    # The wrapper's Match re-encodes its argument and normalises the result on every call,
    # a third of the cost of a match; the extension object it wraps takes bytes directly.
    # Fall back to the public method should a future wrapper not expose it.
    inner = getattr(compiled, "_set", None)
    matcher: SetMatcher = inner.Match if inner is not None else compiled.Match
    return matcher


def _compile_with(new_set: Callable[[Any], Any], patterns: Sequence[str]) -> Any:
    compiled = new_set(set_options(len(patterns)))
    for pattern in patterns:
        compiled.Add(pattern)
    compiled.Compile()
    return compiled


def _compile_set(patterns: Sequence[str]) -> Any:
    """A set whose patterns must match the whole of a text."""
    return _compile_with(re2.Set.FullMatchSet, patterns)


def _compile_search_set(patterns: Sequence[str]) -> Any:
    """A set whose patterns may match anywhere in a text."""
    return _compile_with(re2.Set.SearchSet, patterns)


def _screenable(pattern: str) -> bool:
    """Whether ``pattern`` means the same on one line of a multi-line text as on its own.

    Inside ``(?m:^(?:P)$)`` the pattern's own ``^`` and ``$`` become line anchors, which is
    what we want; only text anchors (``\\A``, ``\\z``) and a flag group turning multi-line
    mode off could make a field that matches on its own fail to match as a line.
    """
    if "\\A" in pattern or "\\z" in pattern:
        return False
    start = pattern.find("(?")
    while start >= 0:
        end = start + 2
        while end < len(pattern) and pattern[end] not in ":)":
            end += 1
        flags = pattern[start + 2 : end]
        if "-" in flags and "m" in flags.split("-", 1)[1]:
            return False
        start = pattern.find("(?", end)
    return True


def _compile_screen(patterns: Sequence[str]) -> SetMatcher | None:
    """One unanchored set that finds any pattern matching a whole line, or None."""
    if not all(_screenable(p) for p in patterns):
        return None
    try:
        compiled = re2.Set.SearchSet(set_options(len(patterns)))
        for pattern in patterns:
            compiled.Add(f"(?m:^(?:{pattern})$)")
        compiled.Compile()
    except re2.error:
        return None
    return _matcher(compiled)


def build_regex_set(
    by_pattern: dict[str, list[T]],
    compile_set: Callable[[Sequence[str]], Any] = _compile_set,
) -> tuple[RegexSet[T] | None, list[tuple[T, str]]]:
    """Compile ``pattern -> entries`` into a set; also return ``(entry, reason)`` rejects.

    ``compile_set`` is RE2's set compiler; tests pass one that fails the way RE2 does when a
    combined set exceeds its memory budget.
    """
    rejected: list[tuple[T, str]] = []
    groups: list[tuple[SetMatcher, tuple[tuple[T, ...], ...]]] = []
    accepted: list[str] = []

    def compile_group(patterns: list[str]) -> None:
        try:
            compiled = compile_set(patterns)
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
        groups.append((_matcher(compiled), tuple(tuple(by_pattern[p]) for p in patterns)))
        accepted.extend(patterns)

    if by_pattern:
        compile_group(list(by_pattern))
    if not groups:
        return None, rejected
    return RegexSet(tuple(groups), _compile_screen(accepted)), rejected


def build_search_set(
    by_pattern: dict[str, list[T]],
    compile_set: Callable[[Sequence[str]], Any] = _compile_search_set,
) -> tuple[RegexSet[T] | None, list[tuple[T, str]]]:
    """Like :func:`build_regex_set`, for patterns found anywhere in a text (content)."""
    found, rejected = build_regex_set(by_pattern, compile_set)
    # The screen answers "does a pattern match a whole field"; a search needs none.
    return (None if found is None else RegexSet(found.sets)), rejected


class IpIndex(Generic[T]):
    """The addresses and networks of one address family.

    ``starts``/``ends`` are the merged ranges every entry covers: almost every client address
    falls outside all of them, which one binary search settles before any table is probed.
    A plain class for the same reason as RegexSet; treat instances as immutable.
    """

    __slots__ = ("ends", "starts", "tables")

    def __init__(self, starts: tuple[int, ...], ends: tuple[int, ...], tables: IpTables[T]) -> None:
        self.starts = starts
        self.ends = ends
        self.tables = tables

    def lookup(self, value: int) -> tuple[T, ...]:
        """Entries whose address or network contains the address ``value``."""
        position = bisect_right(self.starts, value) - 1
        if position < 0 or value > self.ends[position]:
            return ()
        found: tuple[T, ...] = ()
        for shift, table in self.tables:
            hit = table.get(value >> shift)
            if hit is not None:
                found += hit
        return found

    def __bool__(self) -> bool:
        return bool(self.tables)


def domain_lookup(table: Mapping[str, tuple[T, ...]], domain: str) -> tuple[T, ...]:
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

    def ip_index(self, version: int) -> IpIndex[T]:
        return ip_index_of(self.ip[version])


def ip_index_of(by_shift: Mapping[int, Mapping[int, Sequence[T]]]) -> IpIndex[T]:
    """The index of one address family's tables: bits shifted off -> network -> entries
    (a shift with no networks is left out)."""
    ranges = sorted(
        (net << shift, ((net + 1) << shift) - 1)
        for shift, table in by_shift.items()
        for net in table
    )
    starts: list[int] = []
    ends: list[int] = []
    for start, end in ranges:
        if ends and start <= ends[-1] + 1:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    tables = tuple(
        (shift, {net: tuple(entries) for net, entries in by_shift[shift].items()})
        for shift in sorted(by_shift)
        if by_shift[shift]
    )
    return IpIndex(tuple(starts), tuple(ends), tables)
