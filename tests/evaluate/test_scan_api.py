"""POST /scan through HTTP: a whole message through a real rspamd (ClamAV behind it), mailpolicy's
own detections and the account's settings, answered as evaluate answers, with the findings."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mailpolicy.app import create_app
from mailpolicy.config import Settings
from tests.support.api import (
    Api,
    Tenant,
    acceptable_sender,
    assert_error,
    make_tenant,
    protect,
)
from tests.support.rspamd import (
    CLEAN_DOMAIN,
    CLEAN_HOST,
    CLEAN_IP,
    EICAR,
    GTUBE,
    Rspamd,
    free_port,
)

AUTHSERV_ID = "mx.northwind.org"
PROTECTED = "northwind.org"
ANN = f"ann@{PROTECTED}"
RFC822 = {"Content-Type": "message/rfc822"}


@pytest.fixture
def app(settings: Settings, rspamd: Rspamd) -> Iterator[FastAPI]:
    configured = settings.model_copy(
        update={"rspamd_url": rspamd.url, "trusted_authserv_id": AUTHSERV_ID}
    )
    application = create_app(configured)
    yield application
    application.state.db.dispose()


def eml(
    sender: str,
    text: str,
    *,
    to: str = ANN,
    headers: list[tuple[str, str]] = (),  # type: ignore[assignment]
    attachment: bytes | None = None,
) -> bytes:
    mail = EmailMessage()
    for name, value in headers:
        mail[name] = value
    mail["From"] = f"Alice <{sender}>"
    mail["To"] = to
    mail["Subject"] = "Hello"
    mail["Date"] = "Mon, 07 Dec 2026 10:00:00 +0000"
    mail["Message-ID"] = f"<s1@{sender.rpartition('@')[2]}>"
    mail.set_content(text)
    if attachment is not None:
        mail.add_attachment(
            attachment, maintype="application", subtype="octet-stream", filename="a.bin"
        )
    return mail.as_bytes()


def scan(client: TestClient, tenant: Tenant, data: bytes, status: int = 200, **params: str) -> Any:
    params.setdefault("client_ip", CLEAN_IP)
    response = client.post(
        f"/client/v4/accounts/{tenant.id}/email-security/scan",
        content=data,
        params=params,
        headers={**tenant.read, **RFC822},
    )
    if status != 200:
        return response
    assert response.status_code == 200, response.text
    envelope = response.json()
    assert envelope["success"] is True
    return envelope["result"]


def test_gtube_is_spam_from_rspamd_and_dropped_where_spam_is(
    api: Api, client: TestClient, tenant: Tenant, app: FastAPI
) -> None:
    protect(api.create, app.state.db, PROTECTED, "SPAM")
    told = scan(client, tenant, eml(f"news@{CLEAN_DOMAIN}", f"Buy.\n{GTUBE}\n"), helo=CLEAN_HOST)
    [only] = told["recipients"]
    assert (only["recipient"], only["disposition"], only["action"]) == (ANN, "SPAM", "drop")
    assert told["scan"]["status"] == "ok"
    assert told["scan"]["action"] == "reject"
    assert "GTUBE" in {symbol["name"] for symbol in told["scan"]["symbols"]}
    spam = [f for f in told["findings"] if f["disposition"] == "SPAM"]
    assert [(f["source"], f["kind"]) for f in spam] == [("rspamd", "content")]
    assert told["deferred"] is False
    assert any(r["resource"] == "detections" and r["honoured"] for r in only["reasons"])


def test_an_acceptable_sender_rescues_spam_and_the_answer_says_by_which_entry(
    api: Api, client: TestClient, tenant: Tenant, app: FastAPI
) -> None:
    protect(api.create, app.state.db, PROTECTED, "SPAM")
    sender = f"billing@{CLEAN_DOMAIN}"
    policy = api.create(
        "allow_policies",
        acceptable_sender(sender),
    )
    told = scan(client, tenant, eml(sender, f"Invoice.\n{GTUBE}\n"))
    [only] = told["recipients"]
    assert (only["disposition"], only["action"]) == ("NONE", "deliver")
    [detection] = [r for r in only["reasons"] if r["resource"] == "detections"]
    assert detection["overridden_by"] == f"allow_policies/{policy['id']}"


def test_a_virus_is_malicious_from_clamav(
    api: Api, client: TestClient, tenant: Tenant, app: FastAPI
) -> None:
    protect(api.create, app.state.db, PROTECTED, "MALICIOUS")
    data = eml(f"news@{CLEAN_DOMAIN}", "The file.\n", attachment=EICAR)
    told = scan(client, tenant, data)
    assert told["recipients"][0]["action"] == "drop"
    [virus] = [f for f in told["findings"] if f["disposition"] == "MALICIOUS"]
    assert virus["source"] == "clamav"
    assert "Eicar-Test-Signature" in virus["label"]


def test_a_lookalike_of_the_accounts_own_domain(
    api: Api, client: TestClient, tenant: Tenant, app: FastAPI, other_tenant: Tenant
) -> None:
    protect(api.create, app.state.db, PROTECTED, "SUSPICIOUS")
    data = eml("payments@n0rthwind.org", "New bank details.\n")
    told = scan(client, tenant, data)
    [lookalike] = [f for f in told["findings"] if f["source"] == "lookalike"]
    assert (lookalike["kind"], lookalike["domain"]) == ("lookalike_domain", "n0rthwind.org")
    assert PROTECTED in lookalike["label"]
    assert told["recipients"][0]["action"] == "drop"
    # Another account protects nothing like it: no lookalike there.
    assert not [
        f for f in scan(client, other_tenant, data)["findings"] if f["source"] == "lookalike"
    ]


def test_the_envelope_defaults_to_the_messages_own_headers(
    client: TestClient, tenant: Tenant
) -> None:
    data = eml(
        f"news@{CLEAN_DOMAIN}",
        "Hello.\n",
        to=f"Ann <{ANN}>, bob@elsewhere.example",
        headers=[("Return-Path", f"<bounces@{CLEAN_DOMAIN}>")],
    )
    told = scan(client, tenant, data)
    assert [r["recipient"] for r in told["recipients"]] == [ANN, "bob@elsewhere.example"]
    assert all(r["unprotected"] for r in told["recipients"])
    told = scan(client, tenant, data, recipients="carol@elsewhere.example")
    assert [r["recipient"] for r in told["recipients"]] == ["carol@elsewhere.example"]


def test_only_a_trusted_authentication_results_header_is_read(
    api: Api, client: TestClient, tenant: Tenant, app: FastAPI
) -> None:
    protect(api.create, app.state.db, PROTECTED, "SPOOF")
    # A sender the scan's DNS knows nothing of: what DMARC says comes from the header alone.
    domain = "acme-payments.example.org"
    verdict = f"dmarc=fail (p=reject) header.from={domain}"
    for authserv_id, spoof in ((AUTHSERV_ID, True), ("mx.evil.example", False)):
        header = f"Authentication-Results: {authserv_id}; spf=fail; {verdict}\r\n"
        data = header.encode() + eml(f"orders@{domain}", "Pay this.\n")
        told = scan(client, tenant, data, client_hostname=CLEAN_HOST, helo=CLEAN_HOST)
        dmarc = [f for f in told["findings"] if f["source"] == "dmarc"]
        assert [f["disposition"] for f in dmarc] == (["SPOOF"] if spoof else []), told["findings"]
        assert told["authentication"]["dmarc"] == ("fail" if spoof else "none")
        assert told["recipients"][0]["action"] == ("drop" if spoof else "deliver")


def test_rspamd_unreachable_under_tempfail_is_deferred(
    settings: Settings,
) -> None:
    configured = settings.model_copy(
        update={"rspamd_url": f"http://127.0.0.1:{free_port()}", "scan_failure": "tempfail"}
    )
    application = create_app(configured)
    try:
        tenant = make_tenant(application.state.db, "gamma")
        with TestClient(application) as client:
            told = scan(client, tenant, eml(f"news@{CLEAN_DOMAIN}", "Hello.\n"))
    finally:
        application.state.db.dispose()
    assert told["scan"]["status"] == "failed"
    assert told["scan"]["detail"]
    assert told["deferred"] is True
    assert told["recipients"][0]["recipient"] == ANN


@pytest.mark.parametrize(
    ("data", "params", "pointer", "words"),
    [
        (b"", {}, "", "a message is required"),
        (b"   \r\n", {}, "", "a message is required"),
        (b"Hello there, this is no header\r\n\r\nbody", {}, "", "line 1 of the message"),
        (b"\r\nonly a body", {}, "", "no header fields"),
        (b"Subject: hi\r\n\r\nno recipients", {}, "/recipients", "no To or Cc"),
        (None, {"client_ip": "not-an-ip"}, "/client_ip", "not an IPv4 or IPv6 address"),
        (None, {"client_ip": ""}, "/client_ip", "not an IPv4 or IPv6 address"),
        (None, {"recipients": "ann@"}, "/recipients", "recipient 1"),
        (None, {"recipients": ","}, "/recipients", "at least one address"),
        (None, {"envelope_from": "no-at-sign"}, "/envelope_from", "envelope_from"),
        (None, {"colour": "red"}, "/colour", "not one this operation takes"),
    ],
)
def test_bad_input_is_a_400_naming_what_to_fix(
    client: TestClient,
    tenant: Tenant,
    data: bytes | None,
    params: dict[str, str],
    pointer: str,
    words: str,
) -> None:
    body = eml(f"news@{CLEAN_DOMAIN}", "Hello.\n") if data is None else data
    response = scan(client, tenant, body, status=400, **params)
    assert_error(response, 400, pointer, words)


def test_client_ip_is_required(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        f"/client/v4/accounts/{tenant.id}/email-security/scan",
        content=eml(f"news@{CLEAN_DOMAIN}", "Hello.\n"),
        headers={**tenant.read, **RFC822},
    )
    assert_error(response, 400, "/client_ip", "client_ip is required")


def test_a_token_is_required_and_another_accounts_is_refused(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    url = f"/client/v4/accounts/{tenant.id}/email-security/scan"
    data = eml(f"news@{CLEAN_DOMAIN}", "Hello.\n")
    response = client.post(url, content=data, params={"client_ip": CLEAN_IP}, headers=RFC822)
    assert_error(response, 401)
    response = client.post(
        url, content=data, params={"client_ip": CLEAN_IP}, headers={**other_tenant.read, **RFC822}
    )
    assert response.status_code in {403, 404}, response.text
