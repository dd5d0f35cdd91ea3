"""The `mailpolicy` command in a real process: whatever stops it, a bad argument, a bad
MAILPOLICY_* setting, a database it cannot use or an unknown id, is told in one line on stderr
with a non-zero exit status, never with a traceback."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mailpolicy import migrate

PYTHON = sys.executable
MISSING = "0" * 32
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
# A narrow console: the error line must still come out whole.
NARROW = {"COLUMNS": "40"}


def environment(**settings: str) -> dict[str, str]:
    """This process's environment without any MAILPOLICY_* variable, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPOLICY_")}
    env.update(NARROW)
    env.update(settings)
    return env


def mailpolicy(
    *args: str, env: dict[str, str], cwd: Path | None = None, entry: str = "module"
) -> subprocess.CompletedProcess[str]:
    """Run the command: `python -m mailpolicy` (module), main() (main) or the installed script."""
    if entry == "module":
        command = [PYTHON, "-m", "mailpolicy", *args]
    elif entry == "main":
        command = [PYTHON, "-c", "from mailpolicy.cli import main; main()", *args]
    else:
        command = [str(Path(PYTHON).with_name("mailpolicy")), *args]
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def one_error_line(done: subprocess.CompletedProcess[str], *expected: str) -> str:
    """The command failed with exactly one line on stderr, which says what `expected` says."""
    assert done.returncode != 0, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    for text in expected:
        assert text in line, line
    return line


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return environment(MAILPOLICY_DATABASE_URL=database_url)


# ---- migrations ---------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["module", "main", "script"])
def test_downgrade_to_an_unknown_revision(
    env: dict[str, str], database_url: str, entry: str
) -> None:
    done = mailpolicy("db", "downgrade", "nope", env=env, entry=entry)
    line = one_error_line(done, "cannot downgrade to 'nope'", "Can't locate revision")
    assert done.returncode == 2
    # It says where the database is and what there is to choose from.
    head = migrate.head(database_url)
    assert head is not None
    assert f"the database is at {head}" in line
    assert "base" in line
    assert migrate.current(database_url) == head


@pytest.mark.parametrize("revision", ["nope", "head+5", "", "0001:0002"])
def test_upgrade_to_a_revision_that_does_not_resolve(env: dict[str, str], revision: str) -> None:
    done = mailpolicy("db", "upgrade", revision, env=env)
    one_error_line(done, f"cannot upgrade to {revision!r}")
    assert done.returncode == 2


# ---- the database URL ---------------------------------------------------------------------


def test_a_url_that_does_not_parse() -> None:
    done = mailpolicy("accounts", "list", env=environment(MAILPOLICY_DATABASE_URL="notaurl"))
    one_error_line(done, "MAILPOLICY_DATABASE_URL", "'notaurl' is not a database URL")
    assert done.returncode == 2


def test_an_unknown_driver_and_the_password_stays_hidden() -> None:
    url = "postgresql+nosuchdriver://ops:hunter2@db.example/mailpolicy"
    done = mailpolicy("accounts", "list", env=environment(MAILPOLICY_DATABASE_URL=url))
    one_error_line(done, "MAILPOLICY_DATABASE_URL", "postgresql+nosuchdriver")
    assert "hunter2" not in done.stderr
    assert done.returncode == 2


def test_a_driver_that_is_not_installed() -> None:
    assert importlib.util.find_spec("pymssql") is None  # the premise of this test
    url = "mssql+pymssql://ops:hunter2@db.example/mailpolicy"
    done = mailpolicy("tokens", "list", env=environment(MAILPOLICY_DATABASE_URL=url))
    one_error_line(done, "MAILPOLICY_DATABASE_URL", "not installed", "pymssql")
    assert "hunter2" not in done.stderr


def test_an_in_memory_database_is_refused() -> None:
    done = mailpolicy("accounts", "create", env=environment(MAILPOLICY_DATABASE_URL="sqlite://"))
    one_error_line(done, "MAILPOLICY_DATABASE_URL", "in-memory")


@pytest.mark.parametrize(
    ("inside", "reason"),
    [("a.db", "File exists"), ("sub/a.db", "Not a directory")],
    ids=["parent-is-a-file", "grandparent-is-a-file"],
)
def test_a_sqlite_directory_that_cannot_be_created(
    tmp_path: Path, inside: str, reason: str
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be\n")
    url = f"sqlite:///{blocker / inside}"
    done = mailpolicy("accounts", "list", env=environment(MAILPOLICY_DATABASE_URL=url))
    one_error_line(done, "MAILPOLICY_DATABASE_URL", "cannot create the directory", reason)


def test_a_sqlite_path_that_is_a_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}"
    done = mailpolicy("accounts", "list", env=environment(MAILPOLICY_DATABASE_URL=url))
    one_error_line(done, f"database {url}", "unable to open database file")


def test_a_read_only_database(database_url: str, tmp_path: Path) -> None:
    path = database_url.removeprefix("sqlite:///")
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    env = environment(MAILPOLICY_DATABASE_URL=url)
    # Reading works; writing is refused in one line.
    assert mailpolicy("accounts", "list", env=env, cwd=tmp_path).returncode == 0
    done = mailpolicy("accounts", "create", env=env, cwd=tmp_path)
    one_error_line(done, "readonly database")
    # Never the statement or its parameters.
    assert "INSERT" not in done.stderr
    assert "[parameters" not in done.stderr


