"""The harness itself: Debian's chromium opens the running server, the console collector sees
an error a page logs and an exception it throws, and the axe-core check fails on a page that
breaks its rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, Page


def test_chromium_opens_the_running_server(browser: Browser, page: Page, base_url: str) -> None:
    assert browser.version.split(".")[0].isdigit()
    # /healthz is JSON, not a page of the dashboard: the icon the browser asks for beside it
    # is not its business.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    response = page.goto(f"{base_url}/healthz")
    assert response is not None
    assert response.status == 200
    assert json.loads(page.locator("body").inner_text())["status"] == "ok"


def test_the_console_collector_sees_errors_and_uncaught_exceptions(
    page: Page, console: Any
) -> None:
    page.set_content("<!doctype html><title>t</title><p>x</p>")
    page.evaluate("console.error('logged on purpose')")
    page.evaluate(
        """() => new Promise((done) => {
            setTimeout(() => { throw new Error('thrown on purpose'); });
            setTimeout(done);
        })"""
    )
    assert any("logged on purpose" in error for error in console.errors), console.errors
    assert any("thrown on purpose" in error for error in console.errors), console.errors
    with pytest.raises(AssertionError, match="logged on purpose"):
        console.assert_clean()
    console.errors.clear()


def test_the_axe_check_fails_on_a_page_that_breaks_its_rules(
    page: Page, axe: Callable[..., None]
) -> None:
    dot = "data:image/gif;base64,R0lGODlhAQABAAAAACw="
    page.set_content(
        f'<!doctype html><html lang="en"><title>t</title><main><h1>t</h1><img src="{dot}">'
    )
    with pytest.raises(AssertionError, match=r"\[critical\] image-alt"):
        axe(page)
    page.set_content(
        f'<!doctype html><html lang="en"><title>t</title><main><h1>t</h1>'
        f'<img alt="a dot" src="{dot}">'
    )
    axe(page)
