"""A domain whose status a DNS check changes leaves an audit event, by "verifier" in the
background and by "cli" when the operator asked (`mailpolicy domains verify`); checks that
change no status (a record still missing, SPF and DMARC read again) leave none. Against a real
DNS server."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI

from mailpolicy.config import Settings
from mailpolicy.dns.verifier import Verifier, check
from tests.support.api import Api
from tests.support.authority import Zones
from tests.support.dns import fetch, mailpolicy, new_domain, publish_ownership, run_until

AUDIT = "/client/v4/accounts/{account}/email-security/audit"


def domain_events(api: Api, domain_id: str) -> list[dict[str, Any]]:
    """The domain's events, oldest first."""
    response = api.client.get(
        AUDIT.format(account=api.tenant.id),
        params={"entry_id": domain_id, "direction": "asc"},
        headers=api.tenant.read,
    )
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["result"]
    return result


def test_the_verifier_making_a_domain_active_is_an_event(
    api: Api, zones: Zones, settings: Settings, app: FastAPI
) -> None:
    verifier = Verifier(settings)
    try:
        seen_by_the_verifier(api, zones, verifier, app)
    finally:
        verifier.stop()


def seen_by_the_verifier(api: Api, zones: Zones, verifier: Verifier, app: FastAPI) -> None:
    zones.publish('seen.test. 60 IN TXT "v=spf1 -all"')
    created = new_domain(api, "seen.test")
    assert verifier.run_once() == 1
    # Still pending (SPF read, no TXT record yet): no status changed, no event.
    pending = fetch(api, created["id"])
    assert pending["spf_status"] == "good"
    assert [e["action"] for e in domain_events(api, created["id"])] == ["create"]

    publish_ownership(api, zones, created["id"])
    run_until(verifier, lambda: fetch(api, created["id"])["status"] == "ACTIVE")
    active = fetch(api, created["id"])
    made, verified = domain_events(api, created["id"])
    assert made["action"] == "create"
    assert (verified["action"], verified["actor"], verified["resource"]) == (
        "verify",
        "verifier",
        "domains",
    )
    assert verified["batch_id"] is None
    assert verified["before"]["status"] == "PENDING"
    assert verified["before"]["authorization"]["authorized"] is False
    assert verified["after"]["status"] == "ACTIVE"
    assert verified["after"]["authorization"] == active["authorization"]
    # Checked again later: nothing changes, nothing is recorded.
    check(app.state.db, verifier.settings, created["id"])
    assert len(domain_events(api, created["id"])) == 2


def test_a_domain_timing_out_is_an_event_and_the_operator_looking_again_too(
    api: Api, zones: Zones, settings: Settings, app: FastAPI
) -> None:
    short = settings.model_copy(update={"dns_verify_window_seconds": 1})
    created = new_domain(api, "gone.test")
    check(app.state.db, short, created["id"])
    time.sleep(1.1)
    check(app.state.db, short, created["id"])
    assert fetch(api, created["id"])["status"] == "TIMEOUT"

    # The operator looks again by name: a new window starts (PENDING), then the record is found.
    again = mailpolicy(settings, "domains", "verify", created["id"])
    assert again.exit_code == 0, again.output
    publish_ownership(api, zones, created["id"])
    found = mailpolicy(settings, "domains", "verify", created["id"])
    assert found.exit_code == 0, found.output

    actions = [(e["action"], e["actor"]) for e in domain_events(api, created["id"])]
    assert actions == [
        ("create", actions[0][1]),
        ("verify", "verifier"),
        ("verify", "cli"),
        ("verify", "cli"),
    ]
    statuses = [
        (e["before"]["status"], e["after"]["status"]) for e in domain_events(api, created["id"])[1:]
    ]
    assert statuses == [("PENDING", "TIMEOUT"), ("TIMEOUT", "PENDING"), ("PENDING", "ACTIVE")]
