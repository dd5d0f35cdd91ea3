"""Test a message and What if, through the dashboard's pages: the verdicts and reasons the API
gives, its refusals beside their fields, and a change previewed on recorded mail, then applied.

Settings are created through the API; message records are made by the milter's own decision
code (tests/support/messages.py) on the same migrated database."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.api import Tenant, acceptable_sender, protect
from tests.support.dashboard import cells, field_errors, login
from tests.support.messages import record_message


def create(client: TestClient, tenant: Tenant, resource: str, body: dict[str, Any]) -> str:
    answer = client.post(tenant.url(resource), json=body, headers=tenant.write)
    assert answer.status_code == 201, answer.text
    entry_id: str = answer.json()["result"]["id"]
    return entry_id


def listed(client: TestClient, tenant: Tenant, resource: str) -> list[dict[str, Any]]:
    answer = client.get(tenant.url(resource), headers=tenant.write, params={"per_page": 1000})
    assert answer.status_code == 200, answer.text
    result: list[dict[str, Any]] = answer.json()["result"]
    return result


@pytest.fixture
def corp(app: FastAPI, client: TestClient, tenant: Tenant) -> str:
    """The tenant's protected domain (dropping MALICIOUS), active."""
    domain = f"corp-{tenant.id[:8]}.example"
    protect(lambda r, b: {"id": create(client, tenant, r, b)}, app.state.db, domain, "MALICIOUS")
    return domain


@pytest.fixture
def blocked(client: TestClient, tenant: Tenant, corp: str) -> str:
    """A blocked sender domain, bad.example; its entry id."""
    return create(
        client,
        tenant,
        "block_senders",
        {"pattern": "bad.example", "pattern_type": "DOMAIN", "is_regex": False},
    )


def table_rows(page: httpx.Response, table_id: str) -> list[list[str]]:
    """The text of each body row's cells of one table of a page (a comma kept beside the
    word before it)."""
    table = re.search(rf'<table id="{table_id}">.*?</table>', page.text, re.S)
    assert table, f"the page has no table {table_id}"
    rows = cells(httpx.Response(200, text=table.group(0)))
    return [[re.sub(r"\s+,", ",", cell) for cell in row] for row in rows]


def verdict_rows(page: httpx.Response) -> list[list[str]]:
    return table_rows(page, "verdicts")


def fields(**given: str) -> dict[str, str]:
    return {"client_ip": "203.0.113.9", **given}


# ---- test a message --------------------------------------------------------------------------


def test_the_verdict_of_a_blocked_sender_names_the_entry(
    client: TestClient, tenant: Tenant, corp: str, blocked: str
) -> None:
    csrf = login(client, tenant.write_token)
    form = client.get("/dashboard/test")
    assert form.status_code == 200
    assert form.text.count("<h1>") == 1
    assert "<h1>Test a message</h1>" in form.text
    for name in ("sender", "recipients", "subject", "client_ip", "helo", "eml", "file", "body"):
        assert f'name="{name}"' in form.text
    answer = client.post(
        "/dashboard/test",
        data=fields(
            csrf_token=csrf,
            sender="promo@bad.example",
            recipients=f"ann@{corp}\nbob@{corp}\n",
            subject="Cheap",
            helo="mx.bad.example",
        ),
    )
    assert answer.status_code == 200, answer.text
    rows = verdict_rows(answer)
    assert [row[:3] for row in rows] == [
        [f"ann@{corp}", "drop", "MALICIOUS"],
        [f"bob@{corp}", "drop", "MALICIOUS"],
    ]
    assert "Honoured" in rows[0][4]
    assert "bad.example" in rows[0][4]
    assert f'href="/dashboard/block_senders/{blocked}"' in answer.text
    assert 'href="/dashboard/domains/' in answer.text  # the protected domain that drops it
    # The form keeps what was sent.
    assert 'value="promo@bad.example"' in answer.text


