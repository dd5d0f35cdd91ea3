"""`mailpolicy messages` (search, show, trace, release) and `mailpolicy whatif --file`, over
records made by the milter's own decision code (tests/support/messages.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mailpolicy.messages.records import RecordDraft
from tests.support.cli import BLOCK_SENDER, DOMAIN, Cli, bearer, new_account, new_token, url
from tests.support.messages import record_message


@pytest.fixture
def story(cli: Cli, client: TestClient, app: FastAPI) -> tuple[str, str, dict[str, RecordDraft]]:
    account = new_account(cli)
    _, secret = new_token(cli, account, "write")
    drops = {**DOMAIN, "drop_dispositions": ["MALICIOUS"]}
    made = client.post(url(account, "domains"), json=drops, headers=bearer(secret))
    assert made.status_code == 201, made.text
    cli("domains", "activate", made.json()["result"]["id"])
    blocked = client.post(url(account, "block_senders"), json=BLOCK_SENDER, headers=bearer(secret))
    assert blocked.status_code == 201, blocked.text
    to = ["ann@mail.example.com"]
    database = app.state.db
    (ok,) = record_message(database, "friend@ok.example", to, subject="Lunch")
    (spam,) = record_message(database, "promo@spam.example.net", to, subject="never seen")
    return account, secret, {"ok": ok, "spam": spam}


def test_search_lists_the_matching_messages(
    cli: Cli, story: tuple[str, str, dict[str, RecordDraft]]
) -> None:
    account, _, mail = story
    every = cli("messages", "search", "--account", account)
    assert mail["ok"].id in every.stdout
    assert mail["spam"].id in every.stdout
    assert "2 of 2 messages" in every.stderr
    spam = cli("messages", "search", "--account", account, "--sender", "spam.example.net")
    assert mail["spam"].id in spam.stdout
    assert mail["ok"].id not in spam.stdout
    bad = cli("messages", "search", "--account", account, "--start", "tomorrow", ok=False)
    assert bad.exit_code == 2
    assert "--start" in bad.stderr


def test_show_and_trace_one_message(
    cli: Cli, story: tuple[str, str, dict[str, RecordDraft]]
) -> None:
    account, _, mail = story
    shown = json.loads(cli("messages", "show", "--account", account, mail["spam"].id).stdout)
    assert shown["id"] == mail["spam"].id
    assert shown["properties"]["blocklisted_pattern"] == "spam.example.net"
    traced = cli("messages", "trace", "--account", account, mail["spam"].id).stdout
    assert "at RCPT" in traced
    assert "honoured: block block_senders/" in traced
    missing = cli("messages", "show", "--account", account, "nope", ok=False)
    assert missing.exit_code == 1
    assert "no message 'nope'" in missing.stderr


def test_release_of_mail_not_held_says_so(
    cli: Cli, story: tuple[str, str, dict[str, RecordDraft]]
) -> None:
    account, _, mail = story
    result = cli("messages", "release", "--account", account, mail["ok"].id, ok=False)
    assert result.exit_code == 1
    assert "not in quarantine" in result.stderr


def test_whatif_from_a_file_reports_and_applies_nothing(
    cli: Cli,
    client: TestClient,
    story: tuple[str, str, dict[str, RecordDraft]],
    tmp_path: Path,
) -> None:
    account, secret, mail = story
    changes = tmp_path / "changes.json"
    changes.write_text(
        json.dumps({"block_senders": {"posts": [{**BLOCK_SENDER, "pattern": "ok.example"}]}})
    )
    result = json.loads(
        cli("whatif", "--account", account, "--file", str(changes), "--json").stdout
    )
    assert [m["id"] for m in result["messages"]] == [mail["ok"].id]
    table = cli("whatif", "--account", account, "--file", str(changes))
    assert "1 of 2 messages would change" in table.stderr
    listed = client.get(url(account, "block_senders"), headers=bearer(secret)).json()["result"]
    assert [e["pattern"] for e in listed] == ["spam.example.net"]
    changes.write_text(json.dumps({"block_senders": {"posts": [{"pattern_type": "DOMAIN"}]}}))
    bad = cli("whatif", "--account", account, "--file", str(changes), ok=False)
    assert bad.exit_code == 2
    assert "/block_senders/posts/0/pattern" in bad.stderr
