"""The `mailpolicy` command through its public interface (Typer's CliRunner), against the same
database a TestClient serves, so that what the CLI makes is checked against the API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mailpolicy import migrate
from mailpolicy.cli import app as cli_app
from tests.support.cli import (
    BLOCK_SENDER,
    DOMAIN,
    HEX32,
    UUID,
    Cli,
    bearer,
    last_line,
    new_account,
    new_token,
    url,
)


def test_accounts_create_prints_the_id_alone(cli: Cli) -> None:
    result = cli("accounts", "create", "--name", "first")
    assert HEX32.fullmatch(last_line(result))
    other = new_account(cli, "second")
    assert other != last_line(result)


def test_tokens_create_prints_a_working_write_token(cli: Cli, client: TestClient) -> None:
    account = new_account(cli)
    _, secret = new_token(cli, account, "write")
    created = client.post(url(account, "block_senders"), json=BLOCK_SENDER, headers=bearer(secret))
    assert created.status_code == 201, created.text
    listed = client.get(url(account, "block_senders"), headers=bearer(secret))
    assert [e["id"] for e in listed.json()["result"]] == [created.json()["result"]["id"]]


def test_a_read_token_reads_but_cannot_write(cli: Cli, client: TestClient) -> None:
    account = new_account(cli)
    _, secret = new_token(cli, account, "read")
    assert client.get(url(account, "block_senders"), headers=bearer(secret)).status_code == 200
    refused = client.post(url(account, "block_senders"), json=BLOCK_SENDER, headers=bearer(secret))
    assert refused.status_code == 403
    assert refused.json()["success"] is False


def test_a_token_reaches_only_its_account(cli: Cli, client: TestClient) -> None:
    mine, theirs = new_account(cli, "mine"), new_account(cli, "theirs")
    _, secret = new_token(cli, mine, "write")
    assert client.get(url(theirs, "block_senders"), headers=bearer(secret)).status_code == 403


def test_tokens_list_shows_whole_ids_and_no_secrets(cli: Cli) -> None:
    account = new_account(cli)
    token_id, secret = new_token(cli, account, "write")
    read_id, read_secret = new_token(cli, account, "read")
    listing = cli("tokens", "list", "--account", account)
    shown = listing.stdout + listing.stderr
    # Scripts read ids from the listing to revoke them: they must appear whole, not cut short.
    assert token_id in shown, shown
    assert read_id in shown, shown
    assert account in shown, shown
    assert secret not in shown
    assert read_secret not in shown


def test_the_notes_on_stderr_are_not_wrapped(cli: Cli) -> None:
    """The note beside a new token or key is one line, ids whole, so it can be grepped."""
    account = new_account(cli)
    token = cli("tokens", "create", "--account", account, "--permission", "write")
    assert re.search(rf"^token {UUID} \(write\) for account {account}$", token.stderr, re.M), (
        token.stderr
    )
    key = cli("keys", "create", "--email", "ops@example.com", "--account", account)
    assert re.search(
        rf"^key {UUID} \(write\) for ops@example.com on account {account}$", key.stderr, re.M
    ), key.stderr


def test_accounts_list_shows_whole_ids(cli: Cli) -> None:
    account = new_account(cli)
    listing = cli("accounts", "list")
    assert account in listing.stdout, listing.stdout


def test_tokens_list_hides_secrets_even_in_part(cli: Cli) -> None:
    account = new_account(cli)
    _, secret = new_token(cli, account, "write")
    listing = cli("tokens", "list")
    shown = listing.stdout + listing.stderr
    for start in range(0, len(secret) - 8, 4):
        assert secret[start : start + 8] not in shown


def test_tokens_revoke_makes_the_token_401(cli: Cli, client: TestClient) -> None:
    account = new_account(cli)
    token_id, secret = new_token(cli, account, "write")
    _, kept = new_token(cli, account, "write")
    assert client.get(url(account, "domains"), headers=bearer(secret)).status_code == 200

    result = cli("tokens", "revoke", token_id)
    assert token_id in result.stdout

    refused = client.get(url(account, "domains"), headers=bearer(secret))
    assert refused.status_code == 401
    assert refused.json()["success"] is False
    assert client.get(url(account, "domains"), headers=bearer(kept)).status_code == 200
    # Revoking twice is harmless; an unknown id is an error.
    cli("tokens", "revoke", token_id)
    unknown = cli("tokens", "revoke", "00000000-0000-4000-8000-000000000000", ok=False)
    assert unknown.exit_code != 0
    assert "no token" in unknown.stderr.lower()


def test_keys_create_prints_a_working_legacy_key(cli: Cli, client: TestClient) -> None:
    account = new_account(cli)
    result = cli("keys", "create", "--email", "Admin@Example.com", "--account", account)
    key = last_line(result)
    assert re.fullmatch(r"[0-9a-f]{37}", key), key
    headers = {"X-Auth-Email": "admin@example.com", "X-Auth-Key": key}
    created = client.post(url(account, "block_senders"), json=BLOCK_SENDER, headers=headers)
    assert created.status_code == 201, created.text
    wrong = {"X-Auth-Email": "other@example.com", "X-Auth-Key": key}
    assert client.get(url(account, "block_senders"), headers=wrong).status_code == 401
    listing = cli("keys", "list")
    assert key not in listing.stdout + listing.stderr


def test_keys_list_shows_whole_ids_and_no_secrets(cli: Cli) -> None:
    account = new_account(cli)
    result = cli("keys", "create", "--email", "ops@example.com", "--account", account)
    found = re.search(rf"key ({UUID})", result.stderr)
    assert found, result.stderr
    listing = cli("keys", "list")
    shown = listing.stdout + listing.stderr
    assert found.group(1) in shown, shown
    assert account in shown, shown
    assert last_line(result) not in shown


def test_a_read_key_cannot_write(cli: Cli, client: TestClient) -> None:
    account = new_account(cli)
    result = cli(
        "keys", "create", "--email", "ro@example.com", "--account", account, "--permission", "read"
    )
    headers = {"X-Auth-Email": "ro@example.com", "X-Auth-Key": last_line(result)}
    assert client.get(url(account, "block_senders"), headers=headers).status_code == 200
    denied = client.post(url(account, "block_senders"), json=BLOCK_SENDER, headers=headers)
    assert denied.status_code == 403


def test_domains_activate_ends_verification(cli: Cli, client: TestClient) -> None:
    account = new_account(cli)
    _, secret = new_token(cli, account, "write")
    created = client.post(url(account, "domains"), json=DOMAIN, headers=bearer(secret))
    assert created.status_code == 201, created.text
    domain_id = created.json()["result"]["id"]
    pending = client.get(url(account, "domains", domain_id, "verification"), headers=bearer(secret))
    assert pending.status_code == 200
    assert pending.json()["result"]["status"] == "PENDING"

    result = cli("domains", "activate", domain_id)
    assert domain_id in result.stdout

    verified = client.get(
        url(account, "domains", domain_id, "verification"), headers=bearer(secret)
    )
    assert verified.status_code == 204
    fetched = client.get(url(account, "domains", domain_id), headers=bearer(secret)).json()
    assert fetched["result"]["status"] == "ACTIVE"
    assert fetched["result"]["authorization"]["authorized"] is True


def test_domains_activate_unknown_id_fails(cli: Cli) -> None:
    result = cli("domains", "activate", "00000000-0000-4000-8000-000000000000", ok=False)
    assert result.exit_code != 0
    assert "00000000-0000-4000-8000-000000000000" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("tokens", "create", "--permission", "write"), id="tokens-create"),
        pytest.param(("keys", "create", "--email", "a@example.com"), id="keys-create"),
    ],
)
def test_unknown_account_is_an_error(cli: Cli, args: tuple[str, ...]) -> None:
    missing = "0" * 32
    result = cli(*args, "--account", missing, ok=False)
    assert result.exit_code != 0
    # A clean exit with a message, not a crash.
    assert isinstance(result.exception, SystemExit)
    assert "error" in result.stderr.lower()
    assert missing in result.stderr
    assert result.stdout.strip() == ""


def test_db_current_and_upgrade(cli: Cli, database_url: str) -> None:
    head = migrate.head(database_url)
    assert head is not None
    assert last_line(cli("db", "current")) == head
    upgraded = cli("db", "upgrade")
    assert head in last_line(upgraded)
    assert migrate.current(database_url) == head


def test_db_downgrade_and_upgrade_a_fresh_file(cli: Cli, tmp_path: Path) -> None:
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    runner = CliRunner()
    env = {"MAILPOLICY_DATABASE_URL": fresh}

    def run(*args: str) -> Result:
        result = runner.invoke(cli_app, list(args), env=env)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    assert last_line(run("db", "current")) == "base"
    head = migrate.head(fresh)
    assert head is not None
    assert head in last_line(run("db", "upgrade"))
    assert last_line(run("db", "current")) == head
    run("db", "downgrade", "base")
    assert last_line(run("db", "current")) == "base"
    run("db", "upgrade")
    assert migrate.current(fresh) == head
    # The unused cli fixture's database is untouched by all this.
    assert last_line(cli("db", "current")) == head


def test_the_installed_command_keeps_the_token_whole_on_a_narrow_console(
    cli: Cli, client: TestClient, database_url: str
) -> None:
    """The console script, in a subprocess with 20 columns: the token must still come out whole,
    alone on the last line of stdout."""
    account = new_account(cli)
    command = Path(sys.executable).with_name("mailpolicy")
    env = {**os.environ, "MAILPOLICY_DATABASE_URL": database_url, "COLUMNS": "20"}
    done = subprocess.run(
        [str(command), "tokens", "create", "--account", account, "--permission", "read"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    secret = done.stdout.splitlines()[-1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", secret), done.stdout
    assert client.get(url(account, "domains"), headers=bearer(secret)).status_code == 200


@pytest.mark.parametrize("email", ["nope", "ops@", "two@@example.com", "ops@example..com", ""])
def test_keys_create_refuses_a_bad_email(cli: Cli, tmp_path: Path, email: str) -> None:
    account = new_account(cli)
    result = cli("keys", "create", "--email", email, "--account", account, ok=False)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: --email: {email!r} is not a valid email address"), lines
    # Nothing written: no key, and a database not yet made is not made either.
    assert account not in cli("keys", "list").stdout
    fresh = tmp_path / "untouched" / "mailpolicy.db"
    runner = CliRunner()
    again = runner.invoke(
        cli_app,
        ["keys", "create", "--email", email, "--account", account],
        env={"MAILPOLICY_DATABASE_URL": f"sqlite:///{fresh}"},
    )
    assert again.exit_code == 2
    assert not fresh.parent.exists()
