"""`mailpolicy audit`, and the events the operator's commands leave: tokens and keys created and
revoked, a domain activated by hand, all by "cli", never a secret; the history read back as a
table or JSON lines, with the API's filters."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mailpolicy.access.credentials import digest
from tests.support.cli import (
    BLOCK_SENDER,
    DOMAIN,
    UUID,
    Cli,
    bearer,
    last_line,
    new_account,
    new_token,
    url,
)

AUDIT = "/client/v4/accounts/{account}/email-security/audit"


def lines(cli: Cli, account: str, *args: str) -> list[dict[str, Any]]:
    """The events `mailpolicy audit --json` prints, one JSON object a line."""
    result = cli("audit", "--account", account, "--json", *args)
    return [json.loads(line) for line in result.stdout.splitlines()]


def new_key(cli: Cli, account: str, email: str = "ops@example.com") -> tuple[str, str]:
    result = cli("keys", "create", "--email", email, "--account", account)
    found = re.search(rf"key ({UUID})", result.stderr)
    assert found, result.stderr
    return found.group(1), last_line(result)


def test_tokens_created_and_revoked_are_events_without_secrets(cli: Cli) -> None:
    account = new_account(cli)
    token_id, secret = new_token(cli, account, "write")
    assert cli("tokens", "revoke", token_id).stdout.strip() == f"revoked {token_id}"
    cli("tokens", "revoke", token_id)  # again: nothing changes, nothing is recorded

    revoked, created = lines(cli, account)
    assert (created["action"], created["resource"], created["entry_id"]) == (
        "create",
        "tokens",
        token_id,
    )
    assert created["actor"] == "cli"
    assert created["before"] is None
    assert created["after"]["permission"] == "write"
    assert created["after"]["revoked_at"] is None
    assert (revoked["action"], revoked["entry_id"], revoked["actor"]) == ("revoke", token_id, "cli")
    assert revoked["before"] == created["after"]
    assert revoked["after"]["revoked_at"] is not None
    shown = cli("audit", "--account", account)
    for output in (json.dumps([created, revoked]), shown.stdout + shown.stderr):
        assert secret not in output
        assert digest(secret) not in output


def test_keys_created_and_revoked_are_events_without_secrets(cli: Cli) -> None:
    account = new_account(cli)
    key_id, secret = new_key(cli, account)
    cli("keys", "revoke", key_id)
    revoked, created = lines(cli, account, "--resource", "keys")
    assert (created["action"], created["entry_id"], created["actor"]) == ("create", key_id, "cli")
    assert created["after"]["email"] == "ops@example.com"
    assert (revoked["action"], revoked["entry_id"]) == ("revoke", key_id)
    text = json.dumps([created, revoked])
    assert secret not in text
    assert digest(secret) not in text


def test_an_unknown_token_is_an_error_and_no_event(cli: Cli) -> None:
    account = new_account(cli)
    result = cli("tokens", "revoke", "00000000-0000-4000-8000-000000000000", ok=False)
    assert result.exit_code == 1
    assert "no token" in result.stderr
    assert lines(cli, account) == []


def test_a_domain_activated_by_hand_is_an_event(cli: Cli, client: TestClient) -> None:
    account = new_account(cli)
    token_id, secret = new_token(cli, account, "write")
    created = client.post(url(account, "domains"), json=DOMAIN, headers=bearer(secret))
    assert created.status_code == 201, created.text
    domain_id = created.json()["result"]["id"]
    cli("domains", "activate", domain_id)
    active = client.get(url(account, "domains", domain_id), headers=bearer(secret)).json()["result"]

    activated, made = lines(cli, account, "--entry-id", domain_id)
    assert (made["action"], made["actor"]) == ("create", f"token:{token_id}")
    assert made["after"] == created.json()["result"]
    assert (activated["action"], activated["actor"], activated["resource"]) == (
        "activate",
        "cli",
        "domains",
    )
    assert activated["before"]["status"] == "PENDING"
    assert steady(activated["before"]) == steady(made["after"])
    assert steady(activated["after"]) == steady(active)
    assert activated["after"]["authorization"]["authorized"] is True


def steady(entry: dict[str, Any]) -> dict[str, Any]:
    """A domain without its daily counts, whose timestamp moves at midnight."""
    return {k: v for k, v in entry.items() if k != "emails_processed"}


def test_the_json_lines_are_the_api_events(cli: Cli, client: TestClient) -> None:
    account = new_account(cli)
    _, secret = new_token(cli, account, "write")
    created = client.post(url(account, "block_senders"), json=BLOCK_SENDER, headers=bearer(secret))
    entry_id = created.json()["result"]["id"]
    patched = client.patch(
        url(account, "block_senders", entry_id), json={"comments": "seen"}, headers=bearer(secret)
    )
    assert patched.status_code == 200, patched.text
    api = client.get(AUDIT.format(account=account), headers=bearer(secret)).json()["result"]
    assert lines(cli, account) == api
    assert lines(cli, account, "--asc") == list(reversed(api))


def test_the_table_says_what_changed(cli: Cli, client: TestClient) -> None:
    account = new_account(cli)
    token_id, secret = new_token(cli, account, "write")
    created = client.post(url(account, "block_senders"), json=BLOCK_SENDER, headers=bearer(secret))
    entry_id = created.json()["result"]["id"]
    client.patch(
        url(account, "block_senders", entry_id),
        json={"pattern": "junk.example.net", "comments": "renamed"},
        headers=bearer(secret),
    )
    client.delete(url(account, "block_senders", entry_id), headers=bearer(secret))

    result = cli("audit", "--account", account)
    rows = [line for line in result.stdout.splitlines() if entry_id in line]
    assert len(rows) == 3
    deleted, edited, made = rows  # newest first
    for row, action in ((deleted, "delete"), (edited, "edit"), (made, "create")):
        assert f"token:{token_id}" in row
        assert f" {action} " in row
        assert "block_senders" in row
    assert "pattern='spam.example.net'" in made
    assert "pattern: 'spam.example.net' → 'junk.example.net'" in edited
    assert "comments: None → 'renamed'" in edited
    assert "modified_at" not in edited
    assert "pattern='junk.example.net'" in deleted
    assert result.stderr.strip() == "4 of 4 events"


def test_filters_and_limit(cli: Cli, client: TestClient) -> None:
    account = new_account(cli)
    token_id, secret = new_token(cli, account, "write")
    blocked = client.post(url(account, "block_senders"), json=BLOCK_SENDER, headers=bearer(secret))
    body = {"deletes": [], "patches": [], "puts": [], "posts": [{"pattern": "https://a.example/"}]}
    batch = client.post(
        url(account, "url_ignore_patterns", "batch"), json=body, headers=bearer(secret)
    )
    assert batch.status_code == 200, batch.text
    batch_id = batch.headers["x-mailpolicy-batch-id"]
    everything = lines(cli, account)
    assert len(everything) == 3

    assert [e["resource"] for e in lines(cli, account, "--resource", "block_senders")] == [
        "block_senders"
    ]
    assert lines(cli, account, "--entry-id", blocked.json()["result"]["id"]) == [everything[1]]
    assert lines(cli, account, "--actor", "cli") == [everything[2]]
    assert len(lines(cli, account, "--actor", f"token:{token_id}")) == 2
    assert lines(cli, account, "--batch-id", batch_id) == [everything[0]]
    assert lines(cli, account, "--action", "create") == everything
    assert lines(cli, account, "--limit", "2") == everything[:2]
    middle = everything[1]["occurred_at"]
    assert lines(cli, account, "--since", middle) == everything[:2]
    assert lines(cli, account, "--until", middle) == everything[2:]
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert lines(cli, account, "--since", later) == []
    limited = cli("audit", "--account", account, "--limit", "1")
    assert limited.stderr.strip() == "1 of 3 events"


def test_a_limit_past_one_page_reads_every_page(cli: Cli, client: TestClient) -> None:
    account = new_account(cli)
    _, secret = new_token(cli, account, "write")
    posts = [{"pattern": f"https://p{n}.example/"} for n in range(1000)]
    body = {"deletes": [], "patches": [], "puts": [], "posts": posts}
    response = client.post(
        url(account, "url_ignore_patterns", "batch"), json=body, headers=bearer(secret)
    )
    assert response.status_code == 200, response.text
    everything = lines(cli, account, "--limit", "5000")
    assert len(everything) == 1001
    assert len({e["id"] for e in everything}) == 1001
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    assert len(lines(cli, account, "--limit", "1000")) == 1000
    assert lines(cli, account, "--limit", "1001") == everything


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(("--since", "yesterday"), "--since: must be an RFC 3339", id="since"),
        pytest.param(("--until", "2026-01-31T09:30:00"), "--until: must have", id="naive"),
        pytest.param(
            ("--since", "2026-02-01T00:00:00Z", "--until", "2026-01-01T00:00:00Z"),
            "--until: must be later than since",
            id="backwards",
        ),
        pytest.param(("--resource", "blocked"), "--resource:", id="resource"),
        pytest.param(("--action", "update"), "--action:", id="action"),
    ],
)
def test_bad_options_are_usage_errors(cli: Cli, args: tuple[str, ...], expected: str) -> None:
    account = new_account(cli)
    result = cli("audit", "--account", account, *args, ok=False)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert expected in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""


def test_an_unknown_account_is_an_error(cli: Cli) -> None:
    missing = "0" * 32
    result = cli("audit", "--account", missing, ok=False)
    assert result.exit_code == 1
    assert f"No account {missing}" in result.stderr
    assert result.stdout == ""
