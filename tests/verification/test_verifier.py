"""Protected domains and their DNS, through the API: a domain created through it becomes ACTIVE
when its TXT record is published, times out (or fails) when it never is, stays PENDING while DNS
cannot be asked, keeps a status the operator gave it, and has its SPF and DMARC status read."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from mailpolicy.access.accounts import settings_version
from mailpolicy.audit.events import CLI
from mailpolicy.config import Settings
from mailpolicy.db import Database
from mailpolicy.dns.verifier import Schedule, Verifier, check, claim_due
from mailpolicy.errors import NotFound
from mailpolicy.resources.domains import ProtectedDomain, activate
from mailpolicy.timefmt import iso
from tests.support.api import Api
from tests.support.authority import Zones
from tests.support.dns import PATH, fetch, new_domain, publish_ownership, run_until


def row(app: FastAPI, domain_id: str) -> ProtectedDomain:
    database: Database = app.state.db
    with database.transaction(write=False) as session:
        found = session.get(ProtectedDomain, domain_id)
        assert found is not None
        session.expunge(found)
        return found


@pytest.fixture
def verifier(settings: Settings) -> Iterator[Verifier]:
    made = Verifier(settings)
    yield made
    made.stop()


def test_publishing_the_record_makes_the_domain_active(
    api: Api, zones: Zones, verifier: Verifier
) -> None:
    zones.publish(
        'verify.test. 60 IN TXT "v=spf1 mx -all"\n'
        "verify.test. 60 IN MX 10 mx.verify.test.\n"
        "mx.verify.test. 60 IN A 192.0.2.25\n"
        '_dmarc.verify.test. 60 IN TXT "v=DMARC1; p=reject"'
    )
    created = new_domain(api, "verify.test")
    assert created["status"] == "PENDING"
    assert created["spf_status"] is None  # not read yet: never a guess
    assert created["authorization"]["authorized"] is False
    record = api.get(PATH, created["id"], "verification").json()["result"]
    assert record["txt_record_name"] == "_cf-email-sec-challenge.verify.test"
    assert record["last_checked_at"] is None

    assert verifier.run_once() == 1
    pending = fetch(api, created["id"])
    assert pending["status"] == "PENDING"
    assert pending["spf_status"] == "good"
    assert pending["dmarc_status"] == "good"
    message = pending["authorization"]["status_message"]
    assert "No TXT record at _cf-email-sec-challenge.verify.test" in message
    checked = api.get(PATH, created["id"], "verification").json()["result"]["last_checked_at"]
    assert checked is not None
    assert pending["authorization"]["timestamp"] == checked

    publish_ownership(api, zones, created["id"])
    before = time.time()
    run_until(verifier, lambda: fetch(api, created["id"])["status"] == "ACTIVE")
    active = fetch(api, created["id"])
    assert active["authorization"]["authorized"] is True
    assert active["authorization"]["status_message"] is None
    authorized_at = dt.datetime.fromisoformat(active["authorization"]["timestamp"])
    assert authorized_at.timestamp() >= before - 1
    # Verified by its TXT record: the record stays on show, with the check that found it.
    verification = api.get(PATH, created["id"], "verification")
    assert verification.status_code == 200
    assert verification.json()["result"]["status"] == "ACTIVE"
    assert verification.json()["result"]["last_checked_at"] == active["authorization"]["timestamp"]
    listed = api.get(PATH, params={"status": "ACTIVE"}).json()["result"]
    assert [d["id"] for d in listed] == [created["id"]]


def test_the_background_verifier_notices_a_record_published_later(
    api: Api, zones: Zones, settings: Settings
) -> None:
    background = Verifier(settings.model_copy(update={"dns_poll_seconds": 0.05}))
    background.start()
    try:
        created = new_domain(api, "later.test")
        time.sleep(0.5)  # several checks find nothing
        assert fetch(api, created["id"])["status"] == "PENDING"
        publish_ownership(api, zones, created["id"])
        deadline = time.monotonic() + 10
        while fetch(api, created["id"])["status"] != "ACTIVE":
            assert time.monotonic() < deadline, "the background verifier never saw the record"
            time.sleep(0.05)
    finally:
        background.stop()


def test_a_record_never_published_times_out(
    api: Api, zones: Zones, settings: Settings, app: FastAPI
) -> None:
    short = settings.model_copy(update={"dns_verify_window_seconds": 1})
    created = new_domain(api, "never.test")
    check(app.state.db, short, created["id"])
    assert fetch(api, created["id"])["status"] == "PENDING"
    time.sleep(1.1)
    check(app.state.db, short, created["id"])
    timed_out = fetch(api, created["id"])
    assert timed_out["status"] == "TIMEOUT"
    message = timed_out["authorization"]["status_message"]
    assert "was not found within 1 second" in message
    assert "_cf-email-sec-challenge.never.test" in message
    # The background verifier leaves it be; the operator can look again by name.
    check(app.state.db, short, created["id"])
    assert fetch(api, created["id"])["status"] == "TIMEOUT"
    publish_ownership(api, zones, created["id"])
    check(app.state.db, short, created["id"])
    assert fetch(api, created["id"])["status"] == "TIMEOUT"
    check(app.state.db, short, created["id"], by_operator=True)
    assert fetch(api, created["id"])["status"] == "ACTIVE"


def test_a_record_with_another_value_all_along_fails(
    api: Api, zones: Zones, settings: Settings, app: FastAPI
) -> None:
    short = settings.model_copy(update={"dns_verify_window_seconds": 1})
    created = new_domain(api, "typo.test")
    zones.publish('_cf-email-sec-challenge.typo.test. 60 IN TXT "mailpolicy-verification=typo"')
    check(app.state.db, short, created["id"])
    pending = fetch(api, created["id"])
    assert pending["status"] == "PENDING"
    assert "none with the expected value" in pending["authorization"]["status_message"]
    time.sleep(1.1)
    check(app.state.db, short, created["id"])
    assert fetch(api, created["id"])["status"] == "FAILED"


def test_dns_that_cannot_be_asked_keeps_the_domain_pending_and_backs_off(
    api: Api, settings: Settings, app: FastAPI, silent_port: int
) -> None:
    silent = settings.model_copy(
        update={
            "dns_resolvers": f"127.0.0.1:{silent_port}",
            "dns_timeout": 0.3,
            "dns_retry_max_seconds": 90.0,
        }
    )
    created = new_domain(api, "unreachable.test")
    gaps = []
    for _ in range(3):
        report = check(app.state.db, silent, created["id"])
        assert report.error is not None
        stored = row(app, created["id"])
        assert stored.dns_due_at is not None
        assert stored.verification_checked_at is not None
        gaps.append(round((stored.dns_due_at - stored.verification_checked_at).total_seconds()))
    assert gaps == [5, 10, 20]
    pending = fetch(api, created["id"])
    assert pending["status"] == "PENDING"
    assert pending["spf_status"] is None  # nothing concluded from DNS that did not answer
    assert "DNS could not be asked" in pending["authorization"]["status_message"]
    assert "retrying" in pending["authorization"]["status_message"]


def test_the_backoff_stops_at_its_ceiling(settings: Settings) -> None:
    schedule = Schedule.of(settings.model_copy(update={"dns_retry_max_seconds": 90.0}))
    assert [schedule.backoff(n).total_seconds() for n in range(1, 8)] == [5, 10, 20, 40, 80, 90, 90]
    assert schedule.backoff(10_000).total_seconds() == 90  # no overflow, however long it waits


def test_a_domain_activated_by_hand_keeps_its_status(
    api: Api, zones: Zones, settings: Settings, app: FastAPI, verifier: Verifier
) -> None:
    zones.publish(
        'hand.test. 60 IN TXT "v=spf1 ?all"\n_dmarc.hand.test. 60 IN TXT "v=DMARC1; p=none"'
    )
    created = new_domain(api, "hand.test")
    with app.state.db.transaction() as session:
        activate(session, created["id"], CLI)
    assert api.get(PATH, created["id"], "verification").status_code == 204
    short = settings.model_copy(update={"dns_verify_window_seconds": 1})
    time.sleep(1.1)
    check(app.state.db, short, created["id"])  # no TXT record, window long gone
    verifier.run_once()
    active = fetch(api, created["id"])
    assert active["status"] == "ACTIVE"
    assert active["authorization"]["authorized"] is True
    assert active["spf_status"] == "neutral"
    assert active["dmarc_status"] == "none"


def test_spf_and_dmarc_are_refreshed_periodically(
    api: Api, zones: Zones, settings: Settings, app: FastAPI
) -> None:
    hourly = settings.model_copy(update={"dns_refresh_seconds": 1})
    created = new_domain(api, "refresh.test")
    with app.state.db.transaction() as session:
        activate(session, created["id"], CLI)
    zones.publish('refresh.test. 60 IN TXT "v=spf1 -all"')
    verifier = Verifier(hourly)
    try:
        assert verifier.run_once() == 1
        assert fetch(api, created["id"])["spf_status"] == "good"
        stored = row(app, created["id"])
        assert stored.dns_checked_at is not None
        assert stored.dns_due_at == stored.dns_checked_at + dt.timedelta(seconds=1)
        zones.withdraw("refresh.test")
        zones.publish('refresh.test. 60 IN TXT "v=spf1 +all"')
        run_until(verifier, lambda: fetch(api, created["id"])["spf_status"] == "open")
        zones.publish('_dmarc.refresh.test. 60 IN TXT "v=DMARC1; p=quarantine"')
        run_until(verifier, lambda: fetch(api, created["id"])["dmarc_status"] == "good")
    finally:
        verifier.stop()


def test_with_periodic_refresh_off_an_active_domain_is_read_once(
    api: Api, settings: Settings, app: FastAPI
) -> None:
    created = new_domain(api, "once.test")
    with app.state.db.transaction() as session:
        activate(session, created["id"], CLI)
    check(app.state.db, settings.model_copy(update={"dns_refresh_seconds": 0}), created["id"])
    stored = row(app, created["id"])
    assert stored.dns_checked_at is not None
    assert stored.dns_due_at is None


def test_a_claimed_domain_is_not_claimed_twice(api: Api, settings: Settings, app: FastAPI) -> None:
    created = new_domain(api, "claimed.test")
    schedule = Schedule.of(settings)
    first = claim_due(app.state.db, schedule)
    assert created["id"] in first
    other = Database(settings.database_url)  # another process on the same database
    try:
        assert created["id"] not in claim_due(other, schedule)
    finally:
        other.dispose()


def test_claims_made_at_once_never_overlap(api: Api, settings: Settings, app: FastAPI) -> None:
    ids = {new_domain(api, f"d{i}.claims.test")["id"] for i in range(40)}
    schedule = Schedule.of(settings)
    claimed: list[list[str]] = []
    databases = [Database(settings.database_url) for _ in range(4)]

    def claim(database: Database) -> None:
        claimed.append(claim_due(database, schedule, limit=15))

    threads = [threading.Thread(target=claim, args=(d,)) for d in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for database in databases:
        database.dispose()
    every = [i for batch in claimed for i in batch if i in ids]
    assert len(every) == len(set(every))  # no domain went to two claimants
    assert len(every) == 40  # 4 x 15 covers them all


def test_a_domain_deleted_while_it_is_checked(
    api: Api, settings: Settings, app: FastAPI, verifier: Verifier
) -> None:
    created = new_domain(api, "deleted.test")
    assert created["id"] in claim_due(app.state.db, Schedule.of(settings))
    assert api.delete(PATH, created["id"]).status_code == 200
    with pytest.raises(NotFound):
        check(app.state.db, settings, created["id"])
    verifier.run_once()  # nothing due, nothing raised


def test_becoming_active_is_a_settings_change(
    api: Api, zones: Zones, settings: Settings, app: FastAPI
) -> None:
    """The milter routes mail by ACTIVE domains: activation must reach it like any edit."""
    created = new_domain(api, "routes.test")
    with app.state.db.transaction(write=False) as session:
        version = settings_version(session, api.tenant.id)
    check(app.state.db, settings, created["id"])
    with app.state.db.transaction(write=False) as session:
        assert settings_version(session, api.tenant.id) == version  # nothing changed
    publish_ownership(api, zones, created["id"])
    check(app.state.db, settings, created["id"])
    with app.state.db.transaction(write=False) as session:
        assert settings_version(session, api.tenant.id) == version + 1


def test_a_check_never_changes_what_the_user_set(
    api: Api, zones: Zones, settings: Settings, app: FastAPI
) -> None:
    created = new_domain(api, "keep.test")
    publish_ownership(api, zones, created["id"])
    check(app.state.db, settings, created["id"])
    after = fetch(api, created["id"])
    for field in ("allowed_delivery_modes", "drop_dispositions", "lookback_hops", "modified_at"):
        assert after[field] == created[field], field
    assert iso(row(app, created["id"]).modified_at) == created["modified_at"]
