"""What mailpolicy reads from a domain's DNS, asked of a real DNS server: the ownership record,
SPF status and DMARC status for every case the domains resource can report, and DNS that
cannot be asked (a resolver that never answers, SERVFAIL) told apart from DNS that says no."""

from __future__ import annotations

import time

import pytest

from mailpolicy.config import Settings
from mailpolicy.dns import records as dns_records
from tests.support.authority import Zones


@pytest.fixture
def ask(dns_settings: Settings) -> dns_records.Questions:
    return dns_records.resolver(dns_settings)


def spf_of(zones: Zones, ask: dns_records.Questions, *records: str) -> dns_records.Finding:
    zones.publish("\n".join(f'spf.test. 60 IN TXT "{r}"' for r in records))
    return dns_records.spf(ask, "spf.test")


def dmarc_of(zones: Zones, ask: dns_records.Questions, *records: str) -> dns_records.Finding:
    zones.publish("\n".join(f'_dmarc.dm.test. 60 IN TXT "{r}"' for r in records))
    return dns_records.dmarc(ask, "dm.test")


# ---- ownership ---------------------------------------------------------------------------


def test_ownership_found(zones: Zones, ask: dns_records.Questions) -> None:
    zones.publish(
        '_cf-email-sec-challenge.own.test. 60 IN TXT "google-site-verification=x"\n'
        '_cf-email-sec-challenge.own.test. 60 IN TXT "mailpolicy-verification=abc"'
    )
    found = dns_records.ownership(
        ask, "_cf-email-sec-challenge.own.test", "mailpolicy-verification=abc"
    )
    assert found.found


def test_ownership_missing(zones: Zones, ask: dns_records.Questions) -> None:
    zones.publish('own.test. 60 IN TXT "v=spf1 -all"')  # the domain exists; the record does not
    found = dns_records.ownership(
        ask, "_cf-email-sec-challenge.own.test", "mailpolicy-verification=abc"
    )
    assert not found.found
    assert found.other_values == 0
    assert "No TXT record at _cf-email-sec-challenge.own.test" in found.detail


def test_ownership_with_another_value(zones: Zones, ask: dns_records.Questions) -> None:
    zones.publish('_cf-email-sec-challenge.own.test. 60 IN TXT "mailpolicy-verification=old"')
    found = dns_records.ownership(
        ask, "_cf-email-sec-challenge.own.test", "mailpolicy-verification=abc"
    )
    assert not found.found
    assert found.other_values == 1
    assert "none with the expected value mailpolicy-verification=abc" in found.detail


def test_a_long_ownership_record_split_in_strings_is_joined(
    zones: Zones, ask: dns_records.Questions
) -> None:
    zones.publish('_cf-email-sec-challenge.own.test. 60 IN TXT "mailpolicy-" "verification=abc"')
    found = dns_records.ownership(
        ask, "_cf-email-sec-challenge.own.test", "mailpolicy-verification=abc"
    )
    assert found.found


# ---- SPF -----------------------------------------------------------------------------------


def test_spf_none(zones: Zones, ask: dns_records.Questions) -> None:
    zones.publish('spf.test. 60 IN TXT "some other text"')
    assert dns_records.spf(ask, "spf.test").status == "none"
    assert dns_records.spf(ask, "nowhere.test").status == "none"  # NXDOMAIN


@pytest.mark.parametrize(
    ("record", "status"),
    [
        ("v=spf1 ip4:192.0.2.0/24 -all", "good"),
        ("v=spf1 ip4:192.0.2.0/24 ~all", "good"),
        ("v=spf1 ip4:192.0.2.0/24 ?all", "neutral"),
        ("v=spf1 ip4:192.0.2.0/24 +all", "open"),
        ("v=spf1 ip4:192.0.2.0/24 all", "open"),
        ("v=spf1 ip4:192.0.2.0/24", "open"),
    ],
)
def test_spf_by_its_all(zones: Zones, ask: dns_records.Questions, record: str, status: str) -> None:
    finding = spf_of(zones, ask, record)
    assert finding.status == status, finding.detail


def test_spf_includes_are_followed_and_the_top_all_decides(
    zones: Zones, ask: dns_records.Questions
) -> None:
    zones.publish(
        'inc.test. 60 IN TXT "v=spf1 a mx ?all"\n'
        "inc.test. 60 IN A 192.0.2.1\n"
        "inc.test. 60 IN MX 10 mx.inc.test.\n"
        "mx.inc.test. 60 IN A 192.0.2.2"
    )
    finding = spf_of(zones, ask, "v=spf1 include:inc.test -all")
    assert finding.status == "good", finding.detail
    assert finding.detail == "'v=spf1 include:inc.test -all' ends in -all; 3 of 10 DNS lookups"


def test_spf_redirect_takes_the_targets_all(zones: Zones, ask: dns_records.Questions) -> None:
    zones.publish('policy.test. 60 IN TXT "v=spf1 ip4:192.0.2.0/24 ?all"')
    finding = spf_of(zones, ask, "v=spf1 redirect=policy.test")
    assert finding.status == "neutral"
    assert "ends in ?all (through redirect=policy.test)" in finding.detail


def test_spf_two_records_are_invalid(zones: Zones, ask: dns_records.Questions) -> None:
    finding = spf_of(zones, ask, "v=spf1 -all", "v=spf1 ip4:192.0.2.1 ~all")
    assert finding.status == "invalid"
    assert "2 SPF records" in finding.detail


