"""What every dashboard page shares: its templates, who is viewing, CSRF, refusals, headers.

A page asks for `Page` (anyone: the login page) or `Viewing` (a live session; without one the
browser is sent to the login page). Each `Viewing` request counts as one request of the
session's token against its rate limit, the quota its API calls draw on too. A form handler
reads its form with `Page.form()`, which refuses (403) a post whose CSRF token is not the
session's, and `Page.writable()` refuses one from a session whose token can only read; the
templates disable the controls that would change anything for such a session, and say why.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, MutableHeaders
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailpolicy import __version__
from mailpolicy.access.ratelimit import RateLimiter
from mailpolicy.config import Settings
from mailpolicy.dashboard.client import Answer, ApiClient
from mailpolicy.dashboard.forms import label
from mailpolicy.dashboard.sessions import Viewer, find_session
from mailpolicy.db import Database
from mailpolicy.resources import REGISTRY

PREFIX = "/dashboard"
COOKIE = "mailpolicy_session"
LOGIN_COOKIE = "mailpolicy_login"  # the login form's CSRF token, before there is a session
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
READ_ONLY = "Your token can only read: changes need a token with Write permission."

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    b"content-security-policy": CSP.encode(),
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
    b"cross-origin-opener-policy": b"same-origin",
}

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals["version"] = __version__
TEMPLATES.env.globals["prefix"] = PREFIX
TEMPLATES.env.globals["READ_ONLY"] = READ_ONLY
TEMPLATES.env.globals["resources"] = [(spec.path, label(spec.path)) for spec, _ in REGISTRY]
TEMPLATES.env.filters["label"] = label


def _query(values: Mapping[str, Any]) -> str:
    return urlencode({k: v for k, v in values.items() if v not in (None, "")})


TEMPLATES.env.filters["query"] = _query


class DashboardHeaders:
    """ASGI middleware: the dashboard's answers carry a strict CSP and its companions, and are
    never cached (they show an account's settings)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(PREFIX + "/static/")

        async def labelled(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name.decode()] = value.decode()
                if not static:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, labelled)


class Refused(Exception):
    """A request the dashboard will not carry out: answered with a page saying why."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


class LoginRequired(Exception):
    """No live session: the browser is sent to the login page."""


@dataclass
class Page:
    """One request to the dashboard: who views it (None before login), and its API client."""

    request: Request
    viewer: Viewer | None
    settings: Settings
    database: Database
    _form: FormData | None = field(default=None, repr=False)
    _checked: bool = field(default=False, repr=False)

    @property
    def api(self) -> ApiClient:
        if self.viewer is None:
            raise LoginRequired
        return ApiClient(self.request.app.state.api, self.viewer)

    @property
    def who(self) -> Viewer:
        if self.viewer is None:
            raise LoginRequired
        return self.viewer

    async def form(self) -> FormData:
        """The posted form, once its CSRF token has been checked against the session's."""
        if self._form is None or not self._checked:
            # Kept before it is checked, so that a refused upload is closed as well (_page).
            form = self._form = await self.request.form()
            given = form.get(CSRF_FIELD) or self.request.headers.get(CSRF_HEADER) or ""
            expected = self.who.csrf
            if not isinstance(given, str) or not hmac.compare_digest(given, expected):
                raise Refused(
                    403,
                    "This form's security token is missing or out of date (it is renewed at "
                    "each login). Reload the page and send it again.",
                )
            self._checked = True
        return self._form

    async def writable(self) -> FormData:
        """The posted form of a change: refused for a session whose token can only read."""
        form = await self.form()
        if not self.who.can_write:
            raise Refused(403, READ_ONLY)
        return form

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("title", "")
        response: HTMLResponse = TEMPLATES.TemplateResponse(
            self.request,
            template,
            {"viewer": self.viewer, "csrf": self.viewer.csrf if self.viewer else "", **context},
            status_code=status,
        )
        return response

    def redirect(self, path: str, **query: Any) -> Response:
        target = PREFIX + path + (f"?{_query(query)}" if _query(query) else "")
        return RedirectResponse(target, status_code=303)

    def failed(self, answer: Answer) -> Refused:
        """An API refusal the page has no better place for."""
        return Refused(answer.status, " ".join(p.message for p in answer.problems))


async def _page(request: Request) -> AsyncIterator[Page]:
    database: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    cookie = request.cookies.get(COOKIE, "")
    viewer = None
    if cookie:

        def find() -> Viewer | None:
            with database.transaction(write=True) as session:
                return find_session(session, cookie, settings.dashboard_idle_seconds)

        viewer = await run_in_threadpool(find)
    # Kept for the refusal page, which shows the menu to a viewer who has a session.
    request.state.dashboard_viewer = viewer
    page = Page(request, viewer, settings, database)
    try:
        yield page
    finally:
        if page._form is not None:
            await page._form.close()  # an uploaded file's spooled copy


async def count_request(page: Page) -> None:
    """Count the request of a page with a viewer as one request of the session's token, however
    many API calls it makes: the token's quota is shared by its API clients and its dashboard
    sessions. Over it, the page is refused (429), as the API would be."""
    limiter: RateLimiter | None = getattr(page.request.app.state, "limiter", None)
    if limiter is None or page.viewer is None:
        return
    actor = page.viewer.actor
    decision = limiter.admit_held(actor)
    if decision is None:  # deciding needs a lease (a database write): off the event loop
        decision = await run_in_threadpool(limiter.admit, actor)
    if not decision.allowed:
        raise Refused(
            429,
            f"This token has made {limiter.limit:,} requests in {limiter.window_seconds} s "
            "(through the API and the dashboard together), the most this server allows "
            f"(MAILPOLICY_RATE_LIMIT). Try again in {decision.reset_seconds} s.",
            limiter.headers(decision),
        )


async def _viewing(page: Annotated[Page, Depends(_page)]) -> Page:
    if page.viewer is None:
        raise LoginRequired
    await count_request(page)
    return page


AnyPage = Annotated[Page, Depends(_page)]
Viewing = Annotated[Page, Depends(_viewing)]


def refused_page(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, Refused)
    viewer: Viewer | None = getattr(request.state, "dashboard_viewer", None)
    page = Page(request, viewer, request.app.state.settings, request.app.state.db)
    response = page.render("refused.html", status=exc.status, message=exc.message, title="Refused")
    response.headers.update(exc.headers)
    return response


def login_redirect(request: Request, _exc: Exception) -> Response:
    response: Response
    if request.headers.get("hx-request"):
        response = Response(status_code=204, headers={"hx-redirect": PREFIX})
    else:
        response = RedirectResponse(PREFIX, status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


Handler = Callable[[Request, Exception], Awaitable[Response] | Response]
HANDLERS: dict[type[Exception], Handler] = {Refused: refused_page, LoginRequired: login_redirect}
