"""The investigate API, submissions and what-if over message records, through HTTP.

Records are made by the milter's own decision code on the test's settings
(tests/support/messages.py); the real-Postfix story is in tests/mailflow/test_investigate.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from mailpolicy.access.accounts import Account
from mailpolicy.audit.events import AuditEvent
from mailpolicy.db import Database
from mailpolicy.engine import evaluate
from mailpolicy.evaluation.snapshots import load_snapshot
from mailpolicy.messages import recorder as recorder_module
from mailpolicy.messages.records import MessageRecipient, MessageRecord, RecordDraft
from mailpolicy.messages.whatif import message_of
from tests.support.api import Api, Tenant, assert_error, protect
from tests.support.messages import record_message

BASE = "/client/v4/accounts/{}/email-security"


def url(tenant: Tenant, *parts: str) -> str:
    return "/".join([BASE.format(tenant.id), *parts])


@pytest.fixture
def corp(api: Api, app: FastAPI, tenant: Tenant) -> str:
    """An active protected domain of the tenant's own (dropping MALICIOUS), and a blocked
    sender domain."""
    domain = f"corp-{tenant.id[:10]}.example"
    protect(api.create, app.state.db, domain, "MALICIOUS")
    api.create(
        "block_senders", {"pattern": "bad.example", "pattern_type": "DOMAIN", "is_regex": False}
    )
    return domain


@pytest.fixture
def mail(app: FastAPI, corp: str) -> dict[str, RecordDraft]:
    database: Database = app.state.db
    to = [f"ann@{corp}"]
    (ok,) = record_message(database, "friend@ok.example", to, subject="Lunch on Friday")
    (spam,) = record_message(database, "promo@bad.example", to, subject="never seen")
    (held,) = record_message(
        database, "boss@bad.example", to, drop_action="quarantine", subject="Invoice"
    )
    return {"ok": ok, "spam": spam, "held": held}


def listed(client: TestClient, tenant: Tenant, **params: Any) -> list[str]:
    response = client.get(url(tenant, "investigate"), params=params, headers=tenant.read)
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["result"]]


def test_a_record_answers_in_cloudflares_shape(
    client: TestClient, tenant: Tenant, mail: dict[str, RecordDraft], corp: str
) -> None:
    answer = client.get(url(tenant, "investigate", mail["ok"].id), headers=tenant.read)
    assert answer.status_code == 200, answer.text
    found = answer.json()["result"]
    assert found["postfix_id"] == mail["ok"].postfix_id
    assert found["client_recipients"] == [f"ann@{corp}"]
    assert found["final_disposition"] == "NONE"
    assert found["delivery_status"] == ["queued"]
    assert found["subject"] == "Lunch on Friday"
    assert found["from"] == "friend@ok.example"
    assert found["smtp_previous_hop_ip"] == "198.51.100.7"
    assert found["ts"] == found["scanned_at"]
    assert found["is_quarantined"] is False
    # By the Postfix queue id too (the newest record with it).
    by_queue = client.get(url(tenant, "investigate", mail["ok"].postfix_id), headers=tenant.read)
    assert by_queue.json()["result"]["id"] in {m.id for m in mail.values()}


def test_a_setting_that_decided_for_several_recipients_is_one_finding(
    app: FastAPI, client: TestClient, tenant: Tenant, corp: str
) -> None:
    (held,) = record_message(
        app.state.db,
        "boss@bad.example",
        [f"ann@{corp}", f"bob@{corp}"],
        drop_action="quarantine",
        subject="Two recipients",
    )
    answer = client.get(url(tenant, "investigate", held.id, "detections"), headers=tenant.read)
    assert answer.status_code == 200, answer.text
    findings = answer.json()["result"]["findings"]
    # The blocked sender matched the envelope and the header sender: two findings, each once,
    # though it decided for both recipients; so did the protected domain.
    matched = [(f["name"].split("/")[0], f["field"]) for f in findings]
    assert sorted(matched) == [
        ("block_senders", "envelope_from"),
        ("block_senders", "header_from"),
        ("domains", "recipient"),
    ], findings


def test_filters(
    client: TestClient, tenant: Tenant, mail: dict[str, RecordDraft], corp: str
) -> None:
    ok, spam, held = mail["ok"].id, mail["spam"].id, mail["held"].id
    assert set(listed(client, tenant)) == {ok, spam, held}
    assert listed(client, tenant, sender="friend@ok.example") == [ok]
    assert set(listed(client, tenant, sender="bad.example")) == {spam, held}
    assert listed(client, tenant, sender="nobody@bad.example") == []
    assert set(listed(client, tenant, recipient=corp)) == {ok, spam, held}
    assert listed(client, tenant, subject="friday lunch") == [ok]  # words, any order
    assert listed(client, tenant, query="INVOICE boss") == [held]
    assert listed(client, tenant, query="100%") == []  # a literal, not a LIKE pattern
    assert set(listed(client, tenant, final_disposition="MALICIOUS")) == {spam, held}
    assert listed(client, tenant, delivery_status="quarantined") == [held]
    assert listed(client, tenant, action="refused_at_rcpt") == [spam]
    assert set(listed(client, tenant, detections_only="true")) == {spam, held}
    assert listed(client, tenant, message_id=f"<{mail['ok'].message_id.strip('<>')}>") != []
    assert listed(client, tenant, alert_id="anything") == []
    assert listed(client, tenant, domain="ok.example") == [ok]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    past = "2020-01-01T00:00:00Z"
    assert listed(client, tenant, end=past) == []
    assert set(listed(client, tenant, start=past, end=future)) == {ok, spam, held}


def test_pages_and_cursors_walk_every_record_once(
    client: TestClient, tenant: Tenant, mail: dict[str, RecordDraft]
) -> None:
    every = listed(client, tenant)
    by_page = [listed(client, tenant, per_page=1, page=n) for n in (1, 2, 3, 4)]
    assert [p for page in by_page for p in page] == every
    walked: list[str] = []
    params: dict[str, Any] = {"per_page": 2}
    while True:
        body = client.get(url(tenant, "investigate"), params=params, headers=tenant.read).json()
        walked += [r["id"] for r in body["result"]]
        assert body["result_info"]["total_count"] == 3
        if body["result_info"]["cursor"] is None:
            break
        params["cursor"] = body["result_info"]["cursor"]
    assert walked == every


@pytest.mark.parametrize(
    ("params", "pointer", "words"),
    [
        ({"start": "2999-01-01T00:00:00Z"}, "/start", "future"),
        ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "/end", "later"),
        ({"start": "yesterday"}, "/start", "RFC 3339"),
        ({"cursor": "!!"}, "/cursor", "previous page"),
        ({"metric": "sender"}, "/metric", "not supported"),
        ({"final_disposition": "MALICIOUS-BEC"}, "/final_disposition", ""),
        ({"per_page": 1001}, "/per_page", ""),
        ({"sendr": "x"}, "/sendr", ""),
        ({"action": "bounced"}, "/action", ""),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(
    client: TestClient, tenant: Tenant, params: dict[str, Any], pointer: str, words: str
) -> None:
    response = client.get(url(tenant, "investigate"), params=params, headers=tenant.read)
    assert_error(response, 400, pointer, contains=words)


def test_another_account_sees_none_of_it(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, mail: dict[str, RecordDraft]
) -> None:
    assert listed(client, other_tenant) == []
    for record in mail.values():
        response = client.get(
            url(other_tenant, "investigate", record.id), headers=other_tenant.read
        )
        assert_error(response, 404, "/investigate_id")
    # A token of one account cannot name the other's.
    response = client.get(url(tenant, "investigate"), headers=other_tenant.read)
    assert_error(response, 403)


def test_raw_preview_and_their_action_log(
    client: TestClient, tenant: Tenant, mail: dict[str, RecordDraft]
) -> None:
    held = mail["held"].id
    raw = client.get(url(tenant, "investigate", held, "raw"), headers=tenant.read)
    assert raw.status_code == 200, raw.text
    assert "Subject: Invoice" in raw.json()["result"]["raw"]
    preview = client.post(
        url(tenant, "investigate", "preview"), json={"id": held}, headers=tenant.read
    )
    assert preview.status_code == 200, preview.text
    missing = client.get(url(tenant, "investigate", mail["ok"].id, "raw"), headers=tenant.read)
    assert_error(missing, 404, "/investigate_id", contains="only for quarantined")
    found = client.get(url(tenant, "investigate", held), headers=tenant.read).json()["result"]
    assert [e["operation"] for e in found["action_log"]] == ["PREVIEW", "PREVIEW"]
    assert found["action_log"][0]["properties"]["requested_by"].startswith("token:")
    assert listed(client, tenant, message_action="PREVIEW") == [held]


def test_a_copy_cut_at_the_cap_previews_but_is_no_raw(
    app: FastAPI, client: TestClient, tenant: Tenant, corp: str
) -> None:
    (big,) = record_message(
        app.state.db,
        "boss@bad.example",
        [f"ann@{corp}"],
        drop_action="quarantine",
        text="x" * 5000,
        raw_cap=1000,
    )
    raw = client.get(url(tenant, "investigate", big.id, "raw"), headers=tenant.read)
    assert_error(raw, 409, "/investigate_id", contains="QUARANTINE_MAX_BYTES")
    preview = client.get(url(tenant, "investigate", big.id, "preview"), headers=tenant.read)
    assert preview.status_code == 200, preview.text


def test_release_checks_every_id_before_releasing_any(
    client: TestClient, tenant: Tenant, mail: dict[str, RecordDraft]
) -> None:
    release = url(tenant, "investigate", "release")
    both = [mail["held"].id, mail["ok"].id]
    assert_error(
        client.post(release, json={"ids": both}, headers=tenant.write),
        409,
        "/ids/1",
        "not in quarantine",
    )
    assert_error(
        client.post(release, json={"ids": [mail["held"].id, "nope"]}, headers=tenant.write),
        404,
        "/ids/1",
    )
    assert_error(client.post(release, json={"ids": []}, headers=tenant.write), 400, "/ids")
    assert_error(
        client.post(release, json={"ids": both}, headers=tenant.read), 403, contains="read"
    )
    held = client.get(url(tenant, "investigate", mail["held"].id), headers=tenant.read).json()[
        "result"
    ]
    assert held["is_quarantined"] is True
    assert held["action_log"] == []


def test_release_through_a_postfix_that_cannot_reports_the_failure(
    app: FastAPI, client: TestClient, tenant: Tenant, mail: dict[str, RecordDraft]
) -> None:
    """The queue id is not in this machine's hold queue: the answer says so per message."""
    from mailpolicy.messages.release import PostfixQueue

    api_app = next(r.app for r in app.routes if getattr(r, "path", "") == "/client/v4")  # type: ignore[attr-defined]
    before = api_app.state.postfix
    api_app.state.postfix = PostfixQueue(config_dir="/nonexistent/postfix")
    try:
        response = client.post(
            url(tenant, "investigate", "release"), json=[mail["held"].id], headers=tenant.write
        )
    finally:
        api_app.state.postfix = before
    assert response.status_code == 200, response.text
    (result,) = response.json()["result"]
    assert result["delivered"] == []
    assert result["failed"] == [mail["held"].recipients[0].address]
    assert "did not release" in result["error"] or "not installed" in result["error"]
    held = client.get(url(tenant, "investigate", mail["held"].id), headers=tenant.read).json()[
        "result"
    ]
    assert held["is_quarantined"] is True
    assert [(e["operation"], e["status"]) for e in held["action_log"]] == [
        ("QUARANTINE_RELEASE", "failed")
    ]


