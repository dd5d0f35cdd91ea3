"""The one bridge from the database to the engine: rows in, an immutable Snapshot out.

Snapshots are cached per account and keyed by the account's settings version, which every
settings write bumps in its own transaction. A reader takes whatever snapshot is current and
never waits for a rebuild of another account; a replica notices another replica's writes by
the version alone, with one indexed read per evaluation.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailpolicy.access.accounts import settings_version
from mailpolicy.engine import Rule, Snapshot, snapshot_of
from mailpolicy.resources import REGISTRY


def load_snapshot(session: Session, account_id: str) -> Snapshot:
    """The account's settings as the engine reads them: every entry of every resource the
    engine acts on, through its spec's `to_rule`."""
    rules: list[Rule] = []
    for spec, _ in REGISTRY:
        if spec.to_rule is not None:
            rows = session.scalars(select(spec.model).where(spec.model.account_id == account_id))
            rules.extend(spec.to_rule(row) for row in rows)
    return snapshot_of(rules)


@dataclass(frozen=True, slots=True)
class _Cached:
    version: int
    snapshot: Snapshot


class SnapshotCache:
    """Per-account snapshots, rebuilt when the account's settings version moves."""

    def __init__(self) -> None:
        self._cached: dict[str, _Cached] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def current(self, session: Session, account_id: str) -> Snapshot | None:
        """The account's snapshot if the one held is current (no rebuild: never blocks)."""
        cached = self._cached.get(account_id)
        if cached is not None and cached.version == settings_version(session, account_id):
            return cached.snapshot
        return None

    def get(self, session: Session, account_id: str) -> Snapshot:
        version = settings_version(session, account_id)
        cached = self._cached.get(account_id)
        if cached is not None and cached.version == version:
            return cached.snapshot
        with self._lock_for(account_id):
            # Another request may have rebuilt it while this one waited.
            cached = self._cached.get(account_id)
            if cached is not None and cached.version == version:
                return cached.snapshot
            snapshot = load_snapshot(session, account_id)
            # One assignment: readers see the old snapshot or the new one, never a mixture.
            self._cached[account_id] = _Cached(version, snapshot)
            return snapshot

    def _lock_for(self, account_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(account_id, threading.Lock())
