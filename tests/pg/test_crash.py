"""A server killed with SIGKILL in the middle of single writes and batches, again and again:
every write it acknowledged is there afterwards, and no batch is ever half applied. On PostgreSQL
(and, for comparison, on SQLite)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mailpolicy.db import Database
from tests.support.api import SETTINGS_PATH, Tenant, make_tenant
from tests.support.postgres import Cluster
from tests.support.servers import Replica

KILLS = 8
BATCH = 5


@pytest.fixture(params=["postgresql", "sqlite"])
def crash_url(request: pytest.FixtureRequest, cluster: Cluster, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return cluster.create_database(f"crash_{uuid.uuid4().hex[:8]}", "template_pg_tests")
    from mailpolicy import migrate

    url = f"sqlite:///{tmp_path / 'crash.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def crash_tenant(crash_url: str) -> Iterator[Tenant]:
    database = Database(crash_url)
    try:
        yield make_tenant(database, f"crash{uuid.uuid4().hex[:6]}")
    finally:
        database.dispose()


class Ledger:
    """What the server acknowledged, as the clients heard it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.singles: dict[str, str] = {}  # id -> pattern
        self.batches: set[str] = set()  # markers of batches answered 200
        self.attempted: set[str] = set()  # every batch marker sent, whatever became of it


def writer(replica: Replica, tenant: Tenant, ledger: Ledger, stop: threading.Event) -> None:
    base = replica.base + SETTINGS_PATH.format(account=tenant.id) + "/block_senders"
    with httpx.Client(timeout=10, headers=tenant.write) as client:
        while not stop.is_set():
            marker = uuid.uuid4().hex[:12]
            try:
                if random.random() < 0.5:
                    pattern = f"s{marker}.example"
                    body = {"pattern": pattern, "pattern_type": "DOMAIN", "is_regex": False}
                    response = client.post(base, json=body)
                    if response.status_code == 201:
                        with ledger.lock:
                            ledger.singles[response.json()["result"]["id"]] = pattern
                else:
                    posts = [
                        {"pattern": f"b{marker}-{n}.example", "pattern_type": "DOMAIN",
                         "is_regex": False}
                        for n in range(BATCH)
                    ]  # fmt: skip
                    with ledger.lock:
                        ledger.attempted.add(marker)
                    response = client.post(
                        f"{base}/batch",
                        json={"posts": posts, "patches": [], "puts": [], "deletes": []},
                    )
                    if response.status_code == 200:
                        with ledger.lock:
                            ledger.batches.add(marker)
            except httpx.TransportError:
                time.sleep(0.02)  # the server is gone (killed) or not back yet


def check(replica: Replica, tenant: Tenant, ledger: Ledger) -> None:
    base = replica.base + SETTINGS_PATH.format(account=tenant.id) + "/block_senders"
    with httpx.Client(timeout=30, headers=tenant.read) as client:
        stored: dict[str, str] = {}
        page = 1
        while True:
            answer = client.get(base, params={"page": page, "per_page": 1000}).json()
            stored.update({e["id"]: e["pattern"] for e in answer["result"]})
            if len(answer["result"]) < 1000:
                break
            page += 1
    for entry_id, pattern in ledger.singles.items():
        assert stored.get(entry_id) == pattern, f"acknowledged write {pattern} is lost"
    patterns = set(stored.values())
    for marker in ledger.attempted:
        present = sum(f"b{marker}-{n}.example" in patterns for n in range(BATCH))
        if marker in ledger.batches:
            assert present == BATCH, f"acknowledged batch {marker}: {present} of {BATCH}"
        else:
            assert present in {0, BATCH}, f"batch {marker} half applied: {present} of {BATCH}"


def test_sigkill_during_writes_loses_nothing_acknowledged(
    tmp_path: Path, crash_url: str, crash_tenant: Tenant
) -> None:
    ledger = Ledger()
    replica = Replica(tmp_path / "server", crash_url)
    for _ in range(KILLS):
        replica.start()
        stop = threading.Event()
        threads = [
            threading.Thread(target=writer, args=(replica, crash_tenant, ledger, stop))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        time.sleep(random.uniform(0.4, 1.0))
        replica.kill()  # mid-write: the clients are sending as fast as they can
        stop.set()
        for thread in threads:
            thread.join()
    replica.start()
    try:
        check(replica, crash_tenant, ledger)
    finally:
        replica.stop()
    assert len(ledger.singles) > KILLS  # it really was writing
    assert len(ledger.batches) > KILLS
    assert len(ledger.attempted) > len(ledger.batches)  # and some batches met a kill
