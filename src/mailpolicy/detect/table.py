"""The table that turns rspamd's answer into findings (detections.toml, or the operator's own).

The table is read once, when the milter or the server starts, and checked then: a rule with
an unknown disposition, a misspelt key or a condition of the wrong type is refused with the
rule's number and what is wrong, rather than quietly matching nothing on real mail.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mailpolicy.detect.rspamd import ScanReply, Symbol
from mailpolicy.engine import DISPOSITIONS, Finding

ACTIONS = frozenset(
    (
        "no action",
        "greylist",
        "add header",
        "rewrite subject",
        "soft reject",
        "reject",
        "discard",
        "quarantine",
    )
)
DEFAULT_SOURCE = "rspamd"
MAX_LABEL = 200
# An action-only rule names the symbols that weighed most, this many.
TOP_SYMBOLS = 3
_KEYS = frozenset(("name", "disposition", "source", "symbols", "groups", "actions", "unless"))
_KEYS_ALL = _KEYS | {"options"}


class TableError(ValueError):
    """A detection table that cannot be used as it is written."""


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    disposition: str
    source: str = DEFAULT_SOURCE
    symbols: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    actions: frozenset[str] = frozenset()
    unless: frozenset[str] = frozenset()
    options: bool = False

    def evidence(self, reply: ScanReply) -> list[Symbol] | None:
        """The symbols this rule matched on (possibly none, for an action rule), or None when
        it does not match."""
        symbols = reply.symbols
        if self.actions and reply.action not in self.actions:
            return None
        if any(name in symbols for name in self.unless):
            return None
        seen: list[Symbol] = []
        if self.symbols:
            seen = [symbol for name, symbol in symbols.items() if name in self.symbols]
            if not seen:
                return None
        if self.groups:
            grouped = [
                symbol
                for symbol in (seen or symbols.values())
                if self.groups.intersection(symbol.groups)
            ]
            if not grouped:
                return None
            seen = grouped
        return seen

    def label(self, reply: ScanReply, seen: list[Symbol]) -> str:
        if not seen:  # an action rule: what rspamd did, and the symbols that weighed most
            top = sorted(
                (s for s in reply.symbols.values() if s.score >= 0),
                key=lambda s: (-s.score, s.name),
            )[:TOP_SYMBOLS]
            names = ", ".join(s.name for s in top)
            said = f"action {reply.action!r}, score {reply.score:.1f}"
            return _bounded(f"{said} ({names})" if names else said)
        parts = []
        for symbol in sorted(seen, key=lambda s: s.name):
            if self.options and symbol.options:
                parts.append(f"{symbol.name}({', '.join(symbol.options)})")
            else:
                parts.append(symbol.name)
        return _bounded(", ".join(parts))


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


@dataclass(frozen=True, slots=True)
class Table:
    rules: tuple[Rule, ...]

    def findings(self, reply: ScanReply) -> tuple[Finding, ...]:
        """One finding per rule that matches, in the table's order. (A message rspamd
        settled early, GTUBE say, says `is_skipped` and still has its action and symbols.)"""
        found = []
        for rule in self.rules:
            seen = rule.evidence(reply)
            if seen is not None:
                found.append(
                    Finding("content", rule.disposition, None, rule.source, rule.label(reply, seen))
                )
        return tuple(found)


def _strings(number: int, key: str, value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise TableError(f"rule {number}: {key} must be a list of non-empty strings")
    return frozenset(value)


def _rule(number: int, data: Mapping[str, Any]) -> Rule:
    unknown = sorted(set(data) - _KEYS_ALL)
    if unknown:
        raise TableError(
            f"rule {number}: unknown key {unknown[0]!r}; a rule has {', '.join(sorted(_KEYS_ALL))}"
        )
    name = data.get("name", f"rule {number}")
    disposition = data.get("disposition")
    if disposition not in DISPOSITIONS:
        raise TableError(
            f"rule {number} ({name}): disposition must be one of {', '.join(DISPOSITIONS)}, "
            f"not {disposition!r}"
        )
    source = data.get("source", DEFAULT_SOURCE)
    if not isinstance(source, str) or not source or len(source) > 64:
        raise TableError(f"rule {number} ({name}): source must be a name of 1 to 64 characters")
    sets = {
        key: _strings(number, key, data[key])
        for key in _KEYS - {"name", "disposition", "source"}
        if key in data
    }
    actions = sets.get("actions", frozenset())
    if actions - ACTIONS:
        raise TableError(
            f"rule {number} ({name}): unknown action {sorted(actions - ACTIONS)[0]!r}; "
            f"rspamd's are {', '.join(sorted(ACTIONS))}"
        )
    if not (sets.get("symbols") or sets.get("groups") or actions):
        raise TableError(f"rule {number} ({name}): give symbols, groups or actions to match")
    options = data.get("options", False)
    if not isinstance(options, bool):
        raise TableError(f"rule {number} ({name}): options must be true or false")
    return Rule(
        name=str(name),
        disposition=disposition,
        source=source,
        symbols=sets.get("symbols", frozenset()),
        groups=sets.get("groups", frozenset()),
        actions=actions,
        unless=sets.get("unless", frozenset()),
        options=options,
    )


def parse_table(text: str) -> Table:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TableError(f"not TOML: {exc}") from None
    rules = data.get("rule")
    unknown = sorted(set(data) - {"rule"})
    if unknown:
        raise TableError(f"unknown top-level key {unknown[0]!r}: the table is a list of [[rule]]")
    if not isinstance(rules, list) or not rules:
        raise TableError("the table has no [[rule]]")
    return Table(tuple(_rule(number, rule) for number, rule in enumerate(rules, 1)))


def default_table_text() -> str:
    return resources.files("mailpolicy.detect").joinpath("detections.toml").read_text("utf-8")


def load_table(path: str | Path | None) -> Table:
    """The operator's table at `path`, or the default one."""
    if path is None or str(path) == "":
        return parse_table(default_table_text())
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise TableError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return parse_table(text)
    except TableError as exc:
        raise TableError(f"{path}: {exc}") from None
