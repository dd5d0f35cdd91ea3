"""Registration dates by RDAP (mailpolicy.detect.rdap) against a real loopback RDAP server:
found and cached, asked for the registrable domain, deduplicated, bounded in time and in
queue, failures remembered for failure_ttl, redirects followed, bad replies harmless."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from mailpolicy.detect.rdap import MAX_BODY, RegistrationDates, registrable_domain
from tests.support.rdap import RdapServer, serving_rdap

REGISTERED = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
# Time for one loopback lookup to be answered; generous, only waited for when it is needed.
SETTLE = 5.0


@pytest.fixture
def rdap() -> Iterator[RdapServer]:
    with serving_rdap() as server:
        yield server


@pytest.fixture
def dates(rdap: RdapServer) -> Iterator[RegistrationDates]:
    # wait long enough that a lookup on loopback is answered within the call.
    with RegistrationDates(rdap.base_url, wait=SETTLE, timeout=SETTLE) as made:
        yield made


def eventually(check: object, timeout: float = SETTLE) -> None:
    """Polls `check()` until it is true, failing after `timeout` seconds."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.01)


def test_a_date_is_found_and_cached(rdap: RdapServer, dates: RegistrationDates) -> None:
    rdap.publish("example.com", registered=REGISTERED)
    assert dates.registered("example.com") == REGISTERED
    assert rdap.count("example.com") == 1
    assert rdap.log[0].path == "/domain/example.com"
    assert rdap.log[0].accept == "application/rdap+json"

    again = dates.registered("Example.COM.")
    assert again == REGISTERED
    assert again is not None
    assert again.tzinfo is not None
    assert again.utcoffset() == dt.timedelta(0)
    assert rdap.count("example.com") == 1  # the second call did no request
    stats = dates.stats()
    assert (stats["lookups"], stats["hits"], stats["misses"]) == (1, 1, 1)


def test_offsets_are_turned_into_utc(rdap: RdapServer, dates: RegistrationDates) -> None:
    rdap.publish(
        "offset.example",
        events=[{"eventAction": "registration", "eventDate": "2026-12-01T02:00:00+02:00"}],
    )
    # .example is special-use and never looked up; the registry side is checked on a .com.
    assert dates.registered("offset.example") is None
    rdap.publish(
        "offset.com",
        events=[
            {"eventAction": "registration", "eventDate": "2026-12-01T02:00:00.5+02:00"},
            {"eventAction": "expiration", "eventDate": "2027-12-01T00:00:00Z"},
        ],
    )
    assert dates.registered("offset.com") == dt.datetime(2026, 12, 1, 0, 0, 0, 500000, dt.UTC)
    assert rdap.count("offset.example") == 0


def test_subdomains_ask_for_the_registrable_domain(
    rdap: RdapServer, dates: RegistrationDates
) -> None:
    rdap.publish("example.co.uk", registered=REGISTERED)
    assert dates.registered("mail.shop.example.co.uk") == REGISTERED
    assert dates.registered("other.example.co.uk") == REGISTERED
    assert [r.path for r in rdap.log] == ["/domain/example.co.uk"]


def test_unicode_names_are_asked_as_a_labels(rdap: RdapServer, dates: RegistrationDates) -> None:
    rdap.publish("xn--bcher-kva.de", registered=REGISTERED)
    assert dates.registered("www.BÜCHER.de") == REGISTERED
    assert [r.path for r in rdap.log] == ["/domain/xn--bcher-kva.de"]


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "localhost",
        "com",
        "co.uk",
        "192.0.2.1",
        "[192.0.2.1]",
        "2001:db8::1",
        "[IPv6:2001:db8::1]",
        "host.local",
        "x.test",
        "a..b.com",
        "ex ample.com",
        "ex/ample.com",
        "exa%2fmple.com",
        "a" * 64 + ".com",
        "x" * 2000,
    ],
)
def test_names_that_are_not_looked_up(
    name: str, rdap: RdapServer, dates: RegistrationDates
) -> None:
    assert registrable_domain(name) is None
    assert dates.registered(name) is None
    assert rdap.log == []
    assert dates.stats()["misses"] == 0


def test_concurrent_callers_for_one_domain_cause_one_request(rdap: RdapServer) -> None:
    rdap.publish("example.com", registered=REGISTERED, delay=0.3)
    callers = 20
    answers: list[dt.datetime | None] = []
    start = threading.Barrier(callers)

    with RegistrationDates(rdap.base_url, wait=SETTLE, timeout=SETTLE, workers=4) as dates:

        def ask() -> None:
            start.wait()
            answers.append(dates.registered("mail.example.com"))

        threads = [threading.Thread(target=ask) for _ in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SETTLE * 2)
        assert answers == [REGISTERED] * callers
        assert rdap.count("example.com") == 1
        assert dates.stats()["lookups"] == 1


