"""docs/deploy.md's backups, restored: pg_dump / pg_restore on PostgreSQL and sqlite3's .backup
on SQLite bring back exactly what was written before the backup; `mailpolicy db upgrade` moves a
database from an older revision to the current one with its data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from mailpolicy import migrate
from mailpolicy.db import Database
from tests.support.api import SETTINGS_PATH, Tenant, make_tenant
from tests.support.postgres import Cluster
from tests.support.servers import Replica


def write(replica: Replica, tenant: Tenant, prefix: str, count: int) -> list[dict[str, Any]]:
    url = replica.base + SETTINGS_PATH.format(account=tenant.id) + "/block_senders"
    made = []
    for n in range(count):
        body = {"pattern": f"{prefix}{n}.example", "pattern_type": "DOMAIN", "is_regex": False}
        response = httpx.post(url, json=body, headers=tenant.write, timeout=30)
        assert response.status_code == 201, response.text
        made.append(response.json()["result"])
    return made


def stored(replica: Replica, tenant: Tenant) -> list[dict[str, Any]]:
    url = replica.base + SETTINGS_PATH.format(account=tenant.id) + "/block_senders"
    answer = httpx.get(url, params={"per_page": 1000}, headers=tenant.read, timeout=30).json()
    entries: list[dict[str, Any]] = answer["result"]
    return sorted(entries, key=lambda e: e["id"])


def libpq(url: str) -> str:
    """A SQLAlchemy URL as pg_dump and pg_restore take it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr


def test_pg_dump_and_pg_restore(tmp_path: Path, cluster: Cluster) -> None:
    url = cluster.create_database("to_back_up", template="template_pg_tests")
    database = Database(url)
    tenant = make_tenant(database, "backedup")
    database.dispose()
    replica = Replica(tmp_path / "live", url).start()
    try:
        before = write(replica, tenant, "kept", 25)
        dump = tmp_path / "mailpolicy.dump"
        run("pg_dump", "--format=custom", f"--file={dump}", libpq(url))  # while serving
        write(replica, tenant, "later", 5)  # after the backup: not in it
    finally:
        replica.stop()
    restored_url = cluster.create_database("restored")
    run("pg_restore", "--no-owner", f"--dbname={libpq(restored_url)}", str(dump))
    restored = Replica(tmp_path / "restored", restored_url).start()
    try:
        assert stored(restored, tenant) == sorted(before, key=lambda e: e["id"])
        write(restored, tenant, "new", 1)  # a working service, credentials included
    finally:
        restored.stop()


def test_sqlite_backup_while_serving_and_restore(tmp_path: Path) -> None:
    live = tmp_path / "var" / "mailpolicy.db"
    url = f"sqlite:///{live}"
    migrate.upgrade(url)
    database = Database(url)
    tenant = make_tenant(database, "sqlitebackup")
    database.dispose()
    replica = Replica(tmp_path, url).start()
    backup = tmp_path / "var" / "mailpolicy-backup.db"
    try:
        before = write(replica, tenant, "kept", 25)
        run("sqlite3", str(live), f".backup {backup}")  # online: the server keeps serving
        write(replica, tenant, "later", 5)
    finally:
        replica.stop()
    # Restore: with the server stopped, the backup replaces the database and its WAL files.
    for leftover in (live, live.with_name(live.name + "-wal"), live.with_name(live.name + "-shm")):
        leftover.unlink(missing_ok=True)
    backup.rename(live)
    replica.start()
    try:
        assert stored(replica, tenant) == sorted(before, key=lambda e: e["id"])
    finally:
        replica.stop()


def test_db_upgrade_brings_an_older_database_to_head_with_its_data(
    tmp_path: Path, cluster: Cluster
) -> None:
    url = cluster.create_database("older", template="template_pg_tests")
    database = Database(url)
    tenant = make_tenant(database, "older")
    database.dispose()
    replica = Replica(tmp_path / "old", url).start()
    try:
        before = write(replica, tenant, "old", 5)
    finally:
        replica.stop()
    migrate.downgrade(url, "0008")  # as a database left by an earlier release
    assert migrate.current(url) == "0008"
    mailpolicy = str(Path(sys.executable).with_name("mailpolicy"))
    env = {"MAILPOLICY_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [mailpolicy, "db", "upgrade"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert migrate.current(url) == migrate.head(url)
    replica.start()
    try:
        assert stored(replica, tenant) == sorted(before, key=lambda e: e["id"])
    finally:
        replica.stop()
