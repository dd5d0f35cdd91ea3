"""list indexes for filters and orderings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 03:20:04.742947
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("allow_policies", schema=None) as batch_op:
        batch_op.drop_index("ix_allow_policies_account_type")
        batch_op.create_index(
            "ix_allow_policies_account_type",
            ["account_id", "pattern_type", "created_at", "id"],
            unique=False,
        )
        batch_op.drop_index("uq_allow_policies_account_dedupe")
        batch_op.create_index(
            "uq_allow_policies_account_dedupe", ["dedupe_key", "account_id"], unique=True
        )
        batch_op.create_index(
            "ix_allow_policies_account_is_acceptable_sender",
            ["account_id", "is_acceptable_sender", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_allow_policies_account_is_exempt_recipient",
            ["account_id", "is_exempt_recipient", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_allow_policies_account_is_trusted_sender",
            ["account_id", "is_trusted_sender", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_allow_policies_account_type_pattern",
            ["account_id", "pattern_type", "pattern", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_allow_policies_account_verify_sender",
            ["account_id", "verify_sender", "created_at", "id"],
            unique=False,
        )

    with op.batch_alter_table("block_senders", schema=None) as batch_op:
        batch_op.drop_index("ix_block_senders_account_type")
        batch_op.create_index(
            "ix_block_senders_account_type",
            ["account_id", "pattern_type", "created_at", "id"],
            unique=False,
        )
        batch_op.drop_index("uq_block_senders_account_dedupe")
        batch_op.create_index(
            "uq_block_senders_account_dedupe", ["dedupe_key", "account_id"], unique=True
        )
        batch_op.create_index(
            "ix_block_senders_account_type_pattern",
            ["account_id", "pattern_type", "pattern", "id"],
            unique=False,
        )

    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_index("ix_domains_account_integration")
        batch_op.create_index(
            "ix_domains_account_integration",
            ["account_id", "integration_id", "created_at", "id"],
            unique=False,
        )
        batch_op.drop_index("ix_domains_account_status")
        batch_op.create_index(
            "ix_domains_account_status", ["account_id", "status", "created_at", "id"], unique=False
        )
        batch_op.drop_index("uq_domains_account_dedupe")
        batch_op.create_index(
            "uq_domains_account_dedupe", ["dedupe_key", "account_id"], unique=True
        )
        batch_op.create_index(
            "ix_domains_account_active_mode",
            ["account_id", "active_delivery_mode", "created_at", "id"],
            unique=False,
        )

    with op.batch_alter_table("impersonation_registry", schema=None) as batch_op:
        batch_op.drop_index("uq_impersonation_registry_account_dedupe")
        batch_op.create_index(
            "uq_impersonation_registry_account_dedupe", ["dedupe_key", "account_id"], unique=True
        )

    with op.batch_alter_table("sending_domain_restrictions", schema=None) as batch_op:
        batch_op.drop_index("uq_sending_domain_restrictions_account_dedupe")
        batch_op.create_index(
            "uq_sending_domain_restrictions_account_dedupe",
            ["dedupe_key", "account_id"],
            unique=True,
        )

    with op.batch_alter_table("trusted_domains", schema=None) as batch_op:
        batch_op.drop_index("uq_trusted_domains_account_dedupe")
        batch_op.create_index(
            "uq_trusted_domains_account_dedupe", ["dedupe_key", "account_id"], unique=True
        )

    with op.batch_alter_table("url_ignore_patterns", schema=None) as batch_op:
        batch_op.drop_index("uq_url_ignore_patterns_account_dedupe")
        batch_op.create_index(
            "uq_url_ignore_patterns_account_dedupe", ["dedupe_key", "account_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("url_ignore_patterns", schema=None) as batch_op:
        batch_op.drop_index("uq_url_ignore_patterns_account_dedupe")
        batch_op.create_index(
            "uq_url_ignore_patterns_account_dedupe", ["account_id", "dedupe_key"], unique=True
        )

    with op.batch_alter_table("trusted_domains", schema=None) as batch_op:
        batch_op.drop_index("uq_trusted_domains_account_dedupe")
        batch_op.create_index(
            "uq_trusted_domains_account_dedupe", ["account_id", "dedupe_key"], unique=True
        )

    with op.batch_alter_table("sending_domain_restrictions", schema=None) as batch_op:
        batch_op.drop_index("uq_sending_domain_restrictions_account_dedupe")
        batch_op.create_index(
            "uq_sending_domain_restrictions_account_dedupe",
            ["account_id", "dedupe_key"],
            unique=True,
        )

    with op.batch_alter_table("impersonation_registry", schema=None) as batch_op:
        batch_op.drop_index("uq_impersonation_registry_account_dedupe")
        batch_op.create_index(
            "uq_impersonation_registry_account_dedupe", ["account_id", "dedupe_key"], unique=True
        )

    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_index("ix_domains_account_active_mode")
        batch_op.drop_index("uq_domains_account_dedupe")
        batch_op.create_index(
            "uq_domains_account_dedupe", ["account_id", "dedupe_key"], unique=True
        )
        batch_op.drop_index("ix_domains_account_status")
        batch_op.create_index(
            "ix_domains_account_status", ["account_id", "status", "created_at"], unique=False
        )
        batch_op.drop_index("ix_domains_account_integration")
        batch_op.create_index(
            "ix_domains_account_integration", ["account_id", "integration_id"], unique=False
        )

    with op.batch_alter_table("block_senders", schema=None) as batch_op:
        batch_op.drop_index("ix_block_senders_account_type_pattern")
        batch_op.drop_index("uq_block_senders_account_dedupe")
        batch_op.create_index(
            "uq_block_senders_account_dedupe", ["account_id", "dedupe_key"], unique=True
        )
        batch_op.drop_index("ix_block_senders_account_type")
        batch_op.create_index(
            "ix_block_senders_account_type",
            ["account_id", "pattern_type", "created_at"],
            unique=False,
        )

    with op.batch_alter_table("allow_policies", schema=None) as batch_op:
        batch_op.drop_index("ix_allow_policies_account_verify_sender")
        batch_op.drop_index("ix_allow_policies_account_type_pattern")
        batch_op.drop_index("ix_allow_policies_account_is_trusted_sender")
        batch_op.drop_index("ix_allow_policies_account_is_exempt_recipient")
        batch_op.drop_index("ix_allow_policies_account_is_acceptable_sender")
        batch_op.drop_index("uq_allow_policies_account_dedupe")
        batch_op.create_index(
            "uq_allow_policies_account_dedupe", ["account_id", "dedupe_key"], unique=True
        )
        batch_op.drop_index("ix_allow_policies_account_type")
        batch_op.create_index(
            "ix_allow_policies_account_type",
            ["account_id", "pattern_type", "created_at"],
            unique=False,
        )
