"""A session idle for longer than MAILPOLICY_DASHBOARD_IDLE_SECONDS (3 here) is over: its
next page is the login page, and its cookie opens nothing after. A session in use is not."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page

IDLE_SECONDS = 3


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {"dashboard_idle_seconds": str(IDLE_SECONDS)}


def test_an_idle_session_ends_and_the_browser_is_sent_to_the_login(
    page: Page, base_url: str, login: Callable[..., None]
) -> None:
    login(page)
    page.goto(f"{base_url}/dashboard/block_senders")
    assert page.locator("h1").inner_text() != "Log in"
    time.sleep(IDLE_SECONDS + 1.5)
    page.goto(f"{base_url}/dashboard/block_senders")
    page.wait_for_url(f"{base_url}/dashboard")
    assert page.locator("h1").inner_text() == "Log in"
    assert page.locator("#token").is_visible()
    # Logging in again opens a new session.
    login(page)


def test_a_session_in_use_outlives_the_idle_time(
    page: Page, base_url: str, login: Callable[..., None]
) -> None:
    login(page)
    started = time.monotonic()
    while time.monotonic() - started < IDLE_SECONDS + 1.5:
        time.sleep(1)
        page.goto(f"{base_url}/dashboard/block_senders")
        assert page.locator("h1").inner_text() != "Log in"
