"""One error hierarchy, rendered once, in the Cloudflare v4 failure envelope."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Error codes. Cloudflare publishes no catalogue for this API; these are mailpolicy's, stable and
# documented in docs/compatibility.md.
CODE_VALIDATION = 1001
CODE_INVALID_JSON = 1002
CODE_NOT_FOUND = 1003
CODE_CONFLICT = 1004
CODE_READ_ONLY = 1005
CODE_TOO_LARGE = 1006
CODE_TIMEOUT = 1007
CODE_BAD_FRAMING = 1008
CODE_NO_ROUTE = 7000
CODE_METHOD_NOT_ALLOWED = 7001
CODE_AUTH = 10000
CODE_RATE_LIMITED = 10429
CODE_INTERNAL = 10500
CODE_UNAVAILABLE = 10503


@dataclass(frozen=True, slots=True)
class ErrorItem:
    code: int
    message: str
    pointer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        item: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.pointer is not None:
            item["source"] = {"pointer": self.pointer}
        return item


class ApiError(Exception):
    """An error that leaves as a 4xx envelope; retrying never fixes one, so clients are told so."""

    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: int = CODE_VALIDATION,
        pointer: str | None = None,
        items: Sequence[ErrorItem] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.items: tuple[ErrorItem, ...] = tuple(items) or (ErrorItem(code, message, pointer),)
        self.headers = dict(headers or {})

    def with_prefix(self, prefix: str) -> ApiError:
        """The same error, its pointers moved under `prefix` (a batch item, say)."""
        moved = tuple(ErrorItem(i.code, i.message, prefix + (i.pointer or "")) for i in self.items)
        clone = type(self).__new__(type(self))
        ApiError.__init__(clone, str(self), items=moved, headers=self.headers)
        return clone


class ValidationFailed(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message, code=CODE_AUTH)


class Forbidden(ApiError):
    status = 403

    def __init__(self, message: str) -> None:
        super().__init__(message, code=CODE_AUTH)


class NotFound(ApiError):
    status = 404

    def __init__(self, message: str, *, pointer: str | None = None) -> None:
        super().__init__(message, code=CODE_NOT_FOUND, pointer=pointer)


class Conflict(ApiError):
    status = 409

    def __init__(self, message: str, *, pointer: str | None = None) -> None:
        super().__init__(message, code=CODE_CONFLICT, pointer=pointer)


class ServiceUnavailable(ApiError):
    """The database cannot be reached (or is too busy) right now: nothing was applied."""

    status = 503
    RETRY_AFTER_SECONDS = 5

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"The database is unavailable ({reason}); the request was not applied. "
            f"Retry in a few seconds.",
            code=CODE_UNAVAILABLE,
            headers={"Retry-After": str(self.RETRY_AFTER_SECONDS)},
        )


class TooManyRequests(ApiError):
    """The credential used its quota for the current window (mailpolicy.access.ratelimit)."""

    status = 429

    def __init__(self, message: str, *, headers: Mapping[str, str]) -> None:
        super().__init__(message, code=CODE_RATE_LIMITED, headers=headers)


def failure_body(items: Sequence[ErrorItem]) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [i.to_dict() for i in items],
        "messages": [],
        "result": None,
    }
