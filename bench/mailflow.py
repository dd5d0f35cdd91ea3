"""Mail-flow benchmark: smtp-source -> Postfix -> smtp-sink on loopback, in one run.

Run: .venv/bin/python bench/mailflow.py [--quick] [--messages N] [--no-write]
     .venv/bin/python bench/mailflow.py --rspamd [--quick] [--messages N] [--no-write]

`--rspamd` measures scanning instead: the mailpolicy milter asking rspamd, against rspamd's
own milter, in the same run (bench/detections.py, whose docstring says how).

smtpd services of one throwaway Postfix (tests/support/postfix.py), fed by smtp-source with
the same clean mail, delivered to smtp-sink:

  (a) no filter (the floor);
  (b) a 10,000-entry block list in Postfix's own `hash:` access map (check_sender_access);
  (c) the same 10,000 blocked senders, set through the API and enforced by the mailpolicy
      milter on its unix socket (the README's main.cf lines); and, for comparison, the same
      milter over TCP.

Throughput is messages per second from the first connection until the last message is
delivered; the goal is (c) >= 0.7 x (b). Latency is one message at a time, each on a new
connection, from connect to the server's answer to the end of DATA: (c) against (a) is what the
milter adds. Tables go to "## Mail flow" in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

# Run as `python bench/<name>.py`: this folder is on sys.path.
from report import cpu_model, publish

ROOT = Path(__file__).resolve().parent.parent
# The Postfix harness is the mail-flow tests'.
sys.path.insert(0, str(ROOT))
from tests.support.postfix import Postfix, free_port, wait_for  # noqa: E402

from mailpolicy import migrate  # noqa: E402
from mailpolicy.access.accounts import create_account  # noqa: E402
from mailpolicy.access.credentials import Permission, create_token  # noqa: E402

SECTION = "## Mail flow"
BLOCKED = 10_000
GOAL = 0.7
CORP = "corp.example"
SENDER = "newsletter@sender.example"


def prepare_database(url: str) -> None:
    """An account protecting corp.example (ACTIVE) with 10,000 blocked sender domains."""
    from fastapi.testclient import TestClient

    from mailpolicy.app import create_app
    from mailpolicy.audit.events import CLI
    from mailpolicy.config import Settings
    from mailpolicy.resources.domains import activate

    migrate.upgrade(url)
    app = create_app(Settings(database_url=url))
    with app.state.db.transaction() as session:
        account = create_account(session, "bench")
        _, token = create_token(session, account.id, Permission.WRITE, by=CLI)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/client/v4/accounts/{account.id}/email-security/settings"
    with TestClient(app) as client:
        domain = client.post(
            f"{base}/domains",
            json={
                "domain": CORP,
                "allowed_delivery_modes": ["DIRECT"],
                "drop_dispositions": ["MALICIOUS"],
                "ip_restrictions": [],
                "regions": ["GLOBAL"],
            },
            headers=headers,
        ).json()["result"]
        for start in range(0, BLOCKED, 1000):
            posts = [
                {"pattern": f"spam{n}.example", "pattern_type": "DOMAIN", "is_regex": False}
                for n in range(start, start + 1000)
            ]
            answer = client.post(
                f"{base}/block_senders/batch",
                json={"deletes": [], "patches": [], "puts": [], "posts": posts},
                headers=headers,
            )
            assert answer.status_code == 200, answer.text
    with app.state.db.transaction() as session:
        activate(session, domain["id"], CLI)
    app.state.db.dispose()


def access_map(table: Path, postfix: Postfix) -> None:
    """The same block list as Postfix's own hash: table (postmap)."""
    table.write_text("".join(f"spam{n}.example REJECT\n" for n in range(BLOCKED)))
    subprocess.run(["postmap", "-c", str(postfix.directory), str(table)], check=True)


