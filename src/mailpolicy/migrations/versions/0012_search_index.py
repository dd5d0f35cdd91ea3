"""the settings lists' search, indexed: FTS5 trigram tables on SQLite, pg_trgm on PostgreSQL

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 12:00:00

Each searchable resource's search columns (mailpolicy.resources.search_index says how a search
reads them):

- SQLite: `<table>_search`, an FTS5 table over the table's own rows (external content, keyed by
  the table's rowid, trigram tokenizer folding case) that three triggers keep exact under every
  insert, update of a search column and delete, the deletes of an account's cascade included.
  Existing rows are indexed here.
- PostgreSQL: a pg_trgm GIN index on each search column (`ix_<table>_<column>_trgm`; 0011 made
  the extension), which ILIKE '%...%' uses as it is.

A later migration that rebuilds one of these tables on SQLite (a batch_alter_table that has to
move and copy it) drops its triggers with the old table and renumbers its rowids: it must drop
the table's search index first and make it again after, as `drop_sqlite` and `create_sqlite`
below do. tests/api/test_search_index.py checks that every searchable table has its index, its
columns and its triggers at head.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The search columns of each resource's table, as mailpolicy.resources.* declare them.
SEARCHED = {
    "allow_policies": ("pattern", "comments"),
    "block_senders": ("pattern", "comments"),
    "content_policies": ("name", "pattern", "notes"),
    "domains": ("domain", "transport"),
    "impersonation_registry": ("name", "email", "comments"),
    "sending_domain_restrictions": ("domain", "comments"),
    "trusted_domains": ("pattern", "comments"),
}


def _values(prefix: str, columns: tuple[str, ...]) -> str:
    return ", ".join(f"{prefix}.{column}" for column in columns)


def create_sqlite(table: str, columns: tuple[str, ...]) -> None:
    """The FTS5 index of `table`'s `columns`, its triggers, and every existing row in it."""
    index = f"{table}_search"
    names = ", ".join(columns)
    # External content: the text stays in `table` (the index holds only trigrams), and
    # 'rebuild' reads it back from there. case_sensitive 0 folds case in all of Unicode, more
    # than SQLite's LIKE (ASCII only), so what the index finds is a superset that LIKE narrows.
    # columnsize=0: no per-row token counts, which only ranking reads.
    op.execute(
        f"CREATE VIRTUAL TABLE {index} USING fts5({names}, content='{table}', "
        "content_rowid='rowid', tokenize='trigram case_sensitive 0', detail=full, columnsize=0)"
    )
    # An external-content index forgets a row by being told the values it indexed: the old ones.
    # (The SQL below holds this migration's own table and column names, nothing else.)
    old, new = _values("old", columns), _values("new", columns)
    forget = f"INSERT INTO {index} ({index}, rowid, {names}) VALUES ('delete', old.rowid, {old});"  # noqa: S608
    learn = f"INSERT INTO {index} (rowid, {names}) VALUES (new.rowid, {new});"  # noqa: S608
    op.execute(f"CREATE TRIGGER {index}_insert AFTER INSERT ON {table} BEGIN {learn} END")
    op.execute(f"CREATE TRIGGER {index}_delete AFTER DELETE ON {table} BEGIN {forget} END")
    # Only writes that name a search column (the DNS checks and hit counts of a domain do not).
    op.execute(
        f"CREATE TRIGGER {index}_update AFTER UPDATE OF {names} ON {table} "
        f"BEGIN {forget} {learn} END"
    )
    op.execute(f"INSERT INTO {index} ({index}) VALUES ('rebuild')")  # noqa: S608


def drop_sqlite(table: str) -> None:
    index = f"{table}_search"
    for event in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER {index}_{event}")
    op.execute(f"DROP TABLE {index}")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, columns in SEARCHED.items():
        if sqlite:
            create_sqlite(table, columns)
        else:
            for column in columns:
                op.execute(
                    f"CREATE INDEX ix_{table}_{column}_trgm ON {table} "
                    f"USING gin ({column} gin_trgm_ops)"
                )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, columns in reversed(SEARCHED.items()):
        if sqlite:
            drop_sqlite(table)
        else:
            for column in reversed(columns):
                op.execute(f"DROP INDEX ix_{table}_{column}_trgm")
