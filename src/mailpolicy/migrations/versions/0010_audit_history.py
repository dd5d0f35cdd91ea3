"""audit history: every write, who made it, when, and the entry before and after

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mailpolicy.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_audit_events_account_time": ["account_id", "occurred_at", "id"],
    "ix_audit_events_account_entry": ["account_id", "entry_id", "resource", "occurred_at", "id"],
    "ix_audit_events_account_resource": ["account_id", "resource", "occurred_at", "id"],
    "ix_audit_events_account_actor": ["account_id", "actor", "occurred_at", "id"],
    "ix_audit_events_account_batch": ["account_id", "batch_id", "occurred_at", "id"],
}


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("resource", sa.String(length=40), nullable=False),
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("before", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("after", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_audit_events_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        for name in reversed(INDEXES):
            batch_op.drop_index(name)
    op.drop_table("audit_events")
