"""Several mailpolicy replicas (one of them with two workers) on one PostgreSQL database behave
as one service: no lost update, one winner among identical creates, atomic batches, a list's count
and page that agree, and a change made through one replica enforced by the others within 1 s."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from mailpolicy.audit.events import CLI
from mailpolicy.db import Database
from mailpolicy.engine import Message, evaluate
from mailpolicy.milter.policies import Policies
from mailpolicy.resources.domains import activate
from tests.support.api import SETTINGS_PATH, Tenant, make_tenant
from tests.support.postgres import Cluster
from tests.support.servers import Replica, replicas

_serial = itertools.count()

DOMAIN = {
    "domain": "corp.example",
    "allowed_delivery_modes": ["DIRECT"],
    "drop_dispositions": ["MALICIOUS"],
    "ip_restrictions": [],
    "regions": ["GLOBAL"],
}


class Service:
    """The replicas, taken in turn: each request goes to the next one."""

    def __init__(self, servers: tuple[Replica, ...], tenant: Tenant) -> None:
        self.servers = servers
        self.tenant = tenant
        self._turn = itertools.count()
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(timeout=30)
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        server = self.servers[next(self._turn) % len(self.servers)]
        headers = kwargs.pop("headers", self.tenant.write)
        url = server.base + SETTINGS_PATH.format(account=self.tenant.id) + path
        return self._client().request(method, url, headers=headers, **kwargs)

    def evaluate(self, server: Replica, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{server.base}/client/v4/accounts/{self.tenant.id}/email-security/evaluate"
        response = self._client().post(url, json=body, headers=self.tenant.read)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["result"]
        return result


@pytest.fixture(scope="module")
def database_of_replicas(cluster: Cluster) -> str:
    return cluster.create_database("replicas", template="template_pg_tests")


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, database_of_replicas: str
) -> Iterator[tuple[Replica, ...]]:
    """Replica a with two workers, replica b with one, on one database, for the module."""
    directory = tmp_path_factory.mktemp("replicas")
    with replicas(
        Replica(directory / "a", database_of_replicas, workers=2),
        Replica(directory / "b", database_of_replicas),
    ) as started:
        yield started
        for server in started:
            assert "Traceback" not in server.log.read_text()


@pytest.fixture
def service(servers: tuple[Replica, ...], database_of_replicas: str) -> Iterator[Service]:
    """The replicas, for an account of the test's own."""
    database = Database(database_of_replicas)
    try:
        tenant = make_tenant(database, f"replicas{next(_serial)}")
    finally:
        database.dispose()
    made = Service(servers, tenant)
    yield made
    made.close()


def batch_of(**arrays: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {name: arrays.get(name, []) for name in ("posts", "patches", "puts", "deletes")}


def in_parallel(count: int, work: Callable[[int], Any]) -> list[Any]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(work, range(count)))


def test_concurrent_patches_of_one_entry_lose_nothing(service: Service) -> None:
    created = service.request("POST", "/domains", json=DOMAIN)
    assert created.status_code == 201, created.text
    path = f"/domains/{created.json()['result']['id']}"
    # Each writer owns one field and sets it again and again; whatever it was last told was
    # saved must be what the entry holds at the end.
    fields: dict[str, Callable[[int], Any]] = {
        "folder": lambda n: ["AllItems", "Inbox"][n % 2],
        "transport": lambda n: f"mx{n}.corp.example",
        "require_tls_inbound": lambda n: n % 2 == 0,
        "require_tls_outbound": lambda n: n % 2 == 1,
        "lookback_hops": lambda n: 1 + n % 20,
        "regions": lambda n: [["GLOBAL"], ["US"], ["DE", "AU"]][n % 3],
        "drop_dispositions": lambda n: [["MALICIOUS"], ["SPAM", "BULK"], []][n % 3],
        "ip_restrictions": lambda n: [f"192.0.2.{n % 250}"],
    }
    names = list(fields)

    def writer(index: int) -> tuple[str, Any]:
        name = names[index]
        last = None
        for n in range(25):
            value = fields[name](n)
            response = service.request("PATCH", path, json={name: value})
            assert response.status_code == 200, response.text
            last = value
        return name, last

    acknowledged = dict(in_parallel(len(names), writer))
    final = service.request("GET", path).json()["result"]
    for name, value in acknowledged.items():
        assert final[name] == value, name


def test_identical_creates_at_once_make_one_entry(service: Service) -> None:
    body = {"pattern": "twin.example", "pattern_type": "DOMAIN", "is_regex": False}
    statuses = in_parallel(16, lambda _: service.request("POST", "/block_senders", json=body))
    codes = sorted(r.status_code for r in statuses)
    assert codes == [201] + [409] * 15, codes
    listed = service.request("GET", "/block_senders").json()
    assert listed["result_info"]["total_count"] == 1


