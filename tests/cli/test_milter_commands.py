"""`mailpolicy milter` and `mailpolicy stats` through the command line."""

from __future__ import annotations

import signal

from fastapi.testclient import TestClient

from mailpolicy.db import Database
from mailpolicy.stats.hits import HitRecorder
from tests.support.cli import BLOCK_SENDER, Cli, bearer, new_account, new_token, url


def test_stats_lists_entries_by_hits(cli: Cli, client: TestClient, database_url: str) -> None:
    account = new_account(cli)
    _, secret = new_token(cli, account, "write")
    made = client.post(url(account, "block_senders"), json=BLOCK_SENDER, headers=bearer(secret))
    assert made.status_code == 201
    idle = client.post(
        url(account, "block_senders"),
        json={**BLOCK_SENDER, "pattern": "idle.example"},
        headers=bearer(secret),
    ).json()["result"]
    entry = made.json()["result"]
    database = Database(database_url)
    recorder = HitRecorder(database, interval=60)
    recorder.record(account, [("block_senders", entry["id"])], ())
    assert recorder.flush()
    database.dispose()
    result = cli("stats", "--account", account)
    lines = result.stdout.splitlines()
    first = next(n for n, line in enumerate(lines) if entry["id"] in line)
    second = next(n for n, line in enumerate(lines) if idle["id"] in line)
    assert first < second  # most hits first
    assert " 1 " in lines[first]
    assert "never" in lines[second]
    assert "2 of 2 entries" in result.stderr
    only = cli("stats", "--account", account, "--order", "created_at", "--asc", "--limit", "1")
    assert entry["id"] in only.stdout
    assert idle["id"] not in only.stdout


def test_stats_refuses_bad_options_in_one_line(cli: Cli) -> None:
    account = new_account(cli)
    result = cli("stats", "--account", account, "--resource", "nope", ok=False)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "--resource" in result.stderr
    unknown = cli("stats", "--account", "0" * 32, ok=False)
    assert unknown.exit_code == 1
    assert "No account" in unknown.stderr


def test_milter_refuses_a_bad_listen_address_in_one_line(cli: Cli) -> None:
    result = cli("milter", "--listen", "tcp:somewhere", ok=False)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: --listen:")
    assert "inet:HOST:PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_milter_says_in_one_line_when_it_cannot_listen(cli: Cli) -> None:
    result = cli("milter", "--listen", "unix:/nonexistent/dir/milter.sock", ok=False)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot listen on unix:/nonexistent/dir/milter.sock")
    assert "Traceback" not in result.stderr
    # The milter blocks the stop signals while it serves (libmilter takes them on a thread of
    # its own); the process that ran it has its own mask back, so its children can be stopped.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert not blocked & {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