def test_a_slow_server_never_holds_the_caller_past_wait(rdap: RdapServer) -> None:
    rdap.publish("slow.com", registered=REGISTERED, delay=1.0)
    wait = 0.2
    with RegistrationDates(rdap.base_url, wait=wait, timeout=SETTLE) as dates:
        started = time.monotonic()
        assert dates.registered("slow.com") is None
        took = time.monotonic() - started
        assert took < wait + 0.5, took  # a bound on the behaviour, with room for a busy host
        # Another caller joins the lookup under way; it is not asked twice.
        assert dates.registered("slow.com") is None
        assert rdap.count("slow.com") == 1
        eventually(lambda: dates.stats()["pending"] == 0)
        assert dates.registered("slow.com") == REGISTERED
        assert rdap.count("slow.com") == 1


def test_wait_zero_never_waits(rdap: RdapServer) -> None:
    rdap.publish("example.com", registered=REGISTERED)
    with RegistrationDates(rdap.base_url, wait=0) as dates:
        assert dates.registered("example.com") is None
        eventually(lambda: dates.registered("example.com") == REGISTERED)
        assert rdap.count("example.com") == 1


def test_a_timeout_bounds_one_lookup(rdap: RdapServer) -> None:
    rdap.publish("slow.com", registered=REGISTERED, delay=3.0)
    with RegistrationDates(rdap.base_url, wait=SETTLE, timeout=0.3) as dates:
        started = time.monotonic()
        assert dates.registered("slow.com") is None
        assert time.monotonic() - started < 0.3 + 1.0
        assert dates.stats()["failures"] == 1


def test_not_found_is_remembered_for_failure_ttl_then_asked_again(rdap: RdapServer) -> None:
    failure_ttl = 0.5
    with RegistrationDates(
        rdap.base_url, wait=SETTLE, timeout=SETTLE, failure_ttl=failure_ttl
    ) as dates:
        asked = time.monotonic()
        assert dates.registered("new.com") is None
        assert rdap.count("new.com") == 1
        rdap.publish("new.com", registered=REGISTERED)
        assert dates.registered("new.com") is None  # remembered: not asked
        assert rdap.count("new.com") == 1
        assert time.monotonic() - asked < failure_ttl, "the host is too slow for this test"
        time.sleep(failure_ttl - (time.monotonic() - asked) + 0.1)
        assert dates.registered("new.com") == REGISTERED
        assert rdap.count("new.com") == 2
        assert dates.stats()["not_found"] == 1


def test_a_server_failure_is_remembered_for_failure_ttl_then_asked_again(
    rdap: RdapServer, caplog: pytest.LogCaptureFixture
) -> None:
    rdap.publish("broken.com", registered=REGISTERED, status=500)
    failure_ttl = 0.5
    with RegistrationDates(
        rdap.base_url, wait=SETTLE, timeout=SETTLE, failure_ttl=failure_ttl, ttl=60
    ) as dates:
        with caplog.at_level(logging.WARNING, logger="mailpolicy.detect"):
            assert dates.registered("broken.com") is None
            assert dates.registered("broken.com") is None
        assert rdap.count("broken.com") == 1
        assert dates.stats()["failures"] == 1
        assert any("HTTP 500" in r.getMessage() for r in caplog.records)
        rdap.publish("broken.com", registered=REGISTERED)
        time.sleep(failure_ttl + 0.1)
        # The new lookup may take longer than `wait` on a loaded machine: ask until it answers.
        eventually(lambda: dates.registered("broken.com") == REGISTERED)
        assert rdap.count("broken.com") == 2


def test_found_dates_expire_after_ttl(rdap: RdapServer) -> None:
    rdap.publish("example.com", registered=REGISTERED)
    with RegistrationDates(rdap.base_url, wait=SETTLE, timeout=SETTLE, ttl=0.3) as dates:
        assert dates.registered("example.com") == REGISTERED
        time.sleep(0.4)
        assert dates.registered("example.com") == REGISTERED
        assert rdap.count("example.com") == 2


