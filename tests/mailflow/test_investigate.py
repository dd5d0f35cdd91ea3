"""Every message accounted for: real SMTP through Postfix and the milter, then the records read
back through the official SDKs (Python here, TypeScript from investigate.flow.mjs), strict
response validation on.

One story, in order: four messages (delivered, refused at RCPT, a recipient removed,
quarantined) sent by the tests; their records, filters, trace, detections, raw and preview;
the quarantined one released through Postfix's hold queue to smtp-sink; a second release
refused; another account sees none of it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cloudflare import Cloudflare, ConflictError, NotFoundError

from tests.support.api import LiveServer, make_tenant, serving
from tests.support.mailflow import (
    RECORD_WAIT,
    Account,
    MailSystem,
    Process,
    eventually,
    message,
    send,
    settle,
)

NODE_FLOW = Path(__file__).resolve().parents[1] / "sdk_ts" / "investigate.flow.mjs"


@pytest.fixture(scope="module")
def server(mail: MailSystem) -> Iterator[LiveServer]:
    with serving(mail.app) as live:
        yield live


def sdk(server: LiveServer, token: str) -> Cloudflare:
    return Cloudflare(
        api_token=token, base_url=server.base_url, max_retries=0, _strict_response_validation=True
    )


def wait_for_records(client: Cloudflare, account_id: str, count: int, **filters: Any) -> list[Any]:
    deadline = time.monotonic() + RECORD_WAIT
    while True:
        found = list(client.email_security.investigate.list(account_id=account_id, **filters))
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.fixture(scope="module")
def story(mail: MailSystem, server: LiveServer) -> dict[str, Any]:
    """The four messages, sent once for the module, and what the tests need to find them."""
    account = Account(mail, make_tenant(mail.app.state.db, mail.unique("investigate")))
    strict = account.protect(mail.unique("strict") + ".example", "MALICIOUS")
    lax = account.protect(mail.unique("lax") + ".example")
    blocked = account.create(
        "block_senders", {"pattern": "spam.example", "pattern_type": "DOMAIN", "is_regex": False}
    )
    wire = account.create(
        "content_policies",
        {"name": "Wire", "pattern": "wire transfer", "targets": ["BODY"], "enabled": True},
    )
    settle()
    ann, bob = f"ann@{strict['domain']}", f"bob@{lax['domain']}"
    subjects = {name: mail.unique(f"{name}-") for name in ("ok", "spam", "mixed", "held")}
    ok = send(
        mail.postfix.port(),
        "friend@partner.example",
        [ann],
        message(subjects["ok"], "friend@partner.example", [ann], display_name="A Friend"),
    )
    assert ok.data is not None, ok
    assert ok.data[0] == 250, ok
    spam = send(
        mail.postfix.port(),
        "promo@mail.spam.example",
        [ann],
        message(subjects["spam"], "promo@mail.spam.example", [ann]),
    )
    assert spam.rcpt[ann][0] == 550, spam
    assert spam.data is None, spam
    text = "Please make the wire transfer today."
    mixed = send(
        mail.postfix.port(),
        "boss@vendor.example",
        [ann, bob],
        message(subjects["mixed"], "boss@vendor.example", [ann, bob], text=text),
    )
    assert mixed.data is not None, mixed
    assert mixed.data[0] == 250, mixed
    held = send(
        mail.postfix.port("quarantine"),
        "boss@vendor.example",
        [ann],
        message(subjects["held"], "boss@vendor.example", [ann], text=text),
    )
    assert held.data is not None, held
    assert held.data[0] == 250, held
    delivered = mail.postfix.wait_delivered(subjects["mixed"])
    assert delivered.recipients == [bob]  # ann's domain drops MALICIOUS: she was removed
    return {
        "account": account,
        "ann": ann,
        "bob": bob,
        "blocked": blocked,
        "wire": wire,
        "subjects": subjects,
    }


@pytest.fixture(scope="module")
def records(story: dict[str, Any], server: LiveServer) -> dict[str, Any]:
    account: Account = story["account"]
    client = sdk(server, account.tenant.write_token)
    found = wait_for_records(client, account.tenant.id, 4)
    by_subject = {r.subject: r for r in found if r.subject}
    refused = [r for r in found if r.postfix_id.startswith("NOQUEUE")]
    assert len(found) == 4, [(r.subject, r.postfix_id) for r in found]
    assert len(refused) == 1
    subjects = story["subjects"]
    return {
        "ok": by_subject[subjects["ok"]],
        "spam": refused[0],
        "mixed": by_subject[subjects["mixed"]],
        "held": by_subject[subjects["held"]],
    }


def test_a_delivered_message_is_recorded_with_what_the_milter_saw(
    story: dict[str, Any], records: dict[str, Any], server: LiveServer
) -> None:
    ok = records["ok"]
    assert ok.final_disposition == "NONE"
    assert ok.envelope_from == "friend@partner.example"
    assert ok.from_ == "friend@partner.example"
    assert ok.from_name == "A Friend"
    assert ok.client_recipients == [story["ann"]]
    # Postfix's log, which the milter follows, says it was delivered.
    client = sdk(server, story["account"].tenant.read_token)
    ok = eventually(
        lambda: client.email_security.investigate.get(ok.id, account_id=story["account"].tenant.id),
        lambda found: found.delivery_status == ["delivered"],
    )
    assert ok.delivery_status == ["delivered"]
    assert not ok.is_quarantined
    assert ok.smtp_previous_hop_ip == "127.0.0.1"
    assert ok.message_id
    assert ok.message_id.startswith("<")
    assert len(ok.postfix_id) >= 5
    assert ok.id.startswith(ok.postfix_id + "-")
    extra = ok.model_extra or {}
    assert extra["action"] == "delivered"
    assert extra["helo"] == "client.example"
    assert extra["size"] > 100


def test_a_refusal_at_rcpt_is_recorded_with_its_blocked_sender(
    story: dict[str, Any], records: dict[str, Any]
) -> None:
    spam = records["spam"]
    assert spam.envelope_from == "promo@mail.spam.example"
    assert spam.final_disposition == "MALICIOUS"
    assert spam.delivery_status == ["rejected"]
    assert spam.properties.blocklisted_message is True
    assert spam.properties.blocklisted_pattern == "spam.example"
    assert spam.subject is None  # refused before DATA: nothing of the message was seen
    (recipient,) = (spam.model_extra or {})["recipients"]
    assert recipient["action"] == "refused"
    assert any(
        r["id"] == story["blocked"]["id"] and r["honoured"] and r["effect"] == "block"
        for r in recipient["reasons"]
    )
    assert (spam.model_extra or {})["action"] == "refused_at_rcpt"


def test_a_removed_recipient_and_a_delivered_one_share_a_record(
    story: dict[str, Any], records: dict[str, Any]
) -> None:
    mixed = records["mixed"]
    extra = mixed.model_extra or {}
    assert extra["action"] == "recipient_removed"
    by_address = {r["address"]: r for r in extra["recipients"]}
    assert by_address[story["ann"]]["action"] == "removed"
    assert by_address[story["ann"]]["delivery_status"] == "rejected"
    assert by_address[story["bob"]]["action"] == "delivered"
    assert by_address[story["bob"]]["disposition"] == "MALICIOUS"  # labelled, not dropped
    assert any(
        r["id"] == story["wire"]["id"] and r["honoured"]
        for r in by_address[story["ann"]]["reasons"]
    )
    assert mixed.final_disposition == "MALICIOUS"
    assert "content_policy" in (mixed.threat_categories or [])


def test_filters_find_exactly_their_messages(
    story: dict[str, Any], records: dict[str, Any], server: LiveServer
) -> None:
    account: Account = story["account"]
    client = sdk(server, account.tenant.read_token)
    investigate = client.email_security.investigate

    def ids(**filters: Any) -> set[str]:
        return {r.id for r in investigate.list(account_id=account.tenant.id, **filters)}

    ok, spam, mixed, held = (records[k].id for k in ("ok", "spam", "mixed", "held"))
    assert ids(sender="promo@mail.spam.example") == {spam}
    assert ids(sender="vendor.example") == {mixed, held}
    assert ids(recipient=story["bob"]) == {mixed}
    assert ids(recipient=story["ann"].split("@")[1]) == {ok, spam, mixed, held}
    assert ids(subject=story["subjects"]["held"]) == {held}
    assert ids(query=f"friend {story['subjects']['ok']}") == {ok}
    assert ids(final_disposition="MALICIOUS") == {spam, mixed, held}
    assert ids(final_disposition="NONE") == {ok}
    assert ids(detections_only=True) == {spam, mixed, held}
    assert ids(delivery_status="quarantined") == {held}
    assert ids(delivery_status="rejected") == {spam, mixed}
    assert ids(message_id=records["ok"].message_id) == {ok}
    assert ids(domain="partner.example") == {ok}
    assert ids(smtp_helo_ip="127.0.0.1") == {ok, spam, mixed, held}
    assert ids(smtp_helo_ip="192.0.2.1") == set()
    assert ids(end=records["ok"].scanned_at) == set()
    # The SDK's auto-pager walks the pages.
    paged = list(investigate.list(account_id=account.tenant.id, per_page=1))
    assert [r.id for r in paged] == [r.id for r in investigate.list(account_id=account.tenant.id)]


def test_the_trace_tells_the_decision_stage_by_stage(
    story: dict[str, Any], records: dict[str, Any], server: LiveServer
) -> None:
    account: Account = story["account"]
    client = sdk(server, account.tenant.read_token)
    spam = client.email_security.investigate.trace.get(
        records["spam"].id, account_id=account.tenant.id
    )
    lines = [line.message or "" for line in spam.inbound.lines or []]
    assert any("connect from" in line for line in lines), lines
    assert any(f"to=<{story['ann']}> at RCPT" in line and "refused" in line for line in lines)
    assert any(f"honoured: block block_senders/{story['blocked']['id']}" in line for line in lines)
    held = client.email_security.investigate.trace.get(
        records["held"].id, account_id=account.tenant.id
    )
    held_lines = [line.message or "" for line in held.inbound.lines or []]
    assert any("held in Postfix's hold queue" in line for line in held_lines), held_lines
    detections = client.email_security.investigate.detections.get(
        records["held"].id, account_id=account.tenant.id
    )
    assert detections.final_disposition == "MALICIOUS"
    assert [c.name for c in detections.threat_categories] == ["content_policy"]
    assert {h.name.lower() for h in detections.headers} >= {"from", "to", "subject", "message-id"}


def test_raw_and_preview_of_the_quarantined_message(
    story: dict[str, Any], records: dict[str, Any], server: LiveServer
) -> None:
    account: Account = story["account"]
    client = sdk(server, account.tenant.read_token)
    investigate = client.email_security.investigate
    raw = investigate.raw.get(records["held"].id, account_id=account.tenant.id).raw
    assert f"Subject: {story['subjects']['held']}" in raw
    assert "wire transfer" in raw
    picture = base64.b64decode(
        investigate.preview.get(records["held"].id, account_id=account.tenant.id).screenshot
    )
    assert picture.startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(NotFoundError, match="no stored copy"):
        investigate.raw.get(records["ok"].id, account_id=account.tenant.id)
    again = investigate.get(records["held"].id, account_id=account.tenant.id)
    assert "PREVIEW" in (again.post_delivery_operations or [])
    assert {entry.operation for entry in again.action_log} == {"PREVIEW"}


def test_release_delivers_the_held_message_once(
    mail: MailSystem, story: dict[str, Any], records: dict[str, Any], server: LiveServer
) -> None:
    account: Account = story["account"]
    held = records["held"]
    assert held.is_quarantined
    assert any(q["queue_id"] == held.postfix_id for q in mail.postfix.queued())
    reader = sdk(server, account.tenant.read_token)
    with pytest.raises(Exception, match="can only read"):
        reader.email_security.investigate.release.bulk(account_id=account.tenant.id, ids=[held.id])
    client = sdk(server, account.tenant.write_token)
    (released,) = client.email_security.investigate.release.bulk(
        account_id=account.tenant.id, ids=[held.id]
    )
    assert released.id == held.id
    assert released.delivered == [story["ann"]]
    assert released.failed == []
    assert released.undelivered == []
    delivered = mail.postfix.wait_delivered(story["subjects"]["held"])
    assert delivered.recipients == [story["ann"]]
    after = eventually(
        lambda: client.email_security.investigate.get(held.id, account_id=account.tenant.id),
        lambda found: found.delivery_status == ["delivered"],
    )
    assert after.delivery_status == ["delivered"]  # Postfix's log says so
    assert not after.is_quarantined
    assert "QUARANTINE_RELEASE" in (after.post_delivery_operations or [])
    (recipient,) = (after.model_extra or {})["recipients"]
    assert recipient["action"] == "released"
    assert (after.model_extra or {})["released_at"] is not None
    trace = client.email_security.investigate.trace.get(held.id, account_id=account.tenant.id)
    outbound = [line.message or "" for line in trace.outbound.lines or []]
    assert any("release by token:" in line for line in outbound), outbound
    assert any(f"to=<{story['ann']}>" in line and "status=sent" in line for line in outbound)
    assert trace.outbound.pending is False
    assert (
        client.email_security.investigate.list(
            account_id=account.tenant.id, message_action="QUARANTINE_RELEASED"
        )
        .result[0]
        .id
        == held.id
    )
    with pytest.raises(ConflictError, match="not in quarantine"):
        client.email_security.investigate.release.bulk(account_id=account.tenant.id, ids=[held.id])
    audit = account.mail.client.get(
        f"/client/v4/accounts/{account.tenant.id}/email-security/audit",
        params={"resource": "messages", "action": "release"},
        headers=account.tenant.read,
    ).json()["result"]
    assert [event["entry_id"] for event in audit] == [held.id]


def test_reclassify_is_a_submission(
    story: dict[str, Any], records: dict[str, Any], server: LiveServer
) -> None:
    account: Account = story["account"]
    client = sdk(server, account.tenant.write_token)
    # The SDK marks reclassify deprecated (in favour of a submissions endpoint it lacks).
    with pytest.warns(DeprecationWarning, match="deprecated"):
        client.email_security.investigate.reclassify.create(
            records["ok"].id, account_id=account.tenant.id, expected_disposition="SPAM"
        )
    (submission,) = client.email_security.submissions.list(account_id=account.tenant.id)
    assert submission.original_disposition == "NONE"
    assert submission.requested_disposition == "SPAM"
    assert submission.original_postfix_id == records["ok"].postfix_id
    assert (submission.requested_by or "").startswith("token:")


def test_another_account_sees_none_of_it(
    mail: MailSystem, records: dict[str, Any], server: LiveServer
) -> None:
    other = make_tenant(mail.app.state.db, mail.unique("stranger"))
    client = sdk(server, other.write_token)
    investigate = client.email_security.investigate
    assert list(investigate.list(account_id=other.id)) == []
    for record in records.values():
        with pytest.raises(NotFoundError):
            investigate.get(record.id, account_id=other.id)
        with pytest.raises(NotFoundError):
            investigate.release.bulk(account_id=other.id, ids=[record.id])


def test_records_wait_out_a_database_that_cannot_be_written_and_mail_is_not_slowed(
    mail: MailSystem, server: LiveServer
) -> None:
    account = Account(mail, make_tenant(mail.app.state.db, mail.unique("outage")))
    corp = account.protect(mail.unique("outage") + ".example", "MALICIOUS")
    settle()
    to = [f"ann@{corp['domain']}"]
    subjects = [mail.unique("during-outage-") for _ in range(3)]
    # Another process holds SQLite's write lock: nothing can be written until it lets go.
    holder = sqlite3.connect(mail.directory / "mailpolicy.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for subject in subjects:
            started = time.monotonic()
            sent = send(
                mail.postfix.port(),
                "someone@else.example",
                to,
                message(subject, "someone@else.example", to),
            )
            assert sent.data is not None
            assert sent.data[0] == 250, sent
            assert time.monotonic() - started < 5  # the decision never waits for the database
        for subject in subjects:
            mail.postfix.wait_delivered(subject)
        # (The API cannot be asked meanwhile: it writes, for rate limits, and would wait.)
        waiting = holder.execute(
            "SELECT count(*) FROM message_records WHERE account_id = ?", (account.tenant.id,)
        )
        assert waiting.fetchone() == (0,)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    client = sdk(server, account.tenant.read_token)
    found = wait_for_records(client, account.tenant.id, 3)
    assert sorted(r.subject for r in found) == sorted(subjects)


def test_the_typescript_sdk_reads_the_same_records(
    story: dict[str, Any], records: dict[str, Any], server: LiveServer
) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH: `make test` installs it"
    account: Account = story["account"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "NODE_"))}
    env.update(
        MAILPOLICY_BASE_URL=server.base_url,
        MAILPOLICY_FLOW=json.dumps(
            {
                "account": account.tenant.id,
                "token": account.tenant.write_token,
                "ids": {name: record.id for name, record in records.items()},
                "ann": story["ann"],
                "held_subject": story["subjects"]["held"],
            }
        ),
        NO_COLOR="1",
    )
    done = subprocess.run(
        [node, "--test-reporter=spec", str(NODE_FLOW)],
        cwd=NODE_FLOW.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    counts = dict(re.findall(r"^\S* ?(tests|pass|fail|skipped) (\d+)\s*$", done.stdout, re.M))
    assert counts.get("tests") == counts.get("pass") != "0", done.stdout
    assert counts.get("fail") == counts.get("skipped") == "0", done.stdout


def test_what_if_reports_exactly_the_messages_a_change_would_decide_otherwise(
    mail: MailSystem, story: dict[str, Any], records: dict[str, Any], server: LiveServer
) -> None:
    """Run last: it applies the change for real at the end, and sends more mail."""
    account: Account = story["account"]
    url = f"/client/v4/accounts/{account.tenant.id}/email-security/whatif"
    proposal = {
        "block_senders": {
            "posts": [
                {"pattern": "friend@partner.example", "pattern_type": "EMAIL", "is_regex": False}
            ]
        }
    }
    answer = mail.client.post(url, json=proposal, headers=account.tenant.write)
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["examined"] == 4
    assert result["not_replayable"] == 0
    assert [m["id"] for m in result["messages"]] == [records["ok"].id]
    (change,) = result["messages"][0]["recipients"]
    assert change["address"] == story["ann"]
    assert change["recorded"] == {"disposition": "NONE", "action": "delivered"}
    assert (change["before"]["disposition"], change["before"]["action"]) == ("NONE", "deliver")
    assert (change["after"]["disposition"], change["after"]["action"]) == ("MALICIOUS", "drop")
    assert any(r["effect"] == "block" and r["honoured"] for r in change["after"]["reasons"])
    assert result["transitions"] == [
        {
            "from": {"disposition": "NONE", "action": "deliver"},
            "to": {"disposition": "MALICIOUS", "action": "drop"},
            "recipients": 1,
        }
    ]
    # Nothing was applied: the list is as it was, and the history holds no such write.
    listed = mail.client.get(account.tenant.url("block_senders"), headers=account.tenant.read)
    assert [e["pattern"] for e in listed.json()["result"]] == ["spam.example"]
    # Now make the change for real and send the same message: Postfix and the milter decide
    # what what-if said they would.
    done = mail.client.post(
        account.tenant.url("block_senders", "batch"),
        json={"deletes": [], "patches": [], "puts": [], **proposal["block_senders"]},
        headers=account.tenant.write,
    )
    assert done.status_code == 200, done.text
    settle()
    again = send(
        mail.postfix.port(),
        "friend@partner.example",
        [story["ann"]],
        message(mail.unique("again-"), "friend@partner.example", [story["ann"]]),
    )
    assert again.rcpt[story["ann"]][0] == 550
    client = sdk(server, account.tenant.read_token)
    newest, _ = wait_for_records(client, account.tenant.id, 2, sender="friend@partner.example")
    assert newest.final_disposition == change["after"]["disposition"]
    assert (newest.model_extra or {})["recipients"][0]["action"] == "refused"


def test_a_milter_stopped_by_sigterm_writes_every_record_it_holds(mail: MailSystem) -> None:
    account = Account(mail, make_tenant(mail.app.state.db, mail.unique("stopped")))
    corp = account.protect(mail.unique("stopped") + ".example", "MALICIOUS")
    standing = mail.milters["restart"]
    standing.stop()
    # Its writers wait an hour between writes: what it holds is written only on the way out.
    holding = Process(
        standing.arguments,
        standing.address,
        {**standing.env, "MAILPOLICY_STATS_FLUSH_SECONDS": "3600"},
        mail.directory / "milter-holding.log",
    )
    holding.start()
    to = [f"ann@{corp['domain']}"]
    subjects = [mail.unique("held-in-memory-") for _ in range(5)]

    def recorded() -> int:
        url = f"/client/v4/accounts/{account.tenant.id}/email-security/investigate"
        response = mail.client.get(url, headers=account.tenant.read)
        assert response.status_code == 200, response.text
        return int(response.json()["result_info"]["total_count"])

    try:
        for subject in subjects:
            sent = send(
                mail.postfix.port("restart"),
                "a@ok.example",
                to,
                message(subject, "a@ok.example", to),
            )
            assert sent.data is not None
            assert sent.data[0] == 250
        for subject in subjects:
            mail.postfix.wait_delivered(subject)
        assert recorded() == 0
        assert holding.process is not None
        holding.process.terminate()  # SIGTERM, as systemd stops a service
        assert holding.process.wait(timeout=30) == 0
        assert recorded() == len(subjects)
    finally:
        holding.stop()
        standing.start()