def test_reclassify_makes_a_submission_and_an_audit_event(
    app: FastAPI, client: TestClient, tenant: Tenant, mail: dict[str, RecordDraft]
) -> None:
    target = url(tenant, "investigate", mail["spam"].id, "reclassify")
    assert_error(
        client.post(target, json={"expected_disposition": "GOOD"}, headers=tenant.write),
        400,
        "/expected_disposition",
    )
    assert_error(
        client.post(target, json={"expected_disposition": "NONE"}, headers=tenant.read), 403
    )
    done = client.post(target, json={"expected_disposition": "NONE"}, headers=tenant.write)
    assert done.status_code == 202, done.text
    submissions = client.get(url(tenant, "submissions"), headers=tenant.read).json()["result"]
    assert [(s["original_disposition"], s["requested_disposition"]) for s in submissions] == [
        ("MALICIOUS", "NONE")
    ]
    assert (
        client.get(
            url(tenant, "submissions"),
            params={"requested_disposition": "SPAM"},
            headers=tenant.read,
        ).json()["result"]
        == []
    )
    with app.state.db.transaction(write=False) as session:
        actions = session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.account_id == tenant.id, AuditEvent.resource == "messages"
            )
        ).all()
    assert actions == ["reclassify"]


def test_move_is_refused_with_the_reason(
    client: TestClient, tenant: Tenant, mail: dict[str, RecordDraft]
) -> None:
    response = client.post(
        url(tenant, "investigate", mail["ok"].id, "move"),
        json={"destination": "Inbox"},
        headers=tenant.write,
    )
    assert_error(response, 400, "/destination", contains="no access to mailboxes")


