"""The overview: the first page after login."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from mailpolicy.dashboard.login import login_page
from mailpolicy.dashboard.web import AnyPage

router = APIRouter()


@router.get("")
async def overview(page: AnyPage) -> Response:
    if page.viewer is None:
        return login_page(page)
    return page.render("overview.html", title="Overview")
