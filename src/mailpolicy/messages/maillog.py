"""Following Postfix's log, for what the milter cannot see: what became of each recipient.

The milter's last word on a message is at its end, before Postfix queues it; whether it was
then delivered, deferred or bounced only Postfix's log says (`QUEUEID: to=<...>, relay=...,
status=sent (...)`). With MAILPOLICY_POSTFIX_MAILLOG set, the milter follows that file (the
`maillog_file` of Postfix 3.4 and later, or the syslog file it is written to), from its end
when it starts, across rotation. Each line with a queue id is added to the trace of the
records of that queue id (the newest message with it: short queue ids are reused), and a
delivery line sets the recipient's delivery status. Lines for a message whose record is not
written yet are kept and tried again for up to a minute.

The log is read and the records written off the mail path, in batches, like the records
themselves: a slow or absent log never slows mail.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailpolicy.db import Database, utcnow
from mailpolicy.messages.records import MessageRecipient, MessageRecord

log = logging.getLogger("mailpolicy.messages")

# "<time> <host> postfix/<service>[<pid>]: <QUEUEID>: <text>"; the time is syslog's
# ("Dec  7 01:27:21") or RFC 3339 ("2026-12-07T01:27:21.123456+00:00").
_LINE = re.compile(
    r"^(?P<time>\S+(?:\s+\d+\s+\d\d:\d\d:\d\d)?)\s+\S+\s+"
    r"(?P<program>postfix[\w./-]*)(?:\[\d+\])?:\s+(?P<queue_id>[0-9A-Za-z]{5,20}):\s+(?P<text>.+)$"
)
_DELIVERY = re.compile(
    r"\bto=<(?P<address>[^>]*)>.*\bstatus=(?P<status>sent|deferred|bounced|expired)\b"
)
_STATUS = {"sent": "delivered", "deferred": "deferred", "bounced": "bounced", "expired": "bounced"}
MAX_TRACE = 100
KEEP_UNMATCHED_SECONDS = 60.0
MAX_PENDING = 50_000
RECENT = dt.timedelta(days=7)
READ_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class LogLine:
    queue_id: str
    logged_at: dt.datetime
    message: str
    address: str | None = None
    status: str | None = None


def parse(line: str, now: dt.datetime) -> LogLine | None:
    """One log line about a queued message, or None for any other line."""
    match = _LINE.match(line.rstrip("\r\n"))
    if match is None:
        return None
    logged_at = now
    with_offset = match["time"]
    if "T" in with_offset:
        with suppress(ValueError):
            logged_at = dt.datetime.fromisoformat(with_offset).astimezone(dt.UTC)
    text = f"{match['program']}: {match['queue_id']}: {match['text']}"[:2000]
    delivery = _DELIVERY.search(match["text"])
    if delivery is None:
        return LogLine(match["queue_id"], logged_at, text)
    return LogLine(
        match["queue_id"],
        logged_at,
        text,
        delivery["address"].lower(),
        _STATUS[delivery["status"]],
    )


def apply(database: Database, lines: list[LogLine]) -> list[LogLine]:
    """Write the lines into their records; those whose record is not there yet come back."""
    by_queue: dict[str, list[LogLine]] = {}
    for line in lines:
        by_queue.setdefault(line.queue_id, []).append(line)
    unmatched: list[LogLine] = []
    since = utcnow() - RECENT
    with database.transaction() as session:
        for queue_id, found in by_queue.items():
            r = MessageRecord
            records = list(
                session.scalars(
                    select(r)
                    .where(r.postfix_id == queue_id, r.scanned_at >= since)
                    .order_by(r.scanned_at.desc())
                )
            )
            if not records:
                unmatched.extend(found)
                continue
            newest = records[0].scanned_at
            for record in records:
                if newest - record.scanned_at > dt.timedelta(minutes=5):
                    continue  # an older message that had the same (reused) queue id
                _add(session, record, found)
    return unmatched


def _add(session: Session, record: MessageRecord, lines: list[LogLine]) -> None:
    trace = list(record.trace)
    for line in lines:
        if len(trace) >= MAX_TRACE:
            break
        released = record.released_at is not None and line.logged_at >= record.released_at
        trace.append(
            {
                "logged_at": line.logged_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "message": line.message,
                "side": "outbound" if released else "inbound",
            }
        )
    record.trace = trace
    statuses = {line.address: line.status for line in lines if line.address and line.status}
    if not statuses:
        return
    for recipient in session.scalars(
        select(MessageRecipient).where(MessageRecipient.record_id == record.id)
    ):
        status = statuses.get(recipient.address.lower())
        if status is not None and recipient.action in ("delivered", "released"):
            recipient.delivery_status = status


class MaillogFollower:
    """Reads new lines of Postfix's log every `interval` seconds and writes what they say."""

    def __init__(self, database: Database, path: str, interval: float) -> None:
        self.database = database
        self.path = path
        self.interval = interval
        self._file: IO[str] | None = None
        self._inode: int | None = None
        self._pending: list[tuple[float, LogLine]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = False

    def start(self) -> None:
        self._open(at_end=True)
        self._thread = threading.Thread(target=self._run, name="mailpolicy-maillog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.step()
        if self._file is not None:
            self._file.close()

    def _open(self, *, at_end: bool) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        try:
            handle = open(self.path, encoding="utf-8", errors="replace")  # noqa: SIM115
        except OSError as exc:
            if not self._warned:
                log.warning("cannot read Postfix's log %s (%s); trying again", self.path, exc)
                self._warned = True
            return
        self._warned = False
        if at_end:
            handle.seek(0, os.SEEK_END)
        self._file = handle
        self._inode = os.fstat(handle.fileno()).st_ino

    def _rotated(self) -> bool:
        try:
            status = os.stat(self.path)
        except OSError:
            return False
        assert self._file is not None
        return status.st_ino != self._inode or status.st_size < self._file.tell()

    def _read(self) -> list[str]:
        if self._file is None:
            self._open(at_end=False)
            if self._file is None:
                return []
        lines = self._file.readlines(READ_CHUNK)
        if not lines and self._rotated():
            self._open(at_end=False)  # a new file: read it from its start
            if self._file is not None:
                lines = self._file.readlines(READ_CHUNK)
        return lines

    def step(self) -> None:
        """Read what is new, and write it with what was waiting."""
        now = utcnow()
        clock = time.monotonic()
        fresh = [found for line in self._read() if (found := parse(line, now)) is not None]
        waiting = [(t, line) for t, line in self._pending if clock - t < KEEP_UNMATCHED_SECONDS]
        batch = [line for _, line in waiting] + fresh
        if not batch:
            self._pending = []
            return
        first_seen = {id(line): t for t, line in waiting}
        try:
            unmatched = apply(self.database, batch)
        except Exception:
            log.warning(
                "Postfix's log lines not written yet (kept for the next try)", exc_info=True
            )
            unmatched = batch
        self._pending = [(first_seen.get(id(line), clock), line) for line in unmatched][
            -MAX_PENDING:
        ]

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.step()
