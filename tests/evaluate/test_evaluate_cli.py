"""`mailpolicy evaluate` through its command line, against the same database the API writes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mailpolicy.cli import app
from tests.conftest import Api, Tenant


def run(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"MAILPOLICY_DATABASE_URL": database_url})
    return result.exit_code, result.stdout, result.stderr


def test_json_verdict_from_flags(api: Api, tenant: Tenant, database_url: str) -> None:
    api.create(
        "block_senders", {"pattern": "evil.example", "pattern_type": "DOMAIN", "is_regex": False}
    )
    code, out, _ = run(
        database_url,
        "evaluate",
        "--account",
        tenant.id,
        "--envelope-from",
        "x@evil.example",
        "--header-from",
        "X <x@evil.example>",
        "--rcpt",
        "alice@corp.example",
        "--rcpt",
        "bob@corp.example",
        "--client-ip",
        "2001:db8::5",
        "--json",
    )
    assert code == 0, out
    recipients = json.loads(out)["recipients"]
    assert [r["recipient"] for r in recipients] == ["alice@corp.example", "bob@corp.example"]
    assert {r["disposition"] for r in recipients} == {"MALICIOUS"}


def test_eml_supplies_headers_and_people_get_a_table(
    api: Api, tenant: Tenant, database_url: str, tmp_path: Path
) -> None:
    api.create(
        "impersonation_registry",
        {"name": "Dana Chief", "email": "dana@corp.example", "is_email_regex": False},
    )
    eml = tmp_path / "message.eml"
    eml.write_text(
        'From: "Dana   Chief" <dana.chief@freemail.example>\n'
        "To: alice@corp.example\n"
        "Subject: urgent wire\n\nPlease pay.\n"
    )
    code, out, _ = run(
        database_url,
        "evaluate",
        "--account",
        tenant.id,
        "--eml",
        str(eml),
        "--client-ip",
        "203.0.113.9",
    )
    assert code == 0, out
    assert "alice@corp.example" in out
    assert "MALICIOUS-BEC" in out
    assert "impersonation_registry" in out


def test_invalid_message_exits_non_zero_with_reason(tenant: Tenant, database_url: str) -> None:
    code, _, err = run(
        database_url,
        "evaluate",
        "--account",
        tenant.id,
        "--header-from",
        "a@b.example",
        "--rcpt",
        "c@d.example",
        "--client-ip",
        "not-an-ip",
    )
    assert code == 2
    assert "client_ip" in err


def test_unknown_account_is_an_error(database_url: str) -> None:
    code, _, err = run(
        database_url,
        "evaluate",
        "--account",
        "0" * 32,
        "--header-from",
        "a@b.example",
        "--rcpt",
        "c@d.example",
        "--client-ip",
        "203.0.113.1",
    )
    assert code == 1
    assert "account" in err.lower()
