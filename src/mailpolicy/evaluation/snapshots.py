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
from mailpolicy.engine import (
    AllowPolicyRule,
    BlockedSenderRule,
    ContentPolicyRule,
    ImpersonationRule,
    ProtectedDomainRule,
    SendingDomainRestrictionRule,
    Snapshot,
    TrustedDomainRule,
    build_snapshot,
)
from mailpolicy.resources.allow_policies import AllowPolicy
from mailpolicy.resources.block_senders import BlockedSender
from mailpolicy.resources.content_policies import ContentPolicy
from mailpolicy.resources.domains import ProtectedDomain
from mailpolicy.resources.impersonation_registry import ImpersonationEntry
from mailpolicy.resources.sending_domain_restrictions import SendingDomainRestriction
from mailpolicy.resources.trusted_domains import TrustedDomain


def load_snapshot(session: Session, account_id: str) -> Snapshot:
    def rows(model: type) -> list:  # type: ignore[type-arg]
        return list(session.scalars(select(model).where(model.account_id == account_id)))  # type: ignore[attr-defined]

    return build_snapshot(
        allow_policies=[
            AllowPolicyRule(
                id=r.id,
                pattern=r.pattern,
                pattern_type=r.pattern_type,
                is_regex=r.is_regex,
                is_trusted_sender=r.is_trusted_sender,
                is_acceptable_sender=r.is_acceptable_sender,
                is_exempt_recipient=r.is_exempt_recipient,
                verify_sender=r.verify_sender,
            )
            for r in rows(AllowPolicy)
        ],
        blocked_senders=[
            BlockedSenderRule(
                id=r.id, pattern=r.pattern, pattern_type=r.pattern_type, is_regex=r.is_regex
            )
            for r in rows(BlockedSender)
        ],
        trusted_domains=[
            TrustedDomainRule(
                id=r.id,
                pattern=r.pattern,
                is_regex=r.is_regex,
                is_recent=r.is_recent,
                is_similarity=r.is_similarity,
            )
            for r in rows(TrustedDomain)
        ],
        impersonation=[
            ImpersonationRule(id=r.id, name=r.name, email=r.email, is_email_regex=r.is_email_regex)
            for r in rows(ImpersonationEntry)
        ],
        domains=[
            ProtectedDomainRule(
                id=r.id,
                domain=r.domain,
                status=r.status,
                drop_dispositions=tuple(r.drop_dispositions),
            )
            for r in rows(ProtectedDomain)
        ],
        restrictions=[
            SendingDomainRestrictionRule(id=r.id, domain=r.domain, exclude=tuple(r.exclude))
            for r in rows(SendingDomainRestriction)
        ],
        content_policies=[
            ContentPolicyRule(
                id=r.id, name=r.name, pattern=r.pattern, targets=tuple(r.targets), enabled=r.enabled
            )
            for r in rows(ContentPolicy)
        ],
    )


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
