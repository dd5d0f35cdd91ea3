"""DNS checks of protected domains: ownership TXT record, SPF and DMARC status

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mailpolicy.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_since", mailpolicy.db.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("verification_checked_at", mailpolicy.db.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("verification_message", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("dns_checked_at", mailpolicy.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("spf_detail", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("dmarc_detail", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("dns_error", sa.String(length=512), nullable=True))
        batch_op.add_column(
            sa.Column("dns_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("dns_due_at", mailpolicy.db.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_domains_dns_due", ["dns_due_at"], unique=False)
    domains = sa.table(
        "domains",
        sa.column("status", sa.String()),
        sa.column("created_at", mailpolicy.db.UTCDateTime()),
        sa.column("verification_token", sa.String()),
        sa.column("pending_since", mailpolicy.db.UTCDateTime()),
        sa.column("dns_due_at", mailpolicy.db.UTCDateTime()),
    )
    # Until now only the operator could activate a domain: active ones need no TXT record.
    op.execute(domains.update().where(domains.c.status == "ACTIVE").values(verification_token=None))
    # Pending ones have been waiting since they were created; every domain is due a first check.
    op.execute(
        domains.update()
        .where(domains.c.status == "PENDING")
        .values(pending_since=domains.c.created_at)
    )
    op.execute(domains.update().values(dns_due_at=mailpolicy.db.utcnow()))


def downgrade() -> None:
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_index("ix_domains_dns_due")
        batch_op.drop_column("dns_due_at")
        batch_op.drop_column("dns_attempts")
        batch_op.drop_column("dns_error")
        batch_op.drop_column("dmarc_detail")
        batch_op.drop_column("spf_detail")
        batch_op.drop_column("dns_checked_at")
        batch_op.drop_column("verification_message")
        batch_op.drop_column("verification_checked_at")
        batch_op.drop_column("pending_since")
