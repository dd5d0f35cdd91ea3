"""Every page of the dashboard, with settings in every resource and mail that went through a
real Postfix: each answers 200 with its landmark, one heading that names it and the
navigation, logs no error (a CSP violation included), and passes axe-core's rules with no
serious or critical violation; a few again at a phone's width, where nothing may stick out
sideways."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page

from mailpolicy.resources import REGISTRY

RESOURCES = [spec.path for spec, _ in REGISTRY]
IMPORTABLE = [spec.path for spec, _ in REGISTRY if spec.batch == "full"]
PHONE = {"width": 390, "height": 844}

# Each page by a name, its path filled in from what `tour` made.
PAGES = [
    "overview",
    "messages",
    "message",
    "held message",
    "refused message",
    "test",
    "whatif",
    "audit",
    *[name for path in RESOURCES for name in (path, f"{path}/new", f"{path}/entry")],
    *[f"{path}/import" for path in IMPORTABLE],
]
PHONE_PAGES = ["overview", "block_senders", "block_senders/new", "held message", "test"]


@pytest.fixture(scope="module")
def server(mail_server: Any) -> Any:
    """This module's server is the mail system's app, so that its messages have records."""
    return mail_server


def visit(page: Page, base_url: str, path: str) -> None:
    """The page at `path`, checked for what every page has."""
    response = page.goto(f"{base_url}/dashboard{path}")
    assert response is not None
    assert response.status == 200, (path, response.status)
    assert page.locator("main#main").count() == 1
    assert page.locator("h1").count() == 1
    assert page.locator("h1").inner_text().strip()
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Overview").count() == 1
    assert nav.get_by_role("link", name="Messages").count() == 1
    assert page.get_by_role("button", name="Log out").count() == 1


def test_the_login_page_passes_at_a_desktops_and_a_phones_width(
    page: Page, base_url: str, axe: Callable[..., None]
) -> None:
    page.goto(f"{base_url}/dashboard")
    assert page.locator("main#main h1").inner_text() == "Log in"
    axe(page, "the login page")
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    axe(page, "the login page at a phone's width")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("name", PAGES)
def test_every_page_has_its_landmarks_and_passes_axe(
    page: Page,
    base_url: str,
    login: Callable[..., None],
    tour: dict[str, str],
    axe: Callable[..., None],
    name: str,
) -> None:
    login(page)
    visit(page, base_url, tour[name])
    axe(page, name)


@pytest.mark.parametrize("name", PHONE_PAGES)
def test_pages_at_a_phones_width(
    page: Page,
    base_url: str,
    login: Callable[..., None],
    tour: dict[str, str],
    axe: Callable[..., None],
    name: str,
) -> None:
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    login(page)
    visit(page, base_url, tour[name])
    axe(page, f"{name} at a phone's width")
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name} is {overflow}px wider than a phone's screen"


def test_a_what_if_preview_passes_axe(
    page: Page,
    base_url: str,
    login: Callable[..., None],
    tour: dict[str, str],
    axe: Callable[..., None],
) -> None:
    login(page)
    page.goto(f"{base_url}/dashboard/whatif")
    change = {
        "block_senders": {
            "posts": [{"pattern": "partner.example", "pattern_type": "DOMAIN", "is_regex": False}]
        }
    }
    page.fill("[name=change]", json.dumps(change))
    page.get_by_role("button", name="Preview").click()
    summary = page.locator("#summary")
    summary.wait_for()
    assert "would be decided differently" in summary.inner_text()
    axe(page, "a what-if preview")


def test_allow_this_sender_opens_an_allow_policy_for_the_messages_sender(
    page: Page, base_url: str, login: Callable[..., None], tour: dict[str, str]
) -> None:
    login(page)
    page.goto(f"{base_url}/dashboard{tour['held message']}")
    page.get_by_role("link", name="Allow this sender").click()
    page.wait_for_url("**/dashboard/allow_policies/new?*")
    assert "vendor.example" in page.locator("[name=pattern]").input_value()


def test_a_held_messages_preview_is_fetched_only_when_opened(
    page: Page,
    base_url: str,
    login: Callable[..., None],
    tour: dict[str, str],
    axe: Callable[..., None],
) -> None:
    # Seeing a preview is noted in the message's action log, so opening the message's page
    # alone must not fetch it: the picture is in a closed disclosure until asked for.
    login(page)
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "preview.png" in r.url else None)
    visit(page, base_url, tour["held message"])
    page.wait_for_load_state("networkidle")
    page.mouse.wheel(0, 10000)  # scrolled to where the preview is: still not fetched
    page.wait_for_timeout(300)
    assert fetched == []
    with page.expect_response("**/preview.png") as answer:
        page.get_by_text("Show the preview").click()
    assert answer.value.status == 200
    assert answer.value.headers["content-type"] == "image/png"
    page.wait_for_function("document.querySelector('#preview img').naturalWidth > 0")
    axe(page, "a held message with its preview open")
    page.reload()
    assert "preview" in page.locator("#action-log").inner_text().lower()
