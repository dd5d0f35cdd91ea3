"""Fresh, migrated databases for tests, on the database the run is for.

`MAILPOLICY_TEST_DATABASE=postgresql` runs the suite on PostgreSQL (a throwaway cluster started
for the run, see tests/support/postgres.py); otherwise SQLite. Either way the schema is migrated
by Alembic once, and each database a test asks for is a copy of that one: a file copy on SQLite,
`CREATE DATABASE ... TEMPLATE` on PostgreSQL.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

from mailpolicy import migrate
from tests.support.postgres import Cluster

VARIABLE = "MAILPOLICY_TEST_DATABASE"


def kind() -> str:
    chosen = os.environ.get(VARIABLE, "sqlite").strip().lower() or "sqlite"
    if chosen not in {"sqlite", "postgresql"}:
        raise RuntimeError(f"{VARIABLE} must be sqlite or postgresql, not {chosen!r}")
    return chosen


class Databases:
    """Hands out fresh migrated databases; `close()` removes whatever it made."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._serial = itertools.count()
        self.cluster: Cluster | None = None
        self._directory = Path(tempfile.mkdtemp(prefix="mailpolicy-db-"))
        if kind == "postgresql":
            self.cluster = Cluster()
            migrate.upgrade(self.cluster.create_database("template_mailpolicy"))
        else:
            self._template = self._directory / "template.db"
            migrate.upgrade(f"sqlite:///{self._template}")

    def fresh(self) -> str:
        """The URL of a new database holding the migrated, empty schema."""
        name = f"test_{next(self._serial)}"
        if self.cluster is not None:
            return self.cluster.create_database(name, template="template_mailpolicy")
        path = self._directory / f"{name}.db"
        shutil.copyfile(self._template, path)
        return f"sqlite:///{path}"

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.destroy()
        shutil.rmtree(self._directory, ignore_errors=True)
