"""Shared pieces of request schemas: strict bodies, partial updates, list queries, batches.

Every string and every array a client can send has a maximum, enforced here for every
database (SQLite does not enforce column lengths), and no string may hold NUL, which
PostgreSQL cannot store and no setting needs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

# The integers the database stores are signed 64-bit.
INT64_MAX = 2**63 - 1
Int64 = Annotated[int, Field(ge=-(2**63), le=INT64_MAX)]
# Entry ids are UUIDs; anything longer than this is not one.
MAX_ID = 64
EntryId = Annotated[str, Field(max_length=MAX_ID)]
MAX_SEARCH = 256


def _drop_defaults(schema: dict[str, Any]) -> None:
    # Partial-update fields default to "not sent", not to null; the OpenAPI document should not
    # claim otherwise.
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False


class NoNul:
    """Refuses NUL characters in every string field (and in lists of strings)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _holds_nul(value):
            raise ValueError("must not contain NUL characters (U+0000)")
        return value


class Body(NoNul, BaseModel):
    """A request body: JSON types are taken as they are ("true" is not a boolean)."""

    model_config = ConfigDict(strict=True, extra="ignore")


class StrictBody(Body):
    """A body whose schema says additionalProperties: false."""

    model_config = ConfigDict(strict=True, extra="forbid")


class PartialBody(Body):
    """A PATCH body: every field optional, only the fields sent change, null only where nullable."""

    model_config = ConfigDict(strict=True, extra="ignore", json_schema_extra=_drop_defaults)


# Fields of a PartialBody default to this; an explicit null still fails a non-nullable field.
UNSET: Any = None


class ListQuery(NoNul, BaseModel):
    """page and per_page, which every list accepts. Any other parameter is refused: a filter
    whose name is misspelled would otherwise return the whole list as if it had matched."""

    model_config = ConfigDict(extra="forbid")

    page: int = Field(
        default=1,
        ge=1,
        le=INT64_MAX,
        description="Current page within paginated list of results.",
    )
    per_page: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="The number of results per page. Maximum value is 1000.",
    )


class SearchableListQuery(ListQuery):
    search: str | None = Field(
        default=None,
        max_length=MAX_SEARCH,
        description=(
            "Search term for filtering records: a case-insensitive substring of the resource's "
            f"text fields, at most {MAX_SEARCH} characters. Behavior may change."
        ),
    )
    direction: Literal["asc", "desc"] | None = Field(
        default=None, description="The sorting direction."
    )


class IdRef(Body):
    id: EntryId


def with_id(model: type[BaseModel], name: str) -> type[BaseModel]:
    """`model` plus a required `id`, for batch patches and puts."""
    return create_model(name, __base__=model, id=(EntryId, Field(description="Entry identifier.")))


MAX_BATCH = 1000


def batch_model(
    name: str,
    *,
    patch: type[BaseModel] | None,
    put: type[BaseModel] | None,
    post: type[BaseModel] | None,
) -> type[BaseModel]:
    """The batch body: four required arrays (or deletes alone), each of at most 1000 items."""
    fields: dict[str, Any] = {"deletes": (list[IdRef], Field(max_length=MAX_BATCH))}
    if patch is not None:
        patches = with_id(patch, f"{name}Patch")
        fields["patches"] = (list[patches], Field(max_length=MAX_BATCH))  # type: ignore[valid-type]  # a model built at run time is no static type to list[]
    if put is not None:
        puts = with_id(put, f"{name}Put")
        fields["puts"] = (list[puts], Field(max_length=MAX_BATCH))  # type: ignore[valid-type]  # a model built at run time is no static type to list[]
    if post is not None:
        fields["posts"] = (list[post], Field(max_length=MAX_BATCH))  # type: ignore[valid-type]  # a model built at run time is no static type to list[]
    # Unknown fields are ignored, as in every other body (Cloudflare's own schema says so for
    # the deletes-only batch too).
    return create_model(f"{name}Batch", __base__=Body, **fields)