def drain(postfix: Postfix, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while postfix.queued():
        if time.monotonic() > deadline:
            raise RuntimeError("the queue did not drain")
        time.sleep(0.05)


def throughput(postfix: Postfix, listener: str, messages: int, sessions: int) -> float:
    """Messages per second, first connection to last delivery."""
    drain(postfix)
    started = time.perf_counter()
    subprocess.run(
        [
            "smtp-source", "-s", str(sessions), "-m", str(messages), "-l", "1024",
            "-f", SENDER, "-t", f"ann@{CORP}", "-M", "client.example",
            f"127.0.0.1:{postfix.port(listener)}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    drain(postfix)
    return messages / (time.perf_counter() - started)


def latencies(port: int, count: int) -> list[float]:
    """Milliseconds per message, one at a time, each on a new connection."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, f"ann@{CORP}", "latency"
    message.set_content("x" * 1000)
    raw = message.as_bytes()
    found = []
    for _ in range(count):
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.sendmail(SENDER, [f"ann@{CORP}"], raw)
        found.append((time.perf_counter() - started) * 1000)
    return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    if "--rspamd" in sys.argv:
        sys.argv.remove("--rspamd")
        import detections

        detections.main()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rspamd", action="store_true", help="scanning with rspamd instead")
    parser.add_argument("--quick", action="store_true", help="fewer messages")
    parser.add_argument("--messages", type=int, help="messages per throughput run")
    parser.add_argument("--runs", type=int, default=5, help="throughput runs per variant")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    messages = args.messages or (300 if args.quick else 2000)
    samples = 100 if args.quick else 500
    sessions = 10

    work = Path(tempfile.mkdtemp(prefix="mailpolicy-bench-"))
    work.chmod(0o755)  # Postfix's processes read the access map here
    url = f"sqlite:///{work / 'mailpolicy.db'}"
    print(f"preparing {BLOCKED:,} blocked senders ...", flush=True)
    prepare_database(url)
    tcp_port = free_port()
    table = work / "blocked_senders"
    postfix = Postfix(
        {
            "main": {},  # (c) the README's lines: the mailpolicy milter on its unix socket
            "plain": {"smtpd_milters": ""},  # (a)
            "access": {  # (b)
                "smtpd_milters": "",
                "smtpd_sender_restrictions": f"check_sender_access,hash:{table}",
            },
            "tcp": {"smtpd_milters": f"inet:127.0.0.1:{tcp_port}"},  # (c), over TCP
        },
    )
    postfix.write_configuration()
    mailpolicy = str(Path(sys.executable).with_name("mailpolicy"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPOLICY_")}
    env.update(MAILPOLICY_DATABASE_URL=url, MAILPOLICY_LOG_LEVEL="warning")
    milters = [
        subprocess.Popen(
            [mailpolicy, "milter", "--listen", f"unix:{postfix.milter_socket}"],
            env={**env, "MAILPOLICY_MILTER_SOCKET_GROUP": "postfix"},
        ),
        subprocess.Popen([mailpolicy, "milter", "--listen", f"inet:127.0.0.1:{tcp_port}"], env=env),
    ]
    try:
        wait_for(postfix.milter_socket, timeout=60)
        wait_for(tcp_port, timeout=60)
        access_map(table, postfix)
        postfix.start()
        # Warm up every path once (process start-up, the milter's first connection).
        for name in ("plain", "access", "main", "tcp"):
            throughput(postfix, name, 50, sessions)
        rates: dict[str, list[float]] = {"plain": [], "access": [], "main": [], "tcp": []}
        names = list(rates)
        for run in range(args.runs):
            # Each run starts with another variant, so no variant always follows the same one.
            for name in names[run % len(names) :] + names[: run % len(names)]:
                rate = throughput(postfix, name, messages, sessions)
                rates[name].append(rate)
                print(f"run {run + 1}: {name}: {rate:,.0f} messages/s", flush=True)
        plain_ms = latencies(postfix.port("plain"), samples)
        milter_ms = latencies(postfix.port("main"), samples)
        tcp_ms = latencies(postfix.port("tcp"), samples)
    finally:
        postfix.stop()
        for milter in milters:
            milter.send_signal(signal.SIGTERM)
        for milter in milters:
            try:
                milter.wait(timeout=15)
            except subprocess.TimeoutExpired:
                milter.kill()
        shutil.rmtree(work, ignore_errors=True)

    a, b, c, tcp = (statistics.median(rates[name]) for name in ("plain", "access", "main", "tcp"))

    # Each run measures every variant back to back: the ratio of one run's figures is the
    # fair comparison on a machine whose load drifts; the table gives the median of those.
    def paired(name: str) -> float:
        return statistics.median(x / y for x, y in zip(rates[name], rates["access"], strict=True))

    ratio, tcp_ratio, floor_ratio = paired("main"), paired("tcp"), paired("plain")
    added = [m - p for m, p in zip(sorted(milter_ms), sorted(plain_ms), strict=True)]
    added_tcp = [m - p for m, p in zip(sorted(tcp_ms), sorted(plain_ms), strict=True)]
    postfix_version = subprocess.run(
        ["postconf", "-dh", "mail_version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    quick = " --quick" if args.quick else ""

    def row(label: str, values: list[float]) -> str:
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        return f"| {label} | {p50:.2f} ms | {p99:.2f} ms |"

    lines = [
        SECTION,
        "",
        f"Measured {datetime.date.today()} by `bench/mailflow.py{quick}` on {os.cpu_count()} "
        f"CPUs ({cpu_model()}), Python {platform.python_version()}, Postfix {postfix_version}.",
        "",
        f"smtp-source sends {messages:,} clean 1 KB messages over {sessions} parallel sessions to "
        "one throwaway Postfix on loopback, which delivers them to smtp-sink; a run is timed "
        "from the first connection until the queue is empty, and each figure is the median of "
        f"{args.runs} runs, in which every variant runs back to back; the last column is the "
        "median of the runs' own ratios, the comparison that holds on a machine whose load "
        f"drifts. (b) and (c) hold the same {BLOCKED:,} blocked sender domains: in "
        "Postfix's own `hash:` access map (`check_sender_access`), and set through the API and "
        "enforced by `mailpolicy milter` on its unix socket (the README's main.cf lines); the "
        "same milter over TCP is shown for comparison. Every message is checked against the "
        "list and passes.",
        "",
        "| Variant | Messages per second (median) | Against (b) (median of runs) |",
        "| --- | ---: | ---: |",
        f"| (a) no filter (floor) | {a:,.0f} | {floor_ratio:.2f} |",
        f"| (b) `hash:` access map, {BLOCKED:,} entries | {b:,.0f} | 1.00 |",
        f"| (c) mailpolicy milter, {BLOCKED:,} entries | {c:,.0f} | **{ratio:.2f}** "
        f"(goal {GOAL}: {'met' if ratio >= GOAL else 'not met'}) |",
        f"| (c) over TCP instead of the unix socket | {tcp:,.0f} | {tcp_ratio:.2f} |",
        "",
        f"One message at a time ({samples} messages, each on a new connection, from connect to "
        "the answer to DATA):",
        "",
        "| | p50 | p99 |",
        "| --- | ---: | ---: |",
        row("(a) no filter", plain_ms),
        row("(c) mailpolicy milter", milter_ms),
        row("added by the milter", added),
        row("added by the milter over TCP", added_tcp),
        "",
    ]
    publish(SECTION, lines, write=not args.no_write)


if __name__ == "__main__":
    main()
