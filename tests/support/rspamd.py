"""Throwaway rspamd and clamd (Debian's packages) on loopback ports, offline.

clamd runs in the foreground with a configuration of its own and a signature database written
here: the EICAR test file as an MD5 hash signature, computed in code (freshclam never runs, no
official database is ever downloaded).

rspamd runs Debian's own `/etc/rspamd/rspamd.conf` with every directory it writes moved under a
temporary directory (`--var=LOCAL_CONFDIR=...`, `DBDIR`, `RUNDIR`, `LOGDIR`), as rspamd's own
functional tests start it, and a `local.d`/`override.d` that keep it offline and small: DNS only
to the loopback authority the tests publish records on (so RBL, URIBL and remote maps get
NXDOMAIN at once and the maps fall back to the copies shipped in the package), one normal worker
and one controller on free ports, no proxy or fuzzy worker, no module that calls rspamd.com or
needs Redis, Hyperscan off (its first compile takes minutes on two cores), the GTUBE test
patterns on, `milter_headers` adding an Authentication-Results header, and the antivirus module
pointed at clamd when one is given.

Both wrap as session-scoped pytest fixtures::

    @pytest.fixture(scope="session")
    def clamd(tmp_path_factory):
        with clamd_instance(tmp_path_factory.mktemp("clamd")) as running:
            yield running
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.servers import free_port

# The EICAR test file: 68 bytes of ASCII that every scanner reports, harmless by design.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SIGNATURE = "Eicar-Test-Signature"
# GTUBE: rspamd answers `reject` for it (and `add header` for the YJS variant, a test pattern).
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
GTUBE_ADD_HEADER = "YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

NOT_INSTALLED = (
    "{what} is not installed: `make test` installs it "
    "(Debian packages rspamd and clamav-daemon; see the Makefile)"
)


def _require(binary: str, what: str) -> str:
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        raise RuntimeError(NOT_INSTALLED.format(what=what))
    return found


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f"({path} was not written)"
    return "\n".join(text.splitlines()[-lines:])


def _stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM to the process group (the daemon and any children), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


# ---- clamd --------------------------------------------------------------------------------------


@dataclass
class Clamd:
    directory: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> Path:
        return self.directory / "clamd.log"

    def ping(self, timeout: float = 2) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
                sock.sendall(b"zPING\0")
                return sock.recv(64).rstrip(b"\0\n") == b"PONG"
        except OSError:
            return False


def write_clamd_configuration(directory: Path, port: int) -> Path:
    database = directory / "db"
    database.mkdir(parents=True, exist_ok=True)
    # A hash signature: MD5 of the file, its size, the name clamd reports.
    digest = hashlib.md5(EICAR, usedforsecurity=False).hexdigest()
    (database / "test.hdb").write_text(
        f"{digest}:{len(EICAR)}:{EICAR_SIGNATURE}\n", encoding="ascii"
    )
    configuration = directory / "clamd.conf"
    configuration.write_text(
        f"""\
