"""Writes to a large account, enforced: how long until evaluate and the milter decide with them.

Run: .venv/bin/python bench/follow.py [--entries N] [--postgresql | --database-url URL]
         [--writes W] [--no-write]

Seeds a fresh database (as bench/api.py does, bench/api_seed.py) with N entries of each of the
eight settings resources in one account (143,000 by default: 1,001,000 entries the engine
reads, and 143,000 URL ignore patterns it does not). Then:

1. The snapshot built afresh from the database (what a server or a milter does on start):
   the rows read (`load_rules`) and the builder's build, against the engine's own build of
   the same rules from memory (`snapshot_of`), measured one after the other in this process.
2. `mailpolicy serve` on the database, as an operator runs it; the first evaluation builds
   the snapshot. Then W writes through the API (creates of a blocked sender, and every fifth
   a delete of the one before), each followed at once by evaluations of a message from that
   sender until the verdict says what the write did: the time from sending the write to that
   answer.
3. The milter's view (`mailpolicy.milter.policies.Policies`, the class the milter runs, at its
   default refresh interval) in this process: the same kind of writes, and the time until the
   snapshot it decides with holds each one.

Tables go under "## Following writes, SQLite" (or ", PostgreSQL") in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import api_seed
from api import (
    PREFIX,
    ask,
    evaluate_body,
    process,
    seeded_database,
    serve_command,
    server_env,
)
from mailpolicy.config import Settings
from mailpolicy.db import Database
from mailpolicy.engine import snapshot_of
from mailpolicy.evaluation.snapshots import follow, load_rules
from mailpolicy.milter.policies import Policies
from report import cpu_model, publish

SECTION = "## Following writes, {database}"
GOAL_SECONDS = 1.0
GOAL_BUILD_RATIO = 2.0


@dataclass(frozen=True)
class Builds:
    entries: int
    engine: float  # snapshot_of(rules), rules in memory
    load: float  # the rows read into rules
    full: float  # follow(session, account, None): rows read and the builder's build


def measure_builds(url: str, account_id: str) -> Builds:
    database = Database(url)
    try:
        with database.transaction(write=False) as session:
            started = time.perf_counter()
            rules = load_rules(session, account_id)
            load = time.perf_counter() - started
        gc.collect()
        started = time.perf_counter()
        snapshot = snapshot_of(rules)
        engine = time.perf_counter() - started
        entries = snapshot.entries
        del snapshot, rules
        gc.collect()
        with database.transaction(write=False) as session:
            started = time.perf_counter()
            held = follow(session, account_id, None)
            full = time.perf_counter() - started
        assert held.snapshot.entries == entries
        del held
        gc.collect()
    finally:
        database.dispose()
    return Builds(entries, engine, load, full)


@dataclass(frozen=True)
class Latencies:
    seconds: list[float]

    def quantile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def write(port: int, base: str, token: str, number: int, last_id: str | None) -> tuple[str, str]:
    """Write number `number`: a create of a blocked sender, or every fifth a delete of the one
    before. (what the write did: "blocked" or "gone", the entry's id)"""
    if number % 5 == 4 and last_id is not None:
        status, answer, _ = ask(port, "DELETE", f"{base}/settings/block_senders/{last_id}", token)
        assert status == 200, answer
        return "gone", last_id
    body = {"pattern": sender(number), "pattern_type": "EMAIL", "is_regex": False}
    status, answer, _ = ask(port, "POST", f"{base}/settings/block_senders", token, body)
    assert status in (200, 201), answer
    return "blocked", str(answer["result"]["id"])


def sender(number: int) -> str:
    return f"follow{number}@bench-follow.example"


def writes(
    numbers: range, port: int, base: str, token: str, enforced: Callable[[int, str, str], bool]
) -> Latencies:
    """One write per number, each timed from when it is sent until `enforced(number of the
    sender written, what the write did, entry id)`."""
    seconds = []
    last_id: str | None = None
    created_by: dict[str, int] = {}
    for number in numbers:
        started = time.perf_counter()
        did, entry_id = write(port, base, token, number, last_id)
        target = created_by.get(entry_id, number)
        created_by[entry_id] = number
        while not enforced(target, did, entry_id):
            if time.perf_counter() - started > 120:
                raise RuntimeError(f"write {number} not enforced after 120 s")
            time.sleep(0.002)
        seconds.append(time.perf_counter() - started)
        last_id = entry_id if did == "blocked" else None
    return Latencies(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=143_000, help="entries per resource")
    parser.add_argument("--database-url", help="PostgreSQL (emptied first) instead of SQLite")
    parser.add_argument(
        "--postgresql", action="store_true", help="a throwaway PostgreSQL cluster of its own"
    )
    parser.add_argument("--writes", type=int, default=50, help="writes timed (50)")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()

    where = (args.database_url, args.postgresql, args.entries)
    with seeded_database("follow", *where) as (work, url, seeded):
        database_name = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
        big = seeded.big

        builds = measure_builds(url, big.id)
        print(
            f"{builds.entries:,} entries: rows read {builds.load:.2f} s, engine build from memory "
            f"{builds.engine:.2f} s, full build from the database {builds.full:.2f} s",
            flush=True,
        )

        base = PREFIX.format(account=big.id)
        message = evaluate_body(min(args.entries, api_seed.MAIL_ENTRIES))
        recipient = message["recipients"][0]

        def verdict_for(number: int) -> dict[str, Any]:
            body = {**message, "envelope_from": sender(number), "header_from": sender(number)}
            status, answer, _ = ask(port, "POST", f"{base}/evaluate", big.token, body)
            assert status == 200, answer
            recipients: list[dict[str, Any]] = answer["result"]["recipients"]
            return next(r for r in recipients if r["recipient"] == recipient)

        def evaluated(number: int, did: str, entry_id: str) -> bool:
            reasons = verdict_for(number)["reasons"]
            found = any(reason["id"] == entry_id for reason in reasons)
            return found if did == "blocked" else not found

        env = server_env(url, "warning")
        with process(serve_command(None), env, work, "serve") as server:
            port = server.port
            started = time.perf_counter()
            verdict_for(-1)
            first_evaluate = time.perf_counter() - started
            print(f"first evaluation (snapshot built): {first_evaluate:.1f} s", flush=True)
            evaluate_latencies = writes(range(args.writes), port, base, big.token, evaluated)
            print(f"evaluate: p99 {evaluate_latencies.quantile(0.99) * 1000:.0f} ms", flush=True)

            interval = Settings().milter_refresh_seconds
            database = Database(url)
            policies = Policies(database, interval)
            started = time.perf_counter()
            assert policies.refresh()
            milter_start = time.perf_counter() - started
            policies.start()

            def in_milter(number: int, did: str, entry_id: str) -> bool:
                snapshot = policies.snapshot(big.id)
                assert snapshot is not None
                held = snapshot.sender_emails.get(sender(number), ())
                found = any(entry.id == entry_id for entry in held)
                return found if did == "blocked" else not found

            try:
                numbers = range(1000, 1000 + args.writes)
                milter_latencies = writes(numbers, port, base, big.token, in_milter)
            finally:
                policies.stop()
                database.dispose()
            print(f"milter: p99 {milter_latencies.quantile(0.99) * 1000:.0f} ms", flush=True)

    render(
        args,
        database_name,
        builds,
        first_evaluate,
        evaluate_latencies,
        milter_start,
        milter_latencies,
        interval,
    )


def render(
    args: argparse.Namespace,
    database_name: str,
    builds: Builds,
    first_evaluate: float,
    evaluate_latencies: Latencies,
    milter_start: float,
    milter_latencies: Latencies,
    interval: float,
) -> None:
    def row(label: str, latencies: Latencies) -> str:
        p50, p99 = latencies.quantile(0.5), latencies.quantile(0.99)
        met = "met" if p99 <= GOAL_SECONDS else f"missed by {p99 - GOAL_SECONDS:.2f} s"
        return (
            f"| {label} | {len(latencies.seconds)} | {p50 * 1000:.0f} | {p99 * 1000:.0f} "
            f"| {max(latencies.seconds) * 1000:.0f} | ≤ {GOAL_SECONDS * 1000:.0f} ms: {met} |"
        )

    ratio = builds.full / builds.engine
    build_met = "met" if ratio <= GOAL_BUILD_RATIO else f"missed by {ratio - GOAL_BUILD_RATIO:.2f}"
    flags = " --postgresql" if args.postgresql else ""
    if args.entries != 143_000:
        flags += f" --entries {args.entries}"
    lines = [
        SECTION.format(database=database_name),
        "",
        f"Measured {datetime.date.today():%Y-%m-%d} by `bench/follow.py{flags}` on "
        f"{os.cpu_count()} CPUs ({cpu_model()}), Python {sys.version.split()[0]}.",
        "",
        f"One account of {args.entries:,} entries of each of the eight settings resources: "
        f"{builds.entries:,} entries the engine reads (the URL ignore patterns it does not).",
        "",
        "| snapshot built afresh | seconds |",
        "|---|---:|",
        f"| the engine's own build, the rules in memory (`snapshot_of`) | {builds.engine:.2f} |",
        f"| the rows read into rules (`load_rules`) | {builds.load:.2f} |",
        f"| from the database: rows read and built (`follow`) | {builds.full:.2f} |",
        f"| ratio, from the database to the engine's own (goal ≤ {GOAL_BUILD_RATIO:.0f}) "
        f"| {ratio:.2f}: {build_met} |",
        f"| the server's first evaluation (snapshot built) | {first_evaluate:.2f} |",
        f"| the milter's first load (every account) | {milter_start:.2f} |",
        "",
        "A write through the API, then the time until it is enforced: evaluate answers with it",
        "(the first evaluation after the write applies it), or the milter's snapshot holds it",
        f"(its refresh interval is the default {interval:g} s). Creates of a blocked sender, and",
        "every fifth write a delete of the one before.",
        "",
        "| enforced by | writes | p50 ms | p99 ms | max ms | goal |",
        "|---|---:|---:|---:|---:|---|",
        row("evaluate", evaluate_latencies),
        row("the milter", milter_latencies),
        "",
    ]
    publish(SECTION.format(database=database_name), lines, not args.no_write)


if __name__ == "__main__":
    main()