def test_a_detection_overridden_by_a_setting_says_by_which(
    client: TestClient, tenant: Tenant, corp: str
) -> None:
    allowed = create(client, tenant, "allow_policies", acceptable_sender("friend@ok.example"))
    csrf = login(client, tenant.read_token)  # a Read token may test: it changes nothing
    answer = client.post(
        "/dashboard/test",
        data=fields(
            csrf_token=csrf,
            sender="friend@ok.example",
            recipients=f"ann@{corp}",
            findings="content:SPAM:rspamd:GTUBE",
        ),
    )
    assert answer.status_code == 200, answer.text
    ((recipient, action, disposition, _why, reasons),) = verdict_rows(answer)
    assert (recipient, action, disposition) == (f"ann@{corp}", "deliver", "NONE")
    assert "Detection by rspamd (GTUBE)" in reasons
    assert "Not honoured" in reasons
    assert "Overridden by" in reasons
    assert "Overrode the detection" in reasons
    assert "Overrode the detection rspamd GTUBE: SPAM" in reasons
    # The detection links the entry that overrode it; the entry (matched on the envelope and
    # the header sender) links its own page.
    assert answer.text.count(f'href="/dashboard/allow_policies/{allowed}"') == 3


def test_a_pasted_message_goes_through_the_scan(
    client: TestClient, tenant: Tenant, corp: str, blocked: str
) -> None:
    csrf = login(client, tenant.write_token)
    eml = (
        "From: Promo <promo@bad.example>\r\n"
        f"To: ann@{corp}\r\n"
        "Subject: Deals\r\n"
        "Message-ID: <1@bad.example>\r\n"
        "\r\n"
        "Buy now.\r\n"
    )
    answer = client.post("/dashboard/test", data=fields(csrf_token=csrf, eml=eml))
    assert answer.status_code == 200, answer.text
    assert "from the pasted message" in answer.text
    ((recipient, action, disposition, *_),) = verdict_rows(answer)
    assert (recipient, action, disposition) == (f"ann@{corp}", "drop", "MALICIOUS")
    assert f'href="/dashboard/block_senders/{blocked}"' in answer.text
    assert 'id="scan"' in answer.text  # the scan's own account: rspamd is off here
    # The envelope fields override the message's own: another recipient, an unprotected one.
    other = client.post(
        "/dashboard/test",
        data=fields(csrf_token=csrf, recipients="someone@elsewhere.example"),
        files={"file": ("deals.eml", eml.encode(), "message/rfc822")},
    )
    assert other.status_code == 200, other.text
    assert "from the file deals.eml" in other.text
    ((recipient, action, disposition, *_),) = verdict_rows(other)
    assert recipient == "someone@elsewhere.example in no protected domain: left alone"
    assert action == "deliver"


def test_the_apis_refusals_are_shown_beside_their_fields(
    client: TestClient, tenant: Tenant, corp: str
) -> None:
    csrf = login(client, tenant.write_token)
    answer = client.post(
        "/dashboard/test",
        data={
            "csrf_token": csrf,
            "sender": "not an address",
            "recipients": f"ann@{corp}",
            "client_ip": "300.1.2.3",
        },
    )
    assert answer.status_code == 422, answer.text
    errors = field_errors(answer)
    assert "not an IPv4 or IPv6 address" in errors["client_ip"]
    assert "valid email address" in errors["sender"]
    assert re.search(r'id="field-client_ip"[^>]*aria-invalid="true"', answer.text)
    assert re.search(r'id="field-sender"[^>]*aria-invalid="true"', answer.text)
    assert 'id="verdicts"' not in answer.text
    # A pasted text that is no message: beside the message's field.
    pasted = client.post("/dashboard/test", data=fields(csrf_token=csrf, eml="just some words"))
    assert pasted.status_code == 422
    assert "is not a header field" in html.unescape(field_errors(pasted)["eml"])
    assert re.search(r'id="field-eml"[^>]*aria-invalid="true"', pasted.text)


def test_the_test_form_checks_its_csrf_token(client: TestClient, tenant: Tenant) -> None:
    login(client, tenant.write_token)
    answer = client.post("/dashboard/test", data=fields(csrf_token="forged"))
    assert answer.status_code == 403
    assert 'id="verdicts"' not in answer.text


# ---- what if ---------------------------------------------------------------------------------


