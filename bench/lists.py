"""Settings API list benchmark: every filter and ordering of the big lists at 1,000,000 entries.

Run: .venv/bin/python bench/lists.py [--quick] [--entries N] [--db PATH] [--repeat N] [--no-write]

Builds an Alembic-migrated SQLite database holding N allow policies and N blocked senders (and
N / 10 protected domains) in one account, plus a small second account, then times list
requests through the real HTTP stack (authentication, query validation, the two SQL queries of a
list, serialization) against two floors measured in the same run: a GET of one entry by id over
HTTP, and a bare SQLAlchemy SELECT by primary key. For every request shape it also records the
SQLite query plan of the statements the service actually sent, and writes the table under
"## Settings API lists" in docs/benchmarks.md.

`--db PATH` keeps the database between runs (building a million rows takes a while); an existing
file is migrated to head and reused when it already holds the requested sizes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import re
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, Table, event, func, insert, select
from sqlalchemy.orm import Session

from mailpolicy import migrate
from mailpolicy.access.accounts import Account, create_account
from mailpolicy.access.credentials import Permission, create_token
from mailpolicy.app import create_app
from mailpolicy.audit.events import CLI
from mailpolicy.config import Settings
from mailpolicy.db import Database, make_engine
from mailpolicy.resources import allow_policies, block_senders, domains
from mailpolicy.resources.crud import FEW_MATCHES
from mailpolicy.resources.spec import ResourceSpec, dedupe_key

# Run as `python bench/<name>.py`: this folder is on sys.path.
from report import DOCS, cpu_model, write_section

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Settings API lists"
SETTINGS_PATH = "/client/v4/accounts/{account}/email-security/settings/{resource}"
# The account names carry the data generator's version: a file built by another version of
# this script is rebuilt, not measured as if it held this data.
DATA_VERSION = 2
LARGE, SMALL = f"lists-bench-large-v{DATA_VERSION}", f"lists-bench-small-v{DATA_VERSION}"
SMALL_ENTRIES = 1_000
CHUNK = 20_000
# A case that is slow (a scan) stops after this many seconds, once it has MIN_RUNS samples:
# the full run must stay within minutes, and five samples of a one-second scan say enough.
CASE_BUDGET_S = 8.0
MIN_RUNS = 5

TLDS = ("com", "net", "org", "io", "de", "co.uk", "fr", "nl")
WORDS = (
    *("acme", "alpha", "bank", "beta", "cloud", "data", "delta", "echo", "fast", "global"),
    *("green", "hub", "info", "king", "labs", "lima", "mail", "media", "metro", "micro"),
    *("nova", "omega", "open", "peak", "post", "prime", "quick", "red", "safe", "shop"),
    *("smart", "solar", "star", "sun", "tech", "trade", "trust", "union", "vista", "web"),
    *("wind", "zen"),
)
DISPOSITIONS = ("MALICIOUS", "MALICIOUS-BEC", "SUSPICIOUS", "SPOOF", "SPAM", "BULK")

Rows = list[dict[str, Any]]


# ---- building the database ------------------------------------------------------------------


def _uuid(rnd: random.Random) -> str:
    return str(uuid.UUID(int=rnd.getrandbits(128), version=4))


def _timeline(count: int, rnd: random.Random) -> Iterator[dt.datetime]:
    """Creation times spread over the last year, ascending: entries are inserted in the order an
    account would have created them, as on a real database."""
    end = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    step = dt.timedelta(days=365) / max(count, 1)
    start = end - dt.timedelta(days=365)
    for index in range(count):
        yield start + step * (index + rnd.random())


def _pattern(rnd: random.Random, serial: int) -> tuple[str, str, bool]:
    """(pattern, pattern_type, is_regex): exact addresses, domains, IPv4 addresses and CIDR
    blocks, IPv6 addresses and a few regular expressions, all distinct through the serial."""
    word, tld = rnd.choice(WORDS), rnd.choice(TLDS)
    if rnd.random() < 0.001:
        # A few legacy entries of the deprecated UNKNOWN type: a rare filter value.
        return f"legacy{serial}.{word}.{tld}", "UNKNOWN", False
    if rnd.random() < 0.01:
        return rf".*@{word}{serial}\.(com|net)", "DOMAIN", True
    kind = rnd.random()
    if kind < 0.45:
        return f"{rnd.choice(WORDS)}.{serial}@{word}{serial % 9973}.{tld}", "EMAIL", False
    if kind < 0.85:
        return f"{word}{serial}.{tld}", "DOMAIN", False
    # 11.0.0.0/8 is public and holds 16 million distinct addresses, one per serial.
    address = 0x0B000000 + serial
    ip = ".".join(str((address >> shift) & 0xFF) for shift in (24, 16, 8, 0))
    if kind < 0.93:
        return ip, "IP", False
    if kind < 0.97:
        return f"{ip}/{rnd.choice((24, 28, 30, 32))}", "IP", False
    return f"2001:db8:{serial >> 16:x}:{serial & 0xFFFF:x}::1", "IP", False


def _comment(rnd: random.Random, serial: int) -> str | None:
    return f"ticket {serial} ({rnd.choice(WORDS)} team)" if rnd.random() < 0.3 else None


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[Rows]:
    """Rows in batches of CHUNK, the size one executemany insert takes well."""
    chunk: Rows = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def allow_policy_rows(account_id: str, count: int, seed: int) -> Iterator[dict[str, Any]]:
    """Each policy sets exactly one of the three roles, as the dashboard does; a third also
    verify the sender."""
    rnd = random.Random(seed)
    for serial, created in enumerate(_timeline(count, rnd)):
        pattern, pattern_type, is_regex = _pattern(rnd, serial)
        role = rnd.random()
        row = {
            "id": _uuid(rnd),
            "account_id": account_id,
            "created_at": created,
            "modified_at": created,
            "pattern": pattern,
            "pattern_type": pattern_type,
            "is_regex": is_regex,
            "is_trusted_sender": role < 0.45,
            "is_acceptable_sender": 0.45 <= role < 0.85,
            "is_exempt_recipient": role >= 0.85,
            "verify_sender": rnd.random() < 0.3,
            "comments": _comment(rnd, serial),
        }
        yield _keyed(allow_policies.SPEC, row)


def block_sender_rows(account_id: str, count: int, seed: int) -> Iterator[dict[str, Any]]:
    rnd = random.Random(seed)
    for serial, created in enumerate(_timeline(count, rnd)):
        pattern, pattern_type, is_regex = _pattern(rnd, serial)
        row = {
            "id": _uuid(rnd),
            "account_id": account_id,
            "created_at": created,
            "modified_at": created,
            "pattern": pattern,
            "pattern_type": pattern_type,
            "is_regex": is_regex,
            "comments": _comment(rnd, serial),
        }
        yield _keyed(block_senders.SPEC, row)


def domain_rows(account_id: str, count: int, seed: int) -> Iterator[dict[str, Any]]:
    """Mostly active domains delivered directly or by BCC; a few pending, failed or journaled."""
    rnd = random.Random(seed)
    for serial, created in enumerate(_timeline(count, rnd)):
        modes = rnd.choices(
            (["DIRECT"], ["BCC"], ["DIRECT", "BCC"], ["JOURNAL"], ["API", "RETRO_SCAN"]),
            weights=(50, 25, 15, 7, 3),
        )[0]
        status = rnd.choices(("ACTIVE", "PENDING", "FAILED", "TIMEOUT"), weights=(90, 7, 2, 1))[0]
        row = {
            "id": _uuid(rnd),
            "account_id": account_id,
            "created_at": created,
            "modified_at": created,
            "domain": f"{rnd.choice(WORDS)}{serial}.{rnd.choice(TLDS)}",
            "delivery_modes": "," + ",".join(modes) + ",",
            "active_delivery_mode": modes[0],
            "drop_dispositions": [d for d in DISPOSITIONS if rnd.random() < 0.3],
            "regions": ["GLOBAL"],
            "ip_restrictions": [],
            "folder": rnd.choice((None, "Inbox", "AllItems")),
            "integration_id": _uuid(rnd) if rnd.random() < 0.05 else None,
            "lookback_hops": 1,
            "require_tls_inbound": None,
            "require_tls_outbound": None,
            "transport": f"smtp://mx{serial % 10}.{rnd.choice(WORDS)}.net" if serial % 4 else None,
            "status": status,
            "spf_status": "pass" if status == "ACTIVE" else "none",
            "dmarc_status": "pass" if status == "ACTIVE" else "none",
            "inbox_provider": None,
            "o365_tenant_id": None,
            "verification_token": None if status == "ACTIVE" else f"{rnd.getrandbits(128):032x}",
            "authorized_at": created if status == "ACTIVE" else None,
        }
        yield _keyed(domains.SPEC, row)


def _keyed(spec: ResourceSpec, row: dict[str, Any]) -> dict[str, Any]:
    # The same duplicate key the API computes, so the unique index holds exactly what it would.
    row["dedupe_key"] = dedupe_key(spec, SimpleNamespace(**row))
    return row


@dataclass(frozen=True)
class Sizes:
    entries: int  # allow policies and blocked senders in the large account, each
    domains: int

    @classmethod
    def for_entries(cls, entries: int) -> Sizes:
        return cls(entries, max(entries // 10, 100))


def _count(conn: Connection, spec: ResourceSpec, account_id: str) -> int:
    model = spec.model
    query = select(func.count()).select_from(model).where(model.account_id == account_id)
    return conn.scalar(query) or 0


def _existing(url: str, sizes: Sizes) -> tuple[str, str] | None:
    """The two accounts of a reusable database holding exactly the requested sizes."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            named = select(Account.name, Account.id).where(Account.name.in_((LARGE, SMALL)))
            ids: dict[str, str] = dict(conn.execute(named).all())
            if set(ids) != {LARGE, SMALL}:
                return None
            wanted = (
                (allow_policies.SPEC, sizes.entries),
                (block_senders.SPEC, sizes.entries),
                (domains.SPEC, sizes.domains),
            )
            if any(_count(conn, spec, ids[LARGE]) != n for spec, n in wanted):
                return None
            return ids[LARGE], ids[SMALL]
    finally:
        engine.dispose()


