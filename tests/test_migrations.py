"""Alembic migrations on fresh SQLite files: up to head, down to base and up again, every step
reversible, and the migrated schema exactly what the models declare."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table

import mailpolicy.access.accounts
import mailpolicy.access.credentials
import mailpolicy.access.ratelimit
import mailpolicy.audit.events
import mailpolicy.resources  # registers every table on the metadata
import mailpolicy.stats.hits
from mailpolicy import migrate
from mailpolicy.app import create_app
from mailpolicy.config import Settings
from mailpolicy.db import Base, Database, make_engine
from tests.support.migrations import (
    MODEL_TABLES,
    revisions,
    schema_diff,
    tables,
    walk_every_revision,
)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fresh.db'}"


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_every_model_table_is_registered() -> None:
    expected = {
        "accounts",
        "api_tokens",
        "api_keys",
        "allow_policies",
        "block_senders",
        "domains",
        "impersonation_registry",
        "sending_domain_restrictions",
        "trusted_domains",
        "url_ignore_patterns",
        "content_policies",
        "entry_stats",
        "rate_limit_counters",
        "audit_events",
    }
    assert expected <= MODEL_TABLES


def test_the_schema_comparison_sees_a_difference(url: str, engine: Engine) -> None:
    """The empty diffs below mean something: a model the migrations lack is reported."""
    migrate.upgrade(url)
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    Table("not_migrated", changed, Column("id", String(36), primary_key=True))
    changed.tables["domains"].append_column(Column("extra", Integer, nullable=True))
    diff = schema_diff(engine, changed)
    kinds = {
        (entry[0], getattr(entry[-1], "name", None)) for entry in diff if isinstance(entry, tuple)
    }
    assert ("add_table", "not_migrated") in kinds
    assert ("add_column", "extra") in kinds


def test_a_fresh_file_upgrades_to_head(url: str, engine: Engine) -> None:
    assert migrate.current(url) is None
    migrate.upgrade(url)
    head = migrate.head(url)
    assert head is not None
    assert migrate.current(url) == head
    assert revisions(url)[-1] == head
    assert tables(engine) == MODEL_TABLES | {"alembic_version"}


def test_the_migrated_schema_matches_the_models(url: str, engine: Engine) -> None:
    migrate.upgrade(url)
    assert schema_diff(engine) == []


def test_downgrade_to_base_removes_everything_and_upgrade_restores_it(
    url: str, engine: Engine
) -> None:
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    assert migrate.current(url) is None
    assert tables(engine) & MODEL_TABLES == set()
    assert tables(engine) <= {"alembic_version"}

    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head(url)
    assert tables(engine) == MODEL_TABLES | {"alembic_version"}
    assert schema_diff(engine) == []


def test_every_revision_goes_up_and_down_one_step_at_a_time(url: str, engine: Engine) -> None:
    walk_every_revision(url, engine)


def test_data_survives_a_no_op_upgrade(url: str) -> None:
    migrate.upgrade(url)
    settings = Settings(database_url=url)
    application = create_app(settings)
    database: Database = application.state.db
    with database.transaction() as session:
        account = mailpolicy.access.accounts.create_account(session, "kept")
        _, secret = mailpolicy.access.credentials.create_token(
            session,
            account.id,
            mailpolicy.access.credentials.Permission.WRITE,
            by=mailpolicy.audit.events.CLI,
        )
    headers = {"Authorization": f"Bearer {secret}"}
    path = f"/client/v4/accounts/{account.id}/email-security/settings/block_senders"
    body = {"pattern": "spam.example.net", "pattern_type": "DOMAIN", "is_regex": False}
    try:
        with TestClient(application) as client:
            created = client.post(path, json=body, headers=headers)
            assert created.status_code == 201, created.text

            migrate.upgrade(url)
            migrate.upgrade(url, "head")

            assert migrate.current(url) == migrate.head(url)
            listed = client.get(path, headers=headers)
            assert listed.status_code == 200
            assert listed.json()["result"] == [created.json()["result"]]
    finally:
        database.dispose()


def test_domain_status_moves_to_capitals_and_back(url: str, engine: Engine) -> None:
    """0004: statuses stored lowercase by earlier versions answer in the SDKs' capitals."""
    migrate.upgrade(url, "0003")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO accounts (id, name, created_at) VALUES ('a', 'a', '2026-01-01')"
        )
        for n, status in enumerate(("pending", "active", "timeout", None)):
            conn.exec_driver_sql(
                "INSERT INTO domains (id, account_id, created_at, modified_at, dedupe_key, domain,"
                " delivery_modes, drop_dispositions, regions, ip_restrictions, lookback_hops,"
                " status) VALUES (?, 'a', '2026-01-01', '2026-01-01', ?, ?, ',DIRECT,', '[]',"
                " '[]', '[]', 1, ?)",
                (f"d{n}", f"k{n}", f"d{n}.example", status),
            )

    def statuses() -> list[str | None]:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT status FROM domains ORDER BY id").all()
        return [row[0] for row in rows]

    migrate.upgrade(url, "0004")
    assert statuses() == ["PENDING", "ACTIVE", "TIMEOUT", None]
    migrate.downgrade(url, "0003")
    assert statuses() == ["pending", "active", "timeout", None]


