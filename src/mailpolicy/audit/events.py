"""The audit history: every write, who made it, when, and the entry before and after.

Each write path calls `record` in the session of the write itself, so an event is committed
with its write or not at all: a write that fails (a batch item that is refused, a 409, a
failed commit) leaves no event behind. Who wrote is an `Author`: the credential of an API
request ("token:<id>" or "key:<id>", never its secret), the operator at the command line
("cli"), or the background DNS verifier ("verifier"). The items of one batch request share
the author's `batch_id`.

`GET /accounts/{account_id}/email-security/audit` (mailpolicy.audit.endpoints) and
`mailpolicy audit` read it back with `mailpolicy.audit.query.list_events`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from mailpolicy.db import Base, UTCDateTime, new_id, utcnow

if TYPE_CHECKING:
    # Only a type: the resources record their writes here, so this module cannot import them.
    from mailpolicy.resources.spec import SettingsResource

    # What was written: settings entries, and the credentials of the account.
    # And the message records an administrator acted on (a release, a reclassification).
    Resource = Literal[SettingsResource, "tokens", "keys", "messages"]
# create, edit (PATCH, batch patches), replace (PUT, batch puts), delete: any entry;
# activate: the operator asserted a domain's ownership; verify: a DNS check changed a domain's
# status; revoke: a token or key was revoked (tokens and keys are created, never edited).
# release: a quarantined message was released; reclassify: a message was reported as
# deserving another disposition.
Action = Literal[
    "create", "edit", "replace", "delete", "activate", "verify", "revoke", "release", "reclassify"
]
MAX_ACTOR = 64


@dataclass(frozen=True, slots=True)
class Author:
    """Who makes a change, as the history names them, and the batch request it belongs to."""

    actor: str
    batch_id: str | None = None

    def in_batch(self) -> Author:
        """The same author, for the items of one batch request: they share a new batch id."""
        return Author(self.actor, new_id())


CLI = Author("cli")
VERIFIER = Author("verifier")


class AuditEvent(Base):
    """One write to one entry (or credential) of an account."""

    __tablename__ = "audit_events"
    # Every listing is one account's, in time order, maybe within a time range. Each index
    # leads with the account and a filter and ends with that order, so a filtered page is
    # read in order and a time range is a range of the same index. An entry id alone names
    # one entry (ids are UUIDs), so it leads its index, the resource after it: given both,
    # the index matches both (an entry's few events are then sorted; see list_events). The
    # action filter has no index: it reads the account's events in order.
    __table_args__ = (
        Index("ix_audit_events_account_time", "account_id", "occurred_at", "id"),
        Index(
            "ix_audit_events_account_entry",
            "account_id",
            "entry_id",
            "resource",
            "occurred_at",
            "id",
        ),
        Index("ix_audit_events_account_resource", "account_id", "resource", "occurred_at", "id"),
        Index("ix_audit_events_account_actor", "account_id", "actor", "occurred_at", "id"),
        Index("ix_audit_events_account_batch", "account_id", "batch_id", "occurred_at", "id"),
        # The change feed: what changed in an account's settings since a version.
        Index("ix_audit_events_account_version", "account_id", "settings_version"),
    )

    # A sequence, so events written in the same microsecond still list in the order written.
    # SQLite numbers rows only for an INTEGER PRIMARY KEY, which is 64-bit there anyway.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(MAX_ACTOR))
    action: Mapped[str] = mapped_column(String(16))
    resource: Mapped[str] = mapped_column(String(40))
    entry_id: Mapped[str] = mapped_column(String(80))  # a settings id, or a message record's
    batch_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # The entry as the API shows it; NULL (not JSON null) before a create and after a delete.
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    # The account's settings version this write moved to (a settings write; NULL for the
    # others): the feed snapshots follow (mailpolicy.evaluation.snapshots).
    settings_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


def record(
    session: Session,
    by: Author,
    *,
    account_id: str,
    action: Action,
    resource: Resource,
    entry_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    settings_version: int | None = None,
) -> None:
    """Add the event of one write to the write's own session (it commits or rolls back with it)."""
    session.add(
        AuditEvent(
            account_id=account_id,
            occurred_at=utcnow(),
            actor=by.actor,
            action=action,
            resource=resource,
            entry_id=entry_id,
            batch_id=by.batch_id,
            before=before,
            after=after,
            settings_version=settings_version,
        )
    )
