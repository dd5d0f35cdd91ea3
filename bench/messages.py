"""Message-record benchmark: what keeping a record of every message costs the milter, and how
fast the investigate list answers over millions of records.

Run: .venv/bin/python bench/messages.py [--part flow|lists|all] [--quick] [--no-write]
       [--records 1000000,10000000]

(1) Throughput, in one run: smtp-source -> one throwaway Postfix -> smtp-sink, through two
    mailpolicy milters over TCP with the same settings, one keeping records
    (MAILPOLICY_MESSAGE_RECORDS, the default) and one not. The figure is the ratio of the two
    (goal: at most 10% fewer messages per second with records), the CPU each milter spends per
    message, and the records written per second, checked against the messages sent.
(2) List latency: an account of N records spread over 30 days (the rows `write_records`
    writes, search index included, through the DB-API), then GET /investigate with the
    filters an administrator uses, through the app, median and p99 of repeated requests. The
    database's size per million records is measured on the way.

Tables go to the two "## Message records: ..." sections of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mailflow import BLOCKED, CORP, percentile, prepare_database, throughput
from report import DOCS, cpu_model, write_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.postfix import Postfix, free_port, wait_for  # noqa: E402

from mailpolicy import migrate  # noqa: E402
from mailpolicy.access.accounts import create_account  # noqa: E402
from mailpolicy.access.credentials import Permission, create_token  # noqa: E402
from mailpolicy.audit.events import CLI  # noqa: E402
from mailpolicy.messages import search  # noqa: E402
from mailpolicy.messages.recorder import analyze  # noqa: E402

FLOW_SECTION = "## Message records: what they cost the milter"
LIST_SECTION = "## Message records: lists at 1 and 10 million"
GOAL = 0.9


# ---- (1) throughput ---------------------------------------------------------------------


def record_count(url: str) -> int:
    from sqlalchemy import func, select

    from mailpolicy.db import Database
    from mailpolicy.messages.records import MessageRecord

    database = Database(url)
    try:
        with database.transaction(write=False) as session:
            return session.scalar(select(func.count()).select_from(MessageRecord)) or 0
    finally:
        database.dispose()


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_throughput(work: Path, messages: int, runs: int) -> dict[str, Any]:
    url = f"sqlite:///{work / 'mail.db'}"
    prepare_database(url)
    ports = {"records": free_port(), "none": free_port()}
    postfix = Postfix(
        {name: {"smtpd_milters": f"inet:127.0.0.1:{port}"} for name, port in ports.items()}
    )
    postfix.write_configuration()
    mailpolicy = str(Path(sys.executable).with_name("mailpolicy"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPOLICY_")}
    env.update(MAILPOLICY_DATABASE_URL=url, MAILPOLICY_LOG_LEVEL="warning")
    milters = {
        "records": subprocess.Popen(
            [mailpolicy, "milter", "--listen", f"inet:127.0.0.1:{ports['records']}"], env=env
        ),
        "none": subprocess.Popen(
            [mailpolicy, "milter", "--listen", f"inet:127.0.0.1:{ports['none']}"],
            env={**env, "MAILPOLICY_MESSAGE_RECORDS": "false"},
        ),
    }
    rates: dict[str, list[float]] = {"records": [], "none": []}
    cpu: dict[str, list[float]] = {"records": [], "none": []}
    try:
        for port in ports.values():
            wait_for(port, timeout=60)
        postfix.start()
        for name in rates:
            throughput(postfix, name, 50, 10)
        for run in range(runs):
            order = list(rates) if run % 2 == 0 else list(reversed(rates))
            for name in order:
                used = cpu_seconds(milters[name].pid)
                rate = throughput(postfix, name, messages, 10)
                rates[name].append(rate)
                # The records' writer may still be busy: its work counts to its message.
                time.sleep(1.5)
                cpu[name].append((cpu_seconds(milters[name].pid) - used) / messages * 1e6)
                print(
                    f"run {run + 1}: {name}: {rate:,.0f} messages/s, "
                    f"{cpu[name][-1]:,.0f} µs CPU per message",
                    flush=True,
                )
        deadline = time.monotonic() + 30
        expected = 50 + messages * runs
        while record_count(url) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        written = record_count(url)
    finally:
        postfix.stop()
        for milter in milters.values():
            milter.send_signal(signal.SIGTERM)
        for milter in milters.values():
            try:
                milter.wait(timeout=15)
            except subprocess.TimeoutExpired:
                milter.kill()
    ratio = statistics.median(x / y for x, y in zip(rates["records"], rates["none"], strict=True))
    return {
        "with": statistics.median(rates["records"]),
        "without": statistics.median(rates["none"]),
        "ratio": ratio,
        "cpu_with": statistics.median(cpu["records"]),
        "cpu_without": statistics.median(cpu["none"]),
        "expected": expected,
        "written": written,
        "messages": messages,
        "runs": runs,
    }


# ---- (2) list latency ---------------------------------------------------------------------

SENDERS = 5000
RECIPIENTS = 2000
SUBJECT_WORDS = ("invoice", "meeting", "report", "lunch", "offer", "update", "order", "notice")


def _realistic(n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """One record and its recipient as the milter writes them for an everyday message: the
    features, reasons and validation a real decision leaves (so that the size per million
    records is the real one)."""
    sender = f"user{n % SENDERS}@sender{n % 97}.example"
    recipient = f"person{n % RECIPIENTS}@{CORP}"
    subject = f"{SUBJECT_WORDS[n % 8]} {SUBJECT_WORDS[(n // 8) % 8]} #{n}"
    malicious = n % 50 == 0
    features = {
        "stage": "eom",
        "envelope_from": sender,
        "header_from": f'"User {n % SENDERS}" <{sender}>',
        "reply_to": None,
        "client_ip": f"198.51.100.{n % 250 + 1}",
        "client_hostname": f"mail{n % 97}.sender.example",
        "helo": f"mail{n % 97}.sender.example",
        "tls": ["TLSv1.3", "TLS_AES_256_GCM_SHA384"],
        "auth": {"spf": "pass", "dmarc": "pass", "dkim": [[f"sender{n % 97}.example", "pass"]]},
        "findings": [],
        "subject": subject,
        "body_read": False,
        "body_policies": {},
        "body_matched": [],
        "body": None,
    }
    reasons = [
        {
            "resource": "domains",
            "id": "6f1c2f0e-9a43-4c55-8f0e-2b8f6a1d9c31",
            "pattern": CORP,
            "field": "recipient",
            "effect": "protected_domain",
            "honoured": True,
            "note": f"protected domain {CORP} (ACTIVE); drops MALICIOUS",
        }
    ]
    if malicious:
        reasons.insert(
            0,
            {
                "resource": "block_senders",
                "id": "0b9e5c7a-4d2f-4e61-9a8b-7c6d5e4f3a21",
                "pattern": f"sender{n % 97}.example",
                "field": "envelope_from",
                "effect": "block",
                "honoured": True,
                "note": f"blocked sender sender{n % 97}.example: disposition MALICIOUS",
            },
        )
    record = {
        "header_from": sender,
        "from_name": f"User {n % SENDERS}",
        "subject": subject,
        "message_id": f"<{n}@sender{n % 97}.example>",
        "client_ip": features["client_ip"],
        "client_hostname": features["client_hostname"],
        "helo": features["helo"],
        "features": features,
        "validation": {"spf": "pass", "dkim": "pass", "dmarc": "pass"},
        "recipient": recipient,
        "disposition": "MALICIOUS" if malicious else ("SPAM" if n % 17 == 0 else "NONE"),
        "reasons": reasons,
    }
    return record, features


def seed_records(url: str, account_id: str, count: int, now: dt.datetime) -> float:
    """`count` records of one account over the last 30 days, newest last, as `write_records`
    writes them (the same rows; the DB-API directly, so that 10 million take minutes);
    seconds taken."""
    import json
    import sqlite3

    path = url.removeprefix("sqlite:///")
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    span = dt.timedelta(days=30).total_seconds()
    started = time.perf_counter()
    batch = 50_000
    record_sql = (
        "INSERT INTO message_records (id, account_id, postfix_id, scanned_at, client_ip, "
        "client_hostname, helo, tls_protocol, tls_cipher, envelope_from, sender_domain, "
        'envelope_to, header_from, header_from_domain, from_name, reply_to, "to", to_name, '
        "subject, message_id, sent_at, size, final_disposition, action, is_quarantined, "
        "search_text, subject_key, validation, findings, features, settings_version, "
        "quarantine_reason, "
        "raw, raw_complete, action_log, trace, operations, released_at) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    recipient_sql = (
        "INSERT INTO message_recipients (record_id, position, account_id, address, domain, "
        "protected_domain_id, disposition, action, delivery_status, explanation, reasons) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    search_sql = "INSERT INTO message_search (rowid, record_id, text) VALUES (?, ?, ?)"
    try:
        for first in range(0, count, batch):
            records = []
            recipients = []
            searched = []
            for n in range(first, min(first + batch, count)):
                r, features = _realistic(n)
                at = now - dt.timedelta(seconds=span * (1 - n / count))
                record_id = f"4B{n:014X}-{at:%Y-%m-%dT%H:%M:%S}-{n & 0xFFFFFFFF:08x}"
                dropped = r["disposition"] == "MALICIOUS"
                sender = features["envelope_from"]
                records.append(
                    (
                        record_id, account_id, f"4B{n:014X}", at.strftime("%Y-%m-%d %H:%M:%S.%f"),
                        r["client_ip"], r["client_hostname"], r["helo"], "TLSv1.3",
                        "TLS_AES_256_GCM_SHA384", sender, sender.split("@")[1],
                        json.dumps([r["recipient"]]), r["header_from"], sender.split("@")[1],
                        r["from_name"], None, json.dumps([r["recipient"]]), json.dumps([""]),
                        r["subject"], r["message_id"], at.strftime("%Y-%m-%d %H:%M:%S.%f"),
                        2400 + n % 5000, r["disposition"],
                        "recipient_removed" if dropped else "delivered", 0,
                        "\n".join([sender, r["header_from"], r["from_name"], r["subject"],
                                   r["message_id"], r["recipient"]]).lower(),
                        r["subject"].lower(),
                        json.dumps(r["validation"]), "[]", json.dumps(features), 1, None,
                        None, 0, "[]", "[]", "", None,
                    )
                )  # fmt: skip
                searched.append((search.rowid(record_id), record_id, records[-1][25]))
                recipients.append(
                    (
                        record_id, 0, account_id, r["recipient"], CORP, "domain",
                        r["disposition"], "removed" if dropped else "delivered",
                        "rejected" if dropped else "delivered",
                        "Dropped: blocked sender." if dropped else "Delivered.",
                        json.dumps(r["reasons"]),
                    )
                )  # fmt: skip
            with connection:
                connection.executemany(record_sql, records)
                connection.executemany(recipient_sql, recipients)
                connection.executemany(search_sql, searched)
            if (first // batch) % 20 == 0:
                print(f"  {first + len(records):,} records", flush=True)
    finally:
        connection.close()
    return time.perf_counter() - started


LIST_CASES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("page 1 (last 30 days)", {}),
    ("page 50", {"page": 50}),
    ("a sender", {"sender": "user123@sender26.example"}),
    ("a recipient", {"recipient": f"person42@{CORP}"}),
    ("final_disposition=MALICIOUS", {"final_disposition": "MALICIOUS"}),
    ("a Message-ID", {"message_id": "<4242@sender71.example>"}),
    ("subject words", {"subject": "invoice meeting"}),
    ("query words", {"query": "user123 lunch"}),
    ("last day only", {"start": "LAST_DAY"}),
)


def measure_lists(
    url: str, account: str, token: str, repeats: int
) -> list[tuple[str, float, float, int]]:
    from fastapi.testclient import TestClient

    from mailpolicy.app import create_app
    from mailpolicy.config import Settings

    app = create_app(Settings(database_url=url, rate_limit=0))
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/client/v4/accounts/{account}/email-security/investigate"
    last_day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    found = []
    with TestClient(app) as client:
        for label, params in LIST_CASES:
            query = {k: (last_day if v == "LAST_DAY" else v) for k, v in params.items()}
            client.get(path, params=query, headers=headers)  # warm
            times = []
            total = 0
            for _ in range(repeats):
                started = time.perf_counter()
                response = client.get(path, params=query, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
                total = response.json()["result_info"]["total_count"]
            found.append((label, statistics.median(times), percentile(times, 0.99), total))
            print(f"  {label}: {statistics.median(times):.1f} ms ({total:,} match)", flush=True)
    app.state.db.dispose()
    return found


def measure_scale(work: Path, sizes: list[int], repeats: int) -> list[dict[str, Any]]:
    from mailpolicy.db import Database

    results = []
    for size in sizes:
        path = work / f"records-{size}.db"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        database = Database(url)
        with database.transaction() as session:
            account = create_account(session, "records")
            _, token = create_token(session, account.id, Permission.READ, by=CLI)
        database.dispose()
        print(f"writing {size:,} records ...", flush=True)
        seconds = seed_records(url, account.id, size, dt.datetime.now(dt.UTC))
        database = Database(url)
        analyze(database)  # as the milter's recorder does, hourly
        database.dispose()
        size_bytes = path.stat().st_size + sum(
            p.stat().st_size for p in work.glob(f"records-{size}.db-*")
        )
        lists = measure_lists(url, account.id, token, repeats)
        results.append(
            {
                "records": size,
                "seed_seconds": seconds,
                "bytes": size_bytes,
                "lists": lists,
            }
        )
        path.unlink()
    return results


def flow_text(flow: dict[str, Any], quick: str) -> str:
    added = flow["cpu_with"] - flow["cpu_without"]
    return "\n".join(
        [
            FLOW_SECTION,
            "",
            f"Measured {dt.date.today()} by `bench/messages.py --part flow{quick}` on "
            f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, SQLite.",
            "",
            f"smtp-source sends {flow['messages']:,} clean 1 KB messages over 10 sessions through "
            "one throwaway Postfix to smtp-sink, via two `mailpolicy milter` processes with the "
            f"same settings ({BLOCKED:,} blocked senders), one keeping message records and one "
            f"not (MAILPOLICY_MESSAGE_RECORDS=false); median of {flow['runs']} runs, each "
            "variant back to back, and the median of the runs' own ratios. CPU per message is "
            "the milter process's user and system time over the messages of a run (the "
            "records' writer thread included), the steadier figure on a machine whose load "
            "drifts.",
            "",
            "| Milter | Messages per second (median) | Against no records | CPU per message |",
            "| --- | ---: | ---: | ---: |",
            f"| without records (floor) | {flow['without']:,.0f} | 1.00 | "
            f"{flow['cpu_without']:,.0f} µs |",
            f"| with records | {flow['with']:,.0f} | **{flow['ratio']:.2f}** "
            f"(goal ≥ {GOAL}: {'met' if flow['ratio'] >= GOAL else 'not met'}) | "
            f"{flow['cpu_with']:,.0f} µs ({added:+,.0f} µs) |",
            "",
            f"Records written: {flow['written']:,} of {flow['expected']:,} messages decided by "
            f"the recording milter, so {flow['with']:,.0f} records per second at its peak rate, "
            "with "
            + (
                "none"
                if flow["written"] >= flow["expected"]
                else f"{flow['expected'] - flow['written']:,}"
            )
            + " lost.",
            "",
        ]
    )


def lists_text(scale: list[dict[str, Any]], repeats: int, quick: str) -> str:
    lines = [
        LIST_SECTION,
        "",
        f"Measured {dt.date.today()} by `bench/messages.py --part lists{quick}` on "
        f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, SQLite.",
        "",
        "One account whose records are spread over the last 30 days, one recipient each, "
        "written as the milter writes them (with the search index) and with the table "
        "statistics the recorder keeps; GET /investigate through the app (in process, no "
        f"network), median and p99 of {repeats} requests, 20 per page, the total counted "
        "each time (up to 10,000).",
        "",
    ]
    header = "| Request | " + " | ".join(f"{r['records']:,} records" for r in scale) + " |"
    lines += [header, "| --- |" + " ---: |" * len(scale)]
    for index, (label, _) in enumerate(LIST_CASES):
        cells = []
        for result in scale:
            _, median, p99, total = result["lists"][index]
            cells.append(f"{median:.1f} ms (p99 {p99:.1f}; {total:,} match)")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| Records | Seeded in (DB-API, not the milter's path) | Database size "
        "| Per million records |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for result in scale:
        per_million = result["bytes"] / result["records"] * 1_000_000
        lines.append(
            f"| {result['records']:,} | {result['seed_seconds']:.0f} s | "
            f"{result['bytes'] / 2**30:.2f} GiB | {per_million / 2**20:,.0f} MiB |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages, smaller accounts")
    parser.add_argument("--part", choices=("flow", "lists", "all"), default="all")
    parser.add_argument("--records", help="comma-separated account sizes (default 1M,10M)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    messages = 300 if args.quick else 2000
    sizes = (
        [int(s) for s in args.records.split(",")]
        if args.records
        else ([100_000] if args.quick else [1_000_000, 10_000_000])
    )
    repeats = 10 if args.quick else 30
    quick = " --quick" if args.quick else ""
    work = Path(tempfile.mkdtemp(prefix="mailpolicy-bench-records-"))
    work.chmod(0o755)
    texts = []
    try:
        if args.part in ("flow", "all"):
            flow = measure_throughput(work, messages, 3 if args.quick else args.runs)
            texts.append((FLOW_SECTION, flow_text(flow, quick)))
        if args.part in ("lists", "all"):
            scale = measure_scale(work, sizes, repeats)
            texts.append((LIST_SECTION, lists_text(scale, repeats, quick)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for section, text in texts:
        print(text)
        if not args.no_write:
            write_section(section, text)
            print(f"written to {DOCS}")


if __name__ == "__main__":
    main()
