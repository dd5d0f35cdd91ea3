"""The messages pages: the search over the records, one message's story, its preview and its
release, through the dashboard's HTTP pages on a real migrated database.

Records are made by the milter's own decision code (tests/support/messages.py); releasing
through a real Postfix is the browser suite's."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mailpolicy.messages.records import RecordDraft
from mailpolicy.messages.release import PostfixQueue
from tests.support.api import Tenant, protect
from tests.support.dashboard import cells, field_errors, login
from tests.support.messages import record_message


def create(client: TestClient, tenant: Tenant, resource: str, body: dict[str, Any]) -> str:
    answer = client.post(tenant.url(resource), json=body, headers=tenant.write)
    assert answer.status_code == 201, answer.text
    entry_id: str = answer.json()["result"]["id"]
    return entry_id


@pytest.fixture
def corp(app: FastAPI, client: TestClient, tenant: Tenant) -> str:
    """The tenant's protected domain (dropping MALICIOUS), active."""
    domain = f"corp-{tenant.id[:8]}.example"
    protect(lambda r, b: {"id": create(client, tenant, r, b)}, app.state.db, domain, "MALICIOUS")
    return domain


@pytest.fixture
def blocked(client: TestClient, tenant: Tenant, corp: str) -> str:
    return create(
        client,
        tenant,
        "block_senders",
        {"pattern": "bad.example", "pattern_type": "DOMAIN", "is_regex": False},
    )


@pytest.fixture
def mail(app: FastAPI, corp: str, blocked: str) -> dict[str, RecordDraft]:
    """A delivered message, one refused at RCPT, and one held in quarantine."""
    to = [f"ann@{corp}"]
    (ok,) = record_message(app.state.db, "friend@ok.example", to, subject="Lunch on Friday")
    (spam,) = record_message(
        app.state.db, "promo@bad.example", to, subject="never seen", queue_id="5B2"
    )
    (held,) = record_message(
        app.state.db,
        "boss@bad.example",
        to,
        drop_action="quarantine",
        subject="Invoice",
        text="Please pay the attached invoice today.\n",
        queue_id="6C3D4",
    )
    return {"ok": ok, "spam": spam, "held": held}


@pytest.fixture
def use_postfix(app: FastAPI) -> Iterator[Callable[[PostfixQueue], None]]:
    """Have the API release through another Postfix for one test (the app is the module's)."""
    state = app.state.api.state
    before = state.postfix

    def use(queue: PostfixQueue) -> None:
        state.postfix = queue

    yield use
    state.postfix = before


def found(client: TestClient, **params: str) -> list[str]:
    """The ids the search page links, in its order."""
    page = client.get("/dashboard/messages", params=params)
    assert page.status_code == 200, page.text
    table = re.search(r'<table id="messages">.*?</table>', page.text, re.S)
    if table is None:
        return []
    ids = re.findall(r'href="/dashboard/messages/([^"]+)"', table.group(0))
    return list(dict.fromkeys(ids))


def test_the_search_finds_the_records(
    client: TestClient, tenant: Tenant, mail: dict[str, RecordDraft], corp: str
) -> None:
    login(client, tenant.read_token)
    page = client.get("/dashboard/messages")
    assert page.status_code == 200
    assert page.text.count("<h1>") == 1
    assert "<h1>Messages</h1>" in page.text
    for name in ("query", "sender", "recipient", "final_disposition", "start", "end"):
        assert re.search(rf'<label for="field-{name}">', page.text)
    ok, spam, held = mail["ok"].id, mail["spam"].id, mail["held"].id
    assert found(client) == [held, spam, ok]  # newest first
    assert found(client, sender="friend@ok.example") == [ok]
    assert found(client, sender="bad.example") == [held, spam]
    assert found(client, query="invoice boss") == [held]
    assert found(client, recipient=corp, final_disposition="MALICIOUS") == [held, spam]
    assert found(client, action="refused_at_rcpt") == [spam]
    assert found(client, delivery_status="quarantined") == [held]
    assert found(client, detections_only="true") == [held, spam]
    assert found(client, start="2020-01-01T00:00", end="2020-01-02T00:00") == []
    rows = cells(client.get("/dashboard/messages", params={"sender": "friend@ok.example"}))
    assert rows[0][1:] == [
        "friend@ok.example",
        f"ann@{corp}",
        "Lunch on Friday",
        "NONE",
        "delivered",
    ]
    # Nothing matches: the page says what to do.
    none = client.get("/dashboard/messages", params={"sender": "nobody@nowhere.example"})
    assert "No message matches" in none.text
    # The API's refusal of a filter, beside it.
    wrong = client.get(
        "/dashboard/messages", params={"start": "2020-01-02T00:00", "end": "2020-01-01T00:00"}
    )
    assert wrong.status_code == 422
    assert "must be later than start" in field_errors(wrong)["end"]
    assert re.search(r'id="field-end"[^>]*aria-invalid="true"', wrong.text)


