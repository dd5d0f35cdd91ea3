"""A quarantined message released from the dashboard: real SMTP through Postfix, whose
mailpolicy milter holds the message its protected domain drops; the message's page shows why,
a Read session may not release it, and "Release" delivers it to the next hop once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

import pytest
from cloudflare import Cloudflare
from playwright.sync_api import Page

from tests.support.api import Tenant
from tests.support.mailflow import (
    RECORD_WAIT,
    Account,
    MailSystem,
    eventually,
    message,
    send,
    settle,
)


@pytest.fixture(scope="module")
def server(mail_server: Any) -> Any:
    """This module's server is the mail system's app (it releases through that Postfix)."""
    return mail_server


@pytest.fixture(scope="module")
def held(mail: MailSystem, server: Any) -> dict[str, Any]:
    """One message held in Postfix's hold queue: its domain drops what a content policy marks
    MALICIOUS, and the quarantine listener's milter holds what is dropped."""
    tenant: Tenant = server.tenant
    account = Account(mail, tenant)
    domain = account.protect(mail.unique("held") + ".example", "MALICIOUS")["domain"]
    policy = account.create(
        "content_policies",
        {"name": "Wire", "pattern": "wire transfer", "targets": ["BODY"], "enabled": True},
    )
    settle()
    to = f"ann@{domain}"
    subject = mail.unique("held-in-the-browser-")
    sent = send(
        mail.postfix.port("quarantine"),
        "boss@vendor.example",
        [to],
        message(subject, "boss@vendor.example", [to], text="Please make the wire transfer."),
    )
    assert sent.data is not None, sent
    assert sent.data[0] == 250, sent
    client = Cloudflare(
        api_token=tenant.read_token,
        base_url=f"{server.base}/client/v4",
        max_retries=0,
        _strict_response_validation=True,
    )
    with client:
        found = eventually(
            lambda: list(
                client.email_security.investigate.list(account_id=tenant.id, subject=subject)
            ),
            lambda records: len(records) == 1 and records[0].is_quarantined,
        )
    assert len(found) == 1, f"no record within {RECORD_WAIT} s"
    assert found[0].is_quarantined
    return {
        "id": found[0].id,
        "postfix_id": found[0].postfix_id,
        "to": to,
        "subject": subject,
        "policy": policy,
    }


def test_a_read_session_sees_the_held_message_but_may_not_release_it(
    page: Page, base_url: str, read_token: str, login: Callable[..., None], held: dict[str, Any]
) -> None:
    login(page, read_token)
    page.goto(f"{base_url}/dashboard/messages/{quote(held['id'], safe='')}")
    assert held["subject"] in page.locator("main").inner_text()
    release = page.get_by_role("button", name="Release")
    assert release.is_disabled()
    assert "can only read" in (release.get_attribute("title") or "")


def test_release_from_the_message_page_delivers_it_once(
    page: Page,
    base_url: str,
    login: Callable[..., None],
    mail: MailSystem,
    held: dict[str, Any],
    axe: Callable[..., None],
) -> None:
    assert any(q["queue_id"] == held["postfix_id"] for q in mail.postfix.queued())
    assert not mail.postfix.was_delivered(held["subject"])
    login(page)
    page.goto(f"{base_url}/dashboard/messages?subject={held['subject']}")
    row = page.locator("table tbody tr", has_text=held["subject"])
    assert row.count() == 1
    row.get_by_role("link").first.click()
    page.wait_for_url(lambda url: unquote(url).endswith(f"/dashboard/messages/{held['id']}"))
    main = page.locator("main")
    assert "in quarantine" in main.inner_text()
    assert "Wire" in main.inner_text() or held["policy"]["id"] in main.inner_text()
    axe(page, "a quarantined message")
    page.once("dialog", lambda dialog: dialog.accept())  # "Release this message ...?"
    with page.expect_response(f"{base_url}/dashboard/messages/*/release") as answer:
        page.get_by_role("button", name="Release").click()
    assert answer.value.status < 400
    page.get_by_text(f"Released to {held['to']}").wait_for()
    delivered = mail.postfix.wait_delivered(held["subject"])
    assert delivered.recipients == [held["to"]]
    assert not any(q["queue_id"] == held["postfix_id"] for q in mail.postfix.queued())
    # Released once: the page no longer offers it.
    page.goto(f"{base_url}/dashboard/messages/{quote(held['id'], safe='')}")
    assert "in quarantine" not in page.locator("main").inner_text()
    assert page.get_by_role("button", name="Release").count() == 0