# ---- what if ---------------------------------------------------------------------------------


def _version(app: FastAPI, tenant: Tenant) -> int:
    with app.state.db.transaction(write=False) as session:
        return int(
            session.scalar(select(Account.settings_version).where(Account.id == tenant.id)) or 0
        )


def test_what_if_matches_the_engine_and_applies_nothing(
    app: FastAPI, client: TestClient, api: Api, tenant: Tenant, mail: dict[str, RecordDraft]
) -> None:
    blocked = api.get("block_senders").json()["result"]
    version = _version(app, tenant)
    proposal = {
        "block_senders": {
            "deletes": [{"id": blocked[0]["id"]}],
            "posts": [{"pattern": "ok.example", "pattern_type": "DOMAIN", "is_regex": False}],
        }
    }
    response = client.post(url(tenant, "whatif"), json=proposal, headers=tenant.write)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["examined"] == 3
    assert _version(app, tenant) == version  # what-if itself wrote nothing
    # Checked against the engine: the same records, decided with the change applied for real.
    with app.state.db.transaction(write=False) as session:
        before = load_snapshot(session, tenant.id)
    done = client.post(
        url(tenant, "settings", "block_senders", "batch"),
        json={"patches": [], "puts": [], **proposal["block_senders"]},
        headers=tenant.write,
    )
    assert done.status_code == 200, done.text
    with app.state.db.transaction(write=False) as session:
        after = load_snapshot(session, tenant.id)
        expected = {}
        for record in session.scalars(
            select(MessageRecord).where(MessageRecord.account_id == tenant.id)
        ):
            rows = session.scalars(
                select(MessageRecipient).where(MessageRecipient.record_id == record.id)
            ).all()
            message = message_of(record, tuple(r.address for r in rows))
            old, new = evaluate(message, before).recipients, evaluate(message, after).recipients
            changed = [
                (o.disposition, o.action, n.disposition, n.action)
                for o, n in zip(old, new, strict=True)
                if (o.disposition, o.action) != (n.disposition, n.action)
            ]
            if changed:
                expected[record.id] = changed
    reported = {
        m["id"]: [
            (
                r["before"]["disposition"],
                r["before"]["action"],
                r["after"]["disposition"],
                r["after"]["action"],
            )
            for r in m["recipients"]
        ]
        for m in result["messages"]
    }
    assert reported == expected
    assert set(expected) == {mail["ok"].id, mail["spam"].id, mail["held"].id}


