"""A session made with a Read token sees every page, but every control that would change
something is disabled and says why; a change sent all the same is refused (403) and writes
nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

READ_ONLY = "can only read"


@pytest.fixture(scope="module")
def entry(server: Any) -> dict[str, Any]:
    """One blocked sender, made through the API with the Write token."""
    made = httpx.post(
        f"{server.base}/client/v4/accounts/{server.tenant.id}/email-security/settings/"
        "block_senders",
        json={"pattern": "kept.example", "pattern_type": "DOMAIN", "is_regex": False},
        headers=server.tenant.write,
        timeout=30,
    )
    assert made.status_code == 201, made.text
    result: dict[str, Any] = made.json()["result"]
    return result


def assert_disabled_with_reason(page: Page, name: str) -> None:
    button = page.get_by_role("button", name=name)
    assert button.count() >= 1, f"no {name!r} button on {page.url}"
    assert button.first.is_disabled()
    said = (button.first.get_attribute("title") or "") + page.locator("main").inner_text()
    assert READ_ONLY in said


def test_a_read_session_sees_the_pages_with_every_change_disabled(
    page: Page,
    base_url: str,
    read_token: str,
    login: Callable[..., None],
    entry: dict[str, Any],
) -> None:
    login(page, read_token)
    page.goto(f"{base_url}/dashboard/block_senders")
    assert page.locator("table tbody tr", has_text="kept.example").count() == 1
    assert page.get_by_role("link", name="New entry").count() == 0
    assert_disabled_with_reason(page, "New entry")
    page.goto(f"{base_url}/dashboard/block_senders/{entry['id']}")
    assert page.locator("[name=pattern]").input_value() == "kept.example"
    assert_disabled_with_reason(page, "Save")
    assert_disabled_with_reason(page, "Delete")
    page.goto(f"{base_url}/dashboard/block_senders/import")
    assert_disabled_with_reason(page, "Preview")


def test_a_change_forced_through_a_disabled_button_is_refused(
    page: Page,
    base_url: str,
    read_token: str,
    login: Callable[..., None],
    entry: dict[str, Any],
    settings_api: httpx.Client,
) -> None:
    login(page, read_token)
    page.goto(f"{base_url}/dashboard/block_senders/{entry['id']}")
    csrf = page.locator("main input[name=csrf_token]").first.get_attribute("value")
    assert csrf
    # What someone with the browser's developer tools can do: enable the form and send it.
    page.evaluate(
        """() => document.querySelectorAll('main [disabled], main [readonly]').forEach((e) => {
            e.removeAttribute('disabled'); e.removeAttribute('readonly');
        })"""
    )
    page.fill("[name=pattern]", "forced.example")
    with page.expect_response(f"{base_url}/dashboard/block_senders/{entry['id']}") as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.status == 403
    page.get_by_role("main").get_by_text(READ_ONLY).first.wait_for()
    # A post of its own, with the session's cookie and its CSRF token.
    refused = page.request.post(
        f"{base_url}/dashboard/block_senders",
        form={"csrf_token": csrf, "pattern": "posted.example", "pattern_type": "DOMAIN"},
        max_redirects=0,
    )
    assert refused.status == 403
    assert READ_ONLY in refused.text()
    deleted = page.request.post(
        f"{base_url}/dashboard/block_senders/{entry['id']}/delete",
        form={"csrf_token": csrf},
        max_redirects=0,
    )
    assert deleted.status == 403
    patterns = {e["pattern"] for e in settings_api.get("block_senders").json()["result"]}
    assert "kept.example" in patterns
    assert "forced.example" not in patterns
    assert "posted.example" not in patterns