def test_duplicate_keys_are_recomputed_and_old_twins_kept(url: str, engine: Engine) -> None:
    """0005: keys from the engine's normalisers. Entries that turn out to be the same are all
    kept; the oldest holds the key, so a new twin of any of them is refused."""
    migrate.upgrade(url, "0004")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO accounts (id, name, created_at) VALUES ('a', 'a', '2026-01-01')"
        )
        for n, pattern in enumerate(("example.com.", "Example.com", "other.example")):
            conn.exec_driver_sql(
                "INSERT INTO block_senders (id, account_id, created_at, modified_at, dedupe_key,"
                " pattern, pattern_type, is_regex) VALUES (?, 'a', ?, ?, ?, ?, 'DOMAIN', 0)",
                (f"b{n}", f"2026-01-0{n + 1}", f"2026-01-0{n + 1}", f"old{n}", pattern),
            )
    migrate.upgrade(url, "0005")
    with engine.connect() as conn:
        keys = dict(conn.exec_driver_sql("SELECT id, dedupe_key FROM block_senders").all())
    assert len(set(keys.values())) == 3
    assert not any(key.startswith(("old", "rekey:")) for key in keys.values())

    migrate.upgrade(url)
    application = create_app(Settings(database_url=url))
    database: Database = application.state.db
    with database.transaction() as session:
        _, secret = mailpolicy.access.credentials.create_token(
            session,
            "a",
            mailpolicy.access.credentials.Permission.WRITE,
            by=mailpolicy.audit.events.CLI,
        )
    path = "/client/v4/accounts/a/email-security/settings/block_senders"
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        with TestClient(application) as client:
            body = {"pattern": "example.com", "pattern_type": "DOMAIN", "is_regex": False}
            twin = client.post(path, json=body, headers=headers)
            assert twin.status_code == 409, twin.text
            assert "b0" in twin.json()["errors"][0]["message"]
            assert client.get(path, headers=headers).json()["result_info"]["total_count"] == 3
    finally:
        database.dispose()


def test_domains_get_their_dns_checks(url: str, engine: Engine) -> None:
    """0008: a domain active before it was activated by hand (nothing else could) and needs no
    TXT record; a pending one has waited since its creation; every domain is due a check."""
    migrate.upgrade(url, "0007")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO accounts (id, name, created_at) VALUES ('a', 'a', '2026-01-01')"
        )
        for n, status in enumerate(("PENDING", "ACTIVE")):
            conn.exec_driver_sql(
                "INSERT INTO domains (id, account_id, created_at, modified_at, dedupe_key, domain,"
                " delivery_modes, drop_dispositions, regions, ip_restrictions, lookback_hops,"
                " status, verification_token) VALUES (?, 'a', '2026-01-0' || ?, '2026-01-01', ?,"
                " ?, ',DIRECT,', '[]', '[]', '[]', 1, ?, 'tok')",
                (f"d{n}", n + 1, f"k{n}", f"d{n}.example", status),
            )
    migrate.upgrade(url, "0008")
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, verification_token, pending_since, dns_due_at, dns_attempts"
            " FROM domains ORDER BY id"
        ).all()
    pending, active = rows
    assert pending[1] == "tok"
    assert str(pending[2]).startswith("2026-01-01")
    assert active[1] is None
    assert active[2] is None
    assert all(row[3] is not None and row[4] == 0 for row in rows)
    migrate.downgrade(url, "0007")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM domains").scalar() == 2
