"""`mailpolicy milter`: the milter protocol through pymilter (Debian's libmilter underneath).

libmilter runs one thread per MTA connection and calls the methods of one `PolicyMilter` per
connection; they hand what they see to `session` and carry out its answers. A callback that
fails for any reason defers the message (4xx) and logs why: the milter never crashes and never
leaves the MTA waiting.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
from collections.abc import Callable
from dataclasses import replace
from functools import partial, wraps
from typing import Any, ClassVar, TypeVar

import Milter

import milter
from mailpolicy.config import Settings
from mailpolicy.db import Database, utcnow
from mailpolicy.detect.pipeline import NOTHING_DETECTED, Detector
from mailpolicy.engine import TLSInfo
from mailpolicy.messages.maillog import MaillogFollower
from mailpolicy.messages.recorder import MessageRecorder
from mailpolicy.messages.records import RecordDraft, record_id
from mailpolicy.milter import records
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
    detect,
)
from mailpolicy.stats.hits import HitRecorder

log = logging.getLogger("mailpolicy.milter")

# The library's answers, typed.
CONTINUE: int = Milter.CONTINUE
ACCEPT: int = Milter.ACCEPT
REJECT: int = Milter.REJECT
DISCARD: int = Milter.DISCARD
TEMPFAIL: int = Milter.TEMPFAIL
SKIP: int = Milter.SKIP

TEMPFAIL_TEXT = "mailpolicy cannot decide on this message now; try again later"
STOP_SIGNALS = frozenset((signal.SIGTERM, signal.SIGHUP, signal.SIGINT))
SCAN_TEMPFAIL_TEXT = "mailpolicy cannot scan this message now; try again later"
# The MTA's own name for a client without reverse DNS.
_NO_NAME = {"", "unknown"}

Callback = TypeVar("Callback", bound=Callable[..., Any])


# The library's decorators, typed: a callback that takes header values as the bytes they came
# in; one the MTA need not wait for; and one the MTA need not call at all.
as_bytes: Callable[[Callback], Callback] = Milter.decode("bytes")
noreply: Callable[[Callback], Callback] = Milter.noreply
nocallback: Callable[[Callback], Callback] = Milter.nocallback


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

    return guarded  # type: ignore[return-value]  # functools.wraps types it as _Wrapped


def failing_later(callback: Callback) -> Callback:
    """For a callback the MTA does not wait for: an error defers the message at its end."""

    @wraps(callback)
    def guarded(self: PolicyMilter, *args: Any) -> Any:
        try:
            return callback(self, *args)
        except Exception:
            log.exception("milter %s failed; the message is deferred", callback.__name__)
            self.failed = True
            return CONTINUE

    return guarded  # type: ignore[return-value]  # functools.wraps types it as _Wrapped


def _tls(milter: PolicyMilter) -> TLSInfo | None:
    version = milter.getsymval("{tls_version}")
    if not version:
        return None
    return TLSInfo(str(version), str(milter.getsymval("{cipher}") or "unknown"))


class PolicyMilter(Milter.Base):  # type: ignore[misc]  # pymilter has no types: Any base
    """One MTA connection (and the messages on it)."""

    policies: ClassVar[Policies]
    recorder: ClassVar[HitRecorder]
    drop_action: ClassVar[DropAction] = "reject"
    trusted_id: ClassVar[str | None] = None
    body_limit: ClassVar[int] = 1 << 20
    # Message records (None: not kept), and how much of a quarantined message is kept.
    messages: ClassVar[MessageRecorder | None] = None
    raw_cap: ClassVar[int] = 0
    # Detections (rspamd, DMARC, lookalikes, recent domains); None: none run.
    detector: ClassVar[Detector | None] = None

    def __init__(self) -> None:
        self.connection = Connection()
        self.transaction: Transaction | None = None
        self.drafts: Callable[[], list[RecordDraft]] | None = None
        self.failed = False

    @deferring
    def connect(self, hostname: str, family: int, hostaddr: Any) -> int:
        if not self.policies.ready:
            return self._defer()
        self._connected(hostname, family, hostaddr)
        return CONTINUE

    def _connected(self, hostname: str, family: int, hostaddr: Any) -> None:
        inet = family in (socket.AF_INET, socket.AF_INET6) and hostaddr
        self.connection = Connection(
            client_ip=str(hostaddr[0]) if inet else "",
            client_hostname=None if hostname.lower() in _NO_NAME else hostname,
        )

    def _defer(self) -> int:
        self.setreply("451", "4.3.0", TEMPFAIL_TEXT)
        return TEMPFAIL

    # Every stage answers, none is "no reply": over TCP the MTA sends its next small packet
    # right behind one that got no answer, and Nagle's algorithm (on the MTA's side) holds it
    # until our delayed acknowledgement, 40 ms later. Answering costs a fraction of that.
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
        self.transaction = Transaction(
            sender=address(sender) or "",
            body_limit=self.body_limit,
            recording=self.messages is not None,
            raw_cap=self.raw_cap if self.drop_action == "quarantine" else 0,
            scan_cap=(
                self.detector.scan_max_bytes
                if self.detector is not None and self.detector.scanning
                else 0
            ),
        )
        return CONTINUE

    @deferring
    def envrcpt(self, recipient: str, *_parameters: str) -> int:
        if self.transaction is None or self.failed or not self.policies.ready:
            return self._defer()
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

    @deferring
    def data(self) -> int:
        return CONTINUE

    @as_bytes
    @deferring
    def header(self, name: str, value: bytes) -> int:
        assert self.transaction is not None
        self.transaction.add_header(name, value)
        return CONTINUE

    @deferring
    def eoh(self) -> int:
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
        detected = NOTHING_DETECTED
        if self.detector is not None and transaction.routes:
            detected = detect(
                self.detector,
                self.connection,
                transaction,
                trusted_id=self.trusted_id,
                queue_id=str(self.getsymval("i") or "") or None,
            )
            if detected.scan.status == "failed" and self.detector.failure == "tempfail":
                self.setreply("451", "4.7.1", SCAN_TEMPFAIL_TEXT)
                return TEMPFAIL
        plan = at_end(
            self.policies,
            self.connection,
            transaction,
            trusted_id=self.trusted_id,
            drop_action=self.drop_action,
            detected=detected,
        )
        for name, index in plan.remove_headers:
            self.chgheader(name, index, "")
        for recipient in plan.remove_recipients:
            self.delrcpt(recipient)
        for name, value in plan.add_headers:
            self.addheader(name, value)
        reason = plan.reason
        if self.messages is not None:
            # Only the record ids are chosen here (a quarantined message's reason names one);
            # the records themselves are made on the writer's thread.
            postfix_id = str(self.getsymval("i") or "") or records.no_queue_id()
            now = utcnow()
            ids = {account: record_id(postfix_id, now) for account in records.accounts(transaction)}
            if plan.final == "quarantine" and ids:
                reason = f"{reason} (record {next(iter(ids.values()))})"
            self.drafts = partial(
                records.drafts,
                replace(self.connection),
                transaction,
                postfix_id=postfix_id,
                versions=self.policies.state.versions,
                scanned_at=now,
                ids=ids,
                quarantine_reason=reason if plan.final == "quarantine" else None,
            )
        self._finish()
        if transaction.routes and log.isEnabledFor(logging.INFO):
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
            self.quarantine(reason)
        return ACCEPT

    def abort(self) -> int:
        self._finish()
        return CONTINUE

    def close(self) -> int:
        self._finish()
        return CONTINUE

    def _finish(self) -> None:
        """Count what the message matched and hand its records to the recorder, once,
        whichever way it ended."""
        transaction, self.transaction = self.transaction, None
        drafts, self.drafts = self.drafts, None
        if transaction is None:
            return
        for account_id, entries in transaction.matched.items():
            self.recorder.record(account_id, entries, transaction.domains.get(account_id, ()))
        if self.messages is not None and transaction.outcomes:
            if drafts is None:  # the message never reached its end: what RCPT refused
                drafts = partial(
                    records.drafts,
                    replace(self.connection),
                    transaction,
                    postfix_id=None,
                    versions=self.policies.state.versions,
                )
            self.messages.add_later(drafts)


class LocalPolicyMilter(PolicyMilter):
    """The same, over a UNIX-domain socket, where no Nagle delay follows an unanswered packet:
    the MTA sends the connection, HELO, MAIL FROM and each header without waiting for an
    answer, and no DATA or end of headers at all (a failure, or settings not loaded yet, is
    answered at the first RCPT). Fewer round trips, less work for both sides."""

    @noreply
    @failing_later
    def connect(self, hostname: str, family: int, hostaddr: Any) -> int:
        self._connected(hostname, family, hostaddr)
        return CONTINUE

    @noreply
    @failing_later
    def envfrom(self, sender: str, *parameters: str) -> int:
        super().envfrom(sender, *parameters)
        return CONTINUE

    @noreply
    @failing_later
    def hello(self, hostname: str) -> int:
        self.connection.helo = hostname
        self.connection.tls = _tls(self)
        return CONTINUE

    @nocallback
    def data(self) -> int:
        return CONTINUE

    @noreply
    @as_bytes
    @failing_later
    def header(self, name: str, value: bytes) -> int:
        assert self.transaction is not None
        self.transaction.add_header(name, value)
        return CONTINUE

    @nocallback
    def eoh(self) -> int:
        return CONTINUE


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


def _listening_sockets() -> list[socket.socket]:
    """This process's listening TCP sockets (Linux: /proc/self/fd), as duplicates."""
    found = []
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        try:
            duplicate = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue  # not a socket
        if (
            duplicate.type == socket.SOCK_STREAM
            and duplicate.family in (socket.AF_INET, socket.AF_INET6)
            and duplicate.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        ):
            found.append(duplicate)
        else:
            duplicate.close()
    return found


