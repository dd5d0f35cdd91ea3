"""`mailpolicy domains verify` and `mailpolicy domains list`, and `mailpolicy serve` making a
domain ACTIVE with no step but publishing its record, all against a real DNS server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mailpolicy.config import Settings
from mailpolicy.dns.verifier import check
from tests.support.api import Api
from tests.support.authority import Zones
from tests.support.dns import fetch, mailpolicy, new_domain, publish_ownership
from tests.support.process import serve

PATH = "domains"


def test_verify_makes_a_published_domain_active(api: Api, zones: Zones, settings: Settings) -> None:
    zones.publish(
        'cli.test. 60 IN TXT "v=spf1 ip4:192.0.2.0/24 ~all"\n'
        '_dmarc.cli.test. 60 IN TXT "v=DMARC1; p=quarantine"'
    )
    created = new_domain(api, "cli.test")
    result = mailpolicy(settings, "domains", "verify", created["id"])
    assert result.exit_code == 0, result.output
    assert f"cli.test ({created['id']}): PENDING" in result.stdout
    assert "publish:" in result.stdout
    assert "_cf-email-sec-challenge.cli.test TXT" in result.stdout
    assert "SPF:       good" in result.stdout
    assert "DMARC:     good" in result.stdout

    publish_ownership(api, zones, created["id"])
    result = mailpolicy(settings, "domains", "verify", created["id"])
    assert result.exit_code == 0, result.output
    assert f"cli.test ({created['id']}): ACTIVE" in result.stdout
    assert "Found the TXT record" in result.stdout
    assert "publish:" not in result.stdout
    assert fetch(api, created["id"])["status"] == "ACTIVE"

    listed = mailpolicy(settings, "domains", "list", "--account", api.tenant.id)
    assert listed.exit_code == 0, listed.output
    line = next(ln for ln in listed.stdout.splitlines() if "cli.test" in ln)
    assert "ACTIVE" in line
    assert "good" in line


def test_verify_looks_again_for_a_domain_that_timed_out(
    api: Api, zones: Zones, settings: Settings, app: FastAPI
) -> None:
    created = new_domain(api, "late.test")
    short = settings.model_copy(update={"dns_verify_window_seconds": 1})
    check(app.state.db, short, created["id"])
    time.sleep(1.1)
    check(app.state.db, short, created["id"])
    assert fetch(api, created["id"])["status"] == "TIMEOUT"
    # Not published yet: a new window starts, and the background verifier takes it from here.
    result = mailpolicy(settings, "domains", "verify", created["id"])
    assert result.exit_code == 0, result.output
    assert "PENDING" in result.stdout
    assert fetch(api, created["id"])["status"] == "PENDING"
    publish_ownership(api, zones, created["id"])
    assert mailpolicy(settings, "domains", "verify", created["id"]).exit_code == 0
    assert fetch(api, created["id"])["status"] == "ACTIVE"


def test_verify_fails_when_dns_cannot_be_asked(
    api: Api, settings: Settings, silent_port: int
) -> None:
    created = new_domain(api, "silent.test")
    result = mailpolicy(
        settings,
        "domains",
        "verify",
        created["id"],
        MAILPOLICY_DNS_RESOLVERS=f"127.0.0.1:{silent_port}",
        MAILPOLICY_DNS_TIMEOUT="0.3",
    )
    assert result.exit_code == 1
    assert "DNS could not be asked" in result.stderr
    assert "Traceback" not in result.output
    assert fetch(api, created["id"])["status"] == "PENDING"


def test_verify_an_unknown_domain(settings: Settings) -> None:
    result = mailpolicy(settings, "domains", "verify", "00000000-0000-4000-8000-000000000000")
    assert result.exit_code == 1
    assert "No domain with id 00000000-0000-4000-8000-000000000000" in result.stderr


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("127.0.0.1:99999", "the port must be a number from 1 to 65535"),
        ("127.0.0.1,,10.0.0.1", "an empty entry"),
        ("[::1", "[address]:port"),
    ],
)
def test_bad_resolvers_are_named(settings: Settings, value: str, complaint: str) -> None:
    result = mailpolicy(settings, "domains", "list", MAILPOLICY_DNS_RESOLVERS=value)
    assert result.exit_code == 2
    assert "MAILPOLICY_DNS_RESOLVERS" in result.stderr
    assert complaint in result.stderr


def test_serve_activates_a_domain_once_its_record_is_published(
    tmp_path: Path, zones: Zones, dns_port: int
) -> None:
    """Onboarding as an administrator does it: create the domain, publish the record it
    names, and nothing else."""
    zones.publish(
        'onboard.test. 60 IN TXT "v=spf1 include:spf.mail.test -all"\n'
        'spf.mail.test. 60 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"\n'
        '_dmarc.onboard.test. 60 IN TXT "v=DMARC1; p=none"'
    )
    with serve(
        tmp_path,
        dns_resolvers=f"127.0.0.1:{dns_port}",
        dns_retry_max_seconds="0.5",
        dns_poll_seconds="0.1",
    ) as served:
        base = f"http://127.0.0.1:{served.port}{served.url('domains')}"
        headers = {"Authorization": f"Bearer {served.token}"}
        body: dict[str, Any] = {
            "domain": "onboard.test",
            "allowed_delivery_modes": ["DIRECT"],
            "drop_dispositions": ["MALICIOUS"],
            "ip_restrictions": [],
            "regions": ["GLOBAL"],
        }
        created = httpx.post(base, json=body, headers=headers)
        assert created.status_code == 201, created.text
        domain_id = created.json()["result"]["id"]

        def domain() -> dict[str, Any]:
            result: dict[str, Any] = httpx.get(f"{base}/{domain_id}", headers=headers).json()[
                "result"
            ]
            return result

        deadline = time.monotonic() + 15
        while domain()["spf_status"] is None:  # read in the background, soon after creation
            assert time.monotonic() < deadline, "SPF was never read"
            time.sleep(0.1)
        assert domain()["status"] == "PENDING"
        record = httpx.get(f"{base}/{domain_id}/verification", headers=headers).json()["result"]
        zones.publish(f'{record["txt_record_name"]}. 60 IN TXT "{record["txt_record_value"]}"')
        while domain()["status"] != "ACTIVE":
            assert time.monotonic() < deadline, "the published record was never noticed"
            time.sleep(0.1)
        active = domain()
        assert active["authorization"]["authorized"] is True
        assert active["spf_status"] == "good"
        assert active["dmarc_status"] == "none"
    assert "Traceback" not in served.log.read_text()
