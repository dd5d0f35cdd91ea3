"""message records, their recipients, and reclassification submissions

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mailpolicy.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

RECORD_INDEXES = {
    "ix_message_records_account_time": ["account_id", "scanned_at", "id"],
    "ix_message_records_postfix": ["postfix_id", "scanned_at"],
    "ix_message_records_account_sender": ["account_id", "envelope_from", "scanned_at"],
    "ix_message_records_account_sender_domain": ["account_id", "sender_domain"],
    "ix_message_records_account_from": ["account_id", "header_from"],
    "ix_message_records_account_message_id": ["account_id", "message_id"],
    "ix_message_records_account_disposition": ["account_id", "final_disposition", "scanned_at"],
    "ix_message_records_expiry": ["scanned_at"],
}
RECIPIENT_INDEXES = {
    "ix_message_recipients_account_address": ["account_id", "address"],
    "ix_message_recipients_account_domain": ["account_id", "domain"],
}


def _account(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"],
        ["accounts.id"],
        name=op.f(f"fk_{table}_account_id_accounts"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "message_records",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("postfix_id", sa.String(length=40), nullable=False),
        sa.Column("scanned_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.Column("client_ip", sa.String(length=45), nullable=True),
        sa.Column("client_hostname", sa.String(length=255), nullable=True),
        sa.Column("helo", sa.String(length=255), nullable=True),
        sa.Column("tls_protocol", sa.String(length=32), nullable=True),
        sa.Column("tls_cipher", sa.String(length=128), nullable=True),
        sa.Column("envelope_from", sa.String(length=320), nullable=False),
        sa.Column("sender_domain", sa.String(length=255), nullable=False),
        sa.Column("envelope_to", sa.JSON(), nullable=False),
        sa.Column("header_from", sa.String(length=320), nullable=True),
        sa.Column("header_from_domain", sa.String(length=255), nullable=True),
        sa.Column("from_name", sa.String(length=998), nullable=True),
        sa.Column("reply_to", sa.String(length=998), nullable=True),
        sa.Column("to", sa.JSON(), nullable=False),
        sa.Column("to_name", sa.JSON(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.Column("sent_at", mailpolicy.db.UTCDateTime(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("final_disposition", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("is_quarantined", sa.Boolean(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("subject_key", sa.Text(), nullable=True),
        sa.Column("validation", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("settings_version", sa.BigInteger(), nullable=False),
        sa.Column("quarantine_reason", sa.String(length=255), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.Column("raw_complete", sa.Boolean(), nullable=False),
        sa.Column("action_log", sa.JSON(), nullable=False),
        sa.Column("trace", sa.JSON(), nullable=False),
        sa.Column("operations", sa.String(length=128), nullable=False),
        sa.Column("released_at", mailpolicy.db.UTCDateTime(), nullable=True),
        _account("message_records"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_records")),
    )
    with op.batch_alter_table("message_records", schema=None) as batch_op:
        for name, columns in RECORD_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    op.create_table(
        "message_recipients",
        sa.Column("record_id", sa.String(length=80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("protected_domain_id", sa.String(length=36), nullable=False),
        sa.Column("disposition", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("delivery_status", sa.String(length=16), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["message_records.id"],
            name=op.f("fk_message_recipients_record_id_message_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", "position", name=op.f("pk_message_recipients")),
    )
    with op.batch_alter_table("message_recipients", schema=None) as batch_op:
        for name, columns in RECIPIENT_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    op.create_table(
        "message_submissions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=80), nullable=False),
        sa.Column("postfix_id", sa.String(length=40), nullable=False),
        sa.Column("requested_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("original_disposition", sa.String(length=20), nullable=False),
        sa.Column("requested_disposition", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        _account("message_submissions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_submissions")),
    )
    with op.batch_alter_table("message_submissions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_message_submissions_account_time", ["account_id", "requested_at", "id"]
        )
    # The word search: an FTS5 trigram index on SQLite, pg_trgm on PostgreSQL
    # (mailpolicy.messages.search).
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE message_search USING fts5(record_id UNINDEXED, text, "
            "tokenize='trigram', detail=none)"
        )
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_message_records_search_trgm ON message_records "
            "USING gin (search_text gin_trgm_ops)"
        )
    # Audit events now also name message records, whose ids are longer than a UUID.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column(
            "entry_id", existing_type=sa.String(length=36), type_=sa.String(length=80)
        )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM audit_events WHERE resource = 'messages'"))
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column(
            "entry_id", existing_type=sa.String(length=80), type_=sa.String(length=36)
        )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE message_search")
    else:
        op.execute("DROP INDEX ix_message_records_search_trgm")
    with op.batch_alter_table("message_submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_message_submissions_account_time")
    op.drop_table("message_submissions")
    with op.batch_alter_table("message_recipients", schema=None) as batch_op:
        for name in reversed(RECIPIENT_INDEXES):
            batch_op.drop_index(name)
    op.drop_table("message_recipients")
    with op.batch_alter_table("message_records", schema=None) as batch_op:
        for name in reversed(RECORD_INDEXES):
            batch_op.drop_index(name)
    op.drop_table("message_records")