def test_a_full_queue_drops_lookups_and_counts_them(
    rdap: RdapServer, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("one.com", "two.com", "three.com"):
        rdap.publish(name, registered=REGISTERED, delay=0.5)
    with (
        RegistrationDates(rdap.base_url, wait=0, timeout=SETTLE, workers=1, queue=1) as dates,
        caplog.at_level(logging.WARNING, logger="mailpolicy.detect"),
    ):
        assert dates.registered("one.com") is None  # in flight
        assert dates.registered("two.com") is None  # waiting
        assert dates.registered("three.com") is None  # dropped
        assert dates.stats()["dropped"] == 1
        assert dates.stats()["pending"] == 2
        assert any("dropped" in r.getMessage() for r in caplog.records)
        eventually(lambda: dates.stats()["pending"] == 0)
        assert rdap.count("three.com") == 0
        # Not remembered as an answer: asked once there is room.
        assert dates.registered("three.com") is None
        eventually(lambda: dates.registered("three.com") == REGISTERED)
        assert dates.stats()["lookups"] == 3


def test_redirects_are_followed(rdap: RdapServer, dates: RegistrationDates) -> None:
    rdap.publish("example.com", registered=REGISTERED, redirects=2)
    assert dates.registered("example.com") == REGISTERED
    assert [r.path for r in rdap.log] == [
        "/domain/example.com",
        "/hop/1/domain/example.com",
        "/hop/2/domain/example.com",
    ]
    assert {r.accept for r in rdap.log} == {"application/rdap+json"}


def test_a_redirector_in_front_of_every_domain(rdap: RdapServer, dates: RegistrationDates) -> None:
    rdap.redirect_all = 1
    rdap.publish("example.com", registered=REGISTERED)
    assert dates.registered("example.com") == REGISTERED
    assert dates.registered("unknown.com") is None  # the 404 after the redirect
    assert rdap.count("unknown.com") == 2
    assert dates.stats()["not_found"] == 1


def test_a_redirect_loop_is_a_failure(rdap: RdapServer, dates: RegistrationDates) -> None:
    rdap.publish("loop.com", registered=REGISTERED, redirects=1000)
    assert dates.registered("loop.com") is None
    assert 2 <= rdap.count("loop.com") <= 10
    assert dates.stats()["failures"] == 1


def test_refused_connections_are_failures() -> None:
    with serving_rdap() as gone:
        base = gone.base_url
    with RegistrationDates(base, wait=SETTLE, timeout=SETTLE) as dates:
        assert dates.registered("example.com") is None
        assert dates.stats()["failures"] == 1


def huge_object() -> bytes:
    """A valid domain object with a registration event, over MAX_BODY bytes."""
    reply = {
        "objectClassName": "domain",
        "ldhName": "huge.com",
        "events": [{"eventAction": "registration", "eventDate": "2026-11-30T12:00:00Z"}],
        "remarks": [{"description": ["x" * (MAX_BODY + 10)]}],
    }
    return json.dumps(reply).encode()


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param({"body": b"{not json"}, id="bad-json"),
        pytest.param({"body": b"\xff\xfe\x00garbage"}, id="not-text"),
        pytest.param({"body": b"[1, 2, 3]"}, id="not-an-object"),
        pytest.param({"body": b"[" * 100_000 + b"]" * 100_000}, id="deeply-nested"),
        pytest.param({"body": b'{"objectClassName": "domain"}'}, id="no-events"),
        pytest.param({"body": b'{"events": "soon"}'}, id="events-not-a-list"),
        pytest.param({"body": huge_object()}, id="huge"),
        pytest.param({"body": huge_object(), "length": False}, id="huge-without-length"),
        pytest.param({"body": huge_object(), "gzip": True}, id="huge-compressed"),
        pytest.param({"events": []}, id="no-registration-event"),
        pytest.param(
            {"events": [{"eventAction": "expiration", "eventDate": "2030-01-01T00:00:00Z"}]},
            id="only-other-events",
        ),
        pytest.param(
            {"events": [{"eventAction": "registration", "eventDate": "yesterday"}]},
            id="invalid-date",
        ),
        pytest.param(
            {"events": [{"eventAction": "registration", "eventDate": 20261130}]},
            id="date-not-a-string",
        ),
        pytest.param(
            {"events": [{"eventAction": "registration", "eventDate": "9999-12-31T23:59:59Z"}]},
            id="date-in-the-future",
        ),
        pytest.param(
            {"events": [{"eventAction": "registration", "eventDate": "0001-01-01T00:00:00+05:00"}]},
            id="date-out-of-range",
        ),
        pytest.param({"events": [None, 3, "registration"]}, id="events-not-objects"),
        pytest.param({"status": 429}, id="rate-limited"),
        pytest.param({"status": 204}, id="no-content"),
    ],
)
def test_bad_replies_give_none_without_raising(
    reply: dict[str, object], rdap: RdapServer, dates: RegistrationDates
) -> None:
    rdap.publish("bad.com", **reply)  # type: ignore[arg-type]
    assert dates.registered("bad.com") is None
    assert dates.registered("bad.com") is None  # and that answer is remembered
    assert rdap.count("bad.com") == 1
    stats = dates.stats()
    assert stats["failures"] + stats["undated"] == 1


