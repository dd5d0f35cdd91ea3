"""Every account's settings as the milter decides with them, kept current from the database.

A background thread looks at every account's settings version every `interval` seconds (one
small query); an account whose version moved has the changes since applied to its snapshot
(mailpolicy.evaluation.snapshots.follow: rebuilt only when the change feed cannot say what
changed), and the map of active protected domains to accounts is rebuilt with it. Readers
take the current state in one attribute read: they never wait for a rebuild, and never see
half of one.

If the database cannot be reached the last good state stays in use; the outage is logged
once a minute with when that state was loaded.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailpolicy.access.accounts import Account
from mailpolicy.db import Database, utcnow
from mailpolicy.engine import Snapshot, normalize_domain
from mailpolicy.evaluation.snapshots import Held, follow
from mailpolicy.resources.domains import ACTIVE, ProtectedDomain

log = logging.getLogger("mailpolicy.milter")

OUTAGE_LOG_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Route:
    """The protected domain a recipient falls under, and the account it belongs to."""

    account_id: str
    domain_id: str
    domain: str


@dataclass(frozen=True, slots=True)
class State:
    routes: dict[str, Route] = field(default_factory=dict)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    loaded_at: dt.datetime | None = None


class Policies:
    """The routing table and the per-account snapshots the milter decides with."""

    def __init__(self, database: Database, interval: float) -> None:
        self.database = database
        self.interval = interval
        self.state = State()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_outage_log = 0.0
        # Only the refreshing thread reads or changes these.
        self._held: dict[str, Held] = {}

    @property
    def ready(self) -> bool:
        """Whether settings were ever loaded: before that, every message is deferred."""
        return self.state.loaded_at is not None

    def route(self, address: str | None) -> Route | None:
        """The active protected domain (the address's domain or its nearest parent) that
        governs a recipient address, or None when none does."""
        if not address or "@" not in address:
            return None
        routes = self.state.routes
        domain = normalize_domain(address.rpartition("@")[2])
        while domain:
            found = routes.get(domain)
            if found is not None:
                return found
            domain = domain.partition(".")[2]
        return None

    def snapshot(self, account_id: str) -> Snapshot | None:
        return self.state.snapshots.get(account_id)

    # ---- refreshing -----------------------------------------------------------------------

    def refresh(self) -> bool:
        """Load what changed since the last refresh; False when the database could not be read."""
        try:
            self._load()
        except Exception as exc:
            self._outage(exc)
            return False
        return True

    def _load(self) -> None:
        current = self.state
        with self.database.transaction(write=False) as session:
            versions = dict(session.execute(select(Account.id, Account.settings_version)).all())
            if versions == current.versions and current.loaded_at is not None:
                return
            held: dict[str, Held] = {}
            domains_moved = current.loaded_at is None or versions.keys() != self._held.keys()
            for account_id, version in versions.items():
                before = self._held.get(account_id)
                if before is not None and before.version == version:
                    held[account_id] = before
                    continue
                held[account_id] = follow(session, account_id, before)
                domains_moved = domains_moved or held[account_id].touched("domains")
            snapshots = {account_id: h.snapshot for account_id, h in held.items()}
            # The routes change only with a protected domain, or an account come or gone:
            # reading every active domain again after any other write would cost a large
            # installation most of its refresh.
            routes = _routes(session) if domains_moved else current.routes
        if current.loaded_at is None or self._last_outage_log:
            log.info("settings loaded: %d accounts, %d active domains", len(versions), len(routes))
        self._last_outage_log = 0.0
        self._held = held
        # The version each snapshot is at (the one its decisions are recorded with).
        versions = {account_id: h.version for account_id, h in held.items()}
        self.state = State(routes, snapshots, versions, utcnow())

    def _outage(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._last_outage_log and now - self._last_outage_log < OUTAGE_LOG_SECONDS:
            return
        self._last_outage_log = now
        loaded = self.state.loaded_at
        using = (
            f"deciding with the settings loaded at {loaded:%Y-%m-%d %H:%M:%S} UTC"
            if loaded is not None
            else "no settings loaded yet, so every message is deferred (4.7.1)"
        )
        log.error(
            "the database cannot be read (%s: %s); %s. Should the milter itself stop, Postfix "
            "applies milter_default_action: pair this milter with milter_default_action = "
            "tempfail to defer mail rather than pass it unchecked.",
            type(exc).__name__,
            exc,
            using,
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mailpolicy-policies", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh()


def _routes(session: Session) -> dict[str, Route]:
    """Every active protected domain, to the account that protects it."""
    active = session.execute(
        select(ProtectedDomain.domain, ProtectedDomain.account_id, ProtectedDomain.id)
        .where(ProtectedDomain.status == ACTIVE)
        .order_by(ProtectedDomain.created_at, ProtectedDomain.id)
    ).all()
    routes: dict[str, Route] = {}
    for domain, account_id, domain_id in active:
        # The same domain active in two accounts: the one protected first keeps it.
        routes.setdefault(normalize_domain(domain), Route(account_id, domain_id, domain))
    return routes
