"""hit counts per entry, and messages per protected domain

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mailpolicy.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entry_stats",
        sa.Column("resource", sa.String(length=40), nullable=False),
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.Column("last_hit_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_entry_stats_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("resource", "entry_id", name=op.f("pk_entry_stats")),
    )
    with op.batch_alter_table("entry_stats", schema=None) as batch_op:
        batch_op.create_index("ix_entry_stats_account", ["account_id"], unique=False)
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.add_column(sa.Column("count_day", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("count_current", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("count_previous", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_column("count_previous")
        batch_op.drop_column("count_current")
        batch_op.drop_column("count_day")
    with op.batch_alter_table("entry_stats", schema=None) as batch_op:
        batch_op.drop_index("ix_entry_stats_account")
    op.drop_table("entry_stats")