def test_the_search_pages(app: FastAPI, client: TestClient, tenant: Tenant, corp: str) -> None:
    login(client, tenant.write_token)
    empty = client.get("/dashboard/messages")
    assert "No message in the last 30 days" in empty.text
    assert 'href="/dashboard/test"' in empty.text
    for number in range(27):
        record_message(
            app.state.db, f"s{number}@ok.example", [f"ann@{corp}"], queue_id=f"7A{number:03d}"
        )
    first = client.get("/dashboard/messages")
    assert "27 messages, page 1 of 2" in first.text
    assert len(found(client)) == 25
    assert 'href="?page=2"' in first.text
    second = found(client, page="2")
    assert len(second) == 2
    assert not set(second) & set(found(client))


def test_a_message_tells_its_story(
    client: TestClient, tenant: Tenant, mail: dict[str, RecordDraft], corp: str, blocked: str
) -> None:
    login(client, tenant.read_token)
    spam = mail["spam"]
    page = client.get(f"/dashboard/messages/{spam.id}")
    assert page.status_code == 200, page.text
    assert page.text.count("<h1>") == 1
    text = html.unescape(page.text)
    assert "promo@bad.example" in text
    assert spam.postfix_id in text
    assert f"ann@{corp}" in text
    # Per recipient: what was done, and every reason, linked to the entry that decided it.
    table = re.search(r'<table id="recipients">.*?</table>', page.text, re.S)
    assert table is not None
    assert "refused" in table.group(0)
    assert "MALICIOUS" in table.group(0)
    assert f'href="/dashboard/block_senders/{blocked}"' in table.group(0)
    assert "Honoured" in table.group(0)
    # The trace, the findings and the authentication results.
    assert 'id="trace-inbound"' in page.text
    assert "from=&lt;promo@bad.example&gt;" in page.text
    assert 'id="findings"' in page.text
    assert 'id="authentication"' in page.text
    # Allow the sender: the allow policy form, prefilled.
    link = (
        "/dashboard/allow_policies/new?pattern=promo@bad.example&pattern_type=EMAIL&is_regex=false"
    )
    assert f'href="{html.escape(link)}"' in page.text
    form = client.get(link)
    assert form.status_code == 200
    assert 'value="promo@bad.example"' in form.text
    # Not quarantined: no copy to preview, nothing to release.
    assert "preview.png" not in page.text
    assert ">Release</button>" not in page.text
    assert client.get("/dashboard/messages/no-such-message").status_code == 404


def test_a_quarantined_message_is_previewed(
    client: TestClient, tenant: Tenant, mail: dict[str, RecordDraft]
) -> None:
    login(client, tenant.read_token)
    held = mail["held"]
    page = client.get(f"/dashboard/messages/{held.id}")
    assert page.status_code == 200
    assert f'<img src="/dashboard/messages/{held.id}/preview.png"' in page.text
    assert "in quarantine" in page.text
    # A Read token sees the release button, disabled, and why.
    assert re.search(r"<button[^>]*disabled[^>]*>Release</button>", page.text)
    picture = client.get(f"/dashboard/messages/{held.id}/preview.png")
    assert picture.status_code == 200
    assert picture.headers["content-type"] == "image/png"
    assert picture.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert "img-src 'self'" in picture.headers["content-security-policy"]
    # The API notes who looked, and the message's page says so.
    again = client.get(f"/dashboard/messages/{held.id}")
    log = re.search(r'<ul id="action-log">.*?</ul>', again.text, re.S)
    assert log is not None
    assert "preview by" in log.group(0)
    # A message with no copy has no picture: the API's answer.
    none = client.get(f"/dashboard/messages/{mail['ok'].id}/preview.png")
    assert none.status_code == 404
    assert "keeps one only for quarantined mail" in html.unescape(none.text)


