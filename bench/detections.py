"""Detections benchmark: what scanning through mailpolicy costs against rspamd's own milter.

Run: .venv/bin/python bench/mailflow.py --rspamd [--quick] [--messages N] [--runs N] [--no-write]
(or bench/detections.py with the same options)

One throwaway rspamd (tests/support/rspamd.py: offline, DNS from a loopback authority, one
normal worker) and one throwaway Postfix (tests/support/postfix.py), fed by smtp-source with
the same clean 1 KB mail for a protected domain, delivered to smtp-sink, through three smtpd
services:

  (a) no filter (the floor);
  (b) rspamd alone as a milter: its proxy worker in milter mode, handing each message to the
      normal worker, as rspamd's own documentation sets it up in front of Postfix;
  (c) the mailpolicy milter, which sends each message to the same normal worker over HTTP
      (`MAILPOLICY_RSPAMD_URL`), makes findings of the answer and decides with the settings.

Throughput is messages per second from the first connection until the queue is empty; the
goal is (c) >= 0.9 x (b), the median of the runs' own ratios. CPU is what the mailpolicy
milter and the rspamd processes used per message in (c). Tables go to "## Detections: mail
flow" in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Run as `python bench/<name>.py`: this folder is on sys.path.
from mailflow import drain, prepare_database, throughput
from report import cpu_model, publish

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.authority import authority  # noqa: E402
from tests.support.postfix import Postfix, free_port, wait_for  # noqa: E402
from tests.support.rspamd import SENDERS_ZONE, rspamd_instance  # noqa: E402

SECTION = "## Detections: mail flow"
GOAL = 0.9
SESSIONS = 10


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU of these processes so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def rspamd_pids(main: int) -> list[int]:
    """rspamd's main process and its workers."""
    found = [main]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == main:
                found.append(int(entry.name))
    return found


