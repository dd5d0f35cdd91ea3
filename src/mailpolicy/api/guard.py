"""What every HTTP request passes before the application sees it.

In order: a request framed two ways (Content-Length and Transfer-Encoding) is refused and its
connection closed, since the two could disagree about where the next request starts (RFC 9112
section 6.1); a trailing slash is dropped, so `/block_senders/` is `/block_senders`; a declared
body over the limit is refused before a byte of it is read; API requests are authenticated
from their headers alone; and only then is the body read, up to the limit and within a
deadline, whether its length was declared or it arrives in chunks.

Between the two, an authenticated request is counted against its credential's rate limit
(mailpolicy.access.ratelimit), in the same trip off the event loop as the credential's lookup: over
the limit, it is refused with 429 before its body is read. Every answer to an authenticated
request carries the RateLimit fields; an answer refusing credentials (401) carries the
policy alone, as it counts against no quota. Health, the API's document, unknown paths and
wrong methods are neither counted nor labelled.

Only the authenticated operations take a body, and the forms of an application that
authenticates its own requests (the dashboard's, `forms`: read under the same limit and
deadline, with no API credential asked for). Anywhere else (health, the API's document, an
unknown path, a wrong method) a body is never read: the request is answered without it, and
the connection closed so the rest of it is never parsed. Otherwise anyone could make the
server hold a body of up to the limit on every connection they open.

Refusals are v4 failure envelopes. A refusal sent before the body was read closes the
connection, so the server never reads (or parses) the rest of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailpolicy.access.authenticate import Principal, authenticate, require_credentials
from mailpolicy.access.ratelimit import Decision, RateLimiter
from mailpolicy.api.errors import render
from mailpolicy.api.routing import serves
from mailpolicy.db import UNAVAILABLE, Database, unavailable_reason
from mailpolicy.errors import (
    CODE_BAD_FRAMING,
    CODE_TIMEOUT,
    CODE_TOO_LARGE,
    ApiError,
    ErrorItem,
    ServiceUnavailable,
    Unauthorized,
)

# Requests under this path carry credentials; everything else (health, the API's own document)
# is public.
AUTHENTICATED_PREFIX = "/client/v4/accounts/"
_PRINCIPAL = "mailpolicy.principal"
_CLOSE = {"connection": "close"}
log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int
    body_timeout: float


class _Refused(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.item = ErrorItem(code, message, "")


class _ClientGone(Exception):
    pass


def acting_as(scope: Scope, principal: Principal) -> Scope:
    """`scope` as the guard passes on a request it has authenticated as `principal`: for an
    application that authenticates its own callers and then asks the API in their name."""
    return {**scope, "state": {**scope.get("state", {}), _PRINCIPAL: principal}}


def principal_of(scope: Scope) -> Principal:
    """The principal the guard authenticated for this request."""
    principal: Principal | None = scope.get("state", {}).get(_PRINCIPAL)
    if principal is None:
        raise Unauthorized("Authentication required.")
    return principal


def _header_map(scope: Scope) -> dict[str, str]:
    # ASGI servers give header names in lowercase; a repeated header keeps its first value.
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


def _without_trailing_slash(scope: Scope) -> Scope:
    path: str = scope["path"]
    if len(path) <= 1 or not path.endswith("/"):
        return scope
    trimmed = path.rstrip("/") or "/"
    raw: bytes = scope.get("raw_path") or path.encode("utf-8")
    return {**scope, "path": trimmed, "raw_path": raw.rstrip(b"/") or b"/"}


def _closing(send: Send) -> Send:
    """A send whose response closes the connection after it."""

    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (b"connection", b"close")]
            message = {**message, "headers": headers}
        await send(message)

    return closing


def _labelled(send: Send, headers: Mapping[str, str]) -> Send:
    """A send whose response carries `headers` too."""
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    async def labelled(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return labelled


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands over the body already read, then waits as the server's would."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class RequestGuard:
    """ASGI middleware: framing, trailing slashes, body limits, authentication and rate limits
    (see above)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        database: Database,
        limits: Limits,
        limiter: RateLimiter | None = None,
        forms: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        # Paths under these prefixes take bodies (forms) without an API credential: their
        # application authenticates them itself (the dashboard's session cookie).
        self.forms = forms
        self.database = database
        self.limits = limits
        self.limiter = limiter
        self._refills: set[asyncio.Future[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _header_map(scope)
        chunked = "transfer-encoding" in headers
        try:
            declared = self._declared_length(headers, chunked)
        except _Refused as refused:
            await self._refuse(scope, receive, send, refused.status, [refused.item], _CLOSE)
            return
        has_body = chunked or bool(declared)
        scope = _without_trailing_slash(scope)
        # Only a request some operation serves needs credentials (or a body): an unknown path
        # is a 404 and a wrong method a 405 for everyone, as the application answers them.
        path: str = scope["path"]
        operation = path.startswith(AUTHENTICATED_PREFIX) and serves(scope["app"].routes, scope)
        if not operation:
            await self._pass_unauthenticated(scope, receive, send, has_body=has_body)
            return
        try:
            principal, decision = await self._authenticate(headers)
        except ApiError as exc:
            extra = {**exc.headers, **(_CLOSE if has_body else {})}
            if self.limiter is not None:
                extra["ratelimit-policy"] = self.limiter.policy
            await self._refuse(scope, receive, send, exc.status, exc.items, extra)
            return
        if self.limiter is not None and decision is not None:
            if not decision.allowed:
                refusal = self.limiter.refusal(decision)
                extra = {**refusal.headers, **(_CLOSE if has_body else {})}
                await self._refuse(scope, receive, send, refusal.status, refusal.items, extra)
                return
            send = _labelled(send, self.limiter.headers(decision))
        scope.setdefault("state", {})[_PRINCIPAL] = principal
        if has_body:
            await self._pass_with_body(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _pass_unauthenticated(
        self, scope: Scope, receive: Receive, send: Send, *, has_body: bool
    ) -> None:
        """A request no API operation serves: passed on without its body, unless it is one
        of `forms`, whose body is read under the limits and passed on with it."""
        path: str = scope["path"]
        if has_body and path.startswith(self.forms) and serves(scope["app"].routes, scope):
            await self._pass_with_body(scope, receive, send)
        elif has_body:
            # Nothing served here reads a body, so it is never read: the app sees none (and
            # would, should a route here ever ask for one), and the connection closes after
            # the answer so the rest of the body is never parsed as a next request.
            await self.app(scope, _replay(b"", receive), _closing(send))
        else:
            await self.app(scope, receive, send)

    async def _pass_with_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The request's body, read under the limits (within the deadline, declared or
        chunked), then the request passed on with it; over a limit, refused."""
        try:
            body = await self._read_body(receive)
        except _Refused as refused:
            await self._refuse(scope, receive, send, refused.status, [refused.item], _CLOSE)
            return
        except _ClientGone:
            return
        await self.app(scope, _replay(body, receive), send)

    def _declared_length(self, headers: Mapping[str, str], chunked: bool) -> int | None:
        declared = headers.get("content-length")
        if declared is None:
            return None
        if chunked:
            raise _Refused(
                400,
                CODE_BAD_FRAMING,
                "A request may not carry both Content-Length and Transfer-Encoding.",
            )
        if not (declared.isascii() and declared.strip().isdigit()):
            raise _Refused(400, CODE_BAD_FRAMING, "Content-Length must be a whole number.")
        length = int(declared)
        if length > self.limits.max_body_bytes:
            raise self._too_large()
        return length

    async def _authenticate(self, headers: Mapping[str, str]) -> tuple[Principal, Decision | None]:
        require_credentials(headers)  # no credential at all: refused without a database trip
        decision: Decision | None = None
        if not self.database.inline_lookups:
            principal, decision = await anyio.to_thread.run_sync(self._lookup, headers)
        else:
            # SQLite: the credential is read on the event loop (Database.lookup), and the
            # request counted from the quota this process holds; only a lease (a write)
            # needed right now leaves it.
            principal = self._unavailable_as_503(self._principal, headers)
            if self.limiter is not None:
                decision = self.limiter.admit_held(principal.actor)
                if decision is None:
                    decision = await anyio.to_thread.run_sync(self._admit, principal)
        if self.limiter is not None and self.limiter.claim_refill(principal.actor):
            self._refill_soon(principal.actor)
        return principal, decision

    def _refill_soon(self, credential: str) -> None:
        """Take the credential's next lease in the background (RateLimiter.refill)."""
        future = asyncio.get_running_loop().run_in_executor(None, self._refill, credential)
        self._refills.add(future)
        future.add_done_callback(self._refills.discard)

    def _refill(self, credential: str) -> None:
        assert self.limiter is not None
        try:
            self.limiter.refill(credential)
        except Exception as exc:  # a background task: it reports, it never raises
            # Nothing is lost: a request that finds no quota held takes a lease itself, and
            # meets the problem (an outage's 503) then.
            reason = unavailable_reason(exc) or repr(exc)
            log.warning("rate limit lease not taken ahead of need: %s", reason)

    def _principal(self, headers: Mapping[str, str]) -> Principal:
        with self.database.lookup() as session:
            return authenticate(session, headers)

    def _admit(self, principal: Principal) -> Decision:
        assert self.limiter is not None
        held = self.limiter.admit_held(principal.actor)
        if held is not None:
            return held
        return self._unavailable_as_503(self.limiter.admit, principal.actor)

    def _lookup(self, headers: Mapping[str, str]) -> tuple[Principal, Decision | None]:
        principal = self._unavailable_as_503(self._principal, headers)
        return principal, None if self.limiter is None else self._admit(principal)

    @staticmethod
    def _unavailable_as_503(call: Callable[[T], R], argument: T) -> R:
        try:
            return call(argument)
        except UNAVAILABLE as exc:
            raise ServiceUnavailable(unavailable_reason(exc) or "unreachable") from None

    def _too_large(self) -> _Refused:
        limit = self.limits.max_body_bytes
        return _Refused(
            413,
            CODE_TOO_LARGE,
            f"The request body is larger than {limit:,} bytes, the most this server accepts "
            "(MAILPOLICY_MAX_BODY_BYTES).",
        )

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            with anyio.fail_after(self.limits.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _ClientGone
                    chunk: bytes = message.get("body", b"")
                    size += len(chunk)
                    if size > self.limits.max_body_bytes:
                        raise self._too_large()
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise _Refused(
                408,
                CODE_TIMEOUT,
                f"The request body did not arrive within {self.limits.body_timeout:g} seconds "
                "(MAILPOLICY_BODY_TIMEOUT).",
            ) from None

    @staticmethod
    async def _refuse(
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        items: Sequence[ErrorItem],
        headers: Mapping[str, str],
    ) -> None:
        response = render(status, items, dict(headers))
        await response(scope, receive, send)
