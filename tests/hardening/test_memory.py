"""100 MB bodies against `mailpolicy serve`: the process's peak memory hardly moves, every upload
is refused with an envelope long before its end, and /healthz answers throughout."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailpolicy.errors import CODE_AUTH, CODE_TOO_LARGE
from tests.support.process import Served, serve
from tests.support.wire import Conn, Response, assert_envelope, exchange, request

UPLOAD = 100 * 1000 * 1000
BLOCK = b"x" * 65536
CHUNK = b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK)
HEADROOM_KIB = 50 * 1024
UPLOADERS = 3
ATTACK_SECONDS = 2.0


@dataclass(frozen=True)
class Kind:
    name: str
    authenticated: bool
    chunked: bool
    status: int
    code: int


# Declared lengths are refused at once, whoever asks; a chunked body is refused unread without
# credentials, and with them once it passes the limit.
KINDS = (
    Kind("declared, anonymous", False, False, 413, CODE_TOO_LARGE),
    Kind("chunked, anonymous", False, True, 401, CODE_AUTH),
    Kind("declared, valid token", True, False, 413, CODE_TOO_LARGE),
    Kind("chunked, valid token", True, True, 413, CODE_TOO_LARGE),
)


@dataclass(frozen=True)
class Upload:
    kind: Kind
    sent: int
    response: Response


def upload(served: Served, kind: Kind) -> Upload:
    headers = {"Content-Type": "application/json"}
    if kind.authenticated:
        headers["Authorization"] = f"Bearer {served.token}"
    if kind.chunked:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(UPLOAD)
    sent = 0
    with Conn(served.port) as conn:
        conn.send(request("POST", served.url("block_senders"), headers=headers))
        piece = CHUNK if kind.chunked else BLOCK
        try:
            while sent < UPLOAD:
                conn.send(piece)
                sent += len(BLOCK)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: its answer is waiting
        return Upload(kind, sent, conn.response())


def _until(
    stop: threading.Event, work: Callable[[], None], errors: list[str]
) -> Callable[[], None]:
    """A thread's loop: `work` until told to stop; a failure is kept, and stops every loop."""

    def loop() -> None:
        try:
            while not stop.is_set():
                work()
        except Exception as exc:
            errors.append(repr(exc))
            stop.set()

    return loop


def _status(served: Served, method: str, target: str, **kwargs: Any) -> int:
    return exchange(served.port, request(method, target, **kwargs)).status


def test_hundred_megabyte_bodies_leave_memory_and_health_alone(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    with serve(tmp_path) as served:
        # Warm up: ordinary traffic and one refusal of each kind, so the baseline includes
        # everything a first request loads.
        auth = {"Authorization": f"Bearer {served.token}", "Content-Type": "application/json"}
        url = served.url("block_senders")
        for n in range(50):
            body = {"pattern": f"warm{n}.example", "pattern_type": "DOMAIN", "is_regex": False}
            assert _status(served, "POST", url, headers=auth, json_body=body) == 201
            assert _status(served, "GET", url, headers=auth) == 200
            assert _status(served, "GET", "/healthz") == 200
        for kind in KINDS:
            assert upload(served, kind).response.status == kind.status
        served.reset_peak()
        baseline = served.memory_kib()["VmRSS"]

        stop = threading.Event()
        errors: list[str] = []
        uploads: list[Upload] = []
        latencies: list[float] = []
        polls: list[int] = []

        def uploader(offset: int) -> Callable[[], None]:
            turn = iter(range(offset, 1 << 30))

            def once() -> None:
                uploads.append(upload(served, KINDS[next(turn) % len(KINDS)]))

            return once

        def poll() -> None:
            started = time.perf_counter()
            polls.append(exchange(served.port, request("GET", "/healthz")).status)
            latencies.append(time.perf_counter() - started)

        threads = [
            threading.Thread(target=_until(stop, work, errors))
            for work in [*(uploader(n) for n in range(UPLOADERS)), poll]
        ]
        for thread in threads:
            thread.start()
        time.sleep(ATTACK_SECONDS)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        peak = served.memory_kib()["VmHWM"]

    # Latencies are recorded, not asserted (bench/hostile.py holds them to a target).
    cuts = statistics.quantiles(latencies, n=100)
    record_property("healthz_polls", len(latencies))
    record_property("healthz_p50_ms", round(cuts[49] * 1000, 2))
    record_property("healthz_p99_ms", round(cuts[98] * 1000, 2))
    record_property("peak_rss_growth_kib", peak - baseline)
    print(
        f"{len(uploads)} uploads, {len(latencies)} polls, healthz p50 {cuts[49] * 1000:.1f} ms"
        f" p99 {cuts[98] * 1000:.1f} ms, peak RSS {peak - baseline:+,} KiB over {baseline:,} KiB"
    )

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    assert {u.kind for u in uploads} == set(KINDS)
    for done in uploads:
        assert_envelope(done.response, done.kind.status, done.kind.code)
        assert done.response.headers.get("connection") == "close"
        assert done.sent < UPLOAD, f"{done.kind.name}: the server read the whole body"
    assert polls, "no health poll completed"
    assert set(polls) == {200}
    assert peak - baseline < HEADROOM_KIB, f"peak RSS grew {peak - baseline:,} KiB"
    log = served.log.read_text()
    assert "Traceback" not in log, log
    assert "ERROR" not in log, log
