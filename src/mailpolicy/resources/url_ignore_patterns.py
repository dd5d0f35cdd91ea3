"""URL ignore patterns: RE2 expressions for URLs that link rewriting leaves alone."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, model_validator
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from mailpolicy.api.schemas import UNSET, ListQuery, StrictBody
from mailpolicy.config import Rules
from mailpolicy.resources.base import (
    Comments,
    LegacyEntryRead,
    Pattern,
    SettingsEntry,
    timestamps,
)
from mailpolicy.resources.patterns import fail, regex_problem
from mailpolicy.resources.spec import ResourceSpec


class UrlIgnorePattern(SettingsEntry):
    __tablename__ = "url_ignore_patterns"

    pattern: Mapped[str] = mapped_column(String(1024))
    comments: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class UrlIgnorePatternCreate(StrictBody):
    pattern: Pattern
    comments: Comments = None


def _schema_extra(schema: dict[str, Any]) -> None:
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
    schema["minProperties"] = 1


class UrlIgnorePatternUpdate(StrictBody):
    """additionalProperties: false and minProperties: 1, as the contract says."""

    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra=_schema_extra)

    pattern: Pattern = UNSET
    comments: Comments = UNSET

    @model_validator(mode="before")
    @classmethod
    def _not_empty(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data:
            raise ValueError("send at least one of pattern or comments")
        return data


class UrlIgnorePatternRead(LegacyEntryRead):
    pattern: str
    comments: str | None


def _check(row: UrlIgnorePattern, _rules: Rules) -> None:
    problem = regex_problem(row.pattern)
    if problem:
        raise fail("pattern", problem)


def serialize(row: UrlIgnorePattern) -> dict[str, Any]:
    return {"id": row.id, "pattern": row.pattern, "comments": row.comments, **timestamps(row)}


SPEC = ResourceSpec(
    path="url_ignore_patterns",
    noun="URL ignore pattern",
    model=UrlIgnorePattern,
    id_param="pattern_id",
    create=UrlIgnorePatternCreate,
    update=UrlIgnorePatternUpdate,
    put=UrlIgnorePatternCreate,
    read=UrlIgnorePatternRead,
    list_query=ListQuery,
    serialize=serialize,
    check=_check,
    label=UrlIgnorePattern.pattern,
    identity=lambda r: (r.pattern,),
    summaries={
        "list": "List URL ignore patterns",
        "create": "Create a URL ignore pattern",
        "batch": "Batch URL ignore patterns",
        "get": "Get a URL ignore pattern",
        "edit": "Update a URL ignore pattern",
        "delete": "Delete a URL ignore pattern",
    },
)
