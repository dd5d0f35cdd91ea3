"""The Cloudflare v4 response shapes: built fast for responses, declared for the OpenAPI document.

Responses are assembled as plain dicts (`ok`, `ok_list`); the models below say, per operation,
what those dicts hold, so the served document describes every answer (the test suite checks
each real answer against it).
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

T = TypeVar("T")


class Closed(BaseModel):
    """A response shape that holds exactly its declared fields."""

    model_config = ConfigDict(extra="forbid")


class ErrorSource(Closed):
    pointer: str | None = None


class ResponseInfo(Closed):
    code: int = Field(ge=1000)
    message: str
    documentation_url: str | None = None
    source: ErrorSource | None = None


class ResultInfo(Closed):
    count: int = Field(description="Items on this page.")
    page: int = Field(description="The current page.")
    per_page: int = Field(description="The page size.")
    total_count: int = Field(description="Items matching the request's filters, across all pages.")


class Envelope(Closed, Generic[T]):
    """A success: `result` holds the operation's answer."""

    success: Literal[True]
    errors: list[ResponseInfo]
    messages: list[ResponseInfo]
    result: T


class ListEnvelope(Envelope[list[T]], Generic[T]):
    result_info: ResultInfo


class FailureEnvelope(Closed):
    success: Literal[False]
    errors: list[ResponseInfo] = Field(min_length=1)
    messages: list[ResponseInfo]
    result: None


class IdResult(Closed):
    id: str = Field(description="The identifier of the entry the operation removed.")


def ok(result: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"success": True, "errors": [], "messages": [], "result": result},
        status_code=status_code,
        headers=headers,
    )


def ok_list(
    items: list[dict[str, Any]], *, page: int, per_page: int, total: int, **more_info: Any
) -> JSONResponse:
    """A list page; `more_info` adds fields of an operation's own to its result_info."""
    return JSONResponse(
        {
            "success": True,
            "errors": [],
            "messages": [],
            "result": items,
            "result_info": {
                "count": len(items),
                "page": page,
                "per_page": per_page,
                "total_count": total,
                **more_info,
            },
        }
    )


def _header(description: str, example: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string", "example": example}}


# What mailpolicy.access.ratelimit adds to every answer to an authenticated request.
RATE_LIMIT_HEADERS: dict[str, Any] = {
    "Ratelimit": _header(
        "This credential's requests remaining (r) and the seconds until its window ends (t). "
        "Absent when rate limiting is off.",
        '"default";r=1187;t=241',
    ),
    "Ratelimit-Policy": _header(
        "The quota (q) of requests per window of w seconds, per credential. "
        "Absent when rate limiting is off.",
        '"default";q=1200;w=300',
    ),
}
THROTTLED_HEADERS: dict[str, Any] = {
    **RATE_LIMIT_HEADERS,
    "Retry-After": _header("Seconds until the window ends and requests succeed again.", "241"),
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {
        "model": FailureEnvelope,
        "description": "This credential's rate limit is reached; retry after Retry-After seconds.",
        "headers": THROTTLED_HEADERS,
    },
    "4XX": {
        "model": FailureEnvelope,
        "description": "Client error, in the v4 failure envelope.",
        "headers": RATE_LIMIT_HEADERS,
    },
}


def answers(
    model: type[BaseModel], description: str, status: int = 200
) -> dict[int | str, dict[str, Any]]:
    """The `responses` of an operation whose success is `model`, errors included."""
    success = {"model": model, "description": description, "headers": RATE_LIMIT_HEADERS}
    return {status: success, **ERROR_RESPONSES}


# The id the audit history gives every event of one batch request (GET .../audit?batch_id=).
BATCH_ID_HEADER = "X-Mailpolicy-Batch-Id"


def with_batch_id(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """`responses` with the success declaring the batch-id header."""
    header = {
        BATCH_ID_HEADER: {
            "description": "The batch id its events share in the audit history.",
            "schema": {"type": "string", "format": "uuid"},
        }
    }
    return {
        status: {**answer, "headers": {**answer.get("headers", {}), **header}}
        if str(status).startswith("2")
        else answer
        for status, answer in responses.items()
    }


def single(result: Any) -> type[BaseModel]:
    """The envelope of an answer whose `result` is `result` (a model, or a list of one)."""
    return Envelope[result]


def listing(read: type[BaseModel]) -> type[BaseModel]:
    """The envelope of a list page of `read` entries, with its result_info."""
    return ListEnvelope[read]  # type: ignore[valid-type]  # a model built at run time is no static type to pydantic's generics


def batch_result(name: str, read: type[BaseModel], *, full: bool) -> type[BaseModel]:
    """The answer of a batch: the ids deleted and, for a full batch, the entries written."""
    fields: dict[str, Any] = {"deletes": (list[IdResult], ...)}
    if full:
        for step in ("patches", "puts", "posts"):
            fields[step] = (list[read], ...)  # type: ignore[valid-type]  # a model built at run time is no static type to pydantic's generics
    result = create_model(f"{name}BatchResult", __base__=Closed, **fields)
    return Envelope[result]
