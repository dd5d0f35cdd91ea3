"""The domain verifier: looks at each protected domain's DNS and records what it finds.

A domain created through the API is PENDING with an ownership TXT record to publish. The verifier
looks the record up, soon after creation and then backing off (5 s, 10 s, 20 s, ... up to
`dns_retry_max_seconds`, 90 s by default, so a published record is noticed within two minutes):

- found: the domain becomes ACTIVE, `authorization.authorized` true from that moment;
- not found when `dns_verify_window_seconds` (7 days) have passed since it was created: TIMEOUT,
  or FAILED when what was found at the record's name all along held another value;
- DNS could not be asked (a timeout, SERVFAIL): the domain stays PENDING, the reason in
  `authorization.status_message`, and the check is retried with the same backoff.

Every domain's SPF and DMARC status (mailpolicy.dns.records) is read on creation, when it is
verified, and every `dns_refresh_seconds` after; a domain the operator activated by hand keeps
its status and still has these read.

The verifier runs in the background of `mailpolicy serve` (`Verifier`) and on demand
(`mailpolicy domains verify ID`, `check(..., by_operator=True)`). It claims due domains in a
short write transaction (their due time pushed one lease ahead, so other processes on the same
database skip them), asks DNS with no transaction open, and writes each result in a transaction
of its own, on the row as it is then: an operator's activation or a deletion in the meantime wins.
Requests never wait for DNS. A check that changes a domain's status records it in the audit
history, by "verifier" in the background and by "cli" when the operator asked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dns.nameserver
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailpolicy.audit.events import CLI, VERIFIER, Author
from mailpolicy.config import Settings
from mailpolicy.db import Database, utcnow
from mailpolicy.dns import records
from mailpolicy.errors import NotFound
from mailpolicy.resources.crud import record_change
from mailpolicy.resources.domains import (
    ACTIVE,
    PENDING,
    SPEC,
    ProtectedDomain,
    serialize,
    txt_record_name,
    txt_record_value,
)

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 5.0
CLAIM_BATCH = 64
PARALLEL_CHECKS = 8
DETAIL_LENGTH = 512  # the detail columns' width


@dataclass(frozen=True)
class Schedule:
    window: dt.timedelta
    retry_max: dt.timedelta
    refresh: dt.timedelta | None  # None: SPF and DMARC are not refreshed periodically
    lease: dt.timedelta  # how long a claimed domain is left to the process that claimed it

    @classmethod
    def of(cls, settings: Settings) -> Schedule:
        return cls(
            window=dt.timedelta(seconds=settings.dns_verify_window_seconds),
            retry_max=dt.timedelta(seconds=settings.dns_retry_max_seconds),
            refresh=dt.timedelta(seconds=settings.dns_refresh_seconds)
            if settings.dns_refresh_seconds
            else None,
            # Ownership, SPF (includes followed: at most 10 lookups plus a few) and DMARC.
            lease=dt.timedelta(seconds=60 + 16 * settings.dns_timeout),
        )

    def backoff(self, attempts: int) -> dt.timedelta:
        seconds = FIRST_RETRY_SECONDS * 2 ** max(min(attempts, 20) - 1, 0)
        return min(dt.timedelta(seconds=seconds), self.retry_max)


@dataclass(frozen=True)
class Report:
    """What one check found, as the CLI tells it."""

    domain_id: str
    domain: str
    status: str | None
    ownership: str | None  # what the TXT lookup saw; None when ownership was not checked
    txt_record: tuple[str, str] | None  # name and value, while they are needed
    spf: records.Finding | None
    dmarc: records.Finding | None
    error: str | None  # DNS could not be asked: the first reason


@dataclass(frozen=True)
class _Seen:
    """A domain as it was when its check began."""

    id: str
    domain: str
    status: str | None
    token: str | None
    pending_since: dt.datetime | None
    dns_checked_at: dt.datetime | None


@dataclass
class _Found:
    ownership: records.Ownership | None = None
    spf: records.Finding | None = None
    dmarc: records.Finding | None = None
    error: str | None = None


def _short(text: str) -> str:
    return text if len(text) <= DETAIL_LENGTH else text[: DETAIL_LENGTH - 1] + "…"


def _ask(
    seen: _Seen,
    servers: list[dns.nameserver.Nameserver] | None,
    settings: Settings,
    schedule: Schedule,
    now: dt.datetime,
    by_operator: bool,
) -> _Found:
    found = _Found()
    try:
        questions = records.Questions(servers, settings.dns_timeout)
    except Exception as exc:  # no resolver configured (no /etc/resolv.conf)
        found.error = f"no DNS resolver: {exc}"
        return found
    verifiable = {PENDING} | ({"TIMEOUT", "FAILED"} if by_operator else set())
    if seen.token is not None and seen.status in verifiable:
        try:
            found.ownership = records.ownership(
                questions, txt_record_name(seen.domain), txt_record_value(seen.token)
            )
        except records.DnsUnavailable as exc:
            found.error = str(exc)
            return found  # the next questions would go to the same resolvers: try again later
    stale = (
        seen.dns_checked_at is None
        or (schedule.refresh is not None and now - seen.dns_checked_at >= schedule.refresh)
        or by_operator
        or (found.ownership is not None and found.ownership.found)
    )
    if stale:
        for kind in ("spf", "dmarc"):
            try:
                finding = getattr(records, kind)(questions, seen.domain)
            except records.DnsUnavailable as exc:
                found.error = str(exc)
                break
            else:
                setattr(found, kind, finding)
    return found


def _apply(
    row: ProtectedDomain,
    seen: _Seen,
    found: _Found,
    schedule: Schedule,
    now: dt.datetime,
    by_operator: bool,
) -> bool:
    """Write what was found onto the row as it is now; whether its status changed."""
    before = row.status
    same_claim = row.verification_token == seen.token and row.status == seen.status
    if same_claim and (found.ownership is not None or (found.error and row.status == PENDING)):
        row.verification_checked_at = now
        if found.ownership is not None and found.ownership.found:
            row.status = ACTIVE
            row.authorized_at = now
            row.pending_since = None
            row.verification_message = None
        else:
            if by_operator and row.status != PENDING:
                # Looked for again by the operator after it timed out: a new window starts.
                row.status = PENDING
                row.pending_since = now
                row.dns_attempts = 0
            message = (
                found.ownership.detail
                if found.ownership is not None
                else f"DNS could not be asked ({found.error}); retrying."
            )
            started = row.pending_since or row.created_at
            if now - started >= schedule.window:
                row.status = (
                    "FAILED" if found.ownership and found.ownership.other_values else "TIMEOUT"
                )
                message = (
                    f"The TXT record {txt_record_name(row.domain)} with the value "
                    f"{txt_record_value(row.verification_token)} was not found within "
                    f"{_duration(schedule.window)}. {message}"
                )
            row.verification_message = _short(message)
    for kind in ("spf", "dmarc"):
        finding: records.Finding | None = getattr(found, kind)
        if finding is not None:
            setattr(row, f"{kind}_status", finding.status)
            setattr(row, f"{kind}_detail", _short(finding.detail))
    if found.spf is not None and found.dmarc is not None:
        row.dns_checked_at = now
    row.dns_error = _short(found.error) if found.error else None
    if found.error or row.status == PENDING:
        row.dns_attempts += 1
        due = now + schedule.backoff(row.dns_attempts)
        if row.status == PENDING and row.pending_since is not None:
            due = min(due, row.pending_since + schedule.window)
        row.dns_due_at = due
    else:
        row.dns_attempts = 0
        checked = row.dns_checked_at or now
        row.dns_due_at = checked + schedule.refresh if schedule.refresh else None
    return row.status != before


def _duration(span: dt.timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def check(
    database: Database,
    settings: Settings,
    domain_id: str,
    *,
    by_operator: bool = False,
    author: Author = CLI,
    servers: list[dns.nameserver.Nameserver] | None = None,
) -> Report:
    """Check one domain's DNS now and record what was found.

    `by_operator`: asked for by name (`mailpolicy domains verify`, the dashboard's "Check DNS
    now"): SPF and DMARC are read whatever their age, and a domain that timed out or failed is
    looked for again. A change of status it makes is then `author`'s in the history.
    """
    by = author if by_operator else VERIFIER
    schedule = Schedule.of(settings)
    with database.transaction(write=False) as session:
        row = session.get(ProtectedDomain, domain_id)
        if row is None:
            raise NotFound(f"No domain with id {domain_id}.")
        seen = _Seen(
            row.id, row.domain, row.status, row.verification_token,
            row.pending_since, row.dns_checked_at,
        )  # fmt: skip
    if servers is None and settings.dns_resolvers:
        try:
            servers = records.nameservers(settings)
        except records.DnsUnavailable as exc:
            return _record_failure(database, seen, schedule, str(exc), by_operator, by)
    found = _ask(seen, servers, settings, schedule, utcnow(), by_operator)
    now = utcnow()
    with database.transaction() as session:
        row = session.get(ProtectedDomain, domain_id, with_for_update=True)
        if row is None:
            raise NotFound(f"No domain with id {domain_id} (deleted while it was checked).")
        _write(session, row, seen, found, schedule, now, by_operator, by)
        return _report(row, found)


def _write(
    session: Session,
    row: ProtectedDomain,
    seen: _Seen,
    found: _Found,
    schedule: Schedule,
    now: dt.datetime,
    by_operator: bool,
    by: Author,
) -> None:
    """Apply what was found; a change of status is a settings change, and an audit event."""
    before = serialize(row)
    if _apply(row, seen, found, schedule, now, by_operator):
        record_change(session, SPEC, row, "verify", before, by)
        log.info("domain %s (%s) is now %s", row.domain, row.id, row.status)


def _record_failure(
    database: Database, seen: _Seen, schedule: Schedule, error: str, by_operator: bool, by: Author
) -> Report:
    now = utcnow()
    with database.transaction() as session:
        row = session.get(ProtectedDomain, seen.id, with_for_update=True)
        if row is None:
            raise NotFound(f"No domain with id {seen.id}.")
        found = _Found(error=error)
        _write(session, row, seen, found, schedule, now, by_operator, by)
        return _report(row, found)


def _report(row: ProtectedDomain, found: _Found) -> Report:
    return Report(
        domain_id=row.id,
        domain=row.domain,
        status=row.status,
        ownership=found.ownership.detail if found.ownership else None,
        txt_record=(txt_record_name(row.domain), txt_record_value(row.verification_token))
        if row.verification_token and row.status != ACTIVE
        else None,
        spf=found.spf,
        dmarc=found.dmarc,
        error=found.error,
    )


def claim_due(database: Database, schedule: Schedule, limit: int = CLAIM_BATCH) -> list[str]:
    """The ids of domains due a check, each pushed one lease ahead so no one else takes it."""
    now = utcnow()
    with database.transaction() as session:
        query = (
            select(ProtectedDomain)
            .where(ProtectedDomain.dns_due_at <= now)
            .order_by(ProtectedDomain.dns_due_at)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(session.scalars(query))
        for row in rows:
            row.dns_due_at = now + schedule.lease
        return [row.id for row in rows]


class Verifier:
    """The background verifier of `mailpolicy serve`: a thread that checks due domains."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.schedule = Schedule.of(settings)
        self.database = Database(settings.database_url, settings.pool())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mailpolicy-verifier", daemon=True)
        self._pool = ThreadPoolExecutor(PARALLEL_CHECKS, thread_name_prefix="mailpolicy-dns")
        self._complained_at = self._failed_at = -60.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5 + self.settings.dns_timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.database.dispose()

    def run_once(self) -> int:
        """Check every domain due now; how many were checked."""
        ids = claim_due(self.database, self.schedule)
        if not ids:
            return 0
        servers = None
        if self.settings.dns_resolvers:
            # When a resolver's name does not resolve, each check tries again and says why.
            with contextlib.suppress(records.DnsUnavailable):
                servers = records.nameservers(self.settings)
        futures = [
            self._pool.submit(check, self.database, self.settings, i, servers=servers) for i in ids
        ]
        for future in futures:
            try:
                report = future.result()
            except NotFound:
                continue  # deleted in the meantime
            if report.error:
                self._complain(f"DNS could not be asked for {report.domain}: {report.error}")
        return len(ids)

    def _complain(self, message: str) -> None:
        # Once a minute at most: a resolver that is down would otherwise fill the log.
        if time.monotonic() - self._complained_at >= 60:
            self._complained_at = time.monotonic()
            log.warning("%s (retrying with backoff; said at most once a minute)", message)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while self.run_once() and not self._stop.is_set():
                    pass  # a batch was due: there may be more
            except Exception:
                # The database unreachable, most likely: said once a minute, then tried again.
                if time.monotonic() - self._failed_at >= 60:
                    self._failed_at = time.monotonic()
                    log.exception("the domain verifier could not run; trying again")
            self._stop.wait(self.settings.dns_poll_seconds)
