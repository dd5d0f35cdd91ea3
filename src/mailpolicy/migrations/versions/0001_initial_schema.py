"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 02:41:28.384954
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mailpolicy.db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "allow_policies",
        sa.Column("pattern", sa.String(length=1024), nullable=False),
        sa.Column("pattern_type", sa.String(length=16), nullable=False),
        sa.Column("is_regex", sa.Boolean(), nullable=False),
        sa.Column("is_trusted_sender", sa.Boolean(), nullable=False),
        sa.Column("is_acceptable_sender", sa.Boolean(), nullable=False),
        sa.Column("is_exempt_recipient", sa.Boolean(), nullable=False),
        sa.Column("verify_sender", sa.Boolean(), nullable=False),
        sa.Column("comments", sa.String(length=1024), nullable=True),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.Column("modified_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_allow_policies_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allow_policies")),
    )
    with op.batch_alter_table("allow_policies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_allow_policies_account_created", ["account_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_allow_policies_account_pattern", ["account_id", "pattern", "id"], unique=False
        )
        batch_op.create_index(
            "ix_allow_policies_account_type",
            ["account_id", "pattern_type", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "uq_allow_policies_account_dedupe", ["account_id", "dedupe_key"], unique=True
        )

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("permission", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", mailpolicy.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_api_keys_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index("ix_api_keys_email", ["email"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("permission", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", mailpolicy.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_api_tokens_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_tokens_secret_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_account_id"), ["account_id"], unique=False)

    op.create_table(
        "block_senders",
        sa.Column("pattern", sa.String(length=1024), nullable=False),
        sa.Column("pattern_type", sa.String(length=16), nullable=False),
        sa.Column("is_regex", sa.Boolean(), nullable=False),
        sa.Column("comments", sa.String(length=1024), nullable=True),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.Column("modified_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_block_senders_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_block_senders")),
    )
    with op.batch_alter_table("block_senders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_block_senders_account_created", ["account_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_block_senders_account_pattern", ["account_id", "pattern", "id"], unique=False
        )
        batch_op.create_index(
            "ix_block_senders_account_type",
            ["account_id", "pattern_type", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "uq_block_senders_account_dedupe", ["account_id", "dedupe_key"], unique=True
        )

    op.create_table(
        "domains",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("delivery_modes", sa.String(length=128), nullable=False),
        sa.Column("active_delivery_mode", sa.String(length=16), nullable=True),
        sa.Column("drop_dispositions", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("ip_restrictions", sa.JSON(), nullable=False),
        sa.Column("folder", sa.String(length=16), nullable=True),
        sa.Column("integration_id", sa.String(length=36), nullable=True),
        sa.Column("lookback_hops", sa.Integer(), nullable=False),
        sa.Column("require_tls_inbound", sa.Boolean(), nullable=True),
        sa.Column("require_tls_outbound", sa.Boolean(), nullable=True),
        sa.Column("transport", sa.String(length=1024), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("spf_status", sa.String(length=16), nullable=True),
        sa.Column("dmarc_status", sa.String(length=16), nullable=True),
        sa.Column("inbox_provider", sa.String(length=16), nullable=True),
        sa.Column("o365_tenant_id", sa.String(length=64), nullable=True),
        sa.Column("verification_token", sa.String(length=64), nullable=True),
        sa.Column("authorized_at", mailpolicy.db.UTCDateTime(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.Column("modified_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_domains_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domains")),
    )
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.create_index(
            "ix_domains_account_created", ["account_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_domains_account_domain", ["account_id", "domain", "id"], unique=False
        )
        batch_op.create_index(
            "ix_domains_account_integration", ["account_id", "integration_id"], unique=False
        )
        batch_op.create_index(
            "ix_domains_account_status", ["account_id", "status", "created_at"], unique=False
        )
        batch_op.create_index(
            "uq_domains_account_dedupe", ["account_id", "dedupe_key"], unique=True
        )

    op.create_table(
        "impersonation_registry",
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("is_email_regex", sa.Boolean(), nullable=False),
        sa.Column("provenance", sa.String(length=32), nullable=False),
        sa.Column("directory_id", sa.BigInteger(), nullable=True),
        sa.Column("directory_node_id", sa.BigInteger(), nullable=True),
        sa.Column("external_directory_node_id", sa.Text(), nullable=True),
        sa.Column("comments", sa.Text(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.Column("modified_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_impersonation_registry_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_impersonation_registry")),
    )
    with op.batch_alter_table("impersonation_registry", schema=None) as batch_op:
        batch_op.create_index(
            "ix_impersonation_registry_account_created",
            ["account_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_impersonation_registry_account_email", ["account_id", "email", "id"], unique=False
        )
        batch_op.create_index(
            "ix_impersonation_registry_account_name", ["account_id", "name", "id"], unique=False
        )
        batch_op.create_index(
            "ix_impersonation_registry_account_provenance",
            ["account_id", "provenance", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "uq_impersonation_registry_account_dedupe", ["account_id", "dedupe_key"], unique=True
        )

    op.create_table(
        "sending_domain_restrictions",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("exclude", sa.JSON(), nullable=False),
        sa.Column("comments", sa.String(length=1024), nullable=True),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.Column("modified_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_sending_domain_restrictions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sending_domain_restrictions")),
    )
    with op.batch_alter_table("sending_domain_restrictions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sending_domain_restrictions_account_created",
            ["account_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_sending_domain_restrictions_account_domain",
            ["account_id", "domain", "id"],
            unique=False,
        )
        batch_op.create_index(
            "uq_sending_domain_restrictions_account_dedupe",
            ["account_id", "dedupe_key"],
            unique=True,
        )

    op.create_table(
        "trusted_domains",
        sa.Column("pattern", sa.String(length=1024), nullable=False),
        sa.Column("is_regex", sa.Boolean(), nullable=False),
        sa.Column("is_recent", sa.Boolean(), nullable=False),
        sa.Column("is_similarity", sa.Boolean(), nullable=False),
        sa.Column("comments", sa.String(length=1024), nullable=True),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.Column("modified_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_trusted_domains_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusted_domains")),
    )
    with op.batch_alter_table("trusted_domains", schema=None) as batch_op:
        batch_op.create_index(
            "ix_trusted_domains_account_created", ["account_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_trusted_domains_account_pattern", ["account_id", "pattern", "id"], unique=False
        )
        batch_op.create_index(
            "uq_trusted_domains_account_dedupe", ["account_id", "dedupe_key"], unique=True
        )

    op.create_table(
        "url_ignore_patterns",
        sa.Column("pattern", sa.String(length=1024), nullable=False),
        sa.Column("comments", sa.String(length=1024), nullable=True),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.Column("modified_at", mailpolicy.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_url_ignore_patterns_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_url_ignore_patterns")),
    )
    with op.batch_alter_table("url_ignore_patterns", schema=None) as batch_op:
        batch_op.create_index(
            "ix_url_ignore_patterns_account_created",
            ["account_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "uq_url_ignore_patterns_account_dedupe", ["account_id", "dedupe_key"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("url_ignore_patterns", schema=None) as batch_op:
        batch_op.drop_index("uq_url_ignore_patterns_account_dedupe")
        batch_op.drop_index("ix_url_ignore_patterns_account_created")

    op.drop_table("url_ignore_patterns")
    with op.batch_alter_table("trusted_domains", schema=None) as batch_op:
        batch_op.drop_index("uq_trusted_domains_account_dedupe")
        batch_op.drop_index("ix_trusted_domains_account_pattern")
        batch_op.drop_index("ix_trusted_domains_account_created")

    op.drop_table("trusted_domains")
    with op.batch_alter_table("sending_domain_restrictions", schema=None) as batch_op:
        batch_op.drop_index("uq_sending_domain_restrictions_account_dedupe")
        batch_op.drop_index("ix_sending_domain_restrictions_account_domain")
        batch_op.drop_index("ix_sending_domain_restrictions_account_created")

    op.drop_table("sending_domain_restrictions")
    with op.batch_alter_table("impersonation_registry", schema=None) as batch_op:
        batch_op.drop_index("uq_impersonation_registry_account_dedupe")
        batch_op.drop_index("ix_impersonation_registry_account_provenance")
        batch_op.drop_index("ix_impersonation_registry_account_name")
        batch_op.drop_index("ix_impersonation_registry_account_email")
        batch_op.drop_index("ix_impersonation_registry_account_created")

    op.drop_table("impersonation_registry")
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_index("uq_domains_account_dedupe")
        batch_op.drop_index("ix_domains_account_status")
        batch_op.drop_index("ix_domains_account_integration")
        batch_op.drop_index("ix_domains_account_domain")
        batch_op.drop_index("ix_domains_account_created")

    op.drop_table("domains")
    with op.batch_alter_table("block_senders", schema=None) as batch_op:
        batch_op.drop_index("uq_block_senders_account_dedupe")
        batch_op.drop_index("ix_block_senders_account_type")
        batch_op.drop_index("ix_block_senders_account_pattern")
        batch_op.drop_index("ix_block_senders_account_created")

    op.drop_table("block_senders")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_account_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_api_keys_email")

    op.drop_table("api_keys")
    with op.batch_alter_table("allow_policies", schema=None) as batch_op:
        batch_op.drop_index("uq_allow_policies_account_dedupe")
        batch_op.drop_index("ix_allow_policies_account_type")
        batch_op.drop_index("ix_allow_policies_account_pattern")
        batch_op.drop_index("ix_allow_policies_account_created")

    op.drop_table("allow_policies")
    op.drop_table("accounts")