Foreground yes
TCPSocket {port}
TCPAddr 127.0.0.1
DatabaseDirectory {database}
PidFile {directory / "clamd.pid"}
LogFile {directory / "clamd.log"}
LogTime yes
""",
        encoding="ascii",
    )
    return configuration


@contextmanager
def clamd_instance(tmp: Path, *, timeout: float = 60) -> Iterator[Clamd]:
    """clamd on 127.0.0.1:<free port> with the EICAR signature; stopped on the way out."""
    binary = _require("clamd", "ClamAV's clamd")
    port = free_port()
    configuration = write_clamd_configuration(tmp, port)
    with open(tmp / "clamd.out", "wb") as output:
        process = subprocess.Popen(
            [binary, f"--config-file={configuration}"],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    running = Clamd(tmp, port, process)
    try:
        deadline = time.monotonic() + timeout
        while not running.ping(timeout=1):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"clamd did not start on port {port}:\n{_tail(tmp / 'clamd.out')}\n"
                    f"{_tail(running.log)}"
                )
            time.sleep(0.05)
        yield running
    finally:
        _stop(process)


# ---- rspamd -------------------------------------------------------------------------------------


def _local_configuration(
    directory: Path,
    *,
    port: int,
    controller_port: int,
    dns_port: int,
    clamd_port: int | None,
    cache: Path | None,
    milter_port: int | None = None,
) -> None:
    """rspamd's `local.d` and `override.d` for an offline instance (see the module's docstring).

    `override.d` replaces the keys it names (priority 10) whatever else `local.d` says;
    `local.d` merges into the shipped sections (priority 1, above the shipped files' keys).
    """
    local, override = directory / "local.d", directory / "override.d"
    # Hyperscan is off for the regexp rules, but the URL parser still compiles the public suffix
    # list with it (about ten seconds on two cores). Its cache is keyed by what it compiled, so
    # one directory serves every run: the first start pays, later ones take under a second.
    hs_cache = f'hs_cache_dir = "{cache}/";\n' if cache is not None else ""
    local.mkdir(parents=True, exist_ok=True)
    override.mkdir(parents=True, exist_ok=True)
    files = {
        override / "options.inc": f"""\
dns {{
  nameserver = ["127.0.0.1:{dns_port}"];
  timeout = 0.5s;
  retransmits = 1;
  sockets = 4;
}}
# GTUBE and its variants (the 3.4 spelling; later releases say gtube_patterns = "all").
enable_test_patterns = true;
# Hyperscan's first compile of the regexp rules takes minutes on two cores.
disable_hyperscan = true;
{hs_cache}""",
        override / "logging.inc": 'type = "console";\nlevel = "info";\n',
        override / "worker-normal.inc": f'bind_socket = "127.0.0.1:{port}";\ncount = 1;\n',
        override / "worker-controller.inc": (
            f'bind_socket = "127.0.0.1:{controller_port}";\ncount = 1;\n'
        ),
        # rspamd's own milter (the proxy worker in milter mode, handing each message to the
        # normal worker), when asked for: what bench/detections.py compares mailpolicy with.
        override / "worker-proxy.inc": (
            "count = -1;\n"
            if milter_port is None
            else f'bind_socket = "127.0.0.1:{milter_port}";\ncount = 1;\nmilter = yes;\n'
            f'timeout = 120s;\nupstream "local" {{\n  default = yes;\n'
            f'  hosts = "127.0.0.1:{port}";\n}}\n'
        ),
        override / "worker-fuzzy.inc": "count = -1;\n",
        # Modules that would call rspamd.com or a feed on the Internet.
        override / "fuzzy_check.conf": "enabled = false;\n",
        override / "rspamd_update.conf": "enabled = false;\n",
        local / "phishing.conf": "phishtank_enabled = false;\nopenphish_enabled = false;\n",
        local / "milter_headers.conf": 'use = ["authentication-results"];\n',
    }
    if clamd_port is not None:
        files[local / "antivirus.conf"] = f"""\
clamav {{
  type = "clamav";
  servers = "127.0.0.1:{clamd_port}";
  symbol = "CLAM_VIRUS";
  scan_mime_parts = true;
  log_clean = true;
}}
"""
    for path, text in files.items():
        path.write_text(text, encoding="ascii")


@dataclass
class Rspamd:
    """One rspamd (main process, a normal worker and a controller) with a directory of its own.

    `stop()` and `start()` let a test see what a client does while rspamd is away; the ports
    stay the same across restarts.
    """

    directory: Path
    dns_port: int
    clamd_port: int | None
    cache: Path | None = None  # Hyperscan's cache, kept across runs (None: under `directory`)
    milter_port: int | None = None  # rspamd's own milter listens here (None: no milter)
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    started_in: float = 0.0  # seconds the last start took, until /ping answered

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def controller_url(self) -> str:
        return f"http://127.0.0.1:{self.controller_port}"

    @property
    def log(self) -> Path:
        return self.directory / "rspamd.out"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        directory = self.directory
        command = [
            _require("rspamd", "rspamd"),
            "-f",
            "-c",
            "/etc/rspamd/rspamd.conf",
            f"--var=LOCAL_CONFDIR={directory / 'conf'}",
            f"--var=DBDIR={directory / 'db'}",
            f"--var=RUNDIR={directory / 'run'}",
            f"--var=LOGDIR={directory / 'log'}",
        ]
        if os.geteuid() == 0:
            command.append("-i")  # rspamd refuses to run its workers as root otherwise
        return command

    def ping(self, timeout: float = 2) -> bool:
        try:
            reply = httpx.get(f"{self.url}/ping", timeout=timeout)
        except httpx.HTTPError:
            return False
        return reply.status_code == 200 and reply.text.strip() == "pong"

    def start(self, timeout: float = 90) -> Rspamd:
        assert not self.running, "rspamd is already running"
        for name in ("db", "run", "log"):
            (self.directory / name).mkdir(parents=True, exist_ok=True)
        _local_configuration(
            self.directory / "conf",
            port=self.port,
            controller_port=self.controller_port,
            dns_port=self.dns_port,
            clamd_port=self.clamd_port,
            cache=self.cache,
            milter_port=self.milter_port,
        )
        began = time.monotonic()
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                self.command(),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.directory,
                start_new_session=True,  # its workers are stopped with it
            )
        while not self.ping(timeout=1):
            if self.process.poll() is not None or time.monotonic() - began > timeout:
                self.stop()
                raise RuntimeError(f"rspamd did not start on port {self.port}:\n{_tail(self.log)}")
            time.sleep(0.1)
        self.started_in = time.monotonic() - began
        return self

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


@contextmanager
def rspamd_instance(
    tmp: Path,
    *,
    dns_port: int,
    clamd_port: int | None,
    cache: Path | None = None,
    timeout: float = 90,
    milter_port: int | None = None,
) -> Iterator[Rspamd]:
    """rspamd on 127.0.0.1, asking DNS of 127.0.0.1:`dns_port` only, scanning attachments with
    the clamd on `clamd_port` (None: no antivirus); stopped on the way out. `cache` keeps
    Hyperscan's compiled databases across runs (pytest's cache directory, say)."""
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    running = Rspamd(tmp, dns_port, clamd_port, cache, milter_port=milter_port)
    try:
        running.start(timeout=timeout)
        yield running
    finally:
        running.stop()


# ---- the senders the tests' DNS knows -----------------------------------------------------------

# Names under real public suffixes: rspamd finds a From domain's organisational domain (where
# DMARC is looked up) with the public suffix list it ships.
CLEAN_DOMAIN = "good.example.com"  # SPF passes from CLEAN_IP, DMARC p=none, A and MX records
CLEAN_HOST = f"mail.{CLEAN_DOMAIN}"
CLEAN_IP = "192.0.2.25"  # TEST-NET-1: rspamd skips SPF/DKIM/DMARC for local addresses
REJECT_DOMAIN = "shop-a.example.net"  # v=spf1 -all, DMARC p=reject
QUARANTINE_DOMAIN = "shop-b.example.net"  # v=spf1 -all, DMARC p=quarantine
SENDERS_ZONE = f"""\
{CLEAN_DOMAIN}. 300 IN A {CLEAN_IP}
{CLEAN_DOMAIN}. 300 IN MX 10 {CLEAN_HOST}.
{CLEAN_DOMAIN}. 300 IN TXT "v=spf1 ip4:{CLEAN_IP} -all"
_dmarc.{CLEAN_DOMAIN}. 300 IN TXT "v=DMARC1; p=none"
{CLEAN_HOST}. 300 IN A {CLEAN_IP}
{REJECT_DOMAIN}. 300 IN TXT "v=spf1 -all"
_dmarc.{REJECT_DOMAIN}. 300 IN TXT "v=DMARC1; p=reject"
{QUARANTINE_DOMAIN}. 300 IN TXT "v=spf1 -all"
_dmarc.{QUARANTINE_DOMAIN}. 300 IN TXT "v=DMARC1; p=quarantine"
"""
