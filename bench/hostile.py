"""Hostile-client benchmark: /healthz latency and peak memory while clients upload 100 MB bodies.

Run: .venv/bin/python bench/hostile.py [--quick] [--requests N] [--uploaders N] [--no-write]

Starts `mailpolicy serve` on a fresh database (127.0.0.1, a free port), as an operator runs it.
Times /healthz one request at a time, each on a new connection, first with nothing else going
on (the floor), then while uploader processes send 100 MB bodies to the API without pause:
declared and chunked, without credentials and with a valid Write token, in turn. Reads the
server's peak resident set (VmHWM, reset before each phase) against its resident set after a
warm-up, and writes the results under "## Hostile clients" in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path

# Run as `python bench/<name>.py`: this folder is on sys.path.
from report import cpu_model, publish

ROOT = Path(__file__).resolve().parent.parent
# The server is started as the hardening tests start it.
sys.path.insert(0, str(ROOT))
from tests.support.process import Served, serve  # noqa: E402

SECTION = "## Hostile clients"
UPLOAD = 100 * 1000 * 1000
BLOCK = b"x" * 65536
TARGET_P99_MS = 100.0
TARGET_RSS_MB = 50.0
# (credentials, chunked): the four kinds of upload, taken in turn by every uploader.
KINDS = ((False, False), (False, True), (True, False), (True, True))


def _ask(port: int, data: bytes) -> bytes:
    """Send one request on a new connection; the whole answer (the server closes after it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


HEALTH = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def _upload(server: Served, credentials: bool, chunked: bool) -> tuple[int, int]:
    """One 100 MB upload to the API; the status it got and the bytes the server took first."""
    head = (
        f"POST /client/v4/accounts/{server.account}/email-security/settings/block_senders"
        " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    )
    if credentials:
        head += f"Authorization: Bearer {server.token}\r\n"
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {UPLOAD}\r\n"
    piece = b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK) if chunked else BLOCK
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n")
        try:
            while sent < UPLOAD:
                sock.sendall(piece)
                sent += len(BLOCK)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused: the answer is waiting
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return _refusal_status(answer), sent


def _refusal_status(answer: bytes) -> int:
    """The status of a v4 failure envelope; 0 for anything else."""
    head, _, body = answer.partition(b"\r\n\r\n")
    try:
        envelope = json.loads(body)
    except ValueError:
        return 0
    if not head.startswith(b"HTTP/1.1 ") or envelope.get("success") is not False:
        return 0
    return int(head.split(b" ", 2)[1])


def _uploader(server: Served, first: int, stop: Event, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    statuses: Counter[int] = Counter()
    taken: list[int] = []
    turn = first
    while not stop.is_set():
        status, sent = _upload(server, *KINDS[turn % len(KINDS)])
        statuses[status] += 1
        taken.append(sent)
        turn += 1
    results.put((dict(statuses), taken))


@dataclass(frozen=True)
class Phase:
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    failures: int
    peak_growth_kib: int
    statuses: Counter[int]
    taken: list[int]


def measure(server: Served, baseline_kib: int, requests: int, uploaders: int) -> Phase:
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    results = context.Queue()
    workers = [
        context.Process(target=_uploader, args=(server, n, stop, results)) for n in range(uploaders)
    ]
    server.reset_peak()
    for worker in workers:
        worker.start()
    if workers:
        time.sleep(1.0)  # let the uploads get going before timing
    timings: list[float] = []
    failures = 0
    for _ in range(requests):
        started = time.perf_counter()
        answer = _ask(server.port, HEALTH)
        timings.append(time.perf_counter() - started)
        failures += not answer.startswith(b"HTTP/1.1 200")
    stop.set()
    statuses: Counter[int] = Counter()
    taken: list[int] = []
    for _ in workers:
        counts, sent = results.get(timeout=120)
        statuses.update(counts)
        taken += sent
    for worker in workers:
        worker.join(timeout=60)
    cuts = statistics.quantiles(timings, n=100)
    return Phase(
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
        max_ms=max(timings) * 1000,
        requests=requests,
        failures=failures,
        peak_growth_kib=server.memory_kib()["VmHWM"] - baseline_kib,
        statuses=statuses,
        taken=taken,
    )


def warm_up(server: Served) -> None:
    """Ordinary traffic and one refusal of each kind, so the baseline has everything loaded."""
    auth = f"Authorization: Bearer {server.token}\r\n"
    path = f"/client/v4/accounts/{server.account}/email-security/settings/block_senders"
    for n in range(50):
        body = f'{{"pattern": "warm{n}.example", "pattern_type": "DOMAIN", "is_regex": false}}'
        _ask(
            server.port,
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
            ).encode(),
        )
        _ask(
            server.port,
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n".encode(),
        )
        _ask(server.port, HEALTH)
    for kind in KINDS:
        _upload(server, *kind)


def _mb(kib: int) -> str:
    return f"{kib * 1024 / 1e6:+.1f} MB"


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 requests per phase")
    parser.add_argument("--requests", type=int, help="timed /healthz requests per phase")
    parser.add_argument("--uploaders", type=int, default=3, help="parallel uploader processes")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    requests = args.requests or (500 if args.quick else 5000)
    load = os.getloadavg()[0]

    with tempfile.TemporaryDirectory() as directory, serve(Path(directory)) as server:
        warm_up(server)
        time.sleep(0.5)
        baseline = server.memory_kib()["VmRSS"]
        print(f"baseline RSS {baseline / 1024:,.1f} MiB", flush=True)
        floor = measure(server, baseline, requests, 0)
        print(f"floor: p50 {floor.p50_ms:.2f} ms, p99 {floor.p99_ms:.2f} ms", flush=True)
        attack = measure(server, baseline, requests, args.uploaders)
        print(
            f"attack: p50 {attack.p50_ms:.2f} ms, p99 {attack.p99_ms:.2f} ms,"
            f" {sum(attack.statuses.values()):,} uploads {dict(attack.statuses)}",
            flush=True,
        )

    uploads = sum(attack.statuses.values())
    refused = attack.statuses[413] + attack.statuses[401]
    p99_met = attack.p99_ms < TARGET_P99_MS and attack.failures == 0
    rss_met = max(floor.peak_growth_kib, attack.peak_growth_kib) * 1024 < TARGET_RSS_MB * 1e6
    flags = " --quick" if args.quick else ""
    lines = [
        SECTION,
        "",
        f"Measured {datetime.date.today().isoformat()} by `bench/hostile.py{flags}` on"
        f" {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}"
        f" (load average {load:.1f} when the run started).",
        "",
        "`mailpolicy serve` with its default settings (bodies up to 1 MiB) on a fresh database."
        f" /healthz is timed {requests:,} times per phase, one request at a time, each on a new"
        " connection, from connect to the last byte of the answer. The floor is the same"
        f" measurement with nothing else going on; under attack, {args.uploaders} uploader"
        " processes on the same machine send 100 MB bodies to the API without pause, taking in"
        " turn a declared length and chunks, no credentials and a valid Write token. Peak RSS is"
        " the server's VmHWM, reset before each phase, over its resident set after a warm-up.",
        "",
        f"| Measure | Floor | {args.uploaders} uploaders of 100 MB | Target |",
        "| --- | ---: | ---: | --- |",
        f"| /healthz p50 | {floor.p50_ms:.2f} ms | {attack.p50_ms:.2f} ms | |",
        f"| /healthz p99 | {floor.p99_ms:.2f} ms | {attack.p99_ms:.2f} ms |"
        f" under {TARGET_P99_MS:.0f} ms: {_verdict(p99_met)} |",
        f"| /healthz slowest | {floor.max_ms:.1f} ms | {attack.max_ms:.1f} ms | |",
        f"| /healthz answers other than 200 | {floor.failures} | {attack.failures} | none |",
        f"| Peak RSS over the warmed-up baseline ({baseline / 1024:,.0f} MiB) |"
        f" {_mb(floor.peak_growth_kib)} | {_mb(attack.peak_growth_kib)} |"
        f" under +{TARGET_RSS_MB:.0f} MB: {_verdict(rss_met)} |",
        f"| Uploads refused with an envelope (413 or 401) | | {refused:,} of {uploads:,} | all |",
        f"| Bytes an uploader had sent when refused (kernel buffers included), median / most | |"
        f" {statistics.median(attack.taken) / 1e6:.1f} MB /"
        f" {max(attack.taken) / 1e6:.1f} MB | |",
        "",
    ]
    publish(SECTION, lines, write=not args.no_write)


if __name__ == "__main__":
    main()
