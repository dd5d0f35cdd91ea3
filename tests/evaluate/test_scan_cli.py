"""`mailpolicy scan FILE.eml` through its command line: the same scan and answer as POST /scan,
with a real rspamd, on the database the API writes."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI
from typer.testing import CliRunner

from mailpolicy.cli import app as cli
from tests.support.api import Api, Tenant, protect
from tests.support.rspamd import CLEAN_DOMAIN, CLEAN_HOST, CLEAN_IP, GTUBE, Rspamd

PROTECTED = "northwind.org"


def run(database_url: str, rspamd: Rspamd, *args: str) -> tuple[int, str, str]:
    env = {"MAILPOLICY_DATABASE_URL": database_url, "MAILPOLICY_RSPAMD_URL": rspamd.url}
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def eml(tmp_path: Path, text: str, to: str = f"ann@{PROTECTED}") -> Path:
    path = tmp_path / f"message-{len(list(tmp_path.iterdir()))}.eml"
    path.write_bytes(
        f"From: News <news@{CLEAN_DOMAIN}>\r\nTo: {to}\r\nSubject: Hello\r\n"
        f"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n\r\n{text}\r\n".encode()
    )
    return path


def test_gtube_is_told_as_rspamd_spam_and_dropped(
    api: Api, tenant: Tenant, app: FastAPI, database_url: str, rspamd: Rspamd, tmp_path: Path
) -> None:
    protect(api.create, app.state.db, PROTECTED, "SPAM")
    path = eml(tmp_path, GTUBE)
    args = ["scan", str(path), "--account", tenant.id, "--client-ip", CLEAN_IP]
    code, out, err = run(database_url, rspamd, *args, "--helo", CLEAN_HOST, "--json")
    assert code == 0, err
    told = json.loads(out)
    assert told["scan"]["status"] == "ok"
    assert told["recipients"][0]["action"] == "drop"
    assert [f["source"] for f in told["findings"] if f["disposition"] == "SPAM"] == ["rspamd"]
    code, out, err = run(database_url, rspamd, *args)
    assert code == 0, err
    assert "rspamd: action 'reject'" in out
    assert "found SPAM by rspamd: action 'reject'" in out
    assert f"ann@{PROTECTED}: drop, disposition SPAM" in out


def test_the_recipients_given_replace_the_headers(
    tenant: Tenant, database_url: str, rspamd: Rspamd, tmp_path: Path
) -> None:
    path = eml(tmp_path, "Hello.")
    code, out, err = run(
        database_url,
        rspamd,
        *("scan", str(path), "--account", tenant.id, "--client-ip", CLEAN_IP),
        *("--rcpt", "bob@elsewhere.example", "--rcpt", "carol@elsewhere.example", "--json"),
    )
    assert code == 0, err
    recipients = [r["recipient"] for r in json.loads(out)["recipients"]]
    assert recipients == ["bob@elsewhere.example", "carol@elsewhere.example"]


def test_bad_input_names_the_option_or_the_file(
    tenant: Tenant, database_url: str, rspamd: Rspamd, tmp_path: Path
) -> None:
    path = eml(tmp_path, "Hello.")
    base = ["scan", str(path), "--account", tenant.id]
    code, _, err = run(database_url, rspamd, *base, "--client-ip", "nope")
    assert code == 2
    assert "--client-ip: 'nope' is not an IPv4 or IPv6 address" in err
    code, _, err = run(database_url, rspamd, *base, "--client-ip", CLEAN_IP, "--rcpt", "ann@")
    assert code == 2
    assert "--rcpt: recipient 1 ('ann@')" in err
    garbage = tmp_path / "garbage.eml"
    garbage.write_bytes(b"this is not a message at all\r\n")
    code, _, err = run(database_url, rspamd, "scan", str(garbage), "--account", tenant.id,
                       "--client-ip", CLEAN_IP)  # fmt: skip
    assert code == 2
    assert "line 1 of the message" in err
    no_one = eml(tmp_path, "Hello.", to="undisclosed-recipients:;")
    code, _, err = run(database_url, rspamd, "scan", str(no_one), "--account", tenant.id,
                       "--client-ip", CLEAN_IP)  # fmt: skip
    assert code == 2
    assert "no To or Cc address to decide for: name the recipients with --rcpt ADDRESS" in err
    code, _, err = run(database_url, rspamd, "scan", str(path), "--account", "f" * 32,
                       "--client-ip", CLEAN_IP)  # fmt: skip
    assert code != 0
    assert "f" * 32 in err