@pytest.fixture
def vendor_mail(app: FastAPI, corp: str) -> list[str]:
    """Recorded mail: two messages from vendor.example, one from elsewhere; their ids."""
    to = [f"ann@{corp}"]
    made = [
        record_message(app.state.db, "billing@vendor.example", to, subject="Invoice 1"),
        record_message(app.state.db, "sales@vendor.example", to, subject="Offer", queue_id="5B1"),
        record_message(app.state.db, "friend@ok.example", to, subject="Lunch", queue_id="6C2"),
    ]
    return [draft.id for (draft,) in made]


# The builder's form: an unticked box (is_regex) is not sent.
BLOCK_VENDOR = {"pattern": "vendor.example", "pattern_type": "DOMAIN"}


def changes_rows(page: httpx.Response) -> list[list[str]]:
    return table_rows(page, "changes")


def test_preview_lists_the_messages_a_change_affects_and_apply_creates_the_entry(
    client: TestClient, tenant: Tenant, vendor_mail: list[str], corp: str
) -> None:
    csrf = login(client, tenant.write_token)
    page = client.get("/dashboard/whatif")
    assert page.status_code == 200
    assert "<h1>What if</h1>" in page.text
    built = client.get("/dashboard/whatif", params={"resource": "block_senders"})
    assert built.status_code == 200
    assert 'name="pattern"' in built.text
    assert 'class="htmx-indicator progress"' in built.text
    assert 'hx-indicator="#previewing"' in built.text
    form = {"csrf_token": csrf, "resource": "block_senders", "operation": "create"}
    preview = client.post("/dashboard/whatif", data={**form, **BLOCK_VENDOR, "days": "7"})
    assert preview.status_code == 200, preview.text
    rows = changes_rows(preview)
    assert sorted(row[0].split(" 20")[0] for row in rows) == ["Invoice 1", "Offer"]
    for row in rows:
        assert row[2] == f"ann@{corp}"
        assert (row[3], row[4]) == ("NONE, deliver", "MALICIOUS, drop")
        assert "vendor.example" in row[5]
    for record_id in vendor_mail[:2]:
        assert f'href="/dashboard/messages/{record_id}"' in preview.text
    assert f'href="/dashboard/messages/{vendor_mail[2]}"' not in preview.text
    assert "2 of 3 messages" in preview.text
    assert listed(client, tenant, "block_senders") == []  # nothing applied yet
    change = html.unescape(re.search(r'name="change" value="([^"]*)"', preview.text).group(1))
    assert json.loads(change) == {
        "block_senders": {
            "posts": [{"pattern": "vendor.example", "pattern_type": "DOMAIN", "is_regex": False}]
        }
    }
    applied = client.post("/dashboard/whatif/apply", data={"csrf_token": csrf, "change": change})
    assert applied.status_code == 200, applied.text
    (entry,) = listed(client, tenant, "block_senders")
    assert entry["pattern"] == "vendor.example"
    assert "Created blocked sender" in applied.text
    assert f'href="/dashboard/block_senders/{entry["id"]}"' in applied.text
    # Proposed again, the entry is there already: the API says so.
    again = client.post("/dashboard/whatif", data={**form, **BLOCK_VENDOR})
    assert again.status_code == 409
    assert f"An identical blocked sender already exists (id {entry['id']})" in again.text


