"""Rate limits, per credential, as Cloudflare's API has them: the RateLimit fields on every
answer, 429 with Retry-After past the quota, recovery when the window ends, and an exact cap
however many threads and processes share one database."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openapi_schema_validator import OAS31Validator
from sqlalchemy import event, func, select

from mailpolicy.access.ratelimit import RateCounter
from mailpolicy.app import create_app
from mailpolicy.config import Settings
from mailpolicy.db import Database
from tests.support.api import Tenant, assert_error, make_tenant, serving

SENDERS = "block_senders"
SENDER = {"pattern": "spam.example.net", "pattern_type": "DOMAIN", "is_regex": False}

MakeApp = Callable[..., FastAPI]


@pytest.fixture
def database_file(template_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "limits.db"
    shutil.copyfile(template_db, path)
    return path


@pytest.fixture
def make_app(database_file: Path) -> Iterator[MakeApp]:
    """Apps on one migrated database file, each with its own engine and limiter: two of them
    stand for two processes (or replicas) sharing the database."""
    made: list[FastAPI] = []

    def factory(**settings: Any) -> FastAPI:
        app = create_app(Settings(database_url=f"sqlite:///{database_file}", **settings))
        made.append(app)
        return app

    yield factory
    for app in made:
        app.state.db.dispose()


def parse(field: str) -> tuple[str, dict[str, int]]:
    """One structured-field list item, `"name";a=1;b=2`, as its name and integer parameters."""
    name, *parameters = field.split(";")
    assert name.startswith('"')
    assert name.endswith('"')
    values = dict(p.split("=", 1) for p in parameters)
    return name[1:-1], {k: int(v) for k, v in values.items()}


def quota(response: httpx.Response) -> tuple[int, int]:
    """(remaining, seconds to reset) from an answer's RateLimit field."""
    name, values = parse(response.headers["ratelimit"])
    assert name == "default"
    assert set(values) == {"r", "t"}
    return values["r"], values["t"]


def granted(database: Database) -> int:
    """Requests granted in every credential's current window, as the database holds them."""
    with database.transaction(write=False) as session:
        total = session.scalar(select(func.coalesce(func.sum(RateCounter.used), 0)))
    return int(total or 0)


def test_every_answer_carries_the_policy_and_what_is_left(make_app: MakeApp) -> None:
    app = make_app(rate_limit=50)
    tenant = make_tenant(app.state.db, "headers")
    with TestClient(app) as client:
        answers = [
            client.get(tenant.url(SENDERS), headers=tenant.write),  # 200
            client.post(tenant.url(SENDERS), headers=tenant.write, json=SENDER),  # 201
            client.post(tenant.url(SENDERS), headers=tenant.write, json={}),  # 400
            client.get(tenant.url(SENDERS, "nope"), headers=tenant.write),  # 404
            client.post(tenant.url(SENDERS), headers=tenant.write, json=SENDER),  # 409
            client.post(tenant.url(SENDERS, "batch"), headers=tenant.write, content=b"{"),  # 400
        ]
    assert [a.status_code for a in answers] == [200, 201, 400, 404, 409, 400]
    for n, answer in enumerate(answers, start=1):
        assert answer.headers["ratelimit-policy"] == '"default";q=50;w=300'
        remaining, reset = quota(answer)
        assert remaining == 50 - n, answer.headers
        assert 0 < reset <= 300
        assert "retry-after" not in answer.headers
    assert parse(answers[0].headers["ratelimit-policy"]) == ("default", {"q": 50, "w": 300})


def test_the_default_is_cloudflares_1200_per_five_minutes(make_app: MakeApp) -> None:
    app = make_app()
    tenant = make_tenant(app.state.db, "default")
    with TestClient(app) as client:
        answer = client.get(tenant.url(SENDERS), headers=tenant.read)
    assert answer.status_code == 200
    assert answer.headers["ratelimit-policy"] == '"default";q=1200;w=300'
    assert quota(answer) == (1199, 300)


