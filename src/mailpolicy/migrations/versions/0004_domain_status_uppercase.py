"""domain status in capitals, as the current SDKs declare it

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE domains SET status = UPPER(status) WHERE status IS NOT NULL")


def downgrade() -> None:
    op.execute("UPDATE domains SET status = LOWER(status) WHERE status IS NOT NULL")
