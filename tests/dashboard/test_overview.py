"""The overview page: its charts count the account's own message records, its tables show the
API's entry stats and unverified domains, and the detection engines say whether they answer."""

from __future__ import annotations

import datetime as dt
import html
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from mailpolicy.app import create_app
from mailpolicy.config import Settings
from mailpolicy.db import Database
from mailpolicy.messages.records import MessageRecord
from mailpolicy.stats.hits import HitRecorder, write_hits
from tests.support.api import Api, Tenant, make_tenant, protect
from tests.support.dashboard import login
from tests.support.databases import Databases
from tests.support.messages import record_message
from tests.support.servers import free_port


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def chart_numbers(page: str, title: str) -> dict[str, dict[str, int]]:
    """The table beside a chart, whose caption starts with `title`: bucket -> column -> count."""
    for table in re.findall(r"<table>(.*?)</table>", page, re.S):
        caption = re.search(r"<caption[^>]*>(.*?)</caption>", table, re.S)
        if not caption or not _text(caption.group(1)).startswith(title):
            continue
        head = re.search(r"<thead>(.*?)</thead>", table, re.S)
        assert head
        columns = [_text(c) for c in re.findall(r"<th[^>]*>(.*?)</th>", head.group(1), re.S)]
        body = re.search(r"<tbody>(.*?)</tbody>", table, re.S)
        assert body
        found: dict[str, dict[str, int]] = {}
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S):
            bucket = _text(re.findall(r"<th[^>]*>(.*?)</th>", row, re.S)[0])
            values = [
                int(_text(c).replace(",", ""))
                for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            ]
            found[bucket] = dict(zip(columns[1:], values, strict=True))
        return found
    raise AssertionError(f"no table captioned {title!r}")


def section(page: str, heading_id: str) -> str:
    found = re.search(rf'<section aria-labelledby="{heading_id}">(.*?)</section>', page, re.S)
    assert found, heading_id
    return found.group(1)


def day_label(day: dt.datetime) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def _move(database: Database, record_id: str, when: dt.datetime) -> None:
    with database.transaction() as session:
        session.execute(
            update(MessageRecord).where(MessageRecord.id == record_id).values(scanned_at=when)
        )


@pytest.fixture
def api(client: TestClient, tenant: Tenant) -> Api:
    return Api(client, tenant)


@pytest.mark.parametrize("token", ["write", "read"])
def test_an_empty_account_says_what_to_do_next(
    client: TestClient, tenant: Tenant, token: str
) -> None:
    login(client, tenant.write_token if token == "write" else tenant.read_token)
    page = client.get("/dashboard")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Overview</h1>" in text
    assert "No messages recorded in the last 7 days" in text
    assert "smtpd_milters = unix:mailpolicy/milter.sock" in text
    assert "Use it with Postfix" in text
    assert "No protected domain yet" in text
    assert "No settings entry has matched a message yet" in text
    engines = _text(section(text, "engines-heading"))
    assert "rspamd Off Not configured" in engines
    assert "Lookalike domains On" in engines
    assert "<svg" not in section(text, "mail-heading")


