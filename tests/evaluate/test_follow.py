"""Snapshots follow the change feed: after a write, evaluate applies that write's entries to the
snapshot it holds, and decides as a replica that builds its snapshot afresh from the database.

Through the public API on a real database (SQLite, and PostgreSQL under
MAILPOLICY_TEST_DATABASE=postgresql): random creates, edits, replaces, deletes and batches over
every resource the engine reads, each followed by the same messages evaluated by the server
that followed the changes and by a second server started cold on the same database.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from mailpolicy.app import create_app
from mailpolicy.config import Settings
from mailpolicy.evaluation.snapshots import follow
from mailpolicy.milter.policies import Policies
from tests.support.api import Api, Tenant, protect
from tests.support.resources import BY_PATH

SENDERS = [
    "alice@partner.example",
    "bob@mail.partner.example",
    "carol@other.example",
    "dave@tls1.example.com",
    "erin@partner0.example.com",
]
PATTERNS = [
    ("alice@partner.example", "EMAIL", False),
    ("partner.example", "DOMAIN", False),
    ("other.example", "DOMAIN", False),
    ("203.0.113.0/24", "IP", False),
    (r".*@mail\.partner\.example", "EMAIL", True),
]


def messages() -> list[dict[str, Any]]:
    found = []
    for number, sender in enumerate(SENDERS):
        found.append(
            {
                "envelope_from": sender,
                "header_from": f'"Person {number % 2}" <{sender}>',
                "recipients": ["alice@corp.example", f"person{number}@corp.example"],
                "client_ip": "203.0.113.7" if number % 2 else "198.51.100.9",
                "subject": f"invoice #{number}",
                "body": "see invoice 3 attached",
                "tls": {"protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384"},
            }
        )
    return found


def verdicts(client: TestClient, tenant: Tenant) -> list[Any]:
    answers = []
    for body in messages():
        response = client.post(
            f"/client/v4/accounts/{tenant.id}/email-security/evaluate",
            json=body,
            headers=tenant.read,
        )
        assert response.status_code == 200, response.text
        answers.append(response.json()["result"])
    return answers


@pytest.fixture
def replica(settings: Settings) -> Callable[[Tenant], list[Any]]:
    """The verdicts of a server started cold on the same database (its snapshot built afresh)."""

    def cold(tenant: Tenant) -> list[Any]:
        application = create_app(settings)
        try:
            with TestClient(application) as client:
                return verdicts(client, tenant)
        finally:
            application.state.db.dispose()

    return cold


def sender_entry(rng: random.Random, allow: bool) -> dict[str, Any]:
    pattern, pattern_type, is_regex = rng.choice(PATTERNS)
    body: dict[str, Any] = {"pattern": pattern, "pattern_type": pattern_type, "is_regex": is_regex}
    if allow:
        body.update(
            is_trusted_sender=rng.random() < 0.5,
            is_acceptable_sender=rng.random() < 0.5,
            is_exempt_recipient=rng.random() < 0.3,
            verify_sender=rng.random() < 0.5,
        )
        if not (body["is_trusted_sender"] or body["is_acceptable_sender"]):
            body["is_acceptable_sender"] = True
    return body


def new_body(rng: random.Random, resource: str, serial: int) -> dict[str, Any]:
    if resource in ("allow_policies", "block_senders"):
        return sender_entry(rng, resource == "allow_policies")
    # Few distinct entries, so that writes collide, edits move entries between keys, and the
    # messages below match them.
    body = dict(BY_PATH[resource].make(rng.randrange(6)))
    if resource == "impersonation_registry":
        body["provenance"] = "A1S_INTERNAL"  # a directory-synced entry cannot be edited
    return body


def change(rng: random.Random, api: Api, held: dict[str, list[str]], serial: int) -> None:
    """One random write through the API: a create, an edit, a replace, a delete or a batch."""
    resource = rng.choice(sorted(held))
    ids = held[resource]
    actions = ["create", "create", "edit", "delete"]
    if BY_PATH[resource].batch != "none":
        actions.append("batch")
    action = rng.choice(actions) if ids else "create"
    if action == "create":
        response = api.post(resource, json=new_body(rng, resource, serial))
        assert response.status_code in (200, 201, 409), response.text
        if response.status_code != 409:
            ids.append(response.json()["result"]["id"])
    elif action == "edit":
        entry_id = rng.choice(ids)
        body = new_body(rng, resource, serial)
        body.pop("domain", None)  # a protected domain's name is fixed
        response = api.patch(resource, entry_id, json=body)
        assert response.status_code in (200, 201, 409), response.text
    elif action == "delete":
        entry_id = ids.pop(rng.randrange(len(ids)))
        response = api.delete(resource, entry_id)
        assert response.status_code == 200, response.text
    else:
        deletes = [{"id": ids.pop(rng.randrange(len(ids)))}]
        body: dict[str, Any] = {"deletes": deletes}
        if BY_PATH[resource].batch == "full":
            patch = new_body(rng, resource, serial)
            patch.pop("domain", None)
            body["patches"] = [{"id": rng.choice(ids), **patch}] if ids else []
            body["puts"] = []
            body["posts"] = [new_body(rng, resource, serial), new_body(rng, resource, serial + 1)]
        response = api.post(resource, "batch", json=body)
        assert response.status_code in (200, 201, 409), response.text
        if response.status_code != 409:
            ids.extend(item["id"] for item in response.json()["result"].get("posts", []))
        else:
            ids.append(deletes[0]["id"])  # nothing of a refused batch was applied


def test_a_snapshot_followed_through_writes_decides_as_one_built_afresh(
    api: Api,
    app: FastAPI,
    client: TestClient,
    tenant: Tenant,
    replica: Callable[[Tenant], list[Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    rng = random.Random(7)
    protect(api.create, app.state.db, "corp.example", "SPAM", "MALICIOUS", "SPOOF")
    held: dict[str, list[str]] = {
        name: []
        for name in (
            "allow_policies",
            "block_senders",
            "trusted_domains",
            "impersonation_registry",
            "sending_domain_restrictions",
            "content_policies",
        )
    }
    for serial in range(12):
        change(rng, api, held, serial)
    caplog.set_level(logging.DEBUG, logger="mailpolicy.snapshots")
    assert verdicts(client, tenant) == replica(tenant)
    caplog.clear()
    for serial in range(100, 130):
        change(rng, api, held, serial * 3)
        assert verdicts(client, tenant) == replica(tenant)
    served = [r.getMessage() for r in caplog.records if "followed" in r.getMessage()]
    # Every write after the first evaluation was followed by the serving app, none rebuilt.
    assert served, "no write was followed"
    rebuilt = [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("built") and "(held none)" not in r.getMessage()
    ]
    assert rebuilt == []


def test_a_version_the_feed_cannot_account_for_is_built_afresh(
    api: Api,
    app: FastAPI,
    client: TestClient,
    tenant: Tenant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    protect(api.create, app.state.db, "corp.example", "SPAM", "MALICIOUS")
    api.create("block_senders", sender_entry(random.Random(1), allow=False))
    verdicts(client, tenant)  # the server now holds the account's snapshot
    # A write whose event carries no version, as written before the feed existed.
    api.create(
        "block_senders",
        {"pattern": "carol@other.example", "pattern_type": "EMAIL", "is_regex": False},
    )
    with app.state.db.transaction() as session:
        session.execute(
            text("UPDATE audit_events SET settings_version = NULL WHERE account_id = :a"),
            {"a": tenant.id},
        )
    caplog.set_level(logging.DEBUG, logger="mailpolicy.snapshots")
    answers = verdicts(client, tenant)
    assert any(r.getMessage().startswith("built") for r in caplog.records)
    carol = answers[2]["recipients"][0]
    assert carol["disposition"] == "MALICIOUS"
    assert any(reason["resource"] == "block_senders" for reason in carol["reasons"])


def test_the_milter_follows_the_feed_too(
    api: Api, client: TestClient, tenant: Tenant, app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    protect(api.create, app.state.db, "corp.example", "MALICIOUS")
    policies = Policies(app.state.db, interval=60)
    assert policies.refresh()
    before = policies.snapshot(tenant.id)
    assert before is not None
    assert "carol@other.example" not in before.sender_emails
    caplog.set_level(logging.DEBUG, logger="mailpolicy.snapshots")
    api.create(
        "block_senders",
        {"pattern": "carol@other.example", "pattern_type": "EMAIL", "is_regex": False},
    )
    assert policies.refresh()
    after = policies.snapshot(tenant.id)
    assert after is not None
    assert after is not before
    assert "carol@other.example" in after.sender_emails
    assert any("followed 1" in r.getMessage() for r in caplog.records)
    assert not any(r.getMessage().startswith("built") for r in caplog.records)
    # The snapshot it follows is what a build from the database gives.
    with app.state.db.transaction(write=False) as session:
        fresh = follow(session, tenant.id, None)
    assert fresh.snapshot.sender_emails.keys() == after.sender_emails.keys()
    assert fresh.version == policies.state.versions[tenant.id]
    # A write to no protected domain leaves the routes as they were; a domain made active
    # routes its mail to the account at the next refresh.
    routes = policies.state.routes
    assert policies.route("bob@partner.example") is None
    protect(api.create, app.state.db, "partner.example", "MALICIOUS")
    assert policies.refresh()
    assert policies.state.routes is not routes
    found = policies.route("bob@partner.example")
    assert found is not None
    assert found.account_id == tenant.id
    routes = policies.state.routes
    api.create(
        "block_senders",
        {"pattern": "dan@other.example", "pattern_type": "EMAIL", "is_regex": False},
    )
    assert policies.refresh()
    assert policies.state.routes is routes
