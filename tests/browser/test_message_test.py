"""Testing a message on /dashboard/test: the verdict for each recipient with the entries that
decided it, as POST /evaluate answers for the same message; a whole message pasted goes
through the scan; a value the API refuses is shown beside its field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page


@pytest.fixture(scope="module")
def rules(
    settings_api: httpx.Client, protect_domain: Callable[..., dict[str, Any]]
) -> dict[str, Any]:
    """A protected domain that drops SPAM, and a blocked sender's domain."""
    domain = protect_domain("tested-corp.example", "SPAM")["domain"]
    blocked = settings_api.post(
        "block_senders",
        json={"pattern": "spam-sender.example", "pattern_type": "DOMAIN", "is_regex": False},
    )
    assert blocked.status_code == 201, blocked.text
    return {"domain": domain, "blocked": blocked.json()["result"]}


def test_a_message_gets_each_recipients_verdict_with_its_reasons(
    page: Page,
    base_url: str,
    account_id: str,
    login: Callable[..., None],
    rules: dict[str, Any],
    settings_api: httpx.Client,
    axe: Callable[..., None],
) -> None:
    ann = f"ann@{rules['domain']}"
    outsider = "bob@elsewhere.example"
    login(page)
    page.goto(f"{base_url}/dashboard/test")
    page.fill("[name=sender]", "promo@mail.spam-sender.example")
    page.fill("[name=recipients]", f"{ann}\n{outsider}")
    page.fill("[name=client_ip]", "203.0.113.9")
    page.fill("[name=subject]", "Cheap watches")
    page.get_by_role("button", name="Test").click()
    verdicts = page.locator("table#verdicts")
    verdicts.wait_for()
    axe(page, "a test's verdict")
    rows = verdicts.locator("tbody tr")
    assert rows.count() == 2
    by_recipient = {rows.nth(i).locator("td").first.inner_text(): rows.nth(i) for i in range(2)}
    (ann_row,) = [row for text, row in by_recipient.items() if ann in text]
    (outsider_row,) = [row for text, row in by_recipient.items() if outsider in text]
    # The blocked sender is the reason, honoured, named with its pattern and a link to it.
    reasons = ann_row.locator("ul.reasons li")
    assert reasons.count() >= 1
    text = ann_row.inner_text()
    assert "Honoured" in text
    assert "spam-sender.example" in text
    blocked_id = str(rules["blocked"]["id"])
    assert ann_row.locator(f"a[href*='{blocked_id}']").count() >= 1
    assert "in no protected domain" in outsider_row.inner_text()
    # What the API itself says of the same message.
    evaluated = httpx.post(
        f"{base_url}/client/v4/accounts/{account_id}/email-security/evaluate",
        headers=settings_api.headers,
        json={
            "envelope_from": "promo@mail.spam-sender.example",
            "header_from": "promo@mail.spam-sender.example",
            "recipients": [ann, outsider],
            "client_ip": "203.0.113.9",
            "subject": "Cheap watches",
        },
        timeout=30,
    )
    assert evaluated.status_code == 200, evaluated.text
    decided = {r["recipient"]: r for r in evaluated.json()["result"]["recipients"]}
    assert decided[ann]["disposition"] in ann_row.inner_text()
    assert decided[ann]["explanation"] in ann_row.inner_text()
    assert any(r["id"] == blocked_id and r["honoured"] for r in decided[ann]["reasons"])


def test_a_pasted_message_goes_through_the_scan(
    page: Page, base_url: str, login: Callable[..., None], rules: dict[str, Any]
) -> None:
    ann = f"ann@{rules['domain']}"
    eml = (
        "From: Promo <promo@spam-sender.example>\r\n"
        f"To: {ann}\r\n"
        "Subject: Offers\r\n"
        "Message-ID: <offers-1@spam-sender.example>\r\n"
        "\r\n"
        "Hello.\r\n"
    )
    login(page)
    page.goto(f"{base_url}/dashboard/test")
    page.fill("[name=client_ip]", "203.0.113.9")
    page.fill("[name=eml]", eml)
    page.get_by_role("button", name="Test").click()
    page.locator("table#verdicts").wait_for()
    assert page.locator("#scan").count() == 1
    (row,) = page.locator("table#verdicts tbody tr").all()
    assert ann in row.inner_text()
    assert "spam-sender.example" in row.inner_text()


def test_a_refused_value_is_shown_beside_its_field(
    page: Page, base_url: str, login: Callable[..., None]
) -> None:
    login(page)
    page.goto(f"{base_url}/dashboard/test")
    page.fill("[name=sender]", "someone@sender.example")
    page.fill("[name=recipients]", "ann@tested-corp.example")
    page.fill("[name=client_ip]", "not an address")
    with page.expect_response(f"{base_url}/dashboard/test") as answer:
        page.get_by_role("button", name="Test").click()
    assert answer.value.status == 422
    error = page.locator("#error-client_ip")
    error.wait_for()
    assert error.inner_text().strip()
    assert page.locator("[name=client_ip]").get_attribute("aria-invalid") == "true"
    assert page.locator("table#verdicts").count() == 0
