"""`mailpolicy milter`: the milter protocol through pymilter (Debian's libmilter underneath).

libmilter runs one thread per MTA connection and calls the methods of one `PolicyMilter` per
connection; they hand what they see to `session` and carry out its answers. A callback that
fails for any reason defers the message (4xx) and logs why: the milter never crashes and never
leaves the MTA waiting.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable
from functools import wraps
from typing import Any, ClassVar, TypeVar

import Milter

from mailpolicy.config import Settings
from mailpolicy.db import Database
from mailpolicy.engine import TLSInfo
from mailpolicy.milter.policies import Policies
from mailpolicy.milter.session import (
    REPLY_CODE,
    REPLY_STATUS,
    Connection,
    DropAction,
    Transaction,
    address,
    at_end,
    at_rcpt,
)
from mailpolicy.stats import HitRecorder

log = logging.getLogger("mailpolicy.milter")

# The library's answers, typed.
CONTINUE: int = Milter.CONTINUE
ACCEPT: int = Milter.ACCEPT
REJECT: int = Milter.REJECT
DISCARD: int = Milter.DISCARD
TEMPFAIL: int = Milter.TEMPFAIL
SKIP: int = Milter.SKIP

TEMPFAIL_TEXT = "mailpolicy cannot decide on this message now; try again later"
# The MTA's own name for a client without reverse DNS.
_NO_NAME = {"", "unknown"}

Callback = TypeVar("Callback", bound=Callable[..., Any])


# The library's decorators, typed: a callback the MTA need not wait for, and one that takes
# header values as the bytes they were sent in.
noreply: Callable[[Callback], Callback] = Milter.noreply
as_bytes: Callable[[Callback], Callback] = Milter.decode("bytes")


def deferring(callback: Callback) -> Callback:
    """A callback that defers the message, rather than fail, on any error of its own."""

    @wraps(callback)
    def guarded(self: PolicyMilter, *args: Any) -> Any:
        try:
            return callback(self, *args)
        except Exception:
            log.exception("milter %s failed; the message is deferred", callback.__name__)
            self.failed = True
            self.setreply("451", "4.3.0", TEMPFAIL_TEXT)
            return TEMPFAIL

    return guarded  # type: ignore[return-value]


def _tls(milter: PolicyMilter) -> TLSInfo | None:
    version = milter.getsymval("{tls_version}")
    if not version:
        return None
    return TLSInfo(str(version), str(milter.getsymval("{cipher}") or "unknown"))


class PolicyMilter(Milter.Base):  # type: ignore[misc]
    """One MTA connection (and the messages on it)."""

    policies: ClassVar[Policies]
    recorder: ClassVar[HitRecorder]
    drop_action: ClassVar[DropAction] = "reject"
    trusted_id: ClassVar[str | None] = None
    body_limit: ClassVar[int] = 1 << 20

    def __init__(self) -> None:
        self.connection = Connection()
        self.transaction: Transaction | None = None
        self.failed = False

    @deferring
    def connect(self, hostname: str, family: int, hostaddr: Any) -> int:
        if not self.policies.ready:
            self.setreply("451", "4.3.0", TEMPFAIL_TEXT)
            return TEMPFAIL
        inet = family in (socket.AF_INET, socket.AF_INET6) and hostaddr
        self.connection = Connection(
            client_ip=str(hostaddr[0]) if inet else "",
            client_hostname=None if hostname.lower() in _NO_NAME else hostname,
        )
        return CONTINUE

    @noreply
    @deferring
    def hello(self, hostname: str) -> int:
        self.connection.helo = hostname
        self.connection.tls = _tls(self)
        return CONTINUE

    @deferring
    def envfrom(self, sender: str, *_parameters: str) -> int:
        self._finish()
        self.connection.tls = _tls(self) or self.connection.tls
        self.failed = False
        self.transaction = Transaction(sender=address(sender) or "", body_limit=self.body_limit)
        return CONTINUE

    @deferring
    def envrcpt(self, recipient: str, *_parameters: str) -> int:
        assert self.transaction is not None
        decision = at_rcpt(
            self.policies,
            self.connection,
            self.transaction,
            recipient,
            refuse=self.drop_action == "reject",
        )
        if decision.refusal is None:
            return CONTINUE
        self.setreply(REPLY_CODE, REPLY_STATUS, decision.refusal)
        return REJECT

    @noreply
    @as_bytes
    @deferring
    def header(self, name: str, value: bytes) -> int:
        assert self.transaction is not None
        self.transaction.add_header(name, value)
        return CONTINUE

    @deferring
    def body(self, chunk: bytes) -> int:
        assert self.transaction is not None
        return CONTINUE if self.transaction.add_body(chunk) else SKIP

    @deferring
    def eom(self) -> int:
        transaction = self.transaction
        assert transaction is not None
        if self.failed:
            self.setreply("451", "4.3.0", TEMPFAIL_TEXT)
            return TEMPFAIL
        plan = at_end(
            self.policies,
            self.connection,
            transaction,
            trusted_id=self.trusted_id,
            drop_action=self.drop_action,
        )
        for name, index in plan.remove_headers:
            self.chgheader(name, index, "")
        for recipient in plan.remove_recipients:
            self.delrcpt(recipient)
        for name, value in plan.add_headers:
            self.addheader(name, value)
        self._finish()
        if transaction.routes:
            log.info(
                "%s: %s, %d of %d recipients removed",
                self.getsymval("i") or "-",
                plan.final,
                len(plan.remove_recipients),
                len(transaction.recipients),
            )
        if plan.final == "reject":
            self.setreply(REPLY_CODE, REPLY_STATUS, plan.reason)
            return REJECT
        if plan.final == "discard":
            return DISCARD
        if plan.final == "quarantine":
            self.quarantine(plan.reason)
        return ACCEPT

    def abort(self) -> int:
        self._finish()
        return CONTINUE

    def close(self) -> int:
        self._finish()
        return CONTINUE

    def _finish(self) -> None:
        """Count what the message matched, once, whichever way it ended."""
        transaction, self.transaction = self.transaction, None
        if transaction is None:
            return
        for account_id, entries in transaction.matched.items():
            self.recorder.record(account_id, entries, transaction.domains.get(account_id, ()))


_INET = re.compile(r"inet6?:(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})")


def libmilter_address(listen: str) -> str:
    """Postfix's notation (inet:HOST:PORT, unix:/path) in libmilter's (inet:PORT@HOST)."""
    if listen.startswith(("unix:", "local:")):
        path = listen.split(":", 1)[1]
        if not path:
            raise ValueError(f"{listen!r} names no socket path")
        return f"unix:{path}"
    match = _INET.fullmatch(listen)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise ValueError(f"{listen!r} is not inet:HOST:PORT, inet6:[ADDRESS]:PORT or unix:/path")
    if match["v6"]:
        return f"inet6:{match['port']}@[{match['v6']}]"
    return f"inet:{match['port']}@{match['host']}"


def run(settings: Settings) -> None:
    """Serve the milter until the MTA's side is stopped (SIGTERM or SIGINT)."""
    where = libmilter_address(settings.milter_listen)
    database = Database(settings.database_url)
    policies = Policies(database, settings.milter_refresh_seconds)
    recorder = HitRecorder(database, settings.stats_flush_seconds)
    policies.refresh()
    policies.start()
    recorder.start()
    PolicyMilter.policies = policies
    PolicyMilter.recorder = recorder
    PolicyMilter.drop_action = settings.drop_action
    PolicyMilter.trusted_id = settings.trusted_authserv_id
    PolicyMilter.body_limit = settings.milter_max_body_bytes
    Milter.factory = PolicyMilter
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.DELRCPT | Milter.QUARANTINE)
    log.info(
        "milter listening on %s (drop action: %s)", settings.milter_listen, settings.drop_action
    )
    try:
        Milter.runmilter("mailpolicy", where, timeout=300)
    finally:
        policies.stop()
        recorder.stop()
        database.dispose()
