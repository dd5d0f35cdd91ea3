"""Settings API throughput: wrk against `mailpolicy serve` holding 100,000 entries per resource.

Run: .venv/bin/python bench/api.py [--quick] [--entries N] [--postgresql | --database-url URL]
         [--seconds S] [--connections C] [--workers N] [--soak SECONDS] [--profile DIR]
         [--no-write]

Seeds a fresh database (a SQLite file in a temporary folder; with `--postgresql`, a throwaway
PostgreSQL cluster from Debian's packages with durable commits; or the PostgreSQL database
`--database-url postgresql+psycopg://...` names, which is emptied first) with N entries of
each of the eight settings resources in one account, through the API's own validation and
normalisers (bench/api_seed.py); checks a sample of them through the API; then starts
`mailpolicy serve` on it, as an operator runs it, and the floor (bench/api_floor.py): a bare
route on the same server stack answering a constant JSON body as large as a get-by-id answer.

Each scenario (get-by-id, list page 1, list with a filter, a deep page, create, edit,
evaluate) is driven by wrk (bench/wrk/api.lua) for S seconds right after the floor is, so
every ratio compares two measurements taken a few seconds apart. Then a mixed workload: its
maximum throughput (wrk), and a soak at 80% of it by a paced client while the server's
memory is sampled. With `--workers N` (when `mailpolicy serve` has the option) get-by-id is
measured again with N workers, for the scaling row. `--profile DIR` records the server with
py-spy during get-by-id, list page 1, create and evaluate and leaves the flame data in DIR.

Rate limiting stays on with a quota no run reaches, so every request pays for its count.
Tables go under "## Settings API throughput, SQLite" (or ", PostgreSQL") in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, make_url

# Run as `python bench/<name>.py`: this folder is on sys.path.
import api_load
import api_profile
import api_seed
from api_load import Paced, Requests, Run
from mailpolicy.db import make_engine
from report import DOCS, cpu_model, write_section

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
# One section per database: "## Settings API throughput, SQLite" and "..., PostgreSQL".
SECTION = "## Settings API throughput, {database}"
PREFIX = "/client/v4/accounts/{account}/email-security"
FLOOR_PATH = "/client/v4/floor"
RESOURCE = "allow_policies"  # the scenarios' resource
IDS = 1_000  # entries get and edit pick from
# Goals: requests per second as a share of the floor's, measured in the same run.
GOALS = {"get": 0.5, "list": 0.3, "create": 0.3, "evaluate": 0.4}
SCALING_GOAL = 1.6
SOAK_SHARE = 0.8
RATE_LIMIT = 1_000_000_000  # requests per window per credential: counted, never reached
SETTLE = 2.0  # seconds between runs
FLAT_MB, FLAT_SHARE = 10.0, 0.02  # memory growth allowed over ten minutes
# The mixed workload: what a dashboard, provisioning scripts and a mail gateway send at once.
MIX = {"get": 40, "list": 15, "filter": 10, "create": 10, "edit": 10, "evaluate": 15}
# Answers a sample check ignores: when and under which id an entry was created, and what the
# activation of a seeded domain changed (a domain created through the API awaits DNS).
VOLATILE = {"id", "created_at", "modified_at", "last_modified"}
ACTIVATION = {"status", "authorization"}


@dataclass(frozen=True)
class Scenario:
    name: str  # as in bench/wrk/api.lua and MIX
    label: str
    request: str  # what it sends, for the table


def scenarios(entries: int) -> list[Scenario]:
    deep = max(1, entries * 4 // 5 // 20)
    return [
        Scenario("get", "get-by-id", f"`GET {RESOURCE}/{{id}}`, one of {IDS:,} ids at random"),
        Scenario("list", "list page 1", f"`GET {RESOURCE}` (page 1, 20 per page)"),
        Scenario("filter", "list with a filter", f"`GET {RESOURCE}?pattern_type=IP`"),
        Scenario("deep", "deep page", f"`GET {RESOURCE}?page={deep:,}`".replace(",", "")),
        Scenario("evaluate", "evaluate", "`POST evaluate`, 2 protected recipients, text"),
        Scenario("create", "create", f"`POST {RESOURCE}`, a new domain each time"),
        Scenario("edit", "edit", f"`PATCH {RESOURCE}/{{id}}` (comments), one of {IDS:,} ids"),
    ]


def static_paths(base: str, entries: int) -> dict[str, str]:
    settings = f"{base}/settings/{RESOURCE}"
    deep = max(1, entries * 4 // 5 // 20)
    return {
        "list": settings,
        "filter": f"{settings}?pattern_type=IP",
        "deep": f"{settings}?page={deep}",
        "floor": FLOOR_PATH,
    }


def evaluate_body(entries: int) -> dict[str, Any]:
    """A message to two recipients in seeded protected domains, with a subject and some text
    for the content policies to search."""
    first = api_seed.entry("domains", 0)[1]["domain"]
    middle = api_seed.entry("domains", entries // 2)[1]["domain"]
    return {
        "envelope_from": "billing@mail.vendor.example",
        "header_from": '"Vendor Billing" <billing@vendor.example>',
        "reply_to": None,
        "recipients": [f"alice@{first}", f"bob@{middle}"],
        "client_ip": "203.0.113.9",
        "client_hostname": "mx1.vendor.example",
        "helo": "mx1.vendor.example",
        "tls": {"protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384"},
        "auth": {
            "spf": "pass",
            "dkim": [{"domain": "vendor.example", "result": "pass"}],
            "dmarc": "pass",
        },
        "findings": [],
        "subject": "Your invoice for November",
        "body": "Hello Alice,\n\nplease find your invoice attached. " * 20,
    }


# ---- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ask(
    port: int, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, Any, int]:
    """One request; (status, JSON answer, answer's size in bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None, len(raw)
    finally:
        connection.close()


def wait_healthy(
    port: int, path: str, process: subprocess.Popen[bytes], log: Path, limit: float
) -> None:
    deadline = time.monotonic() + limit
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer within {limit:.0f} s")
        with suppress(OSError):
            if ask(port, "GET", path)[0] == 200:
                return
        time.sleep(0.2)


def server_env(url: str, log_level: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPOLICY_")}
    # The background DNS verifier is off: it is no part of the request path, and 100,000
    # seeded domains would send it to the network. Rate limiting stays on, as it is by default,
    # with a quota no run reaches: every request pays for its count, none is refused.
    env.update(
        MAILPOLICY_DATABASE_URL=url,
        MAILPOLICY_LOG_LEVEL=log_level,
        MAILPOLICY_DNS_VERIFY="false",
        MAILPOLICY_RATE_LIMIT=str(RATE_LIMIT),
    )
    return env


@dataclass(frozen=True)
class Server:
    pid: int
    port: int


@contextmanager
def process(
    command: list[str], env: dict[str, str], work: Path, name: str, health: str = "/healthz"
) -> Iterator[Server]:
    """Start a server process on a free port (`{port}` in the command), wait until `health`
    answers 200, and stop the process on the way out."""
    port = free_port()
    log = work / f"{name}.log"
    with open(log, "wb") as out:
        child = subprocess.Popen(
            [part.replace("{port}", str(port)) for part in command],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=work,
        )
    try:
        wait_healthy(port, health, child, log, limit=120)
        yield Server(child.pid, port)
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def mailpolicy() -> str:
    return str(Path(sys.executable).with_name("mailpolicy"))


def serve_has_workers() -> bool:
    shown = subprocess.run(
        [mailpolicy(), "serve", "--help"], capture_output=True, text=True, check=False
    )
    return "--workers" in shown.stdout


def serve_command(workers: int | None) -> list[str]:
    command = [mailpolicy(), "serve", "--host", "127.0.0.1", "--port", "{port}"]
    return command + (["--workers", str(workers)] if workers else [])


# ---- the database ----------------------------------------------------------------------------


def empty_database(url: str) -> None:
    """Drop every table of the database `url` names: the benchmark starts from nothing."""
    engine = make_engine(url)
    try:
        existing = MetaData()
        existing.reflect(engine)
        if existing.tables:
            print(f"emptying {make_url(url).render_as_string()}: {len(existing.tables)} tables")
            existing.drop_all(engine)
    finally:
        engine.dispose()


def database_version(url: str) -> str:
    if make_url(url).get_backend_name() == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SHOW server_version").scalar()
        return f"PostgreSQL {version}"
    finally:
        engine.dispose()


def check_samples(port: int, seeded: api_seed.Seeded) -> int:
    """Seeded entries read back through the API exactly as the same bodies, created through
    the API, answer; and the same body sent to the seeded account is a duplicate (409): the
    stored duplicate key is the API's. Returns how many entries were compared."""
    big, check = seeded.big, seeded.check
    compared = 0
    for path in api_seed.SPECS:
        settings = PREFIX.format(account=big.id) + f"/settings/{path}"
        for entry_id, body in api_seed.samples(path, big.entries):
            status, stored, _ = ask(port, "GET", f"{settings}/{entry_id}", big.token)
            assert status == 200, f"{path} {entry_id}: {status} {stored}"
            fresh_path = PREFIX.format(account=check.id) + f"/settings/{path}"
            status, created, _ = ask(port, "POST", fresh_path, check.token, body)
            assert status == 201, f"{path}: creating {body} answered {status} {created}"
            ignored = VOLATILE | (ACTIVATION if path == "domains" else set())
            seeded_view = {k: v for k, v in stored["result"].items() if k not in ignored}
            created_view = {k: v for k, v in created["result"].items() if k not in ignored}
            assert seeded_view == created_view, f"{path}: {seeded_view} != {created_view}"
            status, _, _ = ask(
                port, "DELETE", f"{fresh_path}/{created['result']['id']}", check.token
            )
            assert status == 200, f"{path}: cleaning up answered {status}"
            compared += 1
        status, answer, _ = ask(port, "POST", settings, big.token, body)
        assert status == 409, f"{path}: the same body again answered {status} {answer}"
    return compared


# ---- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    port: int
    base: str  # /client/v4/accounts/ID/email-security
    token: str


@dataclass
class Bench:
    work: Path
    seconds: float
    connections: int
    ids_file: Path
    paths_file: Path
    body_file: Path
    run: str
    runs: int = 0

    def env(self, target: Target, mix: dict[str, int]) -> dict[str, str]:
        self.runs += 1  # each wrk run creates patterns of its own
        return {
            "BENCH_MIX": ",".join(f"{k}={v}" for k, v in mix.items()),
            "BENCH_BASE": target.base,
            "BENCH_TOKEN": target.token,
            "BENCH_IDS": str(self.ids_file),
            "BENCH_PATHS": str(self.paths_file),
            "BENCH_BODY": str(self.body_file),
            "BENCH_RUN": f"{self.run}-{self.runs}",
        }

    def wrk(
        self, target: Target, mix: dict[str, int], seconds: float | None = None, **extra: str
    ) -> Run:
        url = f"http://127.0.0.1:{target.port}/"
        run = api_load.wrk(
            url,
            {**self.env(target, mix), **extra},
            seconds=seconds or self.seconds,
            connections=self.connections,
        )
        # wrk stops sending when its time is up, but the server still works off the requests
        # it has taken: they finish before the next measurement starts.
        time.sleep(SETTLE)
        return run


@dataclass(frozen=True)
class Measured:
    scenario: Scenario
    run: Run
    floor: Run

    @property
    def ratio(self) -> float:
        return self.run.rate / self.floor.rate if self.floor.rate else 0.0


def show(label: str, run: Run) -> None:
    errors = f", {run.failed:,} errors {run.errors}" if run.failed else ""
    print(
        f"  {label}: {run.rate:,.0f} requests/s, p50 {run.p50_ms:.1f} ms,"
        f" p99 {run.p99_ms:.1f} ms{errors}",
        flush=True,
    )


def timed_evaluate(port: int, base: str, token: str, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    status, answer, _ = ask(port, "POST", f"{base}/evaluate", token, body)
    assert status == 200, f"evaluate answered {status} {answer}"
    return time.perf_counter() - started


@dataclass(frozen=True)
class Soak:
    peak: Run  # the mix as fast as it goes
    rate: float  # what the soak asked for
    seen: Paced


def soak(bench: Bench, api: Target, mail: Target, server: Server, seconds: float) -> Soak:
    """The mix's maximum throughput (wrk), then `seconds` at 80% of it, paced, sampling the
    server's memory. evaluate in the mix reads the mail account, which the mix's writes leave
    alone, so that the evaluate row of the mix measures evaluations alone (a write to the same
    account makes the next evaluation apply it first: bench/follow.py measures that)."""
    peak = bench.wrk(api, MIX, BENCH_EVALUATE_BASE=mail.base, BENCH_EVALUATE_TOKEN=mail.token)
    show("mix, as fast as it goes", peak)
    if peak.requests == 0:
        raise SystemExit("the mixed workload got no answer at all: is the server stuck?")
    rate = peak.rate * SOAK_SHARE
    print(f"  soak: {rate:,.0f} requests/s for {seconds:,.0f} s ...", flush=True)
    requests = Requests(
        api.base,
        api.token,
        bench.ids_file.read_text().split(),
        static_paths(api.base, 0),
        bench.body_file.read_bytes(),
        f"{bench.run}-soak",
        evaluate=(mail.base, mail.token),
    )
    every = 2.0 if seconds <= 120 else 5.0
    seen = api_load.paced(server.port, rate, seconds, requests.mix(MIX), server.pid, every)
    return Soak(peak, rate, seen)


def rss_trend(samples: list[tuple[float, int]]) -> tuple[float, float]:
    """(growth in MB over the soak's second half by a least-squares line, in MB per minute)."""
    half = [(t, kib * 1024 / 1e6) for t, kib in samples if t >= samples[-1][0] / 2]
    if len(half) < 3:
        return 0.0, 0.0
    slope = statistics.linear_regression([t for t, _ in half], [m for _, m in half]).slope
    return slope * (half[-1][0] - half[0][0]), slope * 60


def profile(bench: Bench, api: Target, server: Server, directory: Path, seconds: float) -> None:
    """py-spy on the server while wrk drives one scenario at a time: the raw stacks (NAME.txt)
    and where their time goes (NAME.md, bench/api_profile.py) in `directory`."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        raise SystemExit("--profile needs py-spy in the venv: .venv/bin/pip install -e '.[bench]'")
    directory.mkdir(parents=True, exist_ok=True)
    # evaluate before create: a write makes the next evaluation apply it to the snapshot.
    for name in ("get", "list", "evaluate", "create"):
        if name == "evaluate":  # the snapshot is built before the recording starts
            timed_evaluate(
                server.port, api.base, api.token, json.loads(bench.body_file.read_text())
            )
        bench.wrk(api, {name: 1}, seconds=3)  # past whatever the run before left behind
        raw = directory / f"{name}.txt"
        recorder = subprocess.Popen(
            [
                *(str(spy), "record", "--pid", str(server.pid), "--rate", "250"),
                *("--duration", str(round(seconds)), "--format", "raw", "--output", str(raw)),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # py-spy attaches
        run = bench.wrk(api, {name: 1}, seconds=seconds)
        recorder.wait(timeout=seconds + 60)
        show(f"{name} (profiled)", run)
        title = f"{name}: {run.rate:,.0f} requests/s under py-spy ({bench.connections} connections)"
        (directory / f"{name}.md").write_text(api_profile.summarise(raw, title), encoding="utf-8")
    print(f"profiles in {directory}")


# ---- the report ------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _errors(run: Run) -> str:
    if run.requests == 0:
        return "**no answer at all**"
    if not run.failed:
        return "0"
    kinds = [f"{n:,} {kind}" for kind, n in run.errors.items() if n and kind != "status"]
    kinds += [f"{n:,} × {status}" for status, n in sorted(run.statuses.items())]  # noqa: RUF001
    return f"**{run.failed:,}** ({', '.join(kinds)})"


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


@dataclass(frozen=True)
class Report:
    section: str
    flags: str
    load: float
    database: str
    entries: int
    seed_seconds: float
    checked: int
    answer_bytes: int
    seconds: float
    connections: int
    log_level: str
    measured: list[Measured]
    first_evaluate: float
    evaluate_after_write: float
    scaling: tuple[int, Run, Run] | str
    soaked: Soak
    soak_seconds: float
    wall_seconds: float


def render(report: Report) -> str:
    wrk_version = (
        subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        .stdout.split("[")[0]
        .strip()
    )
    lines = [
        report.section,
        "",
        f"Measured {datetime.date.today().isoformat()} by `bench/api.py{report.flags}` on"
        f" {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()},"
        f" {report.database}, {wrk_version or 'wrk'} (load average {report.load:.1f} when the"
        f" run started; the machine is shared, so absolute numbers move from run to run: the"
        " ratios, each taken seconds apart, are the figures to compare).",
        "",
        f"Data: one account holding {report.entries:,} entries of each of the eight settings"
        f" resources ({report.entries * 8:,} in all), built in {report.seed_seconds:.0f} s from"
        " the bodies a client would send, through each resource's request schema, normalisers,"
        " checks and duplicate key (protected domains then activated, as `mailpolicy domains"
        f" activate` does); {report.checked} of them, the first, middle and last of each"
        " resource, read back through the API exactly as the same bodies created through the"
        " API do, and each resource refuses its first body again as a duplicate (409).",
        "",
        f"Server: `mailpolicy serve` on that database, one worker, default settings"
        f" (log level {report.log_level}) but the background DNS verifier off. Floor: a bare"
        " `async` route mounted at /client/v4 on the same stack (uvicorn with"
        " `mailpolicy.api.server.server_config`, the same protocol class and middleware) answering"
        f" a constant JSON body of {report.answer_bytes:,} bytes, the size of a get-by-id answer."
        f" Each row is wrk for {report.seconds:.0f} s with {report.connections} connections"
        " (one thread, keep-alive, every request authenticated with a Write token), taken"
        " right after the floor's own run of the same length, with a pause of"
        f" {SETTLE:.0f} s after every run for the server to finish what it had taken; latency"
        " is wrk's, from sending to the last byte. Errors are answers other than 2xx, failed"
        " connections and requests unanswered after 5 s.",
        "",
        "| Scenario | Request | Requests/s | p50 ms | p99 ms | Errors | Floor requests/s"
        " | Ratio to floor | Goal |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for row in report.measured:
        goal = GOALS.get(row.scenario.name)
        verdict = f"≥ {goal}: {_verdict(row.ratio >= goal)}" if goal else ""
        lines.append(
            f"| {row.scenario.label} | {row.scenario.request} | {row.run.rate:,.0f}"
            f" | {_ms(row.run.p50_ms)} | {_ms(row.run.p99_ms)} | {_errors(row.run)}"
            f" | {row.floor.rate:,.0f} | {row.ratio:.2f} | {verdict} |"
        )
    floors = [row.floor for row in report.measured]
    lines += [
        "",
        f"The floor itself: {statistics.median(r.rate for r in floors):,.0f} requests/s"
        f" (median of its {len(floors)} runs; from {min(r.rate for r in floors):,.0f} to"
        f" {max(r.rate for r in floors):,.0f}), p50"
        f" {statistics.median(r.p50_ms for r in floors):.1f} ms, p99"
        f" {statistics.median(r.p99_ms for r in floors):.1f} ms.",
        "",
        f"evaluate builds the account's snapshot (all {report.entries * 8:,} entries) on its"
        f" first call: {report.first_evaluate:.1f} s after the server started. After a write"
        " it applies the entries the write changed (bench/follow.py):"
        f" {report.evaluate_after_write:.2f} s for the first evaluation after the edits above."
        " The evaluate row is measured with the snapshot current.",
        "",
    ]
    if isinstance(report.scaling, str):
        lines += [f"**Workers.** {report.scaling}", ""]
    else:
        workers, one, many = report.scaling
        scale = many.rate / one.rate if one.rate else 0.0
        lines += [
            f"**Workers.** get-by-id with `mailpolicy serve --workers {workers}`:"
            f" {many.rate:,.0f} requests/s against {one.rate:,.0f} with one worker, measured"
            f" one after the other: {scale:.2f} times (goal ≥ {SCALING_GOAL} on two cores:"
            f" {_verdict(scale >= SCALING_GOAL)}; wrk runs on the same two cores).",
            "",
        ]
    soaked = report.soaked
    seen = soaked.seen
    rss = [kib for _, kib in seen.rss_kib]
    growth, per_minute = rss_trend(seen.rss_kib)
    # Flat: the trend, carried on for the goal's ten minutes, stays within 2% (or 10 MB).
    flat = per_minute * 10 < max(FLAT_MB, FLAT_SHARE * rss[0] * 1024 / 1e6)
    cuts = (
        statistics.quantiles(seen.latencies, n=100, method="inclusive")
        if len(seen.latencies) > 1
        else [0.0] * 99
    )
    statuses = ", ".join(
        f"{n:,} × {status}"  # noqa: RUF001
        for status, n in sorted(seen.statuses.items())
    )
    failures = ", ".join(f"{n:,} {why}" for why, n in seen.failures.items())
    mix = ", ".join(f"{name} {weight}%" for name, weight in MIX.items())
    lines += [
        f"**Mixed workload and soak.** The mix ({mix}; evaluate reads a second account of"
        f" {api_seed.MAIL_ENTRIES:,} entries per resource that the mix's writes leave alone,"
        " so that evaluations are measured alone) peaks at"
        f" {soaked.peak.rate:,.0f} requests/s under wrk (p99"
        f" {_ms(soaked.peak.p99_ms)} ms, errors {_errors(soaked.peak)}). Then a paced client"
        f" sends it at {SOAK_SHARE:.0%} of that, {soaked.rate:,.0f} requests/s, for"
        f" {report.soak_seconds:,.0f} s, each request on time whatever the answers before it"
        " (latency from when it was due), while the server's resident set is sampled.",
        "",
        "| Soak | Result | Goal |",
        "| --- | --- | --- |",
        f"| requests sent / answered | {seen.sent:,} / {sum(seen.statuses.values()):,}"
        f" ({statuses or 'none'}) | |",
        f"| achieved rate | {seen.sent / seen.seconds:,.0f} requests/s | |",
        f"| errors (answers ≥ 400, no answer) | {seen.errors:,}"
        f"{f' ({failures})' if failures else ''} | zero: {_verdict(seen.errors == 0)} |",
        f"| latency p50 / p99 / max | {cuts[49] * 1000:.1f} / {cuts[98] * 1000:.1f} /"
        f" {max(seen.latencies, default=0) * 1000:,.0f} ms | |",
        f"| server RSS first / last / max | {rss[0] / 1024:,.0f} / {rss[-1] / 1024:,.0f} /"
        f" {max(rss) / 1024:,.0f} MiB ({len(rss)} samples) | |",
        f"| RSS trend over the second half | {growth:+.1f} MB ({per_minute:+.2f} MB/min) |"
        f" flat: {_verdict(flat)} |",
        "",
        "Flat means the least-squares line through the second half's samples, carried on for"
        f" ten minutes, climbs less than {FLAT_SHARE:.0%} of the first sample (or"
        f" {FLAT_MB:.0f} MB)"
        + (
            f"; {report.soak_seconds:.0f} s says little about slow growth: `--soak 600` runs"
            " the goal's ten minutes."
            if report.soak_seconds < 600
            else "."
        ),
        "",
        f"The whole run took {report.wall_seconds / 60:.1f} minutes. Where the time of a"
        " request goes, and what would remove each cost: [bench/PROFILE.md](../bench/PROFILE.md).",
        "",
    ]
    return "\n".join(lines)


# ---- the run ---------------------------------------------------------------------------------


@contextmanager
def throwaway_cluster(wanted: bool) -> Iterator[str | None]:
    """A PostgreSQL cluster of its own (the test suite's, with durable commits: fsync on), its
    database's URL; removed on the way out. None when not wanted."""
    if not wanted:
        yield None
        return
    sys.path.insert(0, str(ROOT))
    from tests.support.postgres import Cluster

    cluster = Cluster(fast=False)
    try:
        yield cluster.create_database("mailpolicy_bench")
    finally:
        cluster.destroy()


@contextmanager
def seeded_database(
    name: str, database_url: str | None, postgresql: bool, entries: int
) -> Iterator[tuple[Path, str, api_seed.Seeded]]:
    """A working folder, a database (`database_url` emptied, a throwaway PostgreSQL cluster, or
    a SQLite file in the folder) and the entries seeded into it; all removed on the way out."""
    with (
        tempfile.TemporaryDirectory(prefix=f"mailpolicy-{name}-bench-") as folder,
        throwaway_cluster(postgresql) as cluster_url,
    ):
        work = Path(folder)
        url = database_url or cluster_url or f"sqlite:///{work / 'mailpolicy.db'}"
        if database_url:
            empty_database(url)
        print(f"seeding {entries:,} entries per resource ...", flush=True)
        seeded = api_seed.seed(url, entries, processes=max(1, min(4, os.cpu_count() or 1)))
        print(f"seeded in {seeded.seconds:.0f} s", flush=True)
        yield work, url, seeded


def _flags(args: argparse.Namespace) -> str:
    """The options a run was given, as the report names them."""
    flags = " --quick" if args.quick else ""
    if args.entries:
        flags += f" --entries {args.entries}"
    if args.soak:
        flags += f" --soak {args.soak:.0f}"
    if args.database_url:
        flags += " --database-url postgresql+psycopg://…"
    if args.postgresql:
        flags += " --postgresql"
    return flags


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 entries, short runs")
    parser.add_argument("--entries", type=int, help="entries per resource (100,000)")
    parser.add_argument("--database-url", help="PostgreSQL (emptied first) instead of SQLite")
    parser.add_argument(
        "--postgresql",
        action="store_true",
        help="a throwaway PostgreSQL cluster (Debian's packages, fsync on) instead of SQLite",
    )
    parser.add_argument("--seconds", type=float, help="length of each wrk run (5)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument(
        "--workers", type=int, default=2, help="workers for the scaling row (2); 1 skips it"
    )
    parser.add_argument("--soak", type=float, help="soak seconds (60; 600 for the full soak)")
    parser.add_argument("--log-level", default="info", help="the servers' log level (info)")
    parser.add_argument("--profile", type=Path, help="record py-spy profiles into this folder")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    entries = args.entries or (10_000 if args.quick else 100_000)
    seconds = args.seconds or (3.0 if args.quick else 5.0)
    soak_seconds = args.soak or (20.0 if args.quick else 60.0)
    if api_load.wrk_path() is None:
        raise SystemExit("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    load = os.getloadavg()[0]
    started = time.perf_counter()

    with seeded_database("api", args.database_url, args.postgresql, entries) as (work, url, seeded):
        big_base = PREFIX.format(account=seeded.big.id)
        ids_file, paths_file, body_file = work / "ids", work / "paths", work / "evaluate.json"
        ids_file.write_text("\n".join(api_seed.ids(RESOURCE, entries, IDS)) + "\n")
        paths_file.write_text(
            "".join(f"{k} {v}\n" for k, v in static_paths(big_base, entries).items())
        )
        message = evaluate_body(min(entries, api_seed.MAIL_ENTRIES))
        body_file.write_text(json.dumps(message))
        bench = Bench(
            work, seconds, args.connections, ids_file, paths_file, body_file, secrets.token_hex(4)
        )
        env = server_env(url, args.log_level)
        has_workers = serve_has_workers()
        with process(serve_command(None), env, work, "serve") as server:
            checked = check_samples(server.port, seeded)
            print(f"{checked} seeded entries read back as the API creates them", flush=True)
            api = Target(server.port, big_base, seeded.big.token)
            mail = Target(server.port, PREFIX.format(account=seeded.mail.id), seeded.mail.token)
            one_id = ids_file.read_text().split()[0]
            _, _, answer_bytes = ask(
                server.port, "GET", f"{big_base}/settings/{RESOURCE}/{one_id}", api.token
            )
            first_evaluate = timed_evaluate(server.port, big_base, api.token, message)
            print(f"first evaluate (snapshot build): {first_evaluate:.1f} s", flush=True)
            timed_evaluate(server.port, mail.base, mail.token, message)
            floor_command = [
                sys.executable,
                str(BENCH / "api_floor.py"),
                *("--port", "{port}", "--bytes", str(answer_bytes)),
                *("--log-level", args.log_level),
            ]
            with process(floor_command, env, work, "floor", FLOOR_PATH) as floor_server:
                floor = Target(floor_server.port, big_base, api.token)
                # Warm-up: every scenario's code paths loaded, the connection pool filled.
                bench.wrk(floor, {"floor": 1}, seconds=2)
                for name in ("get", "list", "filter", "deep", "evaluate"):
                    bench.wrk(api, {name: 1}, seconds=1)
                measured: list[Measured] = []
                for scenario in scenarios(entries):
                    floor_run = bench.wrk(floor, {"floor": 1})
                    show(f"floor before {scenario.name}", floor_run)
                    run = bench.wrk(api, {scenario.name: 1})
                    show(scenario.name, run)
                    measured.append(Measured(scenario, run, floor_run))
                after_write = timed_evaluate(server.port, big_base, api.token, message)
                print(f"evaluate after the edits (changes applied): {after_write:.2f} s")
                if args.profile:
                    profile(bench, api, server, args.profile, max(seconds, 10.0))
            soaked = soak(bench, api, mail, server, soak_seconds)
            scaling: tuple[int, Run, Run] | str = "Not measured (`--workers 1`)."
            one: Run | None = None
            if args.workers > 1 and not has_workers:
                scaling = (
                    "Not measured: the installed `mailpolicy serve` has no `--workers` option"
                    " yet, so the scaling goal (≥ 1.6 times with two workers on two cores) is"
                    " open."
                )
            elif args.workers > 1:
                one = bench.wrk(api, {"get": 1})
                show("get, one worker", one)
        if one is not None:
            command = serve_command(args.workers)
            with process(command, env, work, "serve-workers") as many_server:
                many_api = Target(many_server.port, big_base, api.token)
                bench.wrk(many_api, {"get": 1}, seconds=2)
                many = bench.wrk(many_api, {"get": 1})
                show(f"get, {args.workers} workers", many)
                scaling = (args.workers, one, many)
        database = database_version(url)

    flags = _flags(args)
    section = SECTION.format(database=database.split()[0])
    text = render(
        Report(
            section=section,
            flags=flags,
            load=load,
            database=database,
            entries=entries,
            seed_seconds=seeded.seconds,
            checked=checked,
            answer_bytes=answer_bytes,
            seconds=seconds,
            connections=args.connections,
            log_level=args.log_level,
            measured=measured,
            first_evaluate=first_evaluate,
            evaluate_after_write=after_write,
            scaling=scaling,
            soaked=soaked,
            soak_seconds=soak_seconds,
            wall_seconds=time.perf_counter() - started,
        )
    )
    print(text)
    if not args.no_write:
        write_section(section, text)
        print(f"written to {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
