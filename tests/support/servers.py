"""`mailpolicy serve` in subprocesses on 127.0.0.1, as an operator runs it: several replicas on one
database, workers, kills and restarts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Replica:
    """One `mailpolicy serve` process (and its workers) on a port of its own."""

    directory: Path
    database_url: str
    workers: int = 1
    settings: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / f"serve-{self.port}.err"

    def start(self, timeout: float = 60) -> Replica:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPOLICY_")}
        env.update(
            {
                "MAILPOLICY_DATABASE_URL": self.database_url,
                "MAILPOLICY_HOST": "127.0.0.1",
                "MAILPOLICY_PORT": str(self.port),
                "MAILPOLICY_LOG_LEVEL": "warning",
                "MAILPOLICY_WORKERS": str(self.workers),
                "MAILPOLICY_DNS_VERIFY": "false",
                # Load from one token; the limiter has tests of its own (test_rate_limits.py).
                "MAILPOLICY_RATE_LIMIT": "0",
            }
        )
        env.update({f"MAILPOLICY_{k.upper()}": v for k, v in self.settings.items()})
        executable = Path(sys.executable).with_name("mailpolicy")
        self.directory.mkdir(parents=True, exist_ok=True)
        with (
            open(self.directory / f"serve-{self.port}.out", "ab") as out,
            open(self.log, "ab") as err,
        ):
            self.process = subprocess.Popen(
                [str(executable), "serve"],
                env=env,
                stdout=out,
                stderr=err,
                cwd=self.directory,
                start_new_session=True,  # its workers are killed with it
            )
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "mailpolicy serve did not start"
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL to the server and every worker: no chance to finish anything."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


@contextmanager
def replicas(*started: Replica) -> Iterator[tuple[Replica, ...]]:
    try:
        for replica in started:
            replica.start()
        yield started
    finally:
        for replica in started:
            replica.stop()
