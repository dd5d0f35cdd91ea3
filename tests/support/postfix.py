"""A throwaway Postfix (Debian's package) on loopback ports, with its own configuration and
queue directories, smtp-sink as the next hop, and the README's main.cf lines as its milter
configuration.

Postfix's processes run as the `postfix` user, so everything lives in a directory under /tmp
that it can traverse; `data_directory` and the sink's directory belong to it. Logging goes to
a file (`maillog_file`, which must sit under `maillog_file_prefixes`).
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from tests.support.servers import free_port

README = Path(__file__).resolve().parents[2] / "README.md"
HOSTNAME = "mx.corp.example"
TRUSTED_AUTHSERV_ID = HOSTNAME

# The services a small Postfix needs, none of them chrooted (Debian's default is to chroot).
MASTER_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def readme_block(language: str, after: str) -> str:
    """The first fenced block in `language` after the README line containing `after`."""
    text = README.read_text(encoding="utf-8")
    start = text.index(after)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(text, start)
    assert match is not None, f"no ```{language} block after {after!r} in the README"
    return match.group(1)


def readme_main_cf() -> str:
    return readme_block("ini", "in Postfix's `main.cf`")


def readme_header_checks() -> str:
    return readme_block("", "/etc/postfix/mailpolicy_header_checks`")


def wait_for(address: int | Path, timeout: float = 15) -> None:
    """Until something accepts connections on 127.0.0.1:`address` (or the socket `address`)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if isinstance(address, int):
                connection = socket.create_connection(("127.0.0.1", address), timeout=1)
            else:
                connection = socket.socket(socket.AF_UNIX)
                connection.settimeout(1)
                try:
                    connection.connect(str(address))
                except OSError:
                    connection.close()
                    raise
            connection.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass(frozen=True)
class Listener:
    """One smtpd service: its port and the main.cf parameters it overrides (-o)."""

    name: str
    port: int
    overrides: dict[str, str]


@dataclass(frozen=True)
class Delivered:
    """A message as the next hop received it."""

    recipients: list[str]
    message: EmailMessage


