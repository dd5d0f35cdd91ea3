"""Logging in with an API token, and out.

A login posted from another site is refused (login CSRF: a victim's browser made to log in
with an attacker's token would then work in the attacker's account). The login form carries a
token of its own (a cookie and a hidden field that agree), since there is no session yet to hold
one; a post without it is still taken when nothing says it came from elsewhere: browsers
label every form post with `Sec-Fetch-Site` and `Origin`, so a cross-site one says so, and a
client that is not a browser (a script logging in with its token) can be no victim of a forged
post. A login replaces any session the browser had, so a session's cookie is never one chosen
before the login.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from mailpolicy.dashboard.sessions import Viewer, close_session, open_session
from mailpolicy.dashboard.web import (
    COOKIE,
    CSRF_FIELD,
    LOGIN_COOKIE,
    PREFIX,
    AnyPage,
    Page,
    Refused,
)

router = APIRouter()


def _secure(page: Page) -> bool:
    return page.request.url.scheme == "https"


def _set_cookie(
    page: Page, response: Response, name: str, value: str, max_age: int | None = None
) -> None:
    """An HttpOnly, SameSite=Strict cookie for the dashboard's pages only (Secure over https)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=_secure(page),
    )
    # The attribute as RFC 6265bis writes it (Starlette passes on the lowercase it is given;
    # browsers read either).
    name_bytes = name.encode("latin-1") + b"="
    response.raw_headers[:] = [
        (key, given.replace(b"SameSite=strict", b"SameSite=Strict"))
        if key == b"set-cookie" and given.startswith(name_bytes)
        else (key, given)
        for key, given in response.raw_headers
    ]


def login_page(page: Page, *, status: int = 200, error: str = "") -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = page.render(
        "login.html", status=status, login_csrf=token, error=error, title="Log in"
    )
    _set_cookie(page, response, LOGIN_COOKIE, token, max_age=3600)
    return response


@router.get("/login")
async def login_form(page: AnyPage) -> Response:
    if page.viewer is not None:
        return page.redirect("")
    return login_page(page)


def _from_elsewhere(request: Request) -> bool:
    """Whether the browser says this request was sent by a page of another origin."""
    if request.headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}:
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin.lower() != own.lower()  # "null" too: a sandboxed or opaque origin


@router.post("/login")
async def login(page: AnyPage) -> Response:
    form = await page.request.form()
    given = form.get(CSRF_FIELD)
    expected = page.request.cookies.get(LOGIN_COOKIE, "")
    matches = bool(expected) and isinstance(given, str) and hmac.compare_digest(given, expected)
    if not matches and (given is not None or _from_elsewhere(page.request)):
        raise Refused(
            403,
            "The login form's security token is missing or out of date. Open the login page "
            "again and log in from there.",
        )
    secret = form.get("token")
    if not isinstance(secret, str) or not secret.strip():
        return login_page(page, status=422, error="Enter an API token to log in.")
    old = page.request.cookies.get(COOKIE, "")
    lifetime = page.settings.dashboard_session_hours * 3600

    def open_() -> tuple[str, Viewer] | None:
        with page.database.transaction(write=True) as session:
            close_session(session, old)
            return open_session(session, secret, lifetime)

    opened = await run_in_threadpool(open_)
    if opened is None:
        return login_page(
            page, status=401, error="That token is not valid: it is unknown or revoked."
        )
    cookie, _viewer = opened
    response = page.redirect("")
    _set_cookie(page, response, COOKIE, cookie)
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return response


@router.get("/logout")
async def logout_form(page: AnyPage) -> Response:
    """A logout is a post (a link elsewhere cannot end a session): this page asks for it."""
    if page.viewer is None:
        return page.redirect("")
    return page.render("logout.html", title="Log out")


@router.post("/logout")
async def logout(page: AnyPage) -> Response:
    if page.viewer is not None:
        await page.form()  # a cross-site post cannot log anyone out
        cookie = page.request.cookies.get(COOKIE, "")

        def close() -> None:
            with page.database.transaction(write=True) as session:
                close_session(session, cookie)

        await run_in_threadpool(close)
    response = page.redirect("")
    response.delete_cookie(COOKIE, path=PREFIX)
    return response
