"""The web dashboard: server-rendered pages under /dashboard over the API's own endpoints.

`install(app, api)` adds it to the server: the pages' routers, their static files (htmx,
vendored; the stylesheet), the headers every page carries, and the pages that say why a
request was refused. Every page reads and writes through the API application `api`, in the
name of the session's token (mailpolicy.dashboard.client).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from starlette.staticfiles import StaticFiles

from mailpolicy.dashboard import (
    audit_page,
    domains_page,
    login,
    messages_pages,
    overview,
    settings_pages,
    tools,
)
from mailpolicy.dashboard.web import HANDLERS, PREFIX, DashboardHeaders, Refused

STATIC = Path(__file__).parent / "static"

# Last: a page that does not exist is a page saying so.
unknown = APIRouter()


@unknown.get("/{rest:path}")
async def no_such_page(rest: str) -> Response:
    raise Refused(404, f"There is no dashboard page /dashboard/{rest}. The menu lists them all.")


def install(app: FastAPI, api: FastAPI) -> None:
    app.state.api = api
    # The static files first: the last router answers every other path under /dashboard.
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC), name="dashboard-static")
    # The fixed paths (/messages, /test, ...) before the resources' pages.
    routers = (
        login.router,
        overview.router,
        messages_pages.router,
        tools.router,
        audit_page.router,
        domains_page.router,
        settings_pages.router,
        unknown,
    )
    for router in routers:
        app.include_router(router, prefix=PREFIX, include_in_schema=False)
    for exception, handler in HANDLERS.items():
        app.add_exception_handler(exception, handler)
    app.add_middleware(DashboardHeaders)