# ---- MAILPOLICY_* settings ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MAILPOLICY_PORT", "abc", "MAILPOLICY_PORT should be a whole number, got 'abc'"),
        ("MAILPOLICY_PORT", "0", "MAILPOLICY_PORT should be greater than or equal to 1"),
        ("MAILPOLICY_PORT", "70000", "MAILPOLICY_PORT should be less than or equal to 65535"),
        ("MAILPOLICY_ALLOW_PRIVATE_IPS", "maybe", "should be true or false, got 'maybe'"),
        ("MAILPOLICY_MAX_BODY_BYTES", "1e3", "MAILPOLICY_MAX_BODY_BYTES should be a whole number"),
        ("MAILPOLICY_MAX_BODY_BYTES", "10", "greater than or equal to 1024, got '10'"),
        ("MAILPOLICY_HEADER_TIMEOUT", "soon", "MAILPOLICY_HEADER_TIMEOUT should be a number"),
        ("MAILPOLICY_KEEPALIVE_TIMEOUT", "0", "MAILPOLICY_KEEPALIVE_TIMEOUT should be greater"),
        ("MAILPOLICY_BODY_TIMEOUT", "inf", "MAILPOLICY_BODY_TIMEOUT should be less than"),
    ],
)
def test_a_bad_setting_names_its_variable(
    env: dict[str, str], variable: str, value: str, expected: str
) -> None:
    # serve reads them all to start; every other command reads them too.
    command = ("serve",) if variable == "MAILPOLICY_PORT" else ("accounts", "list")
    done = mailpolicy(*command, env={**env, variable: value})
    one_error_line(done, expected)
    assert done.returncode == 2


def test_several_bad_settings_one_line_each(env: dict[str, str]) -> None:
    bad = {"MAILPOLICY_PORT": "x", "MAILPOLICY_BODY_TIMEOUT": "-1"}
    done = mailpolicy("serve", env={**env, **bad})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith("error: MAILPOLICY_PORT ")
    assert lines[1].startswith("error: MAILPOLICY_BODY_TIMEOUT ")


def test_a_bad_log_level(env: dict[str, str]) -> None:
    done = mailpolicy("serve", env={**env, "MAILPOLICY_LOG_LEVEL": "loud"})
    one_error_line(done, "MAILPOLICY_LOG_LEVEL", "'loud'", "debug")
    assert done.returncode == 2


# ---- unknown ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("tokens", "create", "--account", MISSING), f"No account {MISSING}"),
        (("keys", "create", "--email", "a@example.com", "--account", MISSING), "No account"),
        (("tokens", "revoke", UNKNOWN_ID), f"no token {UNKNOWN_ID}"),
        (("keys", "revoke", UNKNOWN_ID), f"no key {UNKNOWN_ID}"),
        (("domains", "activate", UNKNOWN_ID), UNKNOWN_ID),
        (
            (
                "evaluate",
                "--account",
                MISSING,
                "--header-from",
                "a@example.com",
                "--rcpt",
                "b@example.com",
                "--client-ip",
                "203.0.113.9",
            ),
            f"No account {MISSING}",
        ),
    ],
    ids=["tokens-create", "keys-create", "tokens-revoke", "keys-revoke", "domains", "evaluate"],
)
def test_an_unknown_id(env: dict[str, str], args: tuple[str, ...], expected: str) -> None:
    done = mailpolicy(*args, env=env)
    one_error_line(done, expected)
    assert done.returncode == 1
    assert done.stdout == ""


# ---- evaluate's message file --------------------------------------------------------------


def test_an_eml_the_header_parser_chokes_on(env: dict[str, str], tmp_path: Path) -> None:
    """Python's header parser fails outright on some malformed headers (IndexError here); the
    header is then read as it stands, and found wanting in one line."""
    eml = tmp_path / "broken.eml"
    eml.write_bytes(b"From: a@example.com\nTo: =?utf-8?b?!!!!?=\nSubject: x\n\nbody\n")
    done = mailpolicy(
        "evaluate", "--account", MISSING, "--eml", str(eml), "--client-ip", "203.0.113.9", env=env
    )
    one_error_line(done, f"the To and Cc recipients of {eml}", "not a valid email address")
    assert done.returncode == 2


def test_an_eml_that_is_not_a_message(env: dict[str, str], tmp_path: Path) -> None:
    eml = tmp_path / "noise.eml"
    eml.write_bytes(bytes(range(256)) * 4)
    done = mailpolicy(
        "evaluate", "--account", MISSING, "--eml", str(eml), "--client-ip", "203.0.113.9", env=env
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines == [
        "error: --header-from is required (or an --eml file with a From header)",
        "error: --rcpt is required (or an --eml file with To or Cc recipients)",
    ]


# ---- the last resort ----------------------------------------------------------------------

BOOM = (
    "import mailpolicy.cli as cli\n"
    "import mailpolicy.cli.access as access\n"
    "def boom(*args, **kwargs):\n"
    "    raise RuntimeError('the disk is on fire')\n"
    "access.create_account = boom\n"
    "cli.main()\n"
)


def test_an_unexpected_error_is_one_line_naming_its_type(env: dict[str, str]) -> None:
    done = subprocess.run(
        [PYTHON, "-c", BOOM, "accounts", "create"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    line = one_error_line(done, "RuntimeError", "the disk is on fire", "MAILPOLICY_DEBUG=1")
    assert done.returncode == 1
    assert re.fullmatch(r"error: unexpected RuntimeError: .*", line)


def test_mailpolicy_debug_shows_the_traceback(env: dict[str, str]) -> None:
    done = subprocess.run(
        [PYTHON, "-c", BOOM, "accounts", "create"],
        env={**env, "MAILPOLICY_DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback (most recent call last)" in done.stderr
    assert "RuntimeError: the disk is on fire" in done.stderr
    assert "in accounts_create" in done.stderr


def test_usage_errors_are_still_typers(env: dict[str, str]) -> None:
    done = mailpolicy("serve", "--port", "70000", env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--port" in done.stderr
