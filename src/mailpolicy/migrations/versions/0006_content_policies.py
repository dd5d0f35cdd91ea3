"""content policies

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mailpolicy.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "content_policies",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("pattern", sa.String(length=1024), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.String(length=1024), nullable=True),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.Column("modified_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_content_policies_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_policies")),
    )
    with op.batch_alter_table("content_policies", schema=None) as batch_op:
        batch_op.create_index(
            "uq_content_policies_account_dedupe", ["dedupe_key", "account_id"], unique=True
        )
        batch_op.create_index(
            "ix_content_policies_account_created", ["account_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_content_policies_account_name", ["account_id", "name", "id"], unique=False
        )
        batch_op.create_index(
            "ix_content_policies_account_enabled",
            ["account_id", "enabled", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("content_policies", schema=None) as batch_op:
        batch_op.drop_index("ix_content_policies_account_enabled")
        batch_op.drop_index("ix_content_policies_account_name")
        batch_op.drop_index("ix_content_policies_account_created")
        batch_op.drop_index("uq_content_policies_account_dedupe")
    op.drop_table("content_policies")