def build(url: str, sizes: Sizes) -> tuple[str, str]:
    """Fill a migrated, empty database; returns the ids of the large and the small account."""
    engine = make_engine(url)
    started = time.perf_counter()
    try:
        with engine.begin() as conn:
            # Build-time settings only, on this connection: a big page cache keeps the random
            # inserts into the id and duplicate-key indexes in memory, and nothing here needs
            # to survive a crash. The service's own connections keep their defaults.
            conn.exec_driver_sql("PRAGMA cache_size=-1048576")
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            with Session(bind=conn) as session:
                large = create_account(session, LARGE).id
                small = create_account(session, SMALL).id
            plan: list[
                tuple[ResourceSpec, Callable[[str, int, int], Iterator[dict[str, Any]]], int]
            ] = [
                (allow_policies.SPEC, allow_policy_rows, sizes.entries),
                (block_senders.SPEC, block_sender_rows, sizes.entries),
                (domains.SPEC, domain_rows, sizes.domains),
            ]
            for spec, rows, count in plan:
                table = cast(Table, spec.model.__table__)
                for account_id, n, seed in ((large, count, 1), (small, SMALL_ENTRIES, 2)):
                    done = 0
                    for chunk in _chunks(rows(account_id, n, seed)):
                        conn.execute(insert(table), chunk)
                        done += len(chunk)
                        if done % 200_000 == 0:
                            print(f"  {spec.path}: {done:,} rows", flush=True)
                print(f"{spec.path}: {count:,} + {SMALL_ENTRIES:,} rows", flush=True)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    return large, small


