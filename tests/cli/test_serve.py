"""`mailpolicy serve`'s first-start message: the command it prints to mint another token reaches
the database the server is using, run exactly as printed."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mailpolicy.app import create_app
from mailpolicy.config import Settings

SETTINGS = "/client/v4/accounts/{account}/email-security/settings/domains"
HEX32 = re.compile(r"[0-9a-f]{32}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPOLICY_")}
    return {**env, "PYTHONUNBUFFERED": "1", **settings}


@pytest.fixture
def awkward_url(template_db: Path, tmp_path: Path) -> str:
    """A migrated SQLite database in a directory whose name a shell would split and choke on."""
    directory = tmp_path / "it's a $HOME dir"
    directory.mkdir()
    path = directory / "mailpolicy.db"
    shutil.copyfile(template_db, path)
    return f"sqlite:///{path}"


def new_account(url: str) -> str:
    from mailpolicy.cli import app

    result = CliRunner().invoke(app, ["accounts", "create"], env={"MAILPOLICY_DATABASE_URL": url})
    assert result.exit_code == 0, result.stderr
    account = result.stdout.splitlines()[-1]
    assert HEX32.fullmatch(account)
    return account


@pytest.fixture
def serving(awkward_url: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`python -m mailpolicy serve` on the awkward database; its stdout lines as they come."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mailpolicy", "serve", "--port", str(free_port())],
        env=environment(MAILPOLICY_DATABASE_URL=awkward_url, MAILPOLICY_HOST="127.0.0.1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    lines: list[str] = []
    try:
        yield process, lines
    finally:
        watchdog.cancel()
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def read_until(process: subprocess.Popen[str], lines: list[str], pattern: str) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if re.search(pattern, line):
            return line.rstrip("\n")
    raise AssertionError(f"serve ended without printing {pattern!r}: {lines}")


def test_the_printed_command_mints_a_token_for_the_same_database(
    awkward_url: str, serving: tuple[subprocess.Popen[str], list[str]]
) -> None:
    account = new_account(awkward_url)
    process, lines = serving
    line = read_until(process, lines, r"^mailpolicy: new token: ")
    command = line.removeprefix("mailpolicy: new token: ")
    assert command.startswith("MAILPOLICY_DATABASE_URL='sqlite:///"), command
    assert f"tokens create --account {account} --permission write" in command

    # Run as printed, by a POSIX shell, from somewhere else, with no MAILPOLICY_* set.
    done = subprocess.run(
        ["/bin/sh", "-c", command],
        env=environment(),
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    secret = done.stdout.splitlines()[-1]

    application = create_app(Settings(database_url=awkward_url))
    try:
        with TestClient(application) as client:
            headers = {"Authorization": f"Bearer {secret}"}
            listed = client.get(SETTINGS.format(account=account), headers=headers)
            assert listed.status_code == 200, listed.text
    finally:
        application.state.db.dispose()


def test_the_default_database_needs_no_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the default database the command is printed bare (and the first start, on an
    empty database, prints the new token instead)."""
    import uvicorn

    from mailpolicy.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILPOLICY_DATABASE_URL", raising=False)
    # As `make serve` runs it.
    monkeypatch.setattr(sys, "argv", [".venv/bin/mailpolicy", "serve"])
    served: list[uvicorn.Server] = []

    def run(server: uvicorn.Server, sockets: object = None) -> None:
        served.append(server)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    runner = CliRunner()
    first = runner.invoke(app, ["serve"])
    assert first.exit_code == 0, first.stderr
    assert "Write API token (shown once" in first.stdout
    assert "new token:" not in first.stdout
    assert (tmp_path / "var" / "mailpolicy.db").is_file()
    assert len(served) == 1

    again = runner.invoke(app, ["serve"])
    assert again.exit_code == 0, again.stderr
    found = re.search(r"^mailpolicy: new token: (.*)$", again.stdout, re.M)
    assert found, again.stdout
    assert re.fullmatch(
        r"\.venv/bin/mailpolicy tokens create --account [0-9a-f]{32} --permission write",
        found.group(1),
    ), found.group(1)