def scanned(url: str) -> tuple[int, int]:
    """How many of the records the milter kept say rspamd scanned the message, of all."""
    import sqlite3

    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        total, ok = db.execute(
            "SELECT count(*), sum(json_extract(features, '$.scan.status') = 'ok') "
            "FROM message_records"
        ).fetchone()
    return int(ok or 0), int(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages")
    parser.add_argument("--messages", type=int, help="messages per throughput run")
    parser.add_argument("--runs", type=int, default=5, help="throughput runs per variant")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    messages = args.messages or (300 if args.quick else 2000)

    work = Path(tempfile.mkdtemp(prefix="mailpolicy-bench-"))
    work.chmod(0o755)
    url = f"sqlite:///{work / 'mailpolicy.db'}"
    print("preparing the account ...", flush=True)
    prepare_database(url)
    milter_port, rspamd_milter_port = free_port(), free_port()
    postfix = Postfix(
        {
            "plain": {"smtpd_milters": ""},  # (a)
            "rspamd": {"smtpd_milters": f"inet:127.0.0.1:{rspamd_milter_port}"},  # (b)
            "mailpolicy": {"smtpd_milters": f"inet:127.0.0.1:{milter_port}"},  # (c)
        },
    )
    postfix.write_configuration()
    mailpolicy = str(Path(sys.executable).with_name("mailpolicy"))
    milter: subprocess.Popen[bytes] | None = None
    try:
        with (
            authority() as (zones, dns_port),
            rspamd_instance(
                work / "rspamd",
                dns_port=dns_port,
                clamd_port=None,
                cache=ROOT / ".pytest_cache" / "d" / "rspamd-hyperscan",
                milter_port=rspamd_milter_port,
            ) as rspamd,
        ):
            zones.publish(SENDERS_ZONE)
            env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPOLICY_")}
            env.update(
                MAILPOLICY_DATABASE_URL=url,
                MAILPOLICY_LOG_LEVEL="warning",
                MAILPOLICY_RSPAMD_URL=rspamd.url,
            )
            milter = subprocess.Popen(
                [mailpolicy, "milter", "--listen", f"inet:127.0.0.1:{milter_port}"], env=env
            )
            wait_for(milter_port, timeout=60)
            wait_for(rspamd_milter_port, timeout=60)
            postfix.start()
            names = ["plain", "rspamd", "mailpolicy"]
            for name in names:  # warm up every path once
                throughput(postfix, name, 50, SESSIONS)
            rates: dict[str, list[float]] = {name: [] for name in names}
            cpu: dict[str, list[float]] = {"milter": [], "rspamd": []}
            assert rspamd.process is not None
            scanners = rspamd_pids(rspamd.process.pid)
            for run in range(args.runs):
                for name in names[run % len(names) :] + names[: run % len(names)]:
                    drain(postfix)
                    before = cpu_seconds([milter.pid]), cpu_seconds(scanners)
                    rate = throughput(postfix, name, messages, SESSIONS)
                    if name == "mailpolicy":
                        cpu["milter"].append(cpu_seconds([milter.pid]) - before[0])
                        cpu["rspamd"].append(cpu_seconds(scanners) - before[1])
                    rates[name].append(rate)
                    print(f"run {run + 1}: {name}: {rate:,.0f} messages/s", flush=True)
            milter.send_signal(signal.SIGTERM)  # it writes the records it holds, then ends
            milter.wait(timeout=60)
            ok, recorded = scanned(url)
    finally:
        postfix.stop()
        if milter is not None:
            milter.send_signal(signal.SIGTERM)
            try:
                milter.wait(timeout=15)
            except subprocess.TimeoutExpired:
                milter.kill()
        shutil.rmtree(work, ignore_errors=True)

    def paired(name: str) -> float:
        return statistics.median(x / y for x, y in zip(rates[name], rates["rspamd"], strict=True))

    a, b, c = (statistics.median(rates[name]) for name in ("plain", "rspamd", "mailpolicy"))
    ratio = paired("mailpolicy")
    milter_us = statistics.median(cpu["milter"]) / messages * 1e6
    rspamd_us = statistics.median(cpu["rspamd"]) / messages * 1e6
    postfix_version = subprocess.run(
        ["postconf", "-dh", "mail_version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    rspamd_version = (
        subprocess.run(["rspamd", "--version"], capture_output=True, text=True, check=False)
        .stdout.split("\n")[0]
        .strip()
    )
    quick = " --quick" if args.quick else ""
    lines = [
        SECTION,
        "",
        f"Measured {datetime.date.today()} by `bench/mailflow.py --rspamd{quick}` on "
        f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, "
        f"Postfix {postfix_version}, {rspamd_version}.",
        "",
        f"smtp-source sends {messages:,} clean 1 KB messages over {SESSIONS} parallel sessions "
        "to one throwaway Postfix on loopback, which delivers them to smtp-sink; a run is timed "
        "from the first connection until the queue is empty, and each figure is the median of "
        f"{args.runs} runs in which every variant runs back to back. The last column is the "
        "median of the runs' own ratios. One rspamd (one normal worker, offline, DNS from a "
        "loopback authority) scans every message in (b) and (c): in (b) through its own milter "
        "(the proxy worker in milter mode), in (c) through the mailpolicy milter, which asks "
        "the normal worker over HTTP and then decides with the account's settings (a protected "
        "domain and 10,000 blocked senders).",
        "",
        "| Variant | Messages per second (median) | Against (b) (median of runs) |",
        "| --- | ---: | ---: |",
        f"| (a) no filter (floor) | {a:,.0f} | {paired('plain'):.2f} |",
        f"| (b) rspamd's own milter | {b:,.0f} | 1.00 |",
        f"| (c) mailpolicy milter scanning with rspamd | {c:,.0f} | **{ratio:.2f}** "
        f"(goal {GOAL}: {'met' if ratio >= GOAL else 'not met'}) |",
        "",
        f"CPU per message in (c): the mailpolicy milter {milter_us:,.0f} µs, rspamd (all its "
        f"processes) {rspamd_us:,.0f} µs. rspamd's answer is in {ok:,} of the {recorded:,} "
        "records the mailpolicy milter kept (warm-up included).",
        "",
    ]
    publish(SECTION, lines, write=not args.no_write)


if __name__ == "__main__":
    main()
