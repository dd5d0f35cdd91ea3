"""PostgreSQL stopped under traffic: every request meanwhile is a 503 in the v4 envelope, within
a bounded time, never a 500 or a traceback; when PostgreSQL returns, the service recovers by
itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from mailpolicy import migrate
from mailpolicy.db import Database
from tests.support.api import SETTINGS_PATH, make_tenant
from tests.support.postgres import Cluster
from tests.support.servers import Replica

DB_TIMEOUT = 2.0


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    """A cluster of this test's own: it is stopped and started under traffic."""
    made = Cluster()
    yield made
    made.destroy()


@dataclass
class Traffic:
    answers: list[tuple[float, float, int, dict[str, object] | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def drive(base: str, headers: dict[str, str], traffic: Traffic, stop: threading.Event) -> None:
    with httpx.Client(timeout=30, headers=headers) as client:
        n = 0
        while not stop.is_set():
            n += 1
            started = time.monotonic()
            if n % 2:
                response = client.get(f"{base}/block_senders")
            else:
                body = {"pattern": f"o{n}-{id(client)}.example", "pattern_type": "DOMAIN",
                        "is_regex": False}  # fmt: skip
                response = client.post(f"{base}/block_senders", json=body)
            took = time.monotonic() - started
            try:
                payload = response.json()
            except ValueError:
                payload = None
            with traffic.lock:
                traffic.answers.append((started, took, response.status_code, payload))
            time.sleep(0.02)


def test_postgresql_stopped_under_traffic(tmp_path: Path, own_cluster: Cluster) -> None:
    url = own_cluster.create_database("outage")
    migrate.upgrade(url)
    database = Database(url)
    tenant = make_tenant(database, "outage")
    database.dispose()
    replica = Replica(tmp_path / "server", url, settings={"db_timeout": str(DB_TIMEOUT)}).start()
    traffic, stop = Traffic(), threading.Event()
    base = replica.base + SETTINGS_PATH.format(account=tenant.id)
    threads = [
        threading.Thread(target=drive, args=(base, tenant.write, traffic, stop)) for _ in range(3)
    ]
    try:
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        own_cluster.stop("fast")
        down_at = time.monotonic()
        time.sleep(4.0)
        own_cluster.start()
        up_at = time.monotonic()
        deadline = up_at + 20
        while True:
            with traffic.lock:
                recent = [a for a in traffic.answers if a[0] > up_at]
            if len(recent) >= 6 and all(a[2] in {200, 201} for a in recent[-6:]):
                break
            assert time.monotonic() < deadline, "the service did not recover by itself"
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        replica.stop()

    during = [a for a in traffic.answers if down_at + 0.5 < a[0] < up_at - DB_TIMEOUT]
    assert during, "no request was made while PostgreSQL was down"
    for _started, took, status, payload in traffic.answers:
        assert status in {200, 201, 503}, (status, payload)
        assert took < DB_TIMEOUT * 3 + 2, f"a request took {took:.1f} s"
        if status == 503:
            assert payload is not None
            assert payload["success"] is False
            assert payload["result"] is None
            message = payload["errors"][0]["message"]  # type: ignore[index]
            assert "database is unavailable" in message
    assert all(a[2] == 503 for a in during), [a[2] for a in during]
    log = replica.log.read_text()
    assert "Traceback" not in log