def test_the_charts_count_the_accounts_records_per_day(
    client: TestClient, app: FastAPI, tenant: Tenant, other_tenant: Tenant, api: Api
) -> None:
    database: Database = app.state.db
    corp = f"corp-{tenant.id[:8]}.example"
    shop = f"shop-{tenant.id[:8]}.example"
    protect(api.create, database, corp, "MALICIOUS")
    protect(api.create, database, shop)
    api.create(
        "block_senders", {"pattern": "bad.example", "pattern_type": "DOMAIN", "is_regex": False}
    )
    # Another account's mail is never counted here.
    other = Api(client, other_tenant)
    protect(other.create, database, f"else-{other_tenant.id[:8]}.example")
    record_message(database, "a@ok.example", [f"x@else-{other_tenant.id[:8]}.example"])

    record_message(database, "friend@ok.example", [f"ann@{corp}"])
    record_message(database, "friend@ok.example", [f"bob@{shop}"])
    record_message(database, "friend@ok.example", [f"ann@{corp}", f"bob@{shop}"])
    record_message(database, "promo@bad.example", [f"ann@{corp}"], drop_action="quarantine")
    (old,) = record_message(database, "promo@bad.example", [f"bob@{shop}"])
    (gone,) = record_message(database, "friend@ok.example", [f"ann@{corp}"])
    now = dt.datetime.now(dt.UTC)
    two_days_ago = now - dt.timedelta(days=2)
    _move(database, old.id, two_days_ago)
    _move(database, gone.id, now - dt.timedelta(days=8))  # before the chart's first day

    for token in (tenant.write_token, tenant.read_token):
        browser = TestClient(app, base_url="http://127.0.0.1")
        login(browser, token)
        page = browser.get("/dashboard")
        assert page.status_code == 200
        by_disposition = chart_numbers(page.text, "Messages by final disposition")
        today, earlier = day_label(now), day_label(two_days_ago)
        assert len(by_disposition) == 7
        assert list(by_disposition)[-1] == today
        assert by_disposition[today] == {"NONE": 3, "MALICIOUS": 1, "Total": 4}
        assert by_disposition[earlier] == {"NONE": 0, "MALICIOUS": 1, "Total": 1}
        assert sum(row["Total"] for row in by_disposition.values()) == 5
        by_domain = chart_numbers(page.text, "Messages by protected domain")
        # The message to both domains counts once for each.
        assert by_domain[today] == {corp: 3, shop: 2, "Total": 5}
        assert by_domain[earlier] == {corp: 0, shop: 1, "Total": 1}
        assert "5 messages in the last 7 days, per day (UTC); 2 with a final disposition" in (
            _text(page.text)
        )

    text = page.text
    # Charts: an accessible image, drawn with presentation attributes, no inline style.
    for chart in ("chart-dispositions", "chart-domains"):
        assert f'role="img" aria-labelledby="{chart}-title {chart}-desc"' in text
        assert f'<title id="{chart}-title">' in text
    mail = section(text, "mail-heading")
    # One bar segment per non-zero count: today's NONE and MALICIOUS, and two days ago's.
    dispositions = mail.split('id="chart-domains-caption"')[0]
    assert dispositions.count("<rect x=") == 3
    assert f"{day_label(now)}: MALICIOUS 1" in dispositions
    assert " style=" not in text
    assert re.search(r"<script(?![^>]*\bsrc=)", text) is None

    # The last 24 hours: today's messages in the current hour, none from two days ago.
    hourly = browser.get("/dashboard", params={"span": "24h"})
    per_hour = chart_numbers(hourly.text, "Messages by final disposition")
    assert len(per_hour) == 24
    assert list(per_hour.values())[-1] == {"NONE": 3, "MALICIOUS": 1, "Total": 4}
    assert sum(row["Total"] for row in per_hour.values()) == 4


def test_a_deleted_domain_keeps_its_name_in_the_chart(
    client: TestClient, app: FastAPI, tenant: Tenant, api: Api
) -> None:
    database: Database = app.state.db
    corp = f"gone-{tenant.id[:8]}.example"
    created = protect(api.create, database, corp)
    record_message(database, "friend@ok.example", [f"ann@{corp}"])
    assert api.delete("domains", created["id"]).status_code == 200
    login(client, tenant.read_token)
    by_domain = chart_numbers(client.get("/dashboard").text, "Messages by protected domain")
    assert list(by_domain.values())[-1] == {f"{corp} (no longer protected)": 1, "Total": 1}