def test_past_the_limit_a_429_says_when_to_retry_and_then_requests_succeed(
    make_app: MakeApp,
) -> None:
    app = make_app(rate_limit=3, rate_limit_window_seconds=2)
    tenant = make_tenant(app.state.db, "throttled")
    with TestClient(app) as client:
        served = [client.get(tenant.url(SENDERS), headers=tenant.write) for _ in range(3)]
        assert [quota(a)[0] for a in served] == [2, 1, 0]
        refused = client.get(tenant.url(SENDERS), headers=tenant.write)
        assert refused.status_code == 429, refused.text
        body = refused.json()
        assert body["success"] is False
        assert body["result"] is None
        assert body["messages"] == []
        [error] = body["errors"]
        assert error["code"] == 10429
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= 2
        assert error["message"] == (
            f"Rate limit of 3 requests per 2 s reached for this credential; retry in {wait} s."
        )
        assert quota(refused) == (0, wait)  # the reset and Retry-After name the same moment
        assert refused.headers["ratelimit-policy"] == '"default";q=3;w=2'
        # The one 4xx the official SDKs should retry (every other says false).
        assert refused.headers["x-should-retry"] == "true"

        # A write refused is not applied: its body is not even read.
        posted = client.post(tenant.url(SENDERS), headers=tenant.write, json=SENDER)
        assert posted.status_code == 429
        assert posted.headers["connection"] == "close"

        time.sleep(wait)
        again = client.get(tenant.url(SENDERS), headers=tenant.write)
        assert again.status_code == 200
        assert again.json()["result"] == []  # the refused POST wrote nothing
        remaining, reset = quota(again)
        assert remaining == 2
        assert reset == 2  # a new window, opened by this request


def test_each_credential_has_its_own_quota(make_app: MakeApp) -> None:
    app = make_app(rate_limit=2)
    tenant = make_tenant(app.state.db, "own")
    other = make_tenant(app.state.db, "other")
    with TestClient(app) as client:

        def statuses(headers: dict[str, str], account: Tenant = tenant) -> list[int]:
            url = account.url(SENDERS)
            return [client.get(url, headers=headers).status_code for _ in range(3)]

        assert statuses(tenant.write) == [200, 200, 429]
        # Another token of the same account, and the account's legacy key, count separately.
        assert statuses(tenant.read) == [200, 200, 429]
        assert statuses(tenant.legacy) == [200, 200, 429]
        assert statuses(other.write, other) == [200, 200, 429]
        # A credential refused on another account's URL is still counted (403 after 2 allowed).
        assert [
            client.get(tenant.url(SENDERS), headers=other.read).status_code for _ in range(3)
        ] == [403, 403, 429]


def test_requests_without_a_valid_credential_count_against_no_quota(make_app: MakeApp) -> None:
    app = make_app(rate_limit=2)
    tenant = make_tenant(app.state.db, "anonymous")
    with TestClient(app) as client:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"X-Auth-Email": "a@b.c"}):
            for _ in range(3):
                refused = client.get(tenant.url(SENDERS), headers=headers)
                assert_error(refused, 401)
                # The policy that applies to credentials, but no quota: there is no credential.
                assert refused.headers["ratelimit-policy"] == '"default";q=2;w=300'
                assert "ratelimit" not in refused.headers
        # Health, the API's document, unknown paths: neither counted nor labelled.
        for path in ("/healthz", "/client/v4/openapi.json", tenant.url("nothing")):
            for _ in range(3):
                answer = client.get(path, headers=tenant.write)
                assert answer.status_code in {200, 404}
                assert "ratelimit" not in answer.headers
                assert "ratelimit-policy" not in answer.headers
        # None of it touched the token's quota.
        url = tenant.url(SENDERS)
        statuses = [client.get(url, headers=tenant.write).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_zero_turns_rate_limiting_off(make_app: MakeApp) -> None:
    app = make_app(rate_limit=0, rate_limit_window_seconds=1)
    tenant = make_tenant(app.state.db, "unlimited")
    with TestClient(app) as client:
        answers = [client.get(tenant.url(SENDERS), headers=tenant.write) for _ in range(30)]
        refused = client.get(tenant.url(SENDERS), headers={})
    assert {a.status_code for a in answers} == {200}
    for answer in [*answers, refused]:
        assert "ratelimit" not in answer.headers
        assert "ratelimit-policy" not in answer.headers
        assert "retry-after" not in answer.headers
    assert granted(app.state.db) == 0  # nothing is counted either


@pytest.mark.parametrize("value", [-1, "many"])
def test_a_bad_setting_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        Settings(rate_limit=value)


def _hammer(urls: list[str], headers: dict[str, str], threads: int) -> list[int]:
    """GET every URL once, from `threads` threads with a connection each; the statuses."""
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def get(url: str) -> int:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=60)
            with lock:
                clients.append(local.client)
        status: int = local.client.get(url, headers=headers).status_code
        return status

    try:
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(get, urls))
    finally:
        for client in clients:
            client.close()


