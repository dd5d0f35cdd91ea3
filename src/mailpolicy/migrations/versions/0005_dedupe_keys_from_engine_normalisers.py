"""duplicate keys computed with the policy engine's normalisers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 12:30:00

Entries written by earlier versions carry keys computed with the API's own normalisation,
under which `example.com.` and `example.com` were different entries. Every key is computed
again with the resource's identity as it is now. Entries that now turn out to be the same
are all kept (nothing is deleted by a migration): the oldest gets the key, the later ones a
key of their own, and they can be removed through the API.
"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import sqlalchemy as sa
from alembic import op

from mailpolicy.resources import REGISTRY
from mailpolicy.resources.spec import dedupe_key

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names())
    for spec, _router in REGISTRY:
        name = spec.model.__tablename__
        if name not in present:
            continue
        table = sa.Table(name, sa.MetaData(), autoload_with=bind)
        rows = bind.execute(sa.select(table).order_by(table.c.created_at, table.c.id)).mappings()
        taken: set[tuple[str, str]] = set()
        changed: list[tuple[str, str]] = []
        for row in rows:
            key = dedupe_key(spec, SimpleNamespace(**row))
            if (row["account_id"], key) in taken:
                key = hashlib.sha256(f"{key}\x1f{row['id']}".encode()).hexdigest()
            taken.add((row["account_id"], key))
            if key != row["dedupe_key"]:
                changed.append((row["id"], key))
        # Two passes, so that no intermediate state holds one key twice in an account.
        update = table.update().where(table.c.id == sa.bindparam("row_id"))
        if changed:
            bind.execute(
                update.values(dedupe_key=sa.bindparam("key")),
                [{"row_id": i, "key": f"rekey:{i}"} for i, _ in changed],
            )
            bind.execute(
                update.values(dedupe_key=sa.bindparam("key")),
                [{"row_id": i, "key": k} for i, k in changed],
            )


def downgrade() -> None:
    # The keys stay unique under either computation; earlier versions recompute a key
    # whenever they write an entry.
    pass