def test_entries_matched_most_and_stale(
    client: TestClient, app: FastAPI, tenant: Tenant, api: Api
) -> None:
    database: Database = app.state.db
    busy, quiet, fresh = (
        api.create(
            "block_senders",
            {"pattern": f"{name}.example", "pattern_type": "DOMAIN", "is_regex": False},
        )
        for name in ("busy", "quiet", "fresh")
    )
    recorder = HitRecorder(database, interval=60)
    for _ in range(3):
        recorder.record(tenant.id, [("block_senders", busy["id"])], ())
    assert recorder.flush()
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    with database.transaction() as session:
        write_hits(session, {(tenant.id, "block_senders", quiet["id"]): (2, long_ago)})

    login(client, tenant.read_token)
    page = client.get("/dashboard")
    entries = section(page.text, "entries-heading")
    most, stale = entries.split("<h3>Not matched in")
    assert f'href="/dashboard/block_senders/{busy["id"]}">busy.example</a>' in most
    rows = re.findall(r"<tr>(.*?)</tr>", most.split("<tbody>")[1], re.S)
    assert [_text(r) for r in rows] == [
        f"busy.example Block senders 3 {_text(rows[0]).split(' 3 ')[1]}",
        f"quiet.example Block senders 2 {long_ago:%Y-%m-%d %H:%M:%S}",
    ]
    assert fresh["id"] not in most  # never matched: not among the most matched
    assert "30 days" in stale
    assert f'href="/dashboard/block_senders/{quiet["id"]}">quiet.example</a>' in stale
    assert busy["id"] not in stale
    assert fresh["id"] not in stale
    assert "1 entry no message matched in 30 days" in _text(stale)

    # Fifty days: the quiet entry matched within them, so nothing is stale.
    longer = section(client.get("/dashboard", params={"stale_days": "50"}).text, "entries-heading")
    assert "Not matched in 50 days" in longer
    assert quiet["id"] not in longer.split("<h3>Not matched in")[1]
    assert "No settings entry has gone 50 days without matching a message" in longer


def test_unverified_domains_are_listed_with_their_pages(
    client: TestClient, app: FastAPI, tenant: Tenant, api: Api
) -> None:
    database: Database = app.state.db
    active = protect(api.create, database, f"ok-{tenant.id[:8]}.example")
    pending = protect(api.create, database, f"new-{tenant.id[:8]}.example", active=False)
    login(client, tenant.write_token)
    domains = section(client.get("/dashboard").text, "domains-heading")
    assert "1 of 2 protected domains is not verified yet" in _text(domains)
    assert f'href="/dashboard/domains/{pending["id"]}">{pending["domain"]}</a>' in domains
    assert "PENDING" in domains
    assert "Awaiting the DNS TXT record _cf-email-sec-challenge." in domains
    assert active["id"] not in domains


def test_a_visitor_without_a_session_gets_the_login_form(client: TestClient) -> None:
    page = client.get("/dashboard", params={"span": "24h"}, follow_redirects=False)
    assert page.status_code == 200
    assert 'action="/dashboard/login"' in page.text
    assert "<h1>Overview</h1>" not in page.text


# ---- detection engines, on a server configured with them ----------------------------------


class _Pong(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"pong\r\n" if self.path == "/ping" else b"no"
        self.send_response(200 if self.path == "/ping" else 404)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def pong() -> Iterator[str]:
    """Something that answers rspamd's GET /ping as rspamd does."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pong)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _engines_page(databases: Databases, **settings: Any) -> str:
    application = create_app(Settings(database_url=databases.fresh(), rate_limit=0, **settings))
    try:
        tenant = make_tenant(application.state.db, "engines")
        with TestClient(application, base_url="http://127.0.0.1") as client:
            login(client, tenant.read_token)
            page = client.get("/dashboard")
            assert page.status_code == 200
            return _text(section(page.text, "engines-heading"))
    finally:
        application.state.db.dispose()


def test_engines_that_answer_and_that_do_not(databases: Databases, pong: str) -> None:
    answering = _engines_page(
        databases,
        rspamd_url=pong,
        rspamd_password="secret",
        rdap_url="http://127.0.0.1:9/rdap",
        lookalike_domains=False,
    )
    assert f"rspamd Answers Answers at {pong}." in answering
    assert "ClamAV On Asked through rspamd's antivirus module" in answering
    assert "RDAP (recently registered domains) Answers Asks http://127.0.0.1:9" in answering
    assert "Lookalike domains Off" in answering
    assert "secret" not in answering

    dead = f"http://user:secret@127.0.0.1:{free_port()}"
    silent = _engines_page(databases, rspamd_url=dead, scan_failure="tempfail")
    where = dead.replace("user:secret@", "")
    assert f"rspamd Not answering Does not answer at {where}: mail is deferred" in silent
    assert "ClamAV Not answering" in silent
    assert "RDAP (recently registered domains) Off" in silent
    assert "secret" not in silent