def prepare(path: Path, sizes: Sizes, *, reuse: bool) -> tuple[str, str, float | None]:
    """A database of the requested sizes at `path`: (large id, small id, build seconds)."""
    url = f"sqlite:///{path}"
    if reuse and path.exists():
        # A reused file gets any index added since it was built: time it, as the migration
        # an operator with this many entries would run.
        started = time.perf_counter()
        migrate.upgrade(url)
        print(f"migrated to head in {time.perf_counter() - started:.1f} s", flush=True)
        found = _existing(url, sizes)
        if found is not None:
            print(f"reusing {path}", flush=True)
            return (*found, None)
        print(f"{path} holds other data or sizes; rebuilding", flush=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    migrate.upgrade(url)
    started = time.perf_counter()
    large, small = build(url, sizes)
    return large, small, time.perf_counter() - started


def read_token(database: Database, account_id: str) -> str:
    with database.transaction() as session:
        return create_token(session, account_id, Permission.READ, "lists benchmark", by=CLI)[1]


# ---- request shapes -------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    label: str
    resource: str  # URL segment
    params: dict[str, str | int] = field(default_factory=dict)
    account: str = "large"


# Query parameter -> the columns its condition reads, to tell whether an index serves it.
FILTER_COLUMNS = {
    "pattern_type": ("pattern_type",),
    "pattern": ("pattern",),
    "is_trusted_sender": ("is_trusted_sender",),
    "is_acceptable_sender": ("is_acceptable_sender",),
    "is_exempt_recipient": ("is_exempt_recipient",),
    "verify_sender": ("verify_sender",),
    "search": ("pattern", "comments", "domain", "transport"),
    "status": ("status",),
    "allowed_delivery_mode": ("delivery_modes",),
    "active_delivery_mode": ("active_delivery_mode",),
    "domain": ("domain",),
    "integration_id": ("integration_id",),
}


def cases(entries: int, probe: dict[str, str]) -> list[Case]:
    """Every filter alone, every ordering both ways, the two combined, page sizes, a deep page,
    search; `probe` holds values that exist in the data (patterns, domains, an integration)."""
    deep = min(5000, max(entries // 20 - 1, 2))
    ap, bs, dm = "allow_policies", "block_senders", "domains"
    desc = {"direction": "desc"}
    return [
        Case("default list (page 1, per_page 20)", ap),
        Case("per_page 1000", ap, {"per_page": 1000}),
        Case("order pattern asc", ap, {"order": "pattern", "direction": "asc"}),
        Case("order pattern desc", ap, {"order": "pattern", **desc}),
        Case("order created_at asc", ap, {"order": "created_at", "direction": "asc"}),
        Case("order created_at desc", ap, {"order": "created_at", **desc}),
        Case("pattern_type=IP", ap, {"pattern_type": "IP"}),
        Case("pattern_type=UNKNOWN (rare: legacy entries)", ap, {"pattern_type": "UNKNOWN"}),
        Case("is_trusted_sender=true", ap, {"is_trusted_sender": "true"}),
        Case("is_acceptable_sender=true", ap, {"is_acceptable_sender": "true"}),
        Case("is_exempt_recipient=true", ap, {"is_exempt_recipient": "true"}),
        Case("verify_sender=false", ap, {"verify_sender": "false"}),
        Case("pattern (exact)", ap, {"pattern": probe["allow_pattern"]}),
        Case("pattern (exact, sent in capitals)", ap, {"pattern": probe["allow_pattern"].upper()}),
        Case(
            "pattern_type=IP, order pattern desc",
            ap,
            {"pattern_type": "IP", "order": "pattern", **desc},
        ),
        Case(
            "is_exempt_recipient=true, order created_at desc",
            ap,
            {"is_exempt_recipient": "true", "order": "created_at", **desc},
        ),
        Case(
            "verify_sender=true, order pattern asc",
            ap,
            {"verify_sender": "true", "order": "pattern", "direction": "asc"},
        ),
        Case(
            "is_trusted_sender=true and pattern_type=DOMAIN",
            ap,
            {"is_trusted_sender": "true", "pattern_type": "DOMAIN"},
        ),
        Case(f"deep page {deep} (per_page 20)", ap, {"page": deep}),
        Case(
            f"deep page {deep}, order pattern desc", ap, {"page": deep, "order": "pattern", **desc}
        ),
        Case(
            f"deep page {deep}, is_trusted_sender=true",
            ap,
            {"page": deep, "is_trusted_sender": "true"},
        ),
        Case("search (substring, common)", ap, {"search": "trust"}),
        Case("search (substring, no match)", ap, {"search": "no-such-sender"}),
        Case("default list", bs),
        Case("order pattern desc", bs, {"order": "pattern", **desc}),
        Case("order created_at desc", bs, {"order": "created_at", **desc}),
        Case("pattern_type=DOMAIN", bs, {"pattern_type": "DOMAIN"}),
        Case("pattern (exact, sent in capitals)", bs, {"pattern": probe["block_pattern"].upper()}),
        Case(
            "pattern_type=IP, order pattern desc",
            bs,
            {"pattern_type": "IP", "order": "pattern", **desc},
        ),
        Case(f"deep page {deep} (per_page 20)", bs, {"page": deep}),
        Case("search (substring, common)", bs, {"search": "trust"}),
        Case("default list", dm),
        Case("order domain desc", dm, {"order": "domain", **desc}),
        Case("status=failed", dm, {"status": "failed"}),
        Case("allowed_delivery_mode=JOURNAL", dm, {"allowed_delivery_mode": "JOURNAL"}),
        Case("active_delivery_mode=BCC", dm, {"active_delivery_mode": "BCC"}),
        Case("domain (exact)", dm, {"domain": probe["domain"]}),
        Case("integration_id", dm, {"integration_id": probe["integration_id"]}),
        Case("search (substring, common)", dm, {"search": "trust"}),
        Case("default list, small account", ap, account="small"),
        Case("is_trusted_sender=true, small account", ap, {"is_trusted_sender": "true"}, "small"),
    ]


# ---- measuring ------------------------------------------------------------------------------


@dataclass
class Timing:
    median_ms: float
    p95_ms: float
    runs: int


def time_calls(call: Callable[[], object], repeat: int, warmup: int = 2) -> Timing:
    """Median and p95 over `repeat` calls after `warmup` untimed ones (so the page cache is
    warm, as on a server in use); a slow call stops early once it has MIN_RUNS samples."""
    for _ in range(warmup):
        call()
    samples: list[float] = []
    spent = 0.0
    while len(samples) < repeat and (spent < CASE_BUDGET_S or len(samples) < MIN_RUNS):
        started = time.perf_counter()
        call()
        elapsed = time.perf_counter() - started
        samples.append(elapsed * 1000)
        spent += elapsed
    samples.sort()
    # Nearest-rank p95: with 20 samples, the 19th.
    p95 = samples[min(len(samples) - 1, max(0, round(0.95 * len(samples)) - 1))]
    return Timing(statistics.median(samples), p95, len(samples))


class StatementLog:
    """The SQL the service sends while `recording` is on, for EXPLAIN QUERY PLAN afterwards."""

    def __init__(self, engine: Engine) -> None:
        self.recording = False
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.recording:
            self.statements.append((statement, parameters))


PLAN_LINE = re.compile(
    r"^(?P<op>SEARCH|SCAN) (?P<table>\w+)"
    r"(?: USING (?P<covering>COVERING )?INDEX (?P<index>\w+))?"
    r"(?: \((?P<cond>.*)\))?$"
)


@dataclass
class Access:
    """How one statement reads its table, from SQLite's plan."""

    index: str | None  # None: a scan of the table itself
    columns: tuple[str, ...]  # the index columns the search is bounded by
    tested: tuple[str, ...]  # filter columns tested entry by entry: the index does not bound them
    sort: str  # "", "sort" or "partial sort": a temporary b-tree orders the rows
    by_id: bool  # matches found by a subquery, then read by primary key

    def text(self) -> str:
        if self.index is None:
            where = "table scan"
        else:
            where = f"{self.index} ({', '.join(self.columns) or 'whole index'})"
        if self.tested:
            where += f", tests {', '.join(self.tested)}"
        if self.by_id:
            where = f"matches by {where}, rows by id"
        return where + (f" + {self.sort}" if self.sort else "")


def explain(
    conn: Connection, statement: str, parameters: Any, table: str, filters: set[str]
) -> Access:
    details = [
        row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
    ]
    searches: list[tuple[str | None, tuple[str, ...]]] = []
    sort, subquery = "", False
    for detail in details:
        if "TEMP B-TREE" in detail and "ORDER BY" in detail:
            sort = "partial sort" if "RIGHT PART" in detail else "sort"
        elif detail.startswith("LIST SUBQUERY"):
            subquery = True
        elif (match := PLAN_LINE.match(detail)) is not None and match["table"] == table:
            columns = tuple(
                re.split(r"[=<>]", term.strip(), maxsplit=1)[0]
                for term in (match["cond"] or "").split(" AND ")
                if term.strip()
            )
            searches.append((match["index"], columns))
    # With a subquery the plan lists the outer search by id first, then the one for matches.
    index, columns = searches[-1] if searches else (None, ())
    tested = tuple(sorted(filters - set(columns)))
    return Access(index, columns, tested, sort, subquery and len(searches) > 1)


@dataclass
class Result:
    case: Case
    timing: Timing
    total: int
    count_plan: Access | None
    page_plan: Access | None

    @property
    def kind(self) -> str:
        """How the request reads, from its plans.

        index: every filter bounds an index read. walk: the page query walks the ordering's
        index, testing entries until the page is full. narrowed: the count reads the matches of
        one filter and tests the others. scan: the count tests every entry of the account.
        """
        count, page = self.count_plan, self.page_plan
        if count is not None and count.tested:
            return "narrowed" if len(count.columns) > 1 else "scan"
        if page is not None and page.tested and not page.by_id:
            return "walk"
        return "index"


def measure_case(
    client: TestClient,
    engine: Engine,
    log: StatementLog,
    case: Case,
    path: str,
    headers: dict[str, str],
    repeat: int,
) -> Result:
    spec = next(
        s
        for s in (allow_policies.SPEC, block_senders.SPEC, domains.SPEC)
        if s.path == case.resource
    )
    table = spec.model.__tablename__

    def call() -> Any:  # the test client's response
        response = client.get(path, params=case.params, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{case.label}: {response.status_code} {response.text[:300]}")
        return response

    log.statements.clear()
    log.recording = True
    body = call().json()
    log.recording = False
    total = body["result_info"]["total_count"]
    if case.account == "small" and not case.params and total != SMALL_ENTRIES:
        # The small account must see its own entries only, whatever the large one holds.
        raise RuntimeError(f"{case.label}: {total:,} entries, expected {SMALL_ENTRIES:,}")
    ours = [(s, p) for s, p in log.statements if f"FROM {table}" in s]
    filters = {col for name in case.params for col in FILTER_COLUMNS.get(name, ())}
    filters &= set(spec.model.__table__.columns.keys())
    count_plan = page_plan = None
    with engine.connect() as conn:
        for statement, parameters in ours:
            access = explain(conn, statement, parameters, table, filters)
            if "count(*)" in statement.lower():
                count_plan = access
            else:
                page_plan = access
    timing = time_calls(call, repeat)
    return Result(case, timing, total, count_plan, page_plan)


def probe_values(engine: Engine, account_id: str, entries: int) -> dict[str, str]:
    """Values that exist in the large account, for the exact-match filters."""
    ap, bs, dm = allow_policies.AllowPolicy, block_senders.BlockedSender, domains.ProtectedDomain
    with engine.connect() as conn:

        def middle(column: Any, model: Any, count: int) -> str:
            # Halfway along the creation order: a walk of that order meets it after half the
            # account, not on the first page. A name, not an IP, so that capitals differ.
            query = select(column).where(
                model.account_id == account_id,
                model.is_regex.is_(False),
                model.pattern_type.in_(("EMAIL", "DOMAIN")),
            )
            return str(conn.scalar(query.order_by(model.created_at).offset(count // 2).limit(1)))

        domain = select(dm.domain).where(dm.account_id == account_id).order_by(dm.created_at)
        return {
            "allow_pattern": middle(ap.pattern, ap, entries),
            "block_pattern": middle(bs.pattern, bs, entries),
            "domain": str(conn.scalar(domain.offset(entries // 20).limit(1))),
            "integration_id": str(
                conn.scalar(
                    select(dm.integration_id)
                    .where(dm.account_id == account_id, dm.integration_id.is_not(None))
                    .limit(1)
                )
            ),
        }


@dataclass
class Floors:
    http_get: Timing
    raw_select: Timing


def measure_floors(
    client: TestClient, engine: Engine, account_id: str, headers: dict[str, str], repeat: int
) -> Floors:
    model = allow_policies.AllowPolicy
    with engine.connect() as conn:
        entry_id = conn.scalar(
            select(model.id)
            .where(model.account_id == account_id)
            .order_by(model.created_at)
            .offset(1000)
            .limit(1)
        )
    url = SETTINGS_PATH.format(account=account_id, resource="allow_policies") + f"/{entry_id}"

    def get_one() -> object:
        response = client.get(url, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET by id: {response.status_code} {response.text[:300]}")
        return response

    query = select(model.__table__).where(model.id == entry_id)

    def select_one() -> object:
        with engine.connect() as conn:
            return conn.execute(query).one()

    # Many runs: these are the yardsticks every other request is divided by.
    return Floors(time_calls(get_one, repeat * 5), time_calls(select_one, repeat * 5))


# ---- reporting ------------------------------------------------------------------------------


def _query(params: dict[str, str | int]) -> str:
    if not params:
        return ""
    text = "&".join(f"{k}={v}" for k, v in params.items())
    return f"`{text}`" if len(text) <= 60 else f"`{text[:57]}...`"


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def table(results: list[Result], floors: Floors) -> list[str]:
    floor = floors.http_get.median_ms
    lines = [
        "| Resource | Request | Matches | Median ms | p95 ms | Ratio to floor | COUNT(*) plan"
        " | Page plan |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
        f"| allow_policies | GET one entry by id (the HTTP floor) | 1 |"
        f" {_ms(floors.http_get.median_ms)} | {_ms(floors.http_get.p95_ms)} | 1.0 | |"
        " primary key |",
        f"| allow_policies | bare SQLAlchemy `SELECT … WHERE id = ?`, no HTTP | 1 |"
        f" {floors.raw_select.median_ms:.2f} | {floors.raw_select.p95_ms:.2f} |"
        f" {floors.raw_select.median_ms / floor:.2f} | | primary key |",
    ]
    for r in results:
        query = _query(r.case.params)
        request = f"{r.case.label}<br>{query}" if query else r.case.label
        count = r.count_plan.text() if r.count_plan else ""
        page = r.page_plan.text() if r.page_plan else "none: past the last match"
        lines.append(
            f"| {r.case.resource} | {request} | {r.total:,} | {_ms(r.timing.median_ms)} |"
            f" {_ms(r.timing.p95_ms)} | {r.timing.median_ms / floor:,.1f} | {count} | {page} |"
        )
    return lines


def summary(results: list[Result], floors: Floors) -> list[str]:
    """What is answered from indexes, what walks an index, what scans: from the plans."""
    floor = floors.http_get.median_ms
    groups: dict[str, list[Result]] = {"index": [], "walk": [], "narrowed": [], "scan": []}
    for result in results:
        groups[result.kind].append(result)

    def names(group: list[Result]) -> str:
        return "; ".join(
            f"{r.case.resource} {r.case.label} ({_ms(r.timing.median_ms)} ms)" for r in group
        )

    def slowest(group: list[Result]) -> str:
        worst = max(group, key=lambda r: r.timing.median_ms)
        return (
            f"the slowest {_ms(worst.timing.median_ms)} ms, {worst.timing.median_ms / floor:.0f}"
            f" times the floor ({worst.case.resource} {worst.case.label})"
        )

    lines = []
    if groups["index"]:
        lines.append(
            f"**Indexed.** {len(groups['index'])} of {len(results)} requests bound every filter"
            " and the order by an index, in both the count and the page query (or, with at"
            f" most {FEW_MATCHES:,} matches, find the matches by the filter's index and sort"
            f" them); {slowest(groups['index'])}. What remains in their time is the count behind"
            " `result_info.total_count`, which reads one index entry per match."
        )
    if groups["walk"]:
        lines.append(
            "**Walks.** These count by an index but read their page by walking the ordering's"
            " index and testing each entry until the page is full; fast while matches are"
            " common along that order, slower on deep pages: " + names(groups["walk"]) + "."
        )
    if groups["narrowed"]:
        lines.append(
            "**Two filters.** An index bounds one filter; the entries it yields are read from"
            " the table and tested for the other, so the count costs one table read per match"
            " of the first filter: " + names(groups["narrowed"]) + "."
        )
    if groups["scan"]:
        lines.append(
            "**Scans.** These read and test every entry of the account, as no index can answer"
            ' them (a substring anywhere in a column; the `allowed_delivery_mode` "contains"'
            " test): " + names(groups["scan"]) + "."
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 entries, 5 runs: a smoke run")
    parser.add_argument("--entries", type=int, help="allow policies and blocked senders, each")
    parser.add_argument("--db", type=Path, help="database file to build once and reuse")
    parser.add_argument("--repeat", type=int, help="timed runs per request (default 20)")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()

    sizes = Sizes.for_entries(args.entries or (10_000 if args.quick else 1_000_000))
    repeat = args.repeat or (5 if args.quick else 20)
    load = os.getloadavg()[0]
    run_started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mailpolicy-lists-") as scratch:
        path = args.db or Path(scratch) / "lists.db"
        print(f"database {path}: {sizes.entries:,} entries per list, {sizes.domains:,} domains")
        large, small, build_s = prepare(path, sizes, reuse=args.db is not None)
        app: FastAPI = create_app(Settings(database_url=f"sqlite:///{path}"))
        database: Database = app.state.db
        log = StatementLog(database.engine)
        tokens = {"large": read_token(database, large), "small": read_token(database, small)}
        accounts = {"large": large, "small": small}
        probe = probe_values(database.engine, large, sizes.entries)
        results: list[Result] = []
        with TestClient(app) as client:
            headers = {"Authorization": f"Bearer {tokens['large']}"}
            floors = measure_floors(client, database.engine, large, headers, repeat)
            print(
                f"floor: GET by id {floors.http_get.median_ms:.2f} ms,"
                f" bare SELECT {floors.raw_select.median_ms:.3f} ms",
                flush=True,
            )
            for case in cases(sizes.entries, probe):
                path_ = SETTINGS_PATH.format(account=accounts[case.account], resource=case.resource)
                auth = {"Authorization": f"Bearer {tokens[case.account]}"}
                result = measure_case(client, database.engine, log, case, path_, auth, repeat)
                results.append(result)
                print(
                    f"{case.resource:15} {case.label:48} {result.total:>9,}"
                    f" {result.timing.median_ms:9.1f} ms (p95 {result.timing.p95_ms:.1f},"
                    f" x{result.timing.median_ms / floors.http_get.median_ms:.1f})"
                    f"  {result.kind}",
                    flush=True,
                )
        database.dispose()
        size_mib = sum(
            Path(f"{path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{path}{s}").exists()
        ) / (1 << 20)
    elapsed = time.perf_counter() - run_started
    print(f"total {elapsed:.0f} s")
    flags = " --quick" if args.quick else ""
    flags += f" --entries {args.entries}" if args.entries else ""
    text = "\n".join(
        report(results, floors, sizes, build_s, size_mib, load, repeat, flags, elapsed)
    )
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
        print(f"written to {DOCS.relative_to(ROOT)}")


def report(
    results: list[Result],
    floors: Floors,
    sizes: Sizes,
    build_s: float | None,
    size_mib: float,
    load: float,
    repeat: int,
    flags: str,
    elapsed: float,
) -> list[str]:
    built = f", built in {build_s:.0f} s" if build_s is not None else ""
    return [
        SECTION,
        "",
        f"Measured {dt.date.today().isoformat()} by `bench/lists.py{flags}` on {os.cpu_count()}"
        f" CPUs ({cpu_model()}), Python {platform.python_version()}, SQLite"
        f" {sqlite3.sqlite_version} (load average {load:.1f} when the run started).",
        "",
        f"Data: one account holding {sizes.entries:,} allow policies, {sizes.entries:,} blocked"
        f" senders and {sizes.domains:,} protected domains, and a second account with"
        f" {SMALL_ENTRIES:,} of each; one SQLite file of {size_mib:,.0f} MiB, migrated by"
        f" Alembic, no ANALYZE statistics (a fresh install has none){built}; the whole run took"
        f" {elapsed:.0f} s.",
        "",
        "Each request goes through the whole HTTP stack (FastAPI TestClient: token check, query"
        " validation, the COUNT(*) behind `result_info.total_count`, the page query, JSON"
        f" serialization). Median and p95 of {repeat} runs after two warm-up runs (fewer, at"
        f" least {MIN_RUNS}, where a request takes over {CASE_BUDGET_S:.0f} s in all). The ratio"
        " to floor divides the median by the median GET of one entry by id, the cheapest"
        " request. Matches is `result_info.total_count`. The two plan columns are SQLite's"
        " EXPLAIN QUERY PLAN of the statements the service sent for that request (the COUNT(*)"
        " behind `result_info.total_count`, then the page): the index used and the columns"
        ' that bound it; "tests X" means each entry the index yields is read from the table'
        ' and tested for X; "matches by …, rows by id" is a subquery finding the matches'
        ' through the filter\'s index; "+ sort" a temporary b-tree.',
        "",
        *table(results, floors),
        "",
        *(line for paragraph in summary(results, floors) for line in (paragraph, "")),
    ]


if __name__ == "__main__":
    main()
