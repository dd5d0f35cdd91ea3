"""Rate limits: so many requests per window for each credential, counted across processes.

The policy is Cloudflare's (https://developers.cloudflare.com/fundamentals/api/reference/limits/,
"1200/5 minutes" per user or account token): `MAILPOLICY_RATE_LIMIT` requests (1,200) per
`MAILPOLICY_RATE_LIMIT_WINDOW_SECONDS` (300) for each credential, an API token or a legacy key,
whatever the requests ask for and whatever they are answered; `0` turns limiting off. Two
tokens of one account have a quota each. The guard (mailpolicy.api.guard) asks `admit` once the
credential is known and before the body is read, so a refused request costs no body and no
work.

**Windows.** A credential's window opens with its first request and lasts the window length;
the first request after it ends opens the next. Its end is the `t` of the `RateLimit` header
and, once the quota is used, the `Retry-After` of the 429: waiting that long always succeeds.

**One count for every process.** The count lives in the database, one row per credential
(`rate_limit_counters`: requests granted in the current window, and when it ends), so every
worker and every replica draws on the same quota. A process does not write it for every
request. It reserves a *lease*, a few requests' worth of quota, with one atomic upsert that
grants `min(lease, limit - used)` (or opens a new window, if the row's has ended), and then
serves that many requests from memory before it takes another; once half of a lease is spent,
the next is taken in the background, so requests rarely wait for the write. The row never
grants more than the limit and no request is served without a grant, so however many processes
share it, at most `limit` requests are served in a window: the cap is exact. A lease is sized
from what the previous one saw left: a tenth of it, at most 20 requests, down to a single
request near the end, so little quota sits unused in one process while another refuses, and
each response's `remaining` (the count the last lease saw, plus what this process still holds)
stays close to the truth. A credential that uses all of the default 1,200 costs 93 writes a
window: one per 20 requests for the first 1,000, then leases that shrink to one request. Once a
lease leaves the count at the limit, the quota is spent until the window ends (a count never
goes down within one): the process refuses that credential from memory, and a throttled client
costs no write. Rows of windows that have ended are deleted with a lease, once per window
length per process.

The upsert (`INSERT ... ON CONFLICT DO UPDATE ... RETURNING`) is the same statement on SQLite
(3.35 and later) and PostgreSQL, in a write transaction: SQLite's write lock, PostgreSQL's row
lock. Window ends are wall-clock milliseconds, so replicas' clocks should agree (NTP): a clock
that is off moves that process's window edges, never the cap.

**Headers** (draft-ietf-httpapi-ratelimit-headers-09, sections 3 and 4, the syntax Cloudflare's
API sends): every answer to an authenticated request says

    RateLimit-Policy: "default";q=1200;w=300
    RateLimit: "default";r=1187;t=241

(quota and window; requests remaining and seconds until the window ends); a 429 adds
`Retry-After` with the same seconds as `t` (section 6: the two SHOULD name the same moment).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Integer, String, bindparam, case, delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from mailpolicy.db import Base, Database
from mailpolicy.errors import TooManyRequests

POLICY_NAME = "default"
MAX_LEASE = 20  # requests one lease may reserve
LEASE_SHARE = 10  # a lease reserves at most a tenth of what the window has left
REFILL_WAIT = 5.0  # seconds a request waits for a lease being taken ahead of need


class RateCounter(Base):
    """A credential's current window: requests granted in it, and when it ends."""

    __tablename__ = "rate_limit_counters"

    credential: Mapped[str] = mapped_column(String(64), primary_key=True)  # Principal.actor
    used: Mapped[int] = mapped_column(Integer)
    last_lease: Mapped[int] = mapped_column(Integer)  # what the latest upsert granted
    resets_at_ms: Mapped[int] = mapped_column(BigInteger, index=True)


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may proceed, and what its answer tells the client."""

    allowed: bool
    remaining: int
    reset_seconds: int


@dataclass(slots=True)
class _Lease:
    """One credential's quota held by this process."""

    # Guards the fields below; waited on while the next lease is being taken ahead of need.
    lock: threading.Condition = field(default_factory=lambda: threading.Condition(threading.Lock()))
    ends_ms: int = 0  # when the window it belongs to ends; 0: none yet
    held: int = 0  # requests granted and not yet served
    used: int = 0  # the shared count as the latest lease left it (this process's included)
    size: int = 0  # what the latest lease asked for
    refilling: bool = False  # the next lease is being taken ahead of need (see refill)