def test_the_cap_is_exact_under_concurrency(make_app: MakeApp) -> None:
    app = make_app(rate_limit=150)
    tenant = make_tenant(app.state.db, "threads")
    with serving(app) as server:
        url = f"{server.base_url}/accounts/{tenant.id}/email-security/settings/{SENDERS}"
        statuses = _hammer([url] * 300, tenant.write, threads=16)
    assert statuses.count(200) == 150
    assert statuses.count(429) == 150
    assert granted(app.state.db) == 150


def test_the_cap_is_exact_across_processes_sharing_the_database(make_app: MakeApp) -> None:
    first, second = make_app(rate_limit=120), make_app(rate_limit=120)
    assert first.state.db is not second.state.db
    tenant = make_tenant(first.state.db, "replicas")
    with serving(first) as one, serving(second) as two:
        path = f"/accounts/{tenant.id}/email-security/settings/{SENDERS}"
        # Interleaved, so both processes draw on the quota at once.
        urls = [f"{server.base_url}{path}" for _ in range(120) for server in (one, two)]
        statuses = _hammer(urls, tenant.write, threads=16)
    served = [s for s in statuses if s == 200]
    assert len(served) == 120
    assert statuses.count(429) == 120
    assert statuses[0::2].count(200) > 0  # both processes served some
    assert statuses[1::2].count(200) > 0
    assert granted(first.state.db) == 120


def test_leases_keep_writes_rare_and_a_throttled_client_costs_none(make_app: MakeApp) -> None:
    """A process reserves quota in leases, not a write per request (mailpolicy.access.ratelimit):
    20 requests a lease while the window has plenty left, shrinking to 1 near its end."""
    app = make_app(rate_limit=400)
    tenant = make_tenant(app.state.db, "leases")
    writes: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO rate_limit_counters"):
            writes.append(statement)

    event.listen(app.state.db.engine, "before_cursor_execute", record)
    with TestClient(app) as client:
        url = tenant.url(SENDERS)
        for _ in range(400):
            assert client.get(url, headers=tenant.read).status_code == 200
        leases = len(writes)
        assert 20 <= leases <= 60  # 53: ten leases of 20, then smaller ones
        for _ in range(20):
            assert client.get(url, headers=tenant.read).status_code == 429
    assert len(writes) == leases  # the quota is spent: refusals come from memory
    assert granted(app.state.db) == 400


def test_429_is_declared_on_every_operation_and_matches_its_schema(make_app: MakeApp) -> None:
    app = make_app(rate_limit=1)
    tenant = make_tenant(app.state.db, "declared")
    with TestClient(app) as client:
        document = client.get("/client/v4/openapi.json").json()
        client.get(tenant.url(SENDERS), headers=tenant.write)
        refused = client.get(tenant.url(SENDERS), headers=tenant.write)
    assert refused.status_code == 429
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if path.startswith("/accounts/")
    ]
    # The 50 settings operations, evaluate, scan, stats and audit; 12 of investigate and
    # submissions, and what-if.
    assert len(operations) == 67
    for path, method, operation in operations:
        throttled = operation["responses"].get("429")
        assert throttled is not None, (method, path)
        assert set(throttled["headers"]) == {"Retry-After", "Ratelimit", "Ratelimit-Policy"}
        for status, response in operation["responses"].items():
            assert {"Ratelimit", "Ratelimit-Policy"} <= set(response.get("headers", {})), (
                method,
                path,
                status,
            )
    schema = document["paths"]["/accounts/{account_id}/email-security/settings/block_senders"][
        "get"
    ]["responses"]["429"]["content"]["application/json"]["schema"]
    validator = OAS31Validator({**schema, "components": document["components"]})
    assert [e.message for e in validator.iter_errors(refused.json())] == []
