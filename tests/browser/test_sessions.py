"""Logging in and out, and the forms' CSRF tokens, as a browser meets them: a wrong token is
told so, a login gives a session cookie scripts cannot read, logging out ends the session on
the server (its old cookie opens nothing), and a form sent without its CSRF token, or with
another one, changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page

COOKIE = "mailpolicy_session"


def session_cookie(context: BrowserContext) -> dict[str, Any]:
    (cookie,) = [c for c in context.cookies() if c["name"] == COOKIE]
    return dict(cookie)


def test_a_wrong_token_is_refused_with_an_alert(
    page: Page, base_url: str, axe: Callable[..., None]
) -> None:
    response = page.goto(f"{base_url}/dashboard")
    assert response is not None
    assert response.status == 200
    assert page.locator("h1").inner_text() == "Log in"
    assert page.locator("form[action='/dashboard/login'] input[name=csrf_token]").count() == 1
    axe(page, "the login page")
    page.fill("#token", "not-a-token-of-this-server")
    with page.expect_response(f"{base_url}/dashboard/login") as answer:
        page.get_by_role("button", name="Log in").click()
    assert answer.value.status == 401
    alert = page.get_by_role("alert")
    assert "not valid" in alert.inner_text()
    assert page.locator("#token").get_attribute("aria-invalid") == "true"
    assert not [c for c in page.context.cookies() if c["name"] == COOKIE]
    axe(page, "the login page with its error")


def test_a_login_opens_the_overview_with_a_cookie_scripts_cannot_read(
    page: Page, base_url: str, write_token: str
) -> None:
    page.goto(f"{base_url}/dashboard")
    page.fill("#token", write_token)
    with page.expect_response(f"{base_url}/dashboard/login") as answer:
        page.get_by_role("button", name="Log in").click()
    assert answer.value.status == 303
    assert answer.value.headers["location"] == "/dashboard"
    page.wait_for_url(f"{base_url}/dashboard")
    assert page.locator("main#main h1").inner_text() == "Overview"
    cookie = session_cookie(page.context)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/dashboard"
    assert COOKIE not in page.evaluate("document.cookie")
    # The page's answers carry the strict CSP.
    response = page.goto(f"{base_url}/dashboard")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp


def test_logging_out_ends_the_session_and_its_old_cookie_opens_nothing(
    page: Page, base_url: str, login: Callable[..., None]
) -> None:
    login(page)
    old = session_cookie(page.context)["value"]
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{base_url}/dashboard*")
    assert page.locator("h1").inner_text() == "Log in"
    # The same cookie, sent again by anyone who kept it, is no session any more.
    again = httpx.get(
        f"{base_url}/dashboard/block_senders",
        cookies={COOKIE: old},
        follow_redirects=False,
        timeout=30,
    )
    assert again.status_code == 303
    assert again.headers["location"] == "/dashboard"
    page.context.add_cookies(
        [{"name": COOKIE, "value": old, "url": f"{base_url}/dashboard", "sameSite": "Strict"}]
    )
    page.goto(f"{base_url}/dashboard/block_senders")
    assert page.locator("h1").inner_text() == "Log in"


def test_the_logout_page_logs_out_with_its_button(
    page: Page, base_url: str, login: Callable[..., None], axe: Callable[..., None]
) -> None:
    login(page)
    page.goto(f"{base_url}/dashboard/logout")
    assert page.locator("h1").inner_text() == "Log out"
    axe(page, "the logout page")
    page.get_by_role("main").get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{base_url}/dashboard*")
    assert page.locator("h1").inner_text() == "Log in"
    assert not [c for c in page.context.cookies() if c["name"] == COOKIE]


def new_blocked_sender_form(page: Page, base_url: str, pattern: str) -> None:
    page.goto(f"{base_url}/dashboard/block_senders/new")
    page.fill("[name=pattern]", pattern)
    page.select_option("[name=pattern_type]", "EMAIL")


def patterns(settings_api: httpx.Client) -> list[str]:
    response = settings_api.get("block_senders", params={"per_page": 100})
    assert response.status_code == 200, response.text
    return [entry["pattern"] for entry in response.json()["result"]]


def test_a_form_with_another_csrf_token_is_refused_and_changes_nothing(
    page: Page, base_url: str, login: Callable[..., None], settings_api: httpx.Client
) -> None:
    login(page)
    new_blocked_sender_form(page, base_url, "forged@csrf.example")
    page.evaluate(
        "document.querySelector('main form[method=post] input[name=csrf_token]').value = 'forged'"
    )
    with page.expect_response(f"{base_url}/dashboard/block_senders") as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.status == 403
    page.get_by_role("main").get_by_text("security token").wait_for()
    assert "forged@csrf.example" not in patterns(settings_api)


def test_a_post_without_a_csrf_token_is_refused_and_changes_nothing(
    page: Page, base_url: str, login: Callable[..., None], settings_api: httpx.Client
) -> None:
    login(page)
    # The session's cookie, without the form's token (nor the header htmx sends).
    refused = page.request.post(
        f"{base_url}/dashboard/block_senders",
        form={"pattern": "tokenless@csrf.example", "pattern_type": "EMAIL"},
        max_redirects=0,
    )
    assert refused.status == 403
    assert "security token" in refused.text()
    # In the browser too: the hidden field removed from the form before it is sent.
    new_blocked_sender_form(page, base_url, "fieldless@csrf.example")
    page.evaluate(
        "document.querySelector('main form[method=post] input[name=csrf_token]').remove()"
    )
    page.evaluate(
        "document.body.removeAttribute('hx-headers'); document.body.removeAttribute('hx-boost')"
    )
    with page.expect_response(f"{base_url}/dashboard/block_senders") as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.status == 403
    written = patterns(settings_api)
    assert "tokenless@csrf.example" not in written
    assert "fieldless@csrf.example" not in written


def test_a_post_from_another_site_carries_no_session(
    page: Page, base_url: str, login: Callable[..., None], settings_api: httpx.Client
) -> None:
    login(page)
    # A page of another origin posts a form to the dashboard: the SameSite=Strict cookie stays
    # behind, so the post reaches no session and is sent to the login page.
    page.goto("about:blank")
    page.set_content(
        f'<form method="post" action="{base_url}/dashboard/block_senders">'
        '<input name="pattern" value="crosssite@csrf.example">'
        '<input name="pattern_type" value="EMAIL"><button>Send</button></form>'
    )
    with page.expect_navigation(url=f"{base_url}/dashboard**"):
        page.get_by_role("button", name="Send").click()
    assert page.locator("h1").inner_text() in {"Log in", "Refused"}
    assert "crosssite@csrf.example" not in patterns(settings_api)


def test_a_login_another_site_posts_is_refused(page: Page, base_url: str, write_token: str) -> None:
    # Login CSRF: a page of another origin makes the browser log in with a token of its
    # choosing. The browser says where the post came from, so it is refused, token or not.
    page.goto("about:blank")
    page.set_content(
        f'<form method="post" action="{base_url}/dashboard/login">'
        f'<input name="token" value="{write_token}"><button>Send</button></form>'
    )
    with page.expect_response(f"{base_url}/dashboard/login") as answer:
        page.get_by_role("button", name="Send").click()
    assert answer.value.status == 403
    page.get_by_role("main").get_by_text("security token").wait_for()
    assert not [c for c in page.context.cookies() if c["name"] == COOKIE]
