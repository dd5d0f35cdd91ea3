"""The dashboard asks the API itself, in-process, in the name of the session's token.

Every page reads and writes through the same endpoints a script would call: the same
validation and error messages (with their pointers), the same permissions, the same audit
history. A request is handed to the API application as the request guard hands it an
authenticated one, so no token's secret is ever kept: the session knows the token's id, and
the principal is made from it (mailpolicy.api.guard.acting_as).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from mailpolicy.access.authenticate import Principal
from mailpolicy.api.guard import acting_as
from mailpolicy.dashboard.sessions import Viewer

# The API's paths are answered by its own application, mounted at /client/v4 in the server.
_BASE = "http://mailpolicy.internal"


@dataclass(frozen=True, slots=True)
class Problem:
    """One of an answer's errors: its message, and the form field its pointer names."""

    message: str
    field: str | None = None


@dataclass(slots=True)
class Answer:
    status: int
    body: Any = None
    content: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def result(self) -> Any:
        return self.body.get("result") if isinstance(self.body, dict) else None

    @property
    def info(self) -> dict[str, Any]:
        found = self.body.get("result_info") if isinstance(self.body, dict) else None
        return found if isinstance(found, dict) else {}

    @property
    def problems(self) -> list[Problem]:
        errors = self.body.get("errors") if isinstance(self.body, dict) else None
        found = []
        for item in errors or []:
            pointer = (item.get("source") or {}).get("pointer") or ""
            found.append(Problem(str(item.get("message", "")), field_of(pointer)))
        if not found and not self.ok:
            found.append(Problem(f"The API answered {self.status}."))
        return found


def field_of(pointer: str) -> str | None:
    """The form field a JSON pointer names: `/pattern` -> pattern, `/targets/0` -> targets;
    a batch item's pointer (`/posts/3/pattern`) names its field the same way."""
    parts = [part for part in pointer.split("/") if part]
    while parts and (
        parts[0] in {"body", "posts", "patches", "puts", "deletes"} or parts[0].isdigit()
    ):
        parts = parts[1:]
    return parts[0] if parts else None


class _AsViewer:
    """The API application, receiving each request as authenticated for one principal."""

    def __init__(self, api: ASGIApp, principal: Principal) -> None:
        self.api = api
        self.principal = principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.api(acting_as(scope, self.principal), receive, send)


class ApiClient:
    """Requests to one account's email-security API, as the session's token."""

    def __init__(self, api: ASGIApp, viewer: Viewer) -> None:
        principal = Principal({viewer.account_id: viewer.permission}, "token", viewer.actor)
        self._transport = httpx.ASGITransport(app=_AsViewer(api, principal))
        self.prefix = f"/accounts/{viewer.account_id}/email-security"

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        async with httpx.AsyncClient(transport=self._transport, base_url=_BASE) as client:
            response = await client.request(
                method,
                self.prefix + path,
                json=json,
                params=query,
                content=content,
                headers=dict(headers or {}),
            )
        body: Any = None
        if response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
        return Answer(response.status_code, body, response.content, dict(response.headers))

    async def get(self, path: str, **params: Any) -> Answer:
        return await self.call("GET", path, params=params)
