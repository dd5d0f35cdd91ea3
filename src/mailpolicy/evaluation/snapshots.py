"""The one bridge from the database to the engine: rows in, an immutable Snapshot out.

Snapshots are held per account and keyed by the account's settings version, which every
settings write bumps in its own transaction (`mailpolicy.resources.crud.record_change`). The
same write records its audit event with the version it moved to: that is the change feed.
A snapshot at version V that finds the account at version W reads the events of versions
V+1..W, reads the entries they name as they are now, and applies just those to its
`SnapshotBuilder`: a write to an account of a million entries costs the work of one entry.
A full build happens on first use, and when the feed cannot account for every version in
between (a version with no event, as written by a release older than the feed), or names
more entries than a rebuild would cost.

A reader takes whatever snapshot is current and never waits for another account's; a replica
notices another replica's writes by the version alone, with one indexed read per evaluation.

Entries are read in the order they were created, which is also the order a builder keeps
(an edit leaves an entry in its place, a new one comes last), so a snapshot followed through
changes and one built afresh from the database agree.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailpolicy.access.accounts import settings_version
from mailpolicy.audit.events import AuditEvent
from mailpolicy.engine import (
    AllowPolicyRule,
    BlockedSenderRule,
    ContentPolicyRule,
    ImpersonationRule,
    ProtectedDomainRule,
    Rule,
    RuleKey,
    SendingDomainRestrictionRule,
    Snapshot,
    SnapshotBuilder,
    TrustedDomainRule,
)
from mailpolicy.resources import REGISTRY
from mailpolicy.resources.spec import ResourceSpec

log = logging.getLogger("mailpolicy.snapshots")

# The resources the engine reads, by the name their audit events carry.
ENGINE_SPECS: dict[str, ResourceSpec[Any]] = {
    spec.path: spec for spec, _ in REGISTRY if spec.to_rule is not None
}
# What each of them is to the engine.
RULE_TYPES: dict[str, type[Rule]] = {
    "allow_policies": AllowPolicyRule,
    "block_senders": BlockedSenderRule,
    "content_policies": ContentPolicyRule,
    "domains": ProtectedDomainRule,
    "impersonation_registry": ImpersonationRule,
    "sending_domain_restrictions": SendingDomainRestrictionRule,
    "trusted_domains": TrustedDomainRule,
}
assert RULE_TYPES.keys() == ENGINE_SPECS.keys(), "every resource the engine reads has its rule"
# More changed entries than this since the snapshot held, and a full build is cheaper.
FOLLOW_LIMIT = 50_000
# Entries read per statement when a change names many.
READ_CHUNK = 500


def _rules(spec: ResourceSpec[Any], rows: Iterable[Any]) -> list[Rule]:
    to_rule = spec.to_rule
    assert to_rule is not None
    # Plain rows, not ORM objects: `to_rule` reads columns by name, which a row answers too.
    return [to_rule(cast(Any, row)) for row in rows]


def _columns(resource: str) -> list[Any]:
    """The columns `to_rule` reads: the fields of the resource's rule, named as its columns."""
    table = ENGINE_SPECS[resource].model.__table__
    return [table.c[field.name] for field in fields(RULE_TYPES[resource])]


def load_rules(session: Session, account_id: str) -> list[Rule]:
    """Every entry of every resource the engine acts on, in the order they were created."""
    rules: list[Rule] = []
    for resource, spec in ENGINE_SPECS.items():
        table = spec.model.__table__
        rows = session.execute(
            select(*_columns(resource))
            .where(table.c.account_id == account_id)
            .order_by(table.c.created_at, table.c.id)
        )
        rules.extend(_rules(spec, rows))
    return rules


def load_snapshot(session: Session, account_id: str) -> Snapshot:
    """The account's settings as the engine reads them, built afresh."""
    return SnapshotBuilder(load_rules(session, account_id)).snapshot


@dataclass(frozen=True, slots=True)
class Held:
    """An account's snapshot, the settings version it is at, and the builder that follows it."""

    version: int
    snapshot: Snapshot
    builder: SnapshotBuilder
    # The resources the step that made it changed; None for a full build (any of them).
    changed: frozenset[str] | None = None

    def touched(self, resource: str) -> bool:
        """Whether the step that made this snapshot may have changed entries of `resource`."""
        return self.changed is None or resource in self.changed


