"""Load for bench/api.py: wrk runs (closed loop, as fast as the server answers) and a paced
client (open loop, a fixed rate, for the soak), and the server's memory."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LUA = Path(__file__).resolve().parent / "wrk" / "api.lua"


@dataclass(frozen=True)
class Run:
    """One wrk run: requests per second, latency percentiles, errors by kind."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]  # connect, read, write, timeout, status (answers >= 400)
    statuses: dict[int, int]  # answers other than 2xx, by status

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk(
    url: str, env: dict[str, str], *, seconds: float, connections: int, threads: int = 1
) -> Run:
    """Run wrk with the benchmark's script; `env` holds the BENCH_* settings it reads."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(LUA),
        url,
    ]
    done = subprocess.run(
        command,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 60,
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH-RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    found = json.loads(line.removeprefix("BENCH-RESULT "))
    return Run(
        requests=found["requests"],
        seconds=found["duration_us"] / 1e6,
        p50_ms=found["p50_us"] / 1000,
        p99_ms=found["p99_us"] / 1000,
        max_ms=found["max_us"] / 1000,
        errors={k: found[k] for k in ("connect", "read", "write", "timeout", "status")},
        statuses=_statuses(found["statuses"]),
    )


def _statuses(text: str) -> dict[int, int]:
    """ "409=3 500=1 409=2" (per thread) as {409: 5, 500: 1}."""
    counts: Counter[int] = Counter()
    for part in text.split():
        status, _, count = part.partition("=")
        counts[int(status)] += int(count)
    return dict(counts)


# ---- the server's memory ----------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                # The command name may hold spaces; the parent pid is the 2nd field after it.
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(parent, []).append(int(entry))
    return tree


def tree_rss_kib(pid: int) -> int:
    """Resident set of a process and all its descendants (uvicorn's workers), in KiB."""
    tree = _children()
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        pending.extend(tree.get(current, []))
        try:
            with open(f"/proc/{current}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


# ---- the paced client -------------------------------------------------------------------------


@dataclass
class Paced:
    """What a fixed-rate run saw. Latency runs from when a request was due, not from when it
    was sent: a server that falls behind shows it, rather than slowing the client down."""

    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # no answer: why
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    rss_kib: list[tuple[float, int]] = field(default_factory=list)  # (seconds in, RSS)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 400) + sum(
            self.failures.values()
        )


IDLE_LIMIT = 2.0  # seconds; a connection idle this long is not reused (the server's is 5)
MAX_IN_FLIGHT = 512


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection", "").lower() == "close"


async def _paced(
    port: int,
    rate: float,
    seconds: float,
    make: Callable[[], bytes],
    pid: int,
    every: float,
) -> Paced:
    loop = asyncio.get_running_loop()
    seen = Paced()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
    in_flight: set[asyncio.Task[None]] = set()

    async def one(request: bytes, due: float) -> None:
        reader = writer = None
        while idle:
            reader, writer, since = idle.pop()
            if loop.time() - since < IDLE_LIMIT:
                break
            writer.close()
            reader = writer = None
        try:
            if reader is None or writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            status, close = await asyncio.wait_for(_answer(reader), timeout=30)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            seen.failures[type(exc).__name__] += 1
            if writer is not None:
                writer.close()
            return
        except TimeoutError:
            seen.failures["timeout (30 s)"] += 1
            writer.close()
            return
        seen.latencies.append(loop.time() - due)
        seen.statuses[status] += 1
        if close:
            writer.close()
        else:
            idle.append((reader, writer, loop.time()))

    async def sample(start: float) -> None:
        while True:
            seen.rss_kib.append((loop.time() - start, tree_rss_kib(pid)))
            await asyncio.sleep(every)

    start = loop.time()
    sampler = loop.create_task(sample(start))
    total = int(rate * seconds)
    for index in range(total):
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= MAX_IN_FLIGHT:
            seen.failures[f"over {MAX_IN_FLIGHT} requests waiting"] += 1
            continue
        task = loop.create_task(one(make(), due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        seen.sent += 1
    if in_flight:
        await asyncio.wait(set(in_flight))
    seen.seconds = loop.time() - start
    sampler.cancel()
    seen.rss_kib.append((seen.seconds, tree_rss_kib(pid)))
    for _, writer, _ in idle:
        writer.close()
    return seen


def paced(
    port: int, rate: float, seconds: float, make: Callable[[], bytes], pid: int, every: float
) -> Paced:
    """Send `rate` requests a second for `seconds`, each made by `make`, sampling the server's
    memory every `every` seconds."""
    return asyncio.run(_paced(port, rate, seconds, make, pid, every))


# ---- the same requests as the wrk script, for the paced client -------------------------------


class Requests:
    """Raw HTTP/1.1 requests for the mix's scenarios, as bench/wrk/api.lua makes them."""

    def __init__(
        self,
        base: str,
        token: str,
        ids: list[str],
        statics: dict[str, str],
        evaluate_body: bytes,
        run: str,
        evaluate: tuple[str, str] | None = None,
    ) -> None:
        self.base = base
        self.settings = f"{base}/settings/allow_policies"
        self.token = token
        self.ids = ids
        self.statics = statics
        self.evaluate_body = evaluate_body
        self.run = run
        # Where evaluate goes, and with which token, when not to `base`.
        self.evaluate_base, self.evaluate_token = evaluate or (base, token)
        self.serial = 0
        self.rnd = random.Random(run)

    def _request(
        self, method: str, path: str, body: bytes | None = None, token: str | None = None
    ) -> bytes:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token or self.token}\r\n"
        )
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        return head.encode() + b"\r\n" + (body or b"")

    def make(self, name: str) -> bytes:
        if name in self.statics:
            return self._request("GET", self.statics[name])
        self.serial += 1
        if name == "get":
            return self._request("GET", f"{self.settings}/{self.rnd.choice(self.ids)}")
        if name == "create":
            body = {
                "pattern": f"bench-{self.run}-paced-{self.serial}.example",
                "pattern_type": "DOMAIN",
                "is_regex": False,
                "is_trusted_sender": False,
                "is_acceptable_sender": True,
                "is_exempt_recipient": False,
                "verify_sender": False,
                "comments": None,
            }
            return self._request("POST", self.settings, json.dumps(body).encode())
        if name == "edit":
            body = {"comments": f"edited {self.run}-paced-{self.serial}"}
            path = f"{self.settings}/{self.rnd.choice(self.ids)}"
            return self._request("PATCH", path, json.dumps(body).encode())
        if name == "evaluate":
            path = f"{self.evaluate_base}/evaluate"
            return self._request("POST", path, self.evaluate_body, self.evaluate_token)
        raise ValueError(f"no scenario {name!r}")

    def mix(self, weights: dict[str, int]) -> Callable[[], bytes]:
        deck = [name for name, weight in weights.items() for _ in range(weight)]
        return lambda: self.make(self.rnd.choice(deck))
