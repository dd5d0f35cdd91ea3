"""Concurrent clients against a live server: what each request validates is what it writes, a
list's count and its page come from one snapshot, and the duplicate rule holds under races."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mailpolicy.app import create_app
from mailpolicy.config import Settings
from tests.support.api import LiveServer, Tenant, make_tenant

SENDERS = "email-security/settings/block_senders"
PAIRS = 200


@pytest.fixture(scope="module")
def app(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """As the suite's, without rate limits: these tests send as many requests from one token
    as a few seconds allow, to look at consistency, not at quotas (test_rate_limits.py)."""
    path = tmp_path_factory.mktemp("concurrency") / "mailpolicy.db"
    shutil.copyfile(template_db, path)
    application = create_app(Settings(database_url=f"sqlite:///{path}", rate_limit=0))
    yield application
    application.state.db.dispose()


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[Callable[[], httpx.Client]]:
    """A client per worker thread, all closed at the end."""
    clients: list[httpx.Client] = []
    local = threading.local()
    lock = threading.Lock()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=live_server.base_url, timeout=60)
            with lock:
                clients.append(local.client)
        made: httpx.Client = local.client
        return made

    yield client
    for each in clients:
        each.close()


def url(tenant: Tenant, path: str = SENDERS, *parts: str) -> str:
    return "/".join([f"/accounts/{tenant.id}/{path}", *parts])


# Pairs of PATCHes, each valid against the entry as it was, whose merge is not valid: a server
# that validates a copy read before its write would store the merge.
CONFLICTS: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        # An address becomes a domain, while another request changes the address.
        {"pattern_type": "EMAIL", "pattern": "u{n}@x.example", "is_regex": False},
        {"pattern_type": "DOMAIN", "pattern": "d{n}.example"},
        {"pattern": "w{n}@x.example"},
    ),
    (
        # A regex becomes a plain domain, while another request writes a new regex.
        {"pattern_type": "DOMAIN", "pattern": "r{n}\\.example", "is_regex": True},
        {"is_regex": False, "pattern": "r{n}.example"},
        {"pattern": "x{n}[a-z]+"},
    ),
    (
        # An address becomes a regex, while another request writes an address RE2 refuses.
        {"pattern_type": "EMAIL", "pattern": "v{n}@x.example", "is_regex": False},
        {"is_regex": True, "pattern": "v{n}@.*"},
        {"pattern": "*v{n}@x.example"},
    ),
]


def _fill(template: dict[str, Any], n: int) -> dict[str, Any]:
    return {k: v.format(n=n) if isinstance(v, str) else v for k, v in template.items()}


def test_conflicting_patches_never_store_an_invalid_entry(
    app: FastAPI, http: Callable[[], httpx.Client]
) -> None:
    tenant = make_tenant(app.state.db, "patches")
    scratch = make_tenant(app.state.db, "patches-check")
    entries = []
    for n in range(PAIRS):
        created, first, second = CONFLICTS[n % len(CONFLICTS)]
        response = http().post(url(tenant), json=_fill(created, n), headers=tenant.write)
        assert response.status_code == 201, response.text
        entries.append((response.json()["result"]["id"], _fill(first, n), _fill(second, n)))
    barrier = threading.Barrier(2)

    def patch(entry_id: str, body: dict[str, Any]) -> int:
        barrier.wait()
        response = http().patch(url(tenant, SENDERS, entry_id), json=body, headers=tenant.write)
        assert response.status_code in {200, 400, 409}, response.text
        return response.status_code

    outcomes: list[tuple[int, int]] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for entry_id, first, second in entries:
            a = pool.submit(patch, entry_id, first)
            b = pool.submit(patch, entry_id, second)
            outcomes.append((a.result(), b.result()))
    # Each pair has a valid order, and the later request is judged against the earlier one.
    assert all(200 in pair for pair in outcomes)

    stored = http().get(url(tenant), params={"per_page": 1000}, headers=tenant.read).json()
    assert stored["result_info"]["total_count"] == PAIRS
    invalid = []
    for entry in stored["result"]:
        body = {k: entry[k] for k in ("pattern", "pattern_type", "is_regex")}
        # The same validation as a create: the stored entry, created again elsewhere.
        again = http().post(url(scratch), json=body, headers=scratch.write)
        if again.status_code != 201:
            invalid.append((entry, again.json()["errors"]))
    assert invalid == []


def test_a_page_and_its_count_come_from_one_snapshot(
    app: FastAPI, http: Callable[[], httpx.Client]
) -> None:
    """Writers add and remove ten entries at a time, atomically; every page a reader sees
    holds as many entries as its total_count says exist, and a multiple of ten."""
    tenant = make_tenant(app.state.db, "snapshot")
    batch = url(tenant, SENDERS, "batch")
    stop = threading.Event()
    seen: list[tuple[int, int]] = []

    def body(n: int) -> dict[str, Any]:
        return {"pattern": f"s{n}.example", "pattern_type": "DOMAIN", "is_regex": False}

    def writer(start: int) -> None:
        n = start
        while not stop.is_set():
            posts = [body(n + k) for k in range(10)]
            made = http().post(
                batch,
                json={"deletes": [], "patches": [], "puts": [], "posts": posts},
                headers=tenant.write,
            )
            assert made.status_code == 200, made.text
            ids = [{"id": e["id"]} for e in made.json()["result"]["posts"]]
            gone = http().post(
                batch,
                json={"deletes": ids, "patches": [], "puts": [], "posts": []},
                headers=tenant.write,
            )
            assert gone.status_code == 200, gone.text
            n += 10

    def reader() -> None:
        while not stop.is_set() or len(seen) < 200:
            page = http().get(url(tenant), params={"per_page": 1000}, headers=tenant.read)
            assert page.status_code == 200, page.text
            answer = page.json()
            seen.append((answer["result_info"]["total_count"], len(answer["result"])))

    with ThreadPoolExecutor(max_workers=5) as pool:
        tasks = [pool.submit(writer, k * 100_000) for k in range(3)]
        tasks += [pool.submit(reader) for _ in range(2)]
        threading.Event().wait(3)
        stop.set()
        for task in tasks:
            task.result()
    assert len(seen) >= 200
    assert all(total == count for total, count in seen), [p for p in seen if p[0] != p[1]][:5]
    assert all(total % 10 == 0 for total, _ in seen)
    assert {total for total, _ in seen} - {0}, "the readers saw the writers' entries"


def test_identical_concurrent_creates_make_one_entry(
    app: FastAPI, http: Callable[[], httpx.Client]
) -> None:
    tenant = make_tenant(app.state.db, "identical")
    body = {"pattern": "same@x.example", "pattern_type": "EMAIL", "is_regex": False}
    barrier = threading.Barrier(8)

    def create(_: int) -> int:
        barrier.wait()
        return http().post(url(tenant), json=body, headers=tenant.write).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(create, range(8)))
    assert statuses == [201] + [409] * 7


def test_event_loops_that_come_and_go_give_their_connections_back(
    app: FastAPI, tenant: Tenant
) -> None:
    """A test client used without a `with` block runs every request on an event loop of its own,
    in a thread of its own. Lookups and small writes hold a connection per event-loop thread;
    when that thread ends the connection goes back, so the pool (5 + 10 here) never runs dry."""
    client = TestClient(app)
    url = tenant.url("block_senders")
    created = client.post(
        url,
        headers=tenant.write,
        json={"is_regex": False, "pattern": "first@example.com", "pattern_type": "EMAIL"},
    )
    assert created.status_code == 201, created.text
    entry = created.json()["result"]["id"]
    statuses = []
    for i in range(40):
        statuses.append(client.get(f"{url}/{entry}", headers=tenant.read).status_code)
        edited = client.patch(
            f"{url}/{entry}", headers=tenant.write, json={"comments": f"edit {i}"}
        )
        statuses.append(edited.status_code)
    assert statuses == [200] * 80
    final = client.get(f"{url}/{entry}", headers=tenant.read).json()["result"]
    assert final["comments"] == "edit 39"