def build(session: Session, account_id: str, held: Held | None = None) -> Held:
    # The version first: the entries read after it are at least as new, and whatever changed
    # after it is in the feed past it (applied again, which changes nothing).
    version = settings_version(session, account_id)
    builder = SnapshotBuilder(load_rules(session, account_id))
    log.debug(
        "built account %s at version %d: %d entries (held %s)",
        account_id,
        version,
        builder.snapshot.entries,
        "none" if held is None else f"version {held.version}",
    )
    return Held(version, builder.snapshot, builder)


def _changes_since(
    session: Session, account_id: str, since: int, until: int
) -> set[RuleKey] | None:
    """The entries the settings writes of versions since+1..until changed, or None when the
    feed does not hold one event for each of those versions (or names too many entries)."""
    events = session.execute(
        select(AuditEvent.settings_version, AuditEvent.resource, AuditEvent.entry_id).where(
            AuditEvent.account_id == account_id,
            AuditEvent.settings_version > since,
            AuditEvent.settings_version <= until,
        )
    ).all()
    if {version for version, _, _ in events} != set(range(since + 1, until + 1)):
        return None
    changed = {(resource, entry_id) for _, resource, entry_id in events}
    if len(changed) > FOLLOW_LIMIT:
        return None
    return {key for key in changed if key[0] in ENGINE_SPECS}


def _read(session: Session, account_id: str, keys: set[RuleKey]) -> list[Rule]:
    """The entries named, as they are now (an entry deleted since is simply not there)."""
    by_resource: dict[str, list[str]] = {}
    for resource, entry_id in keys:
        by_resource.setdefault(resource, []).append(entry_id)
    rules: list[Rule] = []
    for resource, ids in by_resource.items():
        spec = ENGINE_SPECS[resource]
        table = spec.model.__table__
        for start in range(0, len(ids), READ_CHUNK):
            chunk = ids[start : start + READ_CHUNK]
            rows = session.execute(
                select(*_columns(resource)).where(
                    table.c.account_id == account_id, table.c.id.in_(chunk)
                )
            )
            rules.extend(_rules(spec, rows))
    return rules


def follow(session: Session, account_id: str, held: Held | None) -> Held:
    """The account's snapshot at its current version: `held` itself when it is current, `held`
    with the changes since applied when the feed says what they are, else a full build."""
    if held is None:
        return build(session, account_id)
    version = settings_version(session, account_id)
    if version <= held.version:
        # Current, or newer than what this transaction sees (another request moved it on).
        return held
    changed = _changes_since(session, account_id, held.version, version)
    if changed is None:
        return build(session, account_id, held)
    current = _read(session, account_id, changed)
    try:
        snapshot = held.builder.apply(changed, current)
    except Exception:
        # A builder that failed half way is in no known state: start again from the rows.
        log.exception(
            "applying %d changes to account %s failed; rebuilding", len(changed), account_id
        )
        return build(session, account_id, held)
    log.debug(
        "followed %d changed entries of account %s from version %d to %d",
        len(changed),
        account_id,
        held.version,
        version,
    )
    return Held(version, snapshot, held.builder, frozenset(key[0] for key in changed))


class SnapshotCache:
    """Per-account snapshots, following the account's settings version."""

    def __init__(self) -> None:
        self._held: dict[str, Held] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def current(self, session: Session, account_id: str) -> Snapshot | None:
        """The account's snapshot if the one held is current (no change to apply: never blocks)."""
        held = self._held.get(account_id)
        if held is not None and held.version == settings_version(session, account_id):
            return held.snapshot
        return None

    def get(self, session: Session, account_id: str) -> Snapshot:
        version = settings_version(session, account_id)
        held = self._held.get(account_id)
        if held is not None and held.version == version:
            return held.snapshot
        with self._lock_for(account_id):
            # Another request may have brought it up to date while this one waited; the
            # builder is changed by one request at a time.
            held = follow(session, account_id, self._held.get(account_id))
            # One assignment: readers see the old snapshot or the new one, never a mixture.
            self._held[account_id] = held
            return held.snapshot

    def _lock_for(self, account_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(account_id, threading.Lock())
