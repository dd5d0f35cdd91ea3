"""Message records: one per message and account the milter decided on, one row per recipient.

A message to recipients of two accounts gets one record in each, holding only that account's
recipients: records belong to the account that protects the recipient domain, and one account
never sees another's mail. A record holds what the milter saw (client, envelope, the headers
that say who sent what), what the engine decided for each recipient and why (every reason,
honoured or not), what the milter did about it, and the engine's inputs as they were
(`features`), so that a proposed change can be replayed over it (mailpolicy.messages.whatif).
The raw message is kept only for quarantined mail, up to MAILPOLICY_QUARANTINE_MAX_BYTES.

Records are written by `mailpolicy.messages.recorder.MessageRecorder`, in batches off the mail
path, and read through `mailpolicy.messages.query`.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    insert,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

from mailpolicy.db import Base, UTCDateTime, new_id
from mailpolicy.engine import DISPOSITIONS
from mailpolicy.messages import search

# What the milter did with one recipient.
DELIVERED = "delivered"  # passed on (maybe labelled)
REFUSED = "refused"  # refused at RCPT (550)
REMOVED = "removed"  # removed from the message at its end; the others got it
REJECTED = "rejected"  # the whole message refused at its end (550)
DISCARDED = "discarded"  # accepted and thrown away
QUARANTINED = "quarantined"  # held in Postfix's hold queue
RELEASED = "released"  # held, then released by an administrator

# Cloudflare's delivery_status per recipient: mailpolicy knows "queued" (handed to Postfix) until
# Postfix's log says more (mailpolicy.messages.maillog), "quarantined" while held, and
# "rejected" for a recipient it refused, removed or discarded.
_STATUS_OF = {
    DELIVERED: "queued",
    REFUSED: "rejected",
    REMOVED: "rejected",
    REJECTED: "rejected",
    DISCARDED: "rejected",
    QUARANTINED: "quarantined",
    RELEASED: "queued",
}

MAX_ADDRESS = 320
MAX_LINE = 998


class MessageRecord(Base):
    """One message as one account's recipients received it."""

    __tablename__ = "message_records"
    # Every listing is one account's, newest first, within a time range: each index leads with
    # the account and ends with the listing's order, so a filtered page is read in order.
    __table_args__ = (
        Index("ix_message_records_account_time", "account_id", "scanned_at", "id"),
        Index("ix_message_records_postfix", "postfix_id", "scanned_at"),
        Index("ix_message_records_account_sender", "account_id", "envelope_from", "scanned_at"),
        Index("ix_message_records_account_sender_domain", "account_id", "sender_domain"),
        Index("ix_message_records_account_from", "account_id", "header_from"),
        Index("ix_message_records_account_message_id", "account_id", "message_id"),
        Index(
            "ix_message_records_account_disposition",
            "account_id",
            "final_disposition",
            "scanned_at",
        ),
        Index("ix_message_records_expiry", "scanned_at"),
    )

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    postfix_id: Mapped[str] = mapped_column(String(40))
    scanned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    client_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    client_hostname: Mapped[str | None] = mapped_column(String(255), nullable=True)
    helo: Mapped[str | None] = mapped_column(String(255), nullable=True)
    tls_protocol: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tls_cipher: Mapped[str | None] = mapped_column(String(128), nullable=True)
    envelope_from: Mapped[str] = mapped_column(String(MAX_ADDRESS))
    sender_domain: Mapped[str] = mapped_column(String(255))
    envelope_to: Mapped[list[str]] = mapped_column(JSON)
    header_from: Mapped[str | None] = mapped_column(String(MAX_ADDRESS), nullable=True)
    header_from_domain: Mapped[str | None] = mapped_column(String(255), nullable=True)
    from_name: Mapped[str | None] = mapped_column(String(MAX_LINE), nullable=True)
    reply_to: Mapped[str | None] = mapped_column(String(MAX_LINE), nullable=True)
    to: Mapped[list[str]] = mapped_column(JSON)
    to_name: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(MAX_LINE), nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    final_disposition: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))
    is_quarantined: Mapped[bool] = mapped_column(Boolean, default=False)
    # Lower-cased (all of Unicode, which SQL's lower() is not everywhere): the sender, From,
    # recipients, subject and Message-ID for `query`, and the subject for `subject`.
    search_text: Mapped[str] = mapped_column(Text)
    subject_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The SPF, DKIM and DMARC results the engine read, as Cloudflare's `validation`.
    validation: Mapped[dict[str, Any]] = mapped_column(JSON)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The engine's inputs, as it read them, for what-if replay.
    features: Mapped[dict[str, Any]] = mapped_column(JSON)
    settings_version: Mapped[int] = mapped_column(BigInteger)
    # Postfix's quarantine reason names the record, so its log line correlates.
    quarantine_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    raw_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    # Cloudflare's action_log: every release, reclassification, preview and raw read.
    action_log: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # Lines of Postfix's own log for this message, when mailpolicy follows it.
    trace: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The operations done since (PREVIEW, QUARANTINE_RELEASE, SUBMISSION), each between
    # spaces, for the message_action filter.
    operations: Mapped[str] = mapped_column(String(128), default="")
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MessageRecipient(Base):
    """What one recipient of a recorded message got, and why."""

    __tablename__ = "message_recipients"
    __table_args__ = (
        Index("ix_message_recipients_account_address", "account_id", "address"),
        Index("ix_message_recipients_account_domain", "account_id", "domain"),
    )

    record_id: Mapped[str] = mapped_column(
        ForeignKey("message_records.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(MAX_ADDRESS))
    domain: Mapped[str] = mapped_column(String(255))
    protected_domain_id: Mapped[str] = mapped_column(String(36))
    disposition: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(16))
    delivery_status: Mapped[str] = mapped_column(String(16))
    explanation: Mapped[str] = mapped_column(Text)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class Submission(Base):
    """A reclassification request: an administrator says a message deserved another verdict."""

    __tablename__ = "message_submissions"
    __table_args__ = (
        Index("ix_message_submissions_account_time", "account_id", "requested_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    record_id: Mapped[str] = mapped_column(String(80))
    postfix_id: Mapped[str] = mapped_column(String(40))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    requested_by: Mapped[str] = mapped_column(String(64))
    original_disposition: Mapped[str] = mapped_column(String(20))
    requested_disposition: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="unreviewed")


# ---- drafts: what the milter hands the recorder ---------------------------------------------


@dataclass(slots=True)
class RecipientDraft:
    address: str
    protected_domain_id: str
    disposition: str
    action: str
    explanation: str
    reasons: list[dict[str, Any]]


@dataclass(slots=True)
class RecordDraft:
    """One record as the milter builds it on the mail path: plain values, no database."""

    account_id: str
    postfix_id: str
    scanned_at: dt.datetime
    envelope_from: str
    settings_version: int
    recipients: list[RecipientDraft] = field(default_factory=list)
    client_ip: str | None = None
    client_hostname: str | None = None
    helo: str | None = None
    tls_protocol: str | None = None
    tls_cipher: str | None = None
    header_from: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    to: list[str] = field(default_factory=list)
    to_name: list[str] = field(default_factory=list)
    subject: str | None = None
    message_id: str | None = None
    sent_at: dt.datetime | None = None
    size: int | None = None
    validation: dict[str, Any] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    features: dict[str, Any] = field(default_factory=dict)
    quarantine_reason: str | None = None
    raw: bytes | None = None
    raw_complete: bool = False
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = record_id(self.postfix_id, self.scanned_at)


def record_id(postfix_id: str, scanned_at: dt.datetime) -> str:
    """Cloudflare's shape: queue id, scan time, and 8 hex digits that make it unique (queue
    ids are reused, and not unique across Postfix instances)."""
    return f"{postfix_id}-{scanned_at:%Y-%m-%dT%H:%M:%S}-{secrets.token_hex(4)}"


def _domain(address: str | None) -> str:
    return address.rpartition("@")[2].lower() if address and "@" in address else ""


def final_disposition(recipients: list[RecipientDraft]) -> str:
    found = {r.disposition for r in recipients}
    return next((d for d in DISPOSITIONS if d in found), "NONE")


def message_action(recipients: list[RecipientDraft]) -> str:
    actions = {r.action for r in recipients}
    if QUARANTINED in actions:
        return "quarantined"
    if actions == {REFUSED}:
        return "refused_at_rcpt"
    if REJECTED in actions:
        return "rejected"
    if actions == {DISCARDED}:
        return "discarded"
    if actions & {REFUSED, REMOVED, DISCARDED}:
        return "recipient_removed"
    return "delivered"


def write_records(session: Session, drafts: list[RecordDraft]) -> None:
    """Insert a batch of records and their recipients, in two statements."""
    if not drafts:
        return
    records = []
    recipients = []
    searched = []
    for draft in drafts:
        searchable = [
            draft.envelope_from,
            draft.header_from or "",
            draft.from_name or "",
            draft.subject or "",
            draft.message_id or "",
            *(r.address for r in draft.recipients),
        ]
        searchable_text = "\n".join(searchable).lower()
        searched.append((draft.id, searchable_text))
        records.append(
            {
                "id": draft.id,
                "account_id": draft.account_id,
                "postfix_id": draft.postfix_id,
                "scanned_at": draft.scanned_at,
                "client_ip": draft.client_ip,
                "client_hostname": draft.client_hostname,
                "helo": draft.helo,
                "tls_protocol": draft.tls_protocol,
                "tls_cipher": draft.tls_cipher,
                "envelope_from": draft.envelope_from[:MAX_ADDRESS],
                "sender_domain": _domain(draft.envelope_from)[:255],
                # Only this account's recipients: another account's are not its business.
                "envelope_to": [r.address for r in draft.recipients],
                # Lower-cased, as the envelope's addresses are: the filters compare exactly.
                "header_from": (draft.header_from or None)
                and draft.header_from.lower()[:MAX_ADDRESS],
                "header_from_domain": _domain(draft.header_from)[:255] or None,
                "from_name": draft.from_name and draft.from_name[:MAX_LINE],
                "reply_to": draft.reply_to and draft.reply_to[:MAX_LINE],
                "to": draft.to,
                "to_name": draft.to_name,
                "subject": draft.subject,
                "message_id": draft.message_id and draft.message_id[:MAX_LINE],
                "sent_at": draft.sent_at,
                "size": draft.size,
                "final_disposition": final_disposition(draft.recipients),
                "action": message_action(draft.recipients),
                "is_quarantined": any(r.action == QUARANTINED for r in draft.recipients),
                "search_text": searchable_text,
                "subject_key": draft.subject.lower() if draft.subject is not None else None,
                "validation": draft.validation,
                "findings": draft.findings,
                "features": draft.features,
                "settings_version": draft.settings_version,
                "quarantine_reason": draft.quarantine_reason,
                "raw": draft.raw,
                "raw_complete": draft.raw_complete,
                "action_log": [],
                "trace": [],
                "operations": "",
                "released_at": None,
            }
        )
        for position, recipient in enumerate(draft.recipients):
            recipients.append(
                {
                    "record_id": draft.id,
                    "position": position,
                    "account_id": draft.account_id,
                    "address": recipient.address[:MAX_ADDRESS],
                    "domain": _domain(recipient.address)[:255],
                    "protected_domain_id": recipient.protected_domain_id,
                    "disposition": recipient.disposition,
                    "action": recipient.action,
                    "delivery_status": _STATUS_OF[recipient.action],
                    "explanation": recipient.explanation,
                    "reasons": recipient.reasons,
                }
            )
    if session.get_bind().dialect.name == "sqlite":
        connection = session.connection()
        _insert_sqlite(connection, _table(MessageRecord), records)
        _insert_sqlite(connection, _table(MessageRecipient), recipients)
    else:
        # Core inserts of the tables: the ORM's bulk path costs more than the rows themselves.
        session.execute(insert(_table(MessageRecord)), records)
        if recipients:
            session.execute(insert(_table(MessageRecipient)), recipients)
    search.index(session, searched)


def _insert_sqlite(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows straight to SQLite's executemany, each value as the column's type would bind it
    (JSON text, naive UTC in SQLAlchemy's format, 0 or 1): on the milter's writer thread,
    SQLAlchemy's per-value processing costs more than SQLite's own work."""
    if not rows:
        return
    names = list(rows[0])
    convert = [_sqlite_value(table.c[name].type) for name in names]
    columns = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join("?" for _ in names)
    statement = f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks})'  # noqa: S608  # the model's own names
    connection.exec_driver_sql(
        statement,
        [tuple(c(row[n]) for c, n in zip(convert, names, strict=True)) for row in rows],
    )


def _same(value: Any) -> Any:
    return value


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _instant(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _sqlite_value(kind: Any) -> Any:
    if isinstance(kind, JSON):
        return _json
    if isinstance(kind, UTCDateTime):
        return _instant
    if isinstance(kind, Boolean):
        return _flag
    return _same


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table