def test_concurrent_batches_are_all_or_nothing(service: Service) -> None:
    shared = service.request(
        "POST", "/block_senders", json={"pattern": "shared.example", "pattern_type": "DOMAIN",
                                        "is_regex": False},
    ).json()["result"]["id"]  # fmt: skip

    def batch(index: int) -> int:
        posts = [
            {"pattern": f"b{index}-{n}.example", "pattern_type": "DOMAIN", "is_regex": False}
            for n in range(5)
        ]
        response = service.request(
            "POST",
            "/block_senders/batch",
            json={"posts": posts, "patches": [], "puts": [], "deletes": [{"id": shared}]},
        )
        return response.status_code

    codes = in_parallel(12, batch)
    assert sorted(codes) == [200] + [404] * 11, (
        codes
    )  # one batch deleted it; the rest found it gone
    listed = service.request("GET", "/block_senders", params={"per_page": 100}).json()
    patterns = sorted(e["pattern"] for e in listed["result"])
    winner = codes.index(200)
    assert patterns == sorted(f"b{winner}-{n}.example" for n in range(5))


def test_a_lists_count_and_page_agree_under_concurrent_batches(service: Service) -> None:
    stop = time.monotonic() + 4

    def writer(index: int) -> int:
        rounds = 0
        while time.monotonic() < stop:
            posts = [
                {"pattern": f"w{index}-{rounds}-{n}.example", "pattern_type": "DOMAIN",
                 "is_regex": False}
                for n in range(10)
            ]  # fmt: skip
            made = service.request("POST", "/block_senders/batch", json=batch_of(posts=posts))
            assert made.status_code == 200, made.text
            ids = [{"id": e["id"]} for e in made.json()["result"]["posts"]]
            gone = service.request("POST", "/block_senders/batch", json=batch_of(deletes=ids))
            assert gone.status_code == 200, gone.text
            rounds += 1
        return rounds

    def reader(_: int) -> int:
        checked = 0
        while time.monotonic() < stop:
            page = service.request("GET", "/block_senders", params={"per_page": 1000}).json()
            assert len(page["result"]) == page["result_info"]["total_count"], page["result_info"]
            assert page["result_info"]["count"] == len(page["result"])
            checked += 1
        return checked

    with ThreadPoolExecutor(6) as pool:
        writes = [pool.submit(writer, i) for i in range(3)]
        reads = [pool.submit(reader, i) for i in range(3)]
        assert sum(f.result() for f in writes) > 0
        assert sum(f.result() for f in reads) > 0


def test_a_change_through_one_replica_is_enforced_by_the_others(
    service: Service, database_of_replicas: str
) -> None:
    created = service.request("POST", "/domains", json=DOMAIN)
    assert created.status_code == 201
    database = Database(database_of_replicas)
    with database.transaction() as session:
        activate(session, created.json()["result"]["id"], CLI)
    policies = Policies(database, interval=0.1)  # the milter's view, in another process's shoes
    policies.start()
    try:
        message = {
            "envelope_from": "news@mail.sender.example",
            "header_from": '"Sender" <news@sender.example>',
            "recipients": ["alice@corp.example"],
            "client_ip": "203.0.113.7",
        }
        engine_message = Message(
            envelope_from=message["envelope_from"],
            header_from=message["header_from"],
            recipients=tuple(message["recipients"]),
            client_ip=message["client_ip"],
        )
        a, b = service.servers
        for server in (a, b):
            assert service.evaluate(server, message)["recipients"][0]["disposition"] == "NONE"
        block = {"pattern": "sender.example", "pattern_type": "DOMAIN", "is_regex": False}
        url = a.base + SETTINGS_PATH.format(account=service.tenant.id) + "/block_senders"
        posted = httpx.post(url, json=block, headers=service.tenant.write, timeout=10)
        assert posted.status_code == 201
        changed = time.monotonic()
        seen: dict[str, float] = {}
        while len(seen) < 3 and time.monotonic() - changed < 1.0:
            for name, server in (("a", a), ("b", b)):
                if name not in seen:
                    verdict = service.evaluate(server, message)["recipients"][0]
                    if verdict["disposition"] == "MALICIOUS":
                        seen[name] = time.monotonic() - changed
            route = policies.route("alice@corp.example")
            snapshot = policies.snapshot(route.account_id) if route else None
            if "milter" not in seen and snapshot is not None:
                (verdict,) = evaluate(engine_message, snapshot).recipients
                if verdict.disposition == "MALICIOUS":
                    seen["milter"] = time.monotonic() - changed
            time.sleep(0.02)
        assert set(seen) == {"a", "b", "milter"}, seen
    finally:
        policies.stop()
        database.dispose()