def test_release_posts_to_the_api_and_shows_its_answer(
    client: TestClient,
    tenant: Tenant,
    mail: dict[str, RecordDraft],
    tmp_path: Path,
    use_postfix: Callable[[PostfixQueue], None],
) -> None:
    # A Postfix whose configuration directory holds none: postsuper refuses, and the API
    # answers with what it could not release.
    use_postfix(PostfixQueue(config_dir=str(tmp_path)))
    csrf = login(client, tenant.write_token)
    held = mail["held"]
    page = client.get(f"/dashboard/messages/{held.id}")
    action = f'action="/dashboard/messages/{held.id}/release"'
    assert action in page.text
    assert re.search(r'<button type="submit" class="">Release</button>', page.text)
    released = client.post(f"/dashboard/messages/{held.id}/release", data={"csrf_token": csrf})
    assert released.status_code == 502
    assert "Postfix did not release message" in html.unescape(released.text)
    assert "in quarantine" in released.text  # still held
    # A message that is not in quarantine: the API's refusal, on the message's page.
    ok = mail["ok"]
    refused = client.post(f"/dashboard/messages/{ok.id}/release", data={"csrf_token": csrf})
    assert refused.status_code == 409
    text = html.unescape(refused.text)
    assert "The API refused the release" in text
    assert f"message {ok.id} is not in quarantine" in text
    assert "<h1>Lunch on Friday</h1>" in refused.text
    # Without the form's CSRF token, nothing is asked of the API.
    forged = client.post(f"/dashboard/messages/{held.id}/release", data={"csrf_token": "x"})
    assert forged.status_code == 403


def test_a_release_shows_the_new_status(
    client: TestClient,
    tenant: Tenant,
    mail: dict[str, RecordDraft],
    tmp_path: Path,
    use_postfix: Callable[[PostfixQueue], None],
) -> None:
    # What Postfix's postsuper and postqueue say when they release a held message, from a
    # stand-in run as the command prefix (the browser suite releases through a real Postfix).
    calls = tmp_path / "calls"
    stand_in = tmp_path / "postfix"
    stand_in.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {calls}\n'
        'if [ "$1" = postsuper ]; then echo "postsuper: Released from hold: 1 message" >&2; fi\n'
    )
    stand_in.chmod(0o755)
    use_postfix(PostfixQueue(command_prefix=str(stand_in)))
    csrf = login(client, tenant.write_token)
    held = mail["held"]
    released = client.post(
        f"/dashboard/messages/{held.id}/release",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert released.status_code == 303, released.text
    assert calls.read_text().split("\n")[:2] == [
        f"postsuper -H {held.postfix_id}",
        f"postqueue -i {held.postfix_id}",
    ]
    page = client.get(released.headers["location"])
    assert page.status_code == 200
    assert f"Released to {held.recipients[0].address}." in html.unescape(page.text)
    rows = re.search(r'<table id="recipients">.*?</table>', page.text, re.S)
    assert rows is not None
    assert "released" in rows.group(0)
    assert "in quarantine" not in page.text
    assert ">Release</button>" not in page.text
    assert 'id="trace-outbound"' in page.text


def test_a_read_token_cannot_release(
    client: TestClient, tenant: Tenant, mail: dict[str, RecordDraft]
) -> None:
    csrf = login(client, tenant.read_token)
    held = mail["held"]
    answer = client.post(f"/dashboard/messages/{held.id}/release", data={"csrf_token": csrf})
    assert answer.status_code == 403
    assert "can only read" in answer.text
    still = client.get(f"/dashboard/messages/{held.id}")
    assert "in quarantine" in still.text