def _local_socket(
    open_socket: Callable[..., Any], path: str, group: str | None
) -> Callable[..., Any]:
    """libmilter's socket opener, then the socket's mode: read and write for its owner and
    group only (the MTA's group: `group`, e.g. postfix, or the milter user's own)."""

    @wraps(open_socket)
    def opened(*args: Any) -> Any:
        result = open_socket(*args)
        os.chmod(path, 0o660)
        if group:
            shutil.chown(path, group=group)
        return result

    return opened


def _without_nagle(open_socket: Callable[..., Any]) -> Callable[..., Any]:
    """libmilter's socket opener, then TCP_NODELAY on what it opened, for the connections it
    accepts to inherit. At the end of a message the milter sends its changes (a header, a
    recipient removed) as separate small writes before the final answer; with Nagle's
    algorithm each would wait for the MTA's delayed acknowledgement, 40 ms."""

    @wraps(open_socket)
    def opened(*args: Any) -> Any:
        result = open_socket(*args)
        for listening in _listening_sockets():
            with listening:
                listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return result

    return opened


class CannotListen(Exception):
    """The milter's socket could not be opened."""


def run(settings: Settings) -> None:
    """Serve the milter until the MTA's side is stopped (SIGTERM or SIGINT)."""
    where = libmilter_address(settings.milter_listen)
    # libmilter takes SIGTERM, SIGHUP and SIGINT on a thread of its own (sigwait), and stops
    # serving; the writers below then flush what they hold. Every thread started here must
    # block them too: otherwise the kernel may hand SIGTERM to one of them, whose default
    # action ends the process with records still in memory. The mask is the caller's again
    # on the way out (a process that runs the milter and goes on, or starts others, keeps its
    # own signals).
    before = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        _serve(settings, where)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _serve(settings: Settings, where: str) -> None:
    database = Database(settings.database_url, settings.pool())
    policies = Policies(database, settings.milter_refresh_seconds)
    recorder = HitRecorder(database, settings.stats_flush_seconds)
    messages = (
        MessageRecorder(
            database,
            settings.stats_flush_seconds,
            capacity=settings.message_queue_capacity,
            retention_days=settings.message_retention_days,
        )
        if settings.message_records
        else None
    )
    follower = (
        MaillogFollower(database, settings.postfix_maillog, settings.stats_flush_seconds)
        if settings.postfix_maillog and messages is not None
        else None
    )
    detector = Detector(settings)
    policies.refresh()
    policies.start()
    recorder.start()
    if messages is not None:
        messages.start()
    if follower is not None:
        follower.start()
    local = where.startswith("unix:")
    factory = LocalPolicyMilter if local else PolicyMilter
    factory.policies = policies
    factory.recorder = recorder
    factory.drop_action = settings.drop_action
    factory.trusted_id = settings.trusted_authserv_id
    factory.body_limit = settings.milter_max_body_bytes
    factory.messages = messages
    factory.raw_cap = settings.quarantine_max_bytes
    factory.detector = detector
    Milter.factory = factory
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.DELRCPT | Milter.QUARANTINE)
    log.info(
        "milter listening on %s (drop action: %s; rspamd: %s; lookalikes: %s; RDAP: %s)",
        settings.milter_listen,
        settings.drop_action,
        settings.rspamd_url or "off",
        "on" if settings.lookalike_domains else "off",
        settings.rdap_url or "off",
    )
    if local:
        path = where.split(":", 1)[1]
        milter.opensocket = _local_socket(milter.opensocket, path, settings.milter_socket_group)
    else:
        milter.opensocket = _without_nagle(milter.opensocket)
    try:
        Milter.runmilter("mailpolicy", where, timeout=300)
    except milter.error as exc:
        raise CannotListen(
            f"cannot listen on {settings.milter_listen} ({exc}): is another process listening "
            "there, or is the socket's directory missing?"
        ) from None
    finally:
        policies.stop()
        recorder.stop()
        if messages is not None:
            messages.stop()
        if follower is not None:
            follower.stop()
        detector.close()
        database.dispose()
