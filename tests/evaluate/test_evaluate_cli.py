"""`mailpolicy evaluate` through its command line, against the same database the API writes."""

from __future__ import annotations

import json
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import mailpolicy.engine
from mailpolicy.cli import app
from mailpolicy.engine import Message
from mailpolicy.evaluation.message import MAX_TEXT
from tests.support.api import Api, Tenant


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
    assert err == "error: --client-ip: 'not-an-ip' is not an IPv4 or IPv6 address\n"


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


# ---- --help ---------------------------------------------------------------------------------


def test_help_says_what_is_required() -> None:
    result = CliRunner().invoke(app, ["evaluate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    rows = {
        found.group(1): line
        for line in result.stdout.splitlines()
        if (found := re.search(r"(--[a-z-]+)", line))
    }
    for option in ("--account", "--client-ip"):
        assert "[required]" in rows[option], rows[option]
        assert re.search(r"\*\s+" + option, rows[option]), rows[option]
    for option, what in (("--header-from", "From"), ("--rcpt", "To or Cc")):
        assert f"[required unless --eml has {what}]" in rows[option], rows[option]
        assert "*" not in rows[option].split(option)[0]
    for option in ("--reply-to", "--envelope-from", "--eml", "--subject", "--body"):
        assert "required" not in rows[option], rows[option]
    # The rule in words, too.
    assert "--header-from and --rcpt too, unless an --eml" in result.stdout


# ---- --eml: subject and text --------------------------------------------------------------


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[Message]:
    """Every message the command hands the engine."""
    messages: list[Message] = []
    real = mailpolicy.engine.evaluate

    def evaluate(message: Message, snapshot: Any) -> Any:
        messages.append(message)
        return real(message, snapshot)

    monkeypatch.setattr(mailpolicy.engine, "evaluate", evaluate)
    return messages


def evaluate_eml(database_url: str, account: str, eml: Path, *flags: str) -> str:
    args = ["evaluate", "--account", account, "--eml", str(eml), "--client-ip", "203.0.113.9"]
    code, out, err = run(database_url, *args, *flags, "--json")
    assert code == 0, err
    assert err == ""
    return out


def multipart_alternative() -> bytes:
    message = EmailMessage()
    message["From"] = "Pat <pat@example.com>"
    message["To"] = "alice@corp.example"
    message["Subject"] = "Résumé: invoice №42"  # encoded as RFC 2047 words on the wire
    message.set_content("Pay the invoice today.\nCafé au lait.\n", cte="quoted-printable")
    message.add_alternative("<p>Pay the <b>invoice</b> today.</p>\n", subtype="html")
    message.add_attachment(
        b"%PDF-1.4 invoice attachment text",
        maintype="application",
        subtype="pdf",
        filename="invoice.pdf",
    )
    message.add_attachment("attached notes, not the message's text\n", filename="notes.txt")
    return bytes(message)


def test_eml_subject_and_text_parts_are_read(
    tenant: Tenant, database_url: str, tmp_path: Path, seen: list[Message]
) -> None:
    raw = multipart_alternative()
    assert b"Content-Transfer-Encoding: quoted-printable" in raw
    assert "Résumé".encode() not in raw  # the Subject is encoded in the file
    eml = tmp_path / "invoice.eml"
    eml.write_bytes(raw)
    evaluate_eml(database_url, tenant.id, eml)
    [message] = seen
    assert message.subject == "Résumé: invoice №42"
    assert message.body == (
        "Pay the invoice today.\nCafé au lait.\n\n<p>Pay the <b>invoice</b> today.</p>\n"
    )
    assert "attached notes" not in (message.body or "")
    assert "PDF" not in (message.body or "")
    assert message.recipients == ("alice@corp.example",)


def test_eml_text_in_its_own_charset_and_a_charset_nobody_knows(
    tenant: Tenant, database_url: str, tmp_path: Path, seen: list[Message]
) -> None:
    eml = tmp_path / "charsets.eml"
    eml.write_bytes(
        b"From: =?koi8-r?b?8NLJ18XU?= <ivan@example.com>\r\n"
        b"To: alice@corp.example\r\n"
        b"Subject: =?iso-8859-1?q?Gr=FC=DFe?=\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n'
        b"\r\n"
        b"--b\r\n"
        b"Content-Type: text/plain; charset=koi8-r\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"\xf0\xd2\xc9\xd7\xc5\xd4, \xcd\xc9\xd2\r\n"
        b"--b\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n"
        b"aGVsbG8g/w==\r\n"
        b"--b\r\n"
        b'Content-Type: text/plain; charset=iso-8859-1; name="a.txt"\r\n'
        b'Content-Disposition: attachment; filename="a.txt"\r\n'
        b"\r\n"
        b"not the text\r\n"
        b"--b--\r\n"
    )
    evaluate_eml(database_url, tenant.id, eml)
    [message] = seen
    assert message.subject == "Grüße"
    assert message.header_from == "Привет <ivan@example.com>"
    # koi8-r decoded; the unknown charset read as UTF-8 with the bad byte replaced.
    assert message.body == "Привет, мир\nhello \ufffd"


def test_flags_override_the_eml_and_a_long_text_is_cut(
    tenant: Tenant, database_url: str, tmp_path: Path, seen: list[Message]
) -> None:
    eml = tmp_path / "long.eml"
    eml.write_bytes(
        b"From: pat@example.com\nTo: alice@corp.example\nSubject: from the file\n"
        b"Content-Type: text/plain; charset=utf-8\n\n" + b"x" * (MAX_TEXT + 5000) + b"\n"
    )
    evaluate_eml(database_url, tenant.id, eml)
    evaluate_eml(
        database_url,
        tenant.id,
        eml,
        "--subject",
        "from the flag",
        "--header-from",
        "Sam <sam@example.org>",
        "--rcpt",
        "bob@corp.example",
    )
    from_file, overridden = seen
    assert from_file.subject == "from the file"
    assert from_file.body == "x" * MAX_TEXT
    assert overridden.subject == "from the flag"
    assert overridden.header_from == "Sam <sam@example.org>"
    assert overridden.recipients == ("bob@corp.example",)
    assert overridden.body == "x" * MAX_TEXT


def test_an_eml_problem_names_the_file_and_header(
    tenant: Tenant, database_url: str, tmp_path: Path
) -> None:
    eml = tmp_path / "nobody.eml"
    eml.write_bytes(b"From: nobody\nTo: alice@corp.example\n\nhi\n")
    code, out, err = run(
        database_url,
        "evaluate",
        "--account",
        tenant.id,
        "--eml",
        str(eml),
        "--client-ip",
        "203.0.113.9",
    )
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        f"error: the From header of {eml}: must contain an email address, "
        "e.g. 'Jane Doe <jane@example.com>'"
    ]
