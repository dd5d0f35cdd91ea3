"""The Cloudflare v4 response shapes, for responses and for the OpenAPI document."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

T = TypeVar("T")


class ErrorSource(BaseModel):
    pointer: str | None = None


class ResponseInfo(BaseModel):
    code: int = Field(ge=1000)
    message: str
    documentation_url: str | None = None
    source: ErrorSource | None = None


class ResultInfo(BaseModel):
    count: int = Field(description="Items on this page.")
    page: int = Field(description="The current page.")
    per_page: int = Field(description="The page size.")
    total_count: int = Field(description="Items matching the request's filters, across all pages.")


class Envelope(BaseModel, Generic[T]):
    success: bool
    errors: list[ResponseInfo]
    messages: list[ResponseInfo]
    result: T | None = None


class ListEnvelope(Envelope[list[T]], Generic[T]):
    result_info: ResultInfo


class FailureEnvelope(BaseModel):
    success: bool = False
    errors: list[ResponseInfo]
    messages: list[ResponseInfo]
    result: None = None


def ok(result: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(
        {"success": True, "errors": [], "messages": [], "result": result}, status_code=status_code
    )


def ok_list(items: list[dict[str, Any]], *, page: int, per_page: int, total: int) -> JSONResponse:
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
            },
        }
    )


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": FailureEnvelope, "description": "Client error, in the v4 failure envelope."}
}