def test_what_if_refuses_bad_proposals_with_their_pointer(
    app: FastAPI, client: TestClient, tenant: Tenant, mail: dict[str, RecordDraft]
) -> None:
    version = _version(app, tenant)
    target = url(tenant, "whatif")
    bad_item = {
        "block_senders": {"posts": [{"pattern": "x", "pattern_type": "EMAIL", "is_regex": False}]}
    }
    assert_error(
        client.post(target, json=bad_item, headers=tenant.write),
        400,
        "/block_senders/posts/0/pattern",
    )
    unknown = {"block_senders": {"deletes": [{"id": "00000000-0000-4000-8000-000000000000"}]}}
    assert_error(
        client.post(target, json=unknown, headers=tenant.write), 404, "/block_senders/deletes/0/id"
    )
    assert_error(client.post(target, json={"nonsense": {}}, headers=tenant.write), 400, "/nonsense")
    assert_error(client.post(target, json={}, headers=tenant.read), 403)
    too_long = {"start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"}
    assert_error(
        client.post(target, json={}, params=too_long, headers=tenant.write), 400, "/start", "31"
    )
    assert _version(app, tenant) == version
    with app.state.db.transaction(write=False) as session:
        events = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.actor == "whatif")
        )
    assert events == 0


def test_expired_records_are_pruned_in_batches(
    app: FastAPI,
    client: TestClient,
    tenant: Tenant,
    mail: dict[str, RecordDraft],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recorder_module, "PRUNE_BATCH", 2)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    removed = recorder_module.prune(app.state.db, 30, now=later)
    assert removed >= 3
    assert listed(client, tenant, start="2020-01-01T00:00:00Z") == []
    with app.state.db.transaction(write=False) as session:
        left = session.scalar(
            select(func.count())
            .select_from(MessageRecipient)
            .where(MessageRecipient.account_id == tenant.id)
        )
    assert left == 0


