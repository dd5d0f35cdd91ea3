"""`mailpolicy serve` in a subprocess on 127.0.0.1, as an operator runs it: its own memory to
measure, its own log to read."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.wire import exchange, request


@dataclass(frozen=True)
class Served:
    pid: int
    port: int
    account: str
    token: str
    log: Path  # the server's stderr

    def url(self, resource: str) -> str:
        return f"/client/v4/accounts/{self.account}/email-security/settings/{resource}"

    def memory_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak resident set), in KiB."""
        found = {}
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in {"VmRSS", "VmHWM"}:
                    found[name] = int(value.split()[0])
        return found

    def reset_peak(self) -> None:
        """Start VmHWM afresh from the current resident set (Linux 4.0+)."""
        with open(f"/proc/{self.pid}/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(directory: Path, **settings: str) -> Iterator[Served]:
    """Start `mailpolicy serve` on a fresh database in `directory`; stop it on the way out."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPOLICY_")}
    env.update(
        MAILPOLICY_DATABASE_URL=f"sqlite:///{directory / 'mailpolicy.db'}",
        MAILPOLICY_HOST="127.0.0.1",
        MAILPOLICY_PORT=str(port),
        MAILPOLICY_LOG_LEVEL="warning",
        **{f"MAILPOLICY_{name.upper()}": value for name, value in settings.items()},
    )
    executable = Path(sys.executable).with_name("mailpolicy")
    stdout_path, stderr_path = directory / "serve.out", directory / "serve.err"
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [str(executable), "serve"], env=env, stdout=stdout, stderr=stderr, cwd=directory
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, stderr_path.read_text()
            assert time.monotonic() < deadline, "mailpolicy serve did not start"
            try:
                if exchange(port, request("GET", "/healthz"), timeout=5).status == 200:
                    break
            except (ConnectionRefusedError, AssertionError):
                time.sleep(0.1)
        lines = stdout_path.read_text().splitlines()
        account = next(ln.split()[-1] for ln in lines if "created account" in ln)
        token = lines[next(i for i, ln in enumerate(lines) if "Write API token" in ln) + 1]
        yield Served(process.pid, port, account, token.strip(), stderr_path)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
