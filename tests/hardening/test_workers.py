"""`mailpolicy serve --workers N`: every worker takes connections, and a worker that dies is
replaced without the port ever going unserved."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import Replica


def _workers(parent: int) -> list[int]:
    """The worker processes of `serve` (multiprocessing's helper process aside)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _established_to(port: int) -> set[int]:
    """Inodes of the server side of established TCP connections on `port`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "01":  # ESTABLISHED
            inodes.add(int(fields[9]))
    return inodes


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Replica]:
    replica = Replica(tmp_path, f"sqlite:///{tmp_path / 'mailpolicy.db'}", workers=2).start()
    try:
        yield replica
    finally:
        replica.stop()


def _wait_for(check: Callable[[], object], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_connections_opened_at_once_are_spread_over_the_workers(server: Replica) -> None:
    assert server.process is not None
    workers = _workers(server.process.pid)
    assert len(workers) == 2
    clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(16)]
    try:

        def held() -> dict[int, int]:
            established = _established_to(server.port)
            return {pid: len(_socket_inodes(pid) & established) for pid in workers}

        # Each connection is taken by a worker (asyncio accepts as soon as it can).
        _wait_for(lambda: sum(held().values()) == 16, "not every connection was accepted")
        # One socket shared by both would let the first worker to wake take all sixteen.
        assert all(count > 0 for count in held().values()), held()
    finally:
        for client in clients:
            client.close()


def test_a_worker_that_dies_is_replaced(server: Replica) -> None:
    assert server.process is not None
    parent = server.process.pid
    first, second = _workers(parent)
    os.kill(first, signal.SIGKILL)
    _wait_for(
        lambda: len(_workers(parent)) == 2 and first not in _workers(parent),
        "the dead worker was not replaced",
    )
    assert second in _workers(parent)
    # The replacement serves the dead worker's share: fresh connections all get answers.
    for _ in range(20):
        with httpx.Client(base_url=server.base, timeout=10) as client:
            assert client.get("/healthz").status_code == 200