SUBJECTS = [
    "Invoice 42",
    "INVOICE for March",
    "meeting notes",
    "Résumé ÜBER alles",
    "100% off today",
    "a_b and c",
    'quote "this"',
]
WORDS = [
    "invoice",
    "voic",
    "42",
    "über",
    "ÜBER",
    "100%",
    "_b",
    "notes meeting",
    "invoice march",
    '"this"',
    "zzz",
    "a",
]


@pytest.mark.parametrize("word", WORDS)
def test_word_filters_answer_what_a_scan_answers(
    app: FastAPI, client: TestClient, tenant: Tenant, corp: str, word: str
) -> None:
    """`subject` and `query` are served by a trigram index (SQLite) or pg_trgm (PostgreSQL);
    the answers are the substring matches a reader would find, case ignored in all of
    Unicode, whatever the index holds."""
    made = [
        record_message(app.state.db, f"s{n}@ok.example", [f"ann@{corp}"], subject=subject)[0]
        for n, subject in enumerate(SUBJECTS)
    ]
    words = word.lower().split()
    by_subject = {d.id for d in made if all(w in (d.subject or "").lower() for w in words)}
    assert set(listed(client, tenant, subject=word)) == by_subject
    by_query = {
        d.id
        for d in made
        if all(
            any(w in (v or "").lower() for v in (d.subject, d.envelope_from, d.message_id))
            or w in f"ann@{corp}"
            for w in words
        )
    }
    assert set(listed(client, tenant, query=word)) == by_query


def test_pruned_records_leave_the_search_index(
    app: FastAPI, client: TestClient, tenant: Tenant, corp: str
) -> None:
    (old,) = record_message(app.state.db, "s@ok.example", [f"ann@{corp}"], subject="unique-xyzzy")
    assert listed(client, tenant, query="xyzzy") == [old.id]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    assert recorder_module.prune(app.state.db, 30, now=later) >= 1
    with app.state.db.transaction(write=False) as session:
        if session.get_bind().dialect.name == "sqlite":
            left = session.connection().exec_driver_sql(
                "SELECT count(*) FROM message_search WHERE record_id = ?", (old.id,)
            )
            assert left.scalar() == 0
    assert listed(client, tenant, query="xyzzy", start="2020-01-01T00:00:00Z") == []


@pytest.mark.parametrize("path", ["release", "preview", "move"])
def test_another_method_on_a_fixed_path_is_405_naming_post(
    client: TestClient, tenant: Tenant, path: str
) -> None:
    response = client.get(url(tenant, "investigate", path), headers=tenant.read)
    assert_error(response, 405)
    assert response.headers["allow"] == "POST"