def test_compressed_replies_are_read(rdap: RdapServer, dates: RegistrationDates) -> None:
    rdap.publish("zipped.com", registered=REGISTERED, gzip=True)
    assert dates.registered("zipped.com") == REGISTERED


def test_a_reply_without_length_is_read_to_its_end(
    rdap: RdapServer, dates: RegistrationDates
) -> None:
    rdap.publish("streamed.com", registered=REGISTERED, length=False)
    assert dates.registered("streamed.com") == REGISTERED


def test_the_latest_registration_is_the_current_one(
    rdap: RdapServer, dates: RegistrationDates
) -> None:
    rdap.publish(
        "dropped.com",
        events=[
            {"eventAction": "registration", "eventDate": "1999-01-01T00:00:00Z"},
            {"eventAction": "registration", "eventDate": "2026-11-30T12:00:00Z"},
            {"eventAction": "registration", "eventDate": "not a date"},
        ],
    )
    assert dates.registered("dropped.com") == REGISTERED


def test_failures_are_logged_at_most_once_a_minute(
    rdap: RdapServer, dates: RegistrationDates, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mailpolicy.detect"):
        for n in range(5):
            rdap.publish(f"broken{n}.com", status=500)
            assert dates.registered(f"broken{n}.com") is None
    assert dates.stats()["failures"] == 5
    messages = [r for r in caplog.records if r.name == "mailpolicy.detect"]
    assert len(messages) == 1
    assert "broken0.com" in messages[0].getMessage()


def test_any_input_is_harmless(rdap: RdapServer, dates: RegistrationDates) -> None:
    for value in [None, 42, b"example.com", "\x00.com", "\ud800.com", "é" * 300 + ".com"]:
        assert dates.registered(value) is None  # type: ignore[arg-type]


def test_close_is_prompt(rdap: RdapServer) -> None:
    rdap.publish("slow.com", registered=REGISTERED, delay=3.0)
    for name in ("waiting1.com", "waiting2.com"):
        rdap.publish(name, registered=REGISTERED)
    dates = RegistrationDates(rdap.base_url, wait=0, timeout=SETTLE, workers=1)
    assert dates.registered("slow.com") is None
    eventually(lambda: rdap.count("slow.com") == 1)  # on the wire
    assert dates.registered("waiting1.com") is None  # queued behind slow.com
    started = time.monotonic()
    dates.close()
    assert time.monotonic() - started < 1.0
    # Nothing is looked up any more, and what was waiting never is.
    started = time.monotonic()
    assert dates.registered("waiting2.com") is None
    assert time.monotonic() - started < 0.5
    time.sleep(0.2)
    assert rdap.count("waiting1.com") == 0
    assert rdap.count("waiting2.com") == 0
    assert dates.stats()["pending"] == 0
    dates.close()  # twice is harmless


def test_close_releases_callers_waiting_for_a_lookup(rdap: RdapServer) -> None:
    rdap.publish("slow.com", registered=REGISTERED, delay=3.0)
    rdap.publish("queued.com", registered=REGISTERED)
    dates = RegistrationDates(rdap.base_url, wait=SETTLE, timeout=SETTLE, workers=1)
    answers: list[dt.datetime | None] = []
    threads = [
        threading.Thread(target=lambda name=name: answers.append(dates.registered(name)))
        for name in ("slow.com", "queued.com")
    ]
    threads[0].start()
    eventually(lambda: rdap.count("slow.com") == 1)
    threads[1].start()
    eventually(lambda: dates.stats()["pending"] == 2)
    started = time.monotonic()
    dates.close()
    for thread in threads:
        thread.join(1.5)
    assert time.monotonic() - started < 1.5
    assert answers == [None, None]


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        RegistrationDates("ftp://rdap.example")
    with pytest.raises(ValueError, match="workers"):
        RegistrationDates("https://rdap.org", workers=0)
    with pytest.raises(ValueError, match="timeout"):
        RegistrationDates("https://rdap.org", timeout=0)
