"""change feed: each settings write's audit event carries the settings version it moved to

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Events written before this revision keep NULL: a snapshot older than the upgrade finds
    # no event for those versions and is built afresh, which is what it did before.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settings_version", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            "ix_audit_events_account_version", ["account_id", "settings_version"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_account_version")
        batch_op.drop_column("settings_version")