def _lease_statement(dialect: str) -> Any:
    """Grant up to :n requests of :credential's window, opening a new window if its ended."""
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    table = RateCounter.__table__
    n = bindparam("n", type_=Integer)
    limit = bindparam("limit", type_=Integer)
    now = bindparam("now", type_=BigInteger)
    ends = bindparam("ends", type_=BigInteger)
    statement = insert(RateCounter).values(
        credential=bindparam("credential", type_=String), used=n, last_lease=n, resets_at_ms=ends
    )
    ended = table.c.resets_at_ms <= now
    # Every SET expression reads the row as it was, on both databases.
    grant = case(
        (table.c.used + n <= limit, n),
        (table.c.used < limit, limit - table.c.used),
        else_=0,
    )
    return statement.on_conflict_do_update(
        index_elements=["credential"],
        set_={
            "used": case((ended, n), else_=table.c.used + grant),
            "last_lease": case((ended, n), else_=grant),
            "resets_at_ms": case((ended, ends), else_=table.c.resets_at_ms),
        },
    ).returning(table.c.used, table.c.last_lease, table.c.resets_at_ms)


class RateLimiter:
    """The requests each credential may still make, leased from the shared count (see above)."""

    def __init__(self, database: Database, limit: int, window_seconds: int) -> None:
        if limit < 1 or window_seconds < 1:
            raise ValueError("a rate limit needs a quota and a window of at least 1")
        self.database = database
        self.limit = limit
        self.window_seconds = window_seconds
        self.policy = f'"{POLICY_NAME}";q={limit};w={window_seconds}'
        self._window_ms = window_seconds * 1000
        self._statement = _lease_statement(database.engine.dialect.name)
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()
        self._next_sweep_ms = 0
        # Refills in flight, and whether new ones may start (see close).
        self._refills = threading.Condition(threading.Lock())
        self._running = 0
        self._closed = False
        database.on_dispose(self.close)

    def admit(self, credential: str) -> Decision:
        """Count one request of `credential`; blocks while a lease is taken (call off the loop)."""
        with self._lock:
            lease = self._leases.setdefault(credential, _Lease())
        with lease.lock:
            # A lease being taken ahead of need may hold this request's quota: wait for it
            # rather than ask again (the row could have none left but what it grants). The
            # wait is bounded: a refill that never ran does not hold requests up.
            lease.lock.wait_for(lambda: not lease.refilling, timeout=REFILL_WAIT)
            now = self._now_ms()
            if now >= lease.ends_ms:
                lease.held = 0  # quota never outlives its window
                self._take(lease, credential, now, self.limit)
            elif lease.held == 0 and lease.used < self.limit:
                self._take(lease, credential, now, self.limit - lease.used)
            return self._spend(lease, now)

    def admit_held(self, credential: str) -> Decision | None:
        """`admit`, if this process can decide from the quota it holds without waiting: None
        when deciding needs a database write (a new lease) or another thread holds the lease."""
        lease = self._leases.get(credential)
        if lease is None or not lease.lock.acquire(blocking=False):
            return None
        try:
            now = self._now_ms()
            if now >= lease.ends_ms or (lease.held == 0 and lease.used < self.limit):
                return None
            return self._spend(lease, now)
        finally:
            lease.lock.release()

    def _spend(self, lease: _Lease, now: int) -> Decision:
        """One request from the lease held (a refusal if none is left)."""
        reset = math.ceil((lease.ends_ms - now) / 1000)
        if lease.held == 0:
            return Decision(False, 0, reset)
        lease.held -= 1
        return Decision(True, max(0, self.limit - lease.used + lease.held), reset)

    def headers(self, decision: Decision) -> dict[str, str]:
        """The RateLimit fields (and, for a refusal, Retry-After) of an answer."""
        found = {
            "ratelimit-policy": self.policy,
            "ratelimit": f'"{POLICY_NAME}";r={decision.remaining};t={decision.reset_seconds}',
        }
        if not decision.allowed:
            found["retry-after"] = str(decision.reset_seconds)
            found["x-should-retry"] = "true"  # the one 4xx a retry (after the wait) fixes
        return found

    def refusal(self, decision: Decision) -> TooManyRequests:
        return TooManyRequests(
            f"Rate limit of {self.limit} requests per {self.window_seconds} s reached for this "
            f"credential; retry in {decision.reset_seconds} s.",
            headers=self.headers(decision),
        )

    def _now_ms(self) -> int:
        return int(time.time() * 1000)

    def claim_refill(self, credential: str) -> bool:
        """Whether the caller should take `credential`'s next lease ahead of need (`refill`, off
        the event loop): when half of the latest lease is spent and none is being taken, so
        that requests keep being served from memory while the write happens."""
        lease = self._leases.get(credential)
        if self._closed or lease is None or not lease.lock.acquire(blocking=False):
            return False
        try:
            wanted = (
                not lease.refilling
                and lease.used < self.limit
                and lease.held <= lease.size // 2
                and self._now_ms() < lease.ends_ms
            )
            lease.refilling = lease.refilling or wanted
            return wanted
        finally:
            lease.lock.release()

    def refill(self, credential: str) -> None:
        """Take `credential`'s next lease (after `claim_refill` said so). The write happens with
        the lease unlocked, so the quota already held is spent meanwhile; what it grants is
        added to what is held if it belongs to the same window. Blocks: call off the loop."""
        lease = self._leases[credential]
        with self._refills:
            if self._closed:
                self._refill_done(lease)
                return
            self._running += 1
        try:
            with lease.lock:
                now = self._now_ms()
                left = self.limit - lease.used
                if now >= lease.ends_ms or left <= 0:
                    return
            used, granted, ends_ms, size = self._grant(credential, now, left)
            with lease.lock:
                if ends_ms == lease.ends_ms:
                    lease.held += granted
                    lease.used = max(lease.used, used)
                    lease.size = size
                elif ends_ms > lease.ends_ms:  # the grant opened the next window
                    lease.held, lease.used, lease.ends_ms, lease.size = granted, used, ends_ms, size
        finally:
            self._refill_done(lease)
            with self._refills:
                self._running -= 1
                self._refills.notify_all()

    def close(self, timeout: float = REFILL_WAIT) -> None:
        """Start no more refills, and wait (up to `timeout`) for those running: before the
        database is disposed, so none opens a connection after."""
        with self._refills:
            self._closed = True
            self._refills.wait_for(lambda: self._running == 0, timeout=timeout)

    @staticmethod
    def _refill_done(lease: _Lease) -> None:
        with lease.lock:
            lease.refilling = False
            lease.lock.notify_all()

    def _take(self, lease: _Lease, credential: str, now: int, left: int) -> None:
        used, granted, ends_ms, size = self._grant(credential, now, left)
        if ends_ms != lease.ends_ms:
            lease.held = 0  # quota never outlives its window
        lease.used, lease.ends_ms, lease.size = used, ends_ms, size
        lease.held += granted

    def _grant(self, credential: str, now: int, left: int) -> tuple[int, int, int, int]:
        """One lease from the shared count: (count after it, granted, window end, asked)."""
        size = max(1, min(MAX_LEASE, left // LEASE_SHARE))
        with self._lock:
            sweep = now >= self._next_sweep_ms
            if sweep:
                self._next_sweep_ms = now + self._window_ms
        params = {
            "credential": credential,
            "n": size,
            "limit": self.limit,
            "now": now,
            "ends": now + self._window_ms,
        }
        with self.database.transaction(write=True) as session:
            if sweep:
                session.execute(delete(RateCounter).where(RateCounter.resets_at_ms <= now))
            used, granted, ends_ms = session.execute(self._statement, params).one()
        return used, granted, ends_ms, size
