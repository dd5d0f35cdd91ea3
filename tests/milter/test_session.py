"""The milter's decisions without an MTA: routing, what is decided at RCPT and at the end of the
message, which Authentication-Results are trusted, the bounds on what a message can make the
milter keep, and the settings kept current (and kept through a database outage)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mailpolicy import migrate
from mailpolicy.app import create_app
from mailpolicy.config import Settings
from mailpolicy.db import Database
from mailpolicy.detect.authentication import auth_results
from mailpolicy.engine import TLSInfo
from mailpolicy.milter.policies import Policies
from mailpolicy.milter.service import libmilter_address
from mailpolicy.milter.session import (
    MAX_AUTH_HEADERS,
    Connection,
    Transaction,
    at_end,
    at_rcpt,
    build_message,
)
from tests.support.api import make_tenant
from tests.support.milter import AccountSettings

TRUSTED = "mx.corp.example"


@pytest.fixture
def policies(app: FastAPI) -> Policies:
    return Policies(app.state.db, interval=60)


def loaded(policies: Policies) -> Policies:
    assert policies.refresh()
    return policies


def transaction(sender: str = "someone@sender.example") -> Transaction:
    return Transaction(sender=sender, body_limit=1 << 20, wants_body=True)


CONNECTION = Connection(client_ip="203.0.113.9", client_hostname="mx.sender.example")


# ---- routing --------------------------------------------------------------------------------


def test_only_active_protected_domains_route_recipients(
    settings_: AccountSettings, policies: Policies
) -> None:
    active = settings_.protect("corp.example", "MALICIOUS")
    settings_.protect("pending.example", "MALICIOUS", active=False)
    loaded(policies)
    route = policies.route("ann@mail.eu.corp.example")  # the nearest parent
    assert route is not None
    assert (route.domain_id, route.account_id) == (active["id"], settings_.tenant.id)
    assert policies.route("ANN@CORP.EXAMPLE") == route
    assert policies.route("ann@pending.example") is None
    assert policies.route("ann@badcorp.example") is None
    assert policies.route("") is None


def test_a_recipient_of_no_active_domain_is_left_alone(
    settings_: AccountSettings, policies: Policies
) -> None:
    settings_.protect("corp.example", "MALICIOUS")
    settings_.block("spam.example")
    loaded(policies)
    txn = transaction("x@spam.example")
    decision = at_rcpt(policies, CONNECTION, txn, "<bob@elsewhere.example>", refuse=True)
    assert (decision.route, decision.refusal) == (None, None)
    txn.add_header("X-MailPolicy-Disposition", b"NONE")
    plan = at_end(policies, CONNECTION, txn, trusted_id=TRUSTED, drop_action="reject")
    assert plan.final == "accept"
    assert not plan.touches  # no header added, none removed, no recipient removed


# ---- at RCPT --------------------------------------------------------------------------------


def test_the_envelope_decides_a_blocked_sender_at_rcpt(
    settings_: AccountSettings, policies: Policies
) -> None:
    settings_.protect("corp.example", "MALICIOUS")
    settings_.protect("lax.example")
    settings_.block("spam.example")
    loaded(policies)
    txn = transaction("x@spam.example")
    refused = at_rcpt(policies, CONNECTION, txn, "<ann@corp.example>", refuse=True)
    assert refused.refusal == "Message refused by mailpolicy: blocked sender"
    kept = at_rcpt(policies, CONNECTION, txn, "<bob@lax.example>", refuse=True)
    assert kept.refusal is None  # MALICIOUS, but lax.example does not drop it
    assert txn.refused == {"<ann@corp.example>"}
    # With another drop action, nothing is refused at RCPT: the end of the message decides.
    other = transaction("x@spam.example")
    assert at_rcpt(policies, CONNECTION, other, "<ann@corp.example>", refuse=False).refusal is None


def test_what_the_headers_may_change_waits_for_the_end(
    settings_: AccountSettings, policies: Policies
) -> None:
    # A domain that drops NONE drops clean mail; at RCPT the message is not known yet.
    settings_.protect("corp.example", "NONE", "MALICIOUS")
    loaded(policies)
    txn = transaction()
    assert at_rcpt(policies, CONNECTION, txn, "<ann@corp.example>", refuse=True).refusal is None


def test_a_tls_restriction_is_decided_at_rcpt_without_tls_only(
    settings_: AccountSettings, policies: Policies
) -> None:
    settings_.protect("corp.example", "MALICIOUS")
    settings_.create("sending_domain_restrictions", {"domain": "bank.example", "exclude": []})
    loaded(policies)
    plain = at_rcpt(
        policies, CONNECTION, transaction("a@bank.example"), "<ann@corp.example>", refuse=True
    )
    assert plain.refusal == "Message refused by mailpolicy: the sending domain requires TLS"
    secure = Connection("203.0.113.9", None, None, TLSInfo("TLSv1.3", "TLS_AES_128_GCM_SHA256"))
    assert (
        at_rcpt(
            policies, secure, transaction("a@bank.example"), "<ann@corp.example>", refuse=True
        ).refusal
        is None
    )


# ---- at the end of the message --------------------------------------------------------------


def _rcpt(policies: Policies, txn: Transaction, *recipients: str) -> None:
    for recipient in recipients:
        at_rcpt(policies, CONNECTION, txn, recipient, refuse=False)


@pytest.mark.parametrize(
    ("drop_action", "final"),
    [("reject", "reject"), ("discard", "discard"), ("quarantine", "quarantine")],
)
def test_when_every_recipient_is_dropped(
    settings_: AccountSettings, policies: Policies, drop_action: Any, final: str
) -> None:
    settings_.protect("corp.example", "MALICIOUS")
    settings_.create(
        "content_policies",
        {"name": "Lottery", "pattern": "lottery", "targets": ["SUBJECT"], "enabled": True},
    )
    loaded(policies)
    txn = transaction()
    _rcpt(policies, txn, "<ann@corp.example>")
    txn.add_header("Subject", b"You won the LOTTERY")
    plan = at_end(policies, CONNECTION, txn, trusted_id=TRUSTED, drop_action=drop_action)
    assert plan.final == final
    assert plan.reason == "Message refused by mailpolicy: content policy"


def test_mixed_recipients_lose_the_dropped_ones_and_get_headers(
    settings_: AccountSettings, policies: Policies
) -> None:
    settings_.protect("corp.example", "MALICIOUS")
    settings_.protect("lax.example")
    settings_.create(
        "content_policies",
        {"name": "Lottery", "pattern": "lottery", "targets": ["BODY"], "enabled": True},
    )
    loaded(policies)
    txn = transaction()
    _rcpt(policies, txn, "<ann@corp.example>", "<bob@lax.example>", "<carol@elsewhere.example>")
    for _ in range(3):
        txn.add_header("X-MailPolicy-Reasons", b"forged")
    txn.add_header("x-mailpolicy-disposition", b"NONE")
    txn.add_body(b"the lottery results")
    plan = at_end(policies, CONNECTION, txn, trusted_id=TRUSTED, drop_action="reject")
    assert plan.final == "accept"
    assert plan.remove_recipients == ("<ann@corp.example>",)
    # Every forged header goes, the last occurrence first so the indexes stay right.
    assert plan.remove_headers == (
        ("X-MailPolicy-Disposition", 1),
        ("X-MailPolicy-Reasons", 3),
        ("X-MailPolicy-Reasons", 2),
        ("X-MailPolicy-Reasons", 1),
    )
    added = dict(plan.add_headers)
    assert added["X-MailPolicy-Disposition"] == "MALICIOUS"  # bob's domain keeps it
    assert "content_policy content_policies/" in added["X-MailPolicy-Reasons"]
    # Quarantine holds the whole message instead, so nobody's copy is lost unreviewed.
    held = at_end(policies, CONNECTION, txn, trusted_id=TRUSTED, drop_action="quarantine")
    assert (held.final, held.remove_recipients) == ("quarantine", ())


def test_the_body_is_read_only_for_an_account_with_a_body_policy(
    settings_: AccountSettings, policies: Policies
) -> None:
    settings_.protect("corp.example", "MALICIOUS")
    loaded(policies)
    txn = Transaction(body_limit=1 << 20)
    at_rcpt(policies, CONNECTION, txn, "<ann@corp.example>", refuse=False)
    assert txn.add_body(b"anything") is False  # the MTA need not send the rest
    assert txn.body == b""
    settings_.create(
        "content_policies",
        {"name": "Wire", "pattern": "wire", "targets": ["BODY"], "enabled": True},
    )
    loaded(policies)
    wanted = Transaction(body_limit=1 << 20)
    at_rcpt(policies, CONNECTION, wanted, "<ann@corp.example>", refuse=False)
    assert wanted.add_body(b"a wire transfer") is True
    plan = at_end(policies, CONNECTION, wanted, trusted_id=TRUSTED, drop_action="reject")
    assert plan.final == "reject"


# ---- Authentication-Results -------------------------------------------------------------


def _auth(txn: Transaction, connection: Connection = CONNECTION) -> Any:
    return build_message(connection, txn, ["ann@corp.example"], TRUSTED).auth


def test_only_leading_results_of_the_trusted_authserv_id_count() -> None:
    txn = transaction()
    txn.add_header("Authentication-Results", b"mx.corp.example; spf=pass smtp.mailfrom=a@b.example")
    txn.add_header("Authentication-Results", b"other.example; dmarc=pass header.from=b.example")
    txn.add_header("Authentication-Results", b"MX.CORP.EXAMPLE 1; dkim=pass header.d=b.example")
    txn.add_header("Date", b"Mon, 30 Nov 2026 12:00:00 +0000")
    txn.add_header("Authentication-Results", b"mx.corp.example; dmarc=pass header.from=b.example")
    auth = _auth(txn)
    assert auth.spf == "pass"
    assert [(d.domain, d.result) for d in auth.dkim] == [("b.example", "pass")]
    assert auth.dmarc == "none"  # the other authserv-id's, and the one below Date, are ignored


def test_results_are_trusted_only_when_an_authserv_id_is_configured() -> None:
    txn = transaction()
    txn.add_header("Authentication-Results", b"mx.corp.example; dmarc=pass")
    assert build_message(CONNECTION, txn, ["a@b.example"], None).auth.dmarc == "none"
    assert build_message(CONNECTION, txn, ["a@b.example"], TRUSTED).auth.dmarc == "pass"


@pytest.mark.parametrize(
    "value",
    [
        b"mx.corp.example; ;;; ===",
        b"",
        b"mx.corp.example",
        b"\xff\xfe; dkim=pass",
        b"(comment only)",
    ],
)
def test_unreadable_results_say_nothing(value: bytes) -> None:
    txn = transaction()
    txn.add_header("Authentication-Results", value)
    auth = _auth(txn)
    assert (auth.spf, auth.dkim, auth.dmarc) == ("none", (), "none")


def test_auth_results_read_every_method() -> None:
    auth = auth_results(
        [
            "mx.corp.example; spf=softfail smtp.mailfrom=x@y.example; "
            "dkim=pass header.i=@signer.example; dkim=fail header.d=other.example; dmarc=fail"
        ]
    )
    assert auth.spf == "softfail"
    assert [(d.domain, d.result) for d in auth.dkim] == [
        ("signer.example", "pass"),
        ("other.example", "fail"),
    ]
    assert auth.dmarc == "fail"


# ---- bounds -----------------------------------------------------------------------------------


def test_a_message_cannot_make_the_milter_keep_much() -> None:
    txn = Transaction(body_limit=1000, wants_body=True)
    for n in range(10_000):
        txn.add_header(f"X-Junk-{n}", b"v" * 100)
        txn.add_header("Authentication-Results", b"mx.corp.example; spf=pass")
    assert len(txn.headers) == 0
    assert len(txn.auth) == MAX_AUTH_HEADERS
    assert txn.add_body(b"a" * 600) is True
    assert txn.add_body(b"b" * 600) is False  # the rest need not be sent
    assert len(txn.body) == 1000


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param(
            {"Content-Type": b'multipart/mixed; boundary="b"'}, b"--b\r\n" * 50_000, id="parts"
        ),
        pytest.param(
            {"Content-Type": b'multipart/mixed; boundary="b"'},
            b'--b\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' * 5_000,
            id="nesting",
        ),
        pytest.param(
            {"Content-Type": b"text/plain; charset=x-unknown"}, b"\xff\xfe\x00 text", id="charset"
        ),
        pytest.param(
            {"Content-Transfer-Encoding": b"base64"}, b"!!!not base64 at all===", id="base64"
        ),
        pytest.param({"Subject": b"=?utf-8?b?////?= =?bogus?q?x?=\x00"}, b"\x00" * 100, id="nul"),
    ],
)
def test_hostile_content_still_makes_a_message(headers: dict[str, bytes], body: bytes) -> None:
    txn = transaction()
    for name, value in headers.items():
        txn.add_header(name, value)
    txn.add_body(body)
    message = build_message(CONNECTION, txn, ["ann@corp.example"], TRUSTED)
    assert message.body is None or "\x00" not in message.body
    assert message.subject is None or "\x00" not in message.subject


# ---- live settings, and outages -------------------------------------------------------------


def test_a_change_rebuilds_only_the_account_it_changed(
    app: FastAPI, client: TestClient, settings_: AccountSettings, policies: Policies
) -> None:
    settings_.protect("corp.example", "MALICIOUS")
    other = AccountSettings(client, app, make_tenant(app.state.db, "other"))
    other.protect("other.example", "MALICIOUS")
    loaded(policies)
    before = dict(policies.state.snapshots)
    settings_.block("late.example")
    loaded(policies)
    after = policies.state.snapshots
    assert after[other.tenant.id] is before[other.tenant.id]
    assert after[settings_.tenant.id] is not before[settings_.tenant.id]
    txn = transaction("x@late.example")
    assert at_rcpt(policies, CONNECTION, txn, "<ann@corp.example>", refuse=True).refusal


def test_an_outage_keeps_the_last_settings_and_is_logged_once(
    template_db: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    shutil.copyfile(template_db, folder / "mailpolicy.db")
    url = f"sqlite:///{folder / 'mailpolicy.db'}"
    migrate.upgrade(url)
    application = create_app(Settings(database_url=url))
    database: Database = application.state.db
    try:
        with TestClient(application) as client:
            tenant = make_tenant(database, "outage")
            AccountSettings(client, application, tenant).protect("corp.example", "MALICIOUS")
        policies = Policies(Database(url), interval=60)
        assert policies.refresh()
        state = policies.state
        policies.database.dispose()
        shutil.rmtree(folder)  # the database is gone
        with caplog.at_level(logging.ERROR, logger="mailpolicy.milter"):
            assert not policies.refresh()
            assert not policies.refresh()
        assert policies.state is state
        assert policies.route("ann@corp.example") is not None
        outages = [r for r in caplog.records if "cannot be read" in r.getMessage()]
        assert len(outages) == 1  # once a minute, not once a refresh
        assert "milter_default_action = tempfail" in outages[0].getMessage()
        assert "loaded at" in outages[0].getMessage()
    finally:
        database.dispose()


def test_nothing_is_decided_before_settings_were_ever_loaded(tmp_path: Path) -> None:
    (tmp_path / "x.db").mkdir()  # not a database
    database = Database(f"sqlite:///{tmp_path / 'x.db'}")
    policies = Policies(database, interval=60)
    assert not policies.refresh()
    assert not policies.ready
    database.dispose()


@pytest.mark.parametrize(
    ("listen", "native"),
    [
        ("inet:127.0.0.1:10030", "inet:10030@127.0.0.1"),
        ("inet:localhost:8891", "inet:8891@localhost"),
        ("inet6:[::1]:10030", "inet6:10030@[::1]"),
        ("unix:/run/mailpolicy/milter.sock", "unix:/run/mailpolicy/milter.sock"),
    ],
)
def test_listen_addresses_in_postfix_notation(listen: str, native: str) -> None:
    assert libmilter_address(listen) == native


@pytest.mark.parametrize("listen", ["inet:127.0.0.1", "tcp:1.2.3.4:5", "inet:h:99999", "unix:"])
def test_bad_listen_addresses_are_refused(listen: str) -> None:
    with pytest.raises(ValueError, match=r"inet:HOST:PORT|names no socket"):
        libmilter_address(listen)