def test_a_pasted_change_and_a_delete(
    client: TestClient, tenant: Tenant, vendor_mail: list[str], corp: str
) -> None:
    csrf = login(client, tenant.write_token)
    proposal = {
        "block_senders": {
            "posts": [{"pattern": "ok.example", "pattern_type": "DOMAIN", "is_regex": False}]
        }
    }
    preview = client.post(
        "/dashboard/whatif", data={"csrf_token": csrf, "change": json.dumps(proposal)}
    )
    assert preview.status_code == 200, preview.text
    (row,) = changes_rows(preview)
    assert row[1] == "friend@ok.example"
    entry_id = create(client, tenant, "block_senders", {**proposal["block_senders"]["posts"][0]})
    # Editing it: the form starts from the entry; another pattern lets the mail through.
    editing = client.get(
        "/dashboard/whatif",
        params={"resource": "block_senders", "operation": "edit", "entry_id": entry_id},
    )
    assert editing.status_code == 200
    assert 'value="ok.example"' in editing.text
    edit = {
        "csrf_token": csrf,
        "resource": "block_senders",
        "operation": "edit",
        "entry_id": entry_id,
        "pattern": "elsewhere.example",
        "pattern_type": "DOMAIN",
    }
    edited = client.post("/dashboard/whatif", data=edit)
    assert edited.status_code == 200, edited.text
    (row,) = changes_rows(edited)
    assert (row[1], row[3], row[4]) == ("friend@ok.example", "MALICIOUS, drop", "NONE, deliver")
    # Deleting it: the mail it drops would be delivered again.
    chosen = client.get(
        "/dashboard/whatif",
        params={"resource": "block_senders", "operation": "delete", "entry_id": entry_id},
    )
    assert chosen.status_code == 200
    assert "ok.example" in chosen.text  # the entry it would delete
    form = {
        "csrf_token": csrf,
        "resource": "block_senders",
        "operation": "delete",
        "entry_id": entry_id,
    }
    deleted = client.post("/dashboard/whatif", data=form)
    assert deleted.status_code == 200, deleted.text
    (row,) = changes_rows(deleted)
    assert (row[3], row[4]) == ("MALICIOUS, drop", "NONE, deliver")
    change = html.unescape(re.search(r'name="change" value="([^"]*)"', deleted.text).group(1))
    applied = client.post("/dashboard/whatif/apply", data={"csrf_token": csrf, "change": change})
    assert applied.status_code == 200, applied.text
    assert f"Deleted blocked sender {entry_id}" in applied.text
    assert listed(client, tenant, "block_senders") == []


def test_what_if_shows_the_apis_refusals(client: TestClient, tenant: Tenant, corp: str) -> None:
    csrf = login(client, tenant.write_token)
    form = {"csrf_token": csrf, "resource": "block_senders", "operation": "create"}
    empty = client.post("/dashboard/whatif", data={**form, "pattern": "", "pattern_type": "EMAIL"})
    assert empty.status_code == 422
    assert "pattern" in field_errors(empty)
    assert re.search(r'id="field-pattern"[^>]*aria-invalid="true"', empty.text)
    not_json = client.post("/dashboard/whatif", data={"csrf_token": csrf, "change": "{nope"})
    assert not_json.status_code == 422
    assert "not JSON" in field_errors(not_json)["change"]
    bad = client.post(
        "/dashboard/whatif",
        data={"csrf_token": csrf, "change": '{"block_senders": {"posts": [{"pattern": 1}]}}'},
    )
    assert bad.status_code == 422
    assert "block_senders.posts[0]" in html.unescape(field_errors(bad)["change"])
    missing = client.get(
        "/dashboard/whatif",
        params={"resource": "block_senders", "operation": "edit", "entry_id": "nothing"},
    )
    assert missing.status_code == 404
    assert "entry_id" in field_errors(missing)
    refused = client.post(
        "/dashboard/whatif/apply",
        data={
            "csrf_token": csrf,
            "change": '{"block_senders": {"posts": [{"pattern": "", "pattern_type": "EMAIL", '
            '"is_regex": false}]}}',
        },
    )
    assert refused.status_code == 422
    assert "Block senders: " in refused.text
    assert listed(client, tenant, "block_senders") == []


def test_a_read_token_tests_but_cannot_preview_or_apply(
    client: TestClient, tenant: Tenant, corp: str
) -> None:
    csrf = login(client, tenant.read_token)
    page = client.get("/dashboard/whatif", params={"resource": "block_senders"})
    assert page.status_code == 200
    assert re.search(r"<button[^>]*disabled[^>]*>Preview</button>", page.text)
    form = {"csrf_token": csrf, "resource": "block_senders", "operation": "create"}
    preview = client.post("/dashboard/whatif", data={**form, **BLOCK_VENDOR})
    assert preview.status_code == 403
    assert "can only read" in preview.text
    change = json.dumps({"block_senders": {"posts": [{**BLOCK_VENDOR, "is_regex": False}]}})
    applied = client.post("/dashboard/whatif/apply", data={"csrf_token": csrf, "change": change})
    assert applied.status_code == 403
    assert listed(client, tenant, "block_senders") == []
    tested = client.post(
        "/dashboard/test",
        data=fields(csrf_token=csrf, sender="a@vendor.example", recipients=f"ann@{corp}"),
    )
    assert tested.status_code == 200
    assert 'id="verdicts"' in tested.text