def test_spf_with_eleven_lookups_is_invalid(zones: Zones, ask: dns_records.Questions) -> None:
    zones.publish("\n".join(f"h{i}.test. 60 IN A 192.0.2.{i}" for i in range(1, 12)))
    terms = " ".join(f"a:h{i}.test" for i in range(1, 12))
    finding = spf_of(zones, ask, f"v=spf1 {terms} -all")
    assert finding.status == "invalid"
    assert "11/10" in finding.detail


def test_spf_lookups_count_through_nested_includes(
    zones: Zones, ask: dns_records.Questions
) -> None:
    # 1 include at the top + 1 include + 5 a: terms below + 4 a: terms below that = 11.
    zones.publish("\n".join(f"h{i}.test. 60 IN A 192.0.2.{i}" for i in range(1, 12)))
    zones.publish(
        'one.test. 60 IN TXT "v=spf1 include:two.test a:h1.test a:h2.test a:h3.test '
        'a:h4.test a:h5.test ~all"\n'
        'two.test. 60 IN TXT "v=spf1 a:h6.test a:h7.test a:h8.test a:h9.test ~all"'
    )
    assert spf_of(zones, ask, "v=spf1 include:one.test -all").status == "invalid"
    zones.withdraw("spf.test")
    # Ten is allowed.
    assert spf_of(zones, ask, "v=spf1 a:h10.test -all").status == "good"


@pytest.mark.parametrize(
    "record",
    ["v=spf1 ip4:300.1.1.1 -all", "v=spf1 frobnicate:example.test -all", "v=spf1 ip6:zz -all"],
)
def test_spf_syntax_errors_are_invalid(
    zones: Zones, ask: dns_records.Questions, record: str
) -> None:
    finding = spf_of(zones, ask, record)
    assert finding.status == "invalid", finding.detail


# ---- DMARC ---------------------------------------------------------------------------------


def test_dmarc_none_without_a_record(zones: Zones, ask: dns_records.Questions) -> None:
    zones.publish('dm.test. 60 IN TXT "v=spf1 -all"')
    assert dns_records.dmarc(ask, "dm.test").status == "none"


@pytest.mark.parametrize(
    ("record", "status"),
    [
        ("v=DMARC1; p=reject", "good"),
        ("v=DMARC1; p=quarantine; pct=100; rua=mailto:reports@dm.test", "good"),
        ("v=DMARC1; p=none; rua=mailto:reports@dm.test", "none"),
        ("v=DMARC1; rua=mailto:reports@dm.test", "invalid"),  # no p
        ("v=DMARC1; p=banana", "invalid"),
        ("v=DMARC1 p=reject", "invalid"),  # no separator
        ("v=DMARC1; p=reject; fo=9", "invalid"),
    ],
)
def test_dmarc_status(zones: Zones, ask: dns_records.Questions, record: str, status: str) -> None:
    zones.publish("dm.test. 60 IN MX 10 mx.dm.test.\nmx.dm.test. 60 IN A 192.0.2.9")
    finding = dmarc_of(zones, ask, record)
    assert finding.status == status, finding.detail


def test_dmarc_two_records_are_invalid(zones: Zones, ask: dns_records.Questions) -> None:
    finding = dmarc_of(zones, ask, "v=DMARC1; p=reject", "v=DMARC1; p=none")
    assert finding.status == "invalid"
    assert "2 DMARC records" in finding.detail


# ---- DNS that cannot be asked ----------------------------------------------------------------


def test_a_resolver_that_never_answers(database_url: str, silent_port: int) -> None:
    ask = dns_records.resolver(
        Settings(
            database_url=database_url, dns_resolvers=f"127.0.0.1:{silent_port}", dns_timeout=0.5
        )
    )
    started = time.monotonic()
    for check in (
        lambda: dns_records.ownership(ask, "_cf-email-sec-challenge.x.test", "v"),
        lambda: dns_records.spf(ask, "x.test"),
        lambda: dns_records.dmarc(ask, "x.test"),
    ):
        with pytest.raises(dns_records.DnsUnavailable, match=r"x\.test"):
            check()
    assert time.monotonic() - started < 10  # bounded by the timeout, not hung


def test_servfail_is_not_an_answer(zones: Zones, ask: dns_records.Questions) -> None:
    zones.fail("broken.test")
    with pytest.raises(dns_records.DnsUnavailable, match="SERVFAIL"):
        dns_records.spf(ask, "broken.test")


def test_an_include_that_cannot_be_read_is_not_a_verdict(
    zones: Zones, ask: dns_records.Questions
) -> None:
    # checkdmarc reports an include it could not read as a missing record (a permanent error);
    # mailpolicy knows the lookup failed and concludes nothing.
    zones.fail("flaky.test")
    zones.publish('spf.test. 60 IN TXT "v=spf1 include:flaky.test -all"')
    with pytest.raises(dns_records.DnsUnavailable, match=r"flaky\.test"):
        dns_records.spf(ask, "spf.test")


def test_a_silent_resolver_first_then_a_working_one(
    database_url: str, silent_port: int, dns_port: int, zones: Zones
) -> None:
    zones.publish('spf.test. 60 IN TXT "v=spf1 -all"')
    ask = dns_records.resolver(
        Settings(
            database_url=database_url,
            dns_resolvers=f"127.0.0.1:{silent_port}, 127.0.0.1:{dns_port}",
            dns_timeout=3.0,
        )
    )
    assert dns_records.spf(ask, "spf.test").status == "good"


def test_a_missing_include_target_is_invalid(zones: Zones, ask: dns_records.Questions) -> None:
    # An include whose target answers "no SPF record" is a permanent error (RFC 7208 5.2).
    zones.publish('spf.test. 60 IN TXT "v=spf1 include:gone.test -all"')
    assert dns_records.spf(ask, "spf.test").status == "invalid"