class Postfix:
    def __init__(self, listeners: dict[str, dict[str, str]]) -> None:
        """`listeners`: smtpd services by name, each with the parameters it overrides (none:
        the README's lines as they are)."""
        self.directory = Path(tempfile.mkdtemp(prefix="mailpolicy-postfix-"))
        self.directory.chmod(0o755)
        self.sink_port = free_port()
        self.listeners = {
            name: Listener(name, free_port(), overrides) for name, overrides in listeners.items()
        }
        self.sink_process: subprocess.Popen[bytes] | None = None
        self.sink_directory = self.directory / "sink"
        self.maillog = self.directory / "maillog"

    @property
    def queue(self) -> Path:
        return self.directory / "queue"

    def port(self, listener: str = "main") -> int:
        return self.listeners[listener].port

    # ---- configuration ---------------------------------------------------------------------

    @property
    def milter_socket(self) -> Path:
        """Where the README's smtpd_milters line (relative to the queue directory) points."""
        return self.queue / "mailpolicy" / "milter.sock"

    def readme_lines(self) -> str:
        """The README's main.cf lines, with the header_checks file moved to this instance (the
        only change)."""
        return readme_main_cf().replace(
            "/etc/postfix/mailpolicy_header_checks", str(self.directory / "header_checks")
        )

    def write_configuration(self) -> None:
        postfix_user = pwd.getpwnam("postfix")
        for name in ("queue", "data", "sink"):
            (self.directory / name).mkdir(exist_ok=True)
        for name in ("data", "sink"):
            os.chown(self.directory / name, postfix_user.pw_uid, postfix_user.pw_gid)
        # The README's milter socket directory: the milter's, readable by Postfix's group.
        sockets = self.milter_socket.parent
        sockets.mkdir(exist_ok=True)
        os.chown(sockets, -1, postfix_user.pw_gid)
        sockets.chmod(0o750)
        self._certificate()
        (self.directory / "header_checks").write_text(readme_header_checks(), encoding="ascii")
        main = f"""\
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.directory / "data"}
maillog_file_prefixes = {self.directory}
maillog_file = {self.maillog}
myhostname = {HOSTNAME}
mydomain = corp.example
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
default_transport = smtp:[127.0.0.1]:{self.sink_port}
relay_transport = smtp:[127.0.0.1]:{self.sink_port}
smtp_tls_security_level = none
smtpd_tls_security_level = may
smtpd_tls_cert_file = {self.directory / "cert.pem"}
smtpd_tls_key_file = {self.directory / "key.pem"}
smtputf8_enable = no
biff = no
# Large enough for the hostile-message tests (a 50 MB body).
message_size_limit = 67108864
{self.readme_lines()}"""
        (self.directory / "main.cf").write_text(main, encoding="ascii")
        services = [
            f"127.0.0.1:{listener.port} inet n - n - - smtpd"
            + "".join(f" -o {name}={value}" for name, value in listener.overrides.items())
            for listener in self.listeners.values()
        ]
        (self.directory / "master.cf").write_text(
            "\n".join(services) + "\n" + MASTER_SERVICES, encoding="ascii"
        )

    def _certificate(self) -> None:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", f"/CN={HOSTNAME}",
                "-keyout", str(self.directory / "key.pem"),
                "-out", str(self.directory / "cert.pem"),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip

    # ---- running ---------------------------------------------------------------------------

    def postfix(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["postfix", "-c", str(self.directory), *arguments],
            capture_output=True,
            text=True,
            check=False,
        )

    def start(self) -> None:
        self.write_configuration()
        checked = self.postfix("check")
        assert checked.returncode == 0, self.log_tail() or checked.stderr
        self.sink_process = subprocess.Popen(
            [
                "smtp-sink", "-u", "postfix",
                "-d", f"{self.sink_directory}/%Y%m%d%H%M%S.",
                f"127.0.0.1:{self.sink_port}", "100",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started = self.postfix("start")
        assert started.returncode == 0, self.log_tail() or started.stderr
        for listener in self.listeners.values():
            wait_for(listener.port)
        wait_for(self.sink_port)

    def stop(self) -> None:
        self.postfix("stop")
        if self.sink_process is not None:
            self.sink_process.terminate()
            self.sink_process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        if not self.maillog.exists():
            return ""
        return "\n".join(self.maillog.read_text(errors="replace").splitlines()[-lines:])

    # ---- what happened to the mail ---------------------------------------------------------

    def delivered(self) -> Iterator[Delivered]:
        """Every message the next hop received so far."""
        for path in sorted(self.sink_directory.glob("*")):
            if not path.is_file():
                continue
            raw = path.read_bytes()
            envelope, _, content = raw.partition(b"\nReceived: ")
            recipients = [
                line.split(b":", 1)[1].split()[0].decode().strip("<>")
                for line in envelope.splitlines()
                if line.startswith(b"X-Rcpt-Args:")
            ]
            parsed = email.message_from_bytes(b"Received: " + content, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            yield Delivered(recipients, parsed)

    def wait_delivered(self, subject: str, timeout: float = 15) -> Delivered:
        deadline = time.monotonic() + timeout
        while True:
            for delivered in self.delivered():
                if delivered.message["Subject"] == subject:
                    return delivered
            if time.monotonic() > deadline:
                raise AssertionError(f"{subject!r} was not delivered\n{self.log_tail()}")
            time.sleep(0.1)

    def was_delivered(self, subject: str) -> bool:
        return any(d.message["Subject"] == subject for d in self.delivered())

    def queued(self) -> list[dict[str, object]]:
        """The messages in Postfix's queues (postqueue -j)."""
        listing = subprocess.run(
            ["postqueue", "-c", str(self.directory), "-j"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [json.loads(line) for line in listing.splitlines() if line.strip()]
