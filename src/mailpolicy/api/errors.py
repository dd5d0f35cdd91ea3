"""The one renderer: every error, whatever raised it, leaves as a v4 failure envelope."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mailpolicy.api.routing import allowed_methods
from mailpolicy.db import UNAVAILABLE, unavailable_reason
from mailpolicy.errors import (
    CODE_INTERNAL,
    CODE_INVALID_JSON,
    CODE_METHOD_NOT_ALLOWED,
    CODE_NO_ROUTE,
    CODE_VALIDATION,
    ApiError,
    ErrorItem,
    ServiceUnavailable,
    failure_body,
)

log = logging.getLogger("mailpolicy")

# A 4xx is the client's to fix: the official SDKs retry 409/429/5xx unless told otherwise.
NO_RETRY = {"x-should-retry": "false"}


def render(
    status: int, items: Sequence[ErrorItem], headers: dict[str, str] | None = None
) -> JSONResponse:
    all_headers = dict(NO_RETRY) if status < 500 else {}
    all_headers.update(headers or {})
    return JSONResponse(failure_body(items), status_code=status, headers=all_headers)


def _pointer(loc: Sequence[int | str]) -> str:
    # RFC 6901: a name holding "~" or "/" (an unknown field a client sent, say) is escaped.
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in loc)


def _label(loc: Sequence[int | str]) -> str:
    label = ""
    for part in loc:
        label += f"[{part}]" if isinstance(part, int) else (f".{part}" if label else str(part))
    return label


def validation_items(errors: Sequence[Any]) -> list[ErrorItem]:
    """Pydantic's error list, as v4 error items whose pointers name the offending field."""
    items: list[ErrorItem] = []
    for error in errors:
        where, *loc = error.get("loc", ()) or ("body",)
        kind = error.get("type", "")
        if kind == "json_invalid":
            detail = error.get("ctx", {}).get("error", "malformed JSON")
            items.append(
                ErrorItem(CODE_INVALID_JSON, f"The request body is not valid JSON: {detail}.", "")
            )
            continue
        if where == "body" and kind == "missing" and not loc:
            items.append(ErrorItem(CODE_VALIDATION, "A JSON request body is required.", ""))
            continue
        if where == "body" and kind == "model_attributes_type" and not loc:
            items.append(ErrorItem(CODE_VALIDATION, "The request body must be a JSON object.", ""))
            continue
        if kind == "extra_forbidden" and where != "body":
            name = "".join(str(part) for part in loc)
            message = f"{where} parameter '{name}' is not one this operation takes; remove it."
            items.append(ErrorItem(CODE_VALIDATION, message, _pointer(loc)))
            continue
        field = _label(loc) or "body"
        if kind == "missing":
            message = f"{field} is required."
        elif error.get("input", 0) is None and kind not in {"value_error", "assertion_error"}:
            message = f"{field} cannot be null."
        elif kind == "extra_forbidden":
            message = f"{field} is not a field of this request; remove it."
        else:
            message = error.get("msg", "is invalid")
            if message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            if message[:2].istitle():
                message = message[0].lower() + message[1:]
            message = f"{field}: {message}"
            if not message.endswith("."):
                message += "."
        where_label = "" if where == "body" else f"{where} parameter "
        items.append(ErrorItem(CODE_VALIDATION, where_label + message, _pointer(loc)))
    return items or [ErrorItem(CODE_VALIDATION, "The request is invalid.", "")]


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return render(exc.status, exc.items, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return render(400, validation_items(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            found = allowed_methods(app.router.routes, dict(request.scope))
            allowed = ", ".join(sorted(found)) or headers.get("Allow", "")
            headers["Allow"] = allowed
            message = f"{request.method} is not allowed on {request.url.path}; allowed: {allowed}."
            return render(405, [ErrorItem(CODE_METHOD_NOT_ALLOWED, message)], headers)
        if exc.status_code == 404:
            message = f"No route for {request.method} {request.url.path}."
            return render(404, [ErrorItem(CODE_NO_ROUTE, message)], headers)
        if exc.status_code == 400 and exc.__cause__ is not None:
            # The JSON parser gave up on a body it could read: too deeply nested, or a number
            # with more digits than Python converts.
            cause = exc.__cause__
            if isinstance(cause, RecursionError):
                detail = "it is nested too deeply"
            elif "integer string conversion" in str(cause):
                detail = "it holds a number with more than 4300 digits"
            else:
                detail = str(cause).rstrip(".") or type(cause).__name__
            message = f"The request body could not be read as JSON: {detail}."
            return render(400, [ErrorItem(CODE_INVALID_JSON, message, "")], headers)
        return render(exc.status_code, [ErrorItem(CODE_VALIDATION, str(exc.detail))], headers)

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Registered per class (not under Exception), so the answer ends the matter: nothing
        # is re-raised to the server, which would log it as a crash.
        reason = unavailable_reason(exc) or type(exc).__name__
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, reason)
        error = ServiceUnavailable(reason)
        return render(error.status, error.items, error.headers)

    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return render(
            500, [ErrorItem(CODE_INTERNAL, "Internal error; the request was not applied.")]
        )
