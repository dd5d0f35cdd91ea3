"""The impersonation registry: display names that only their registered address may use.

Entries synced from a directory (provenance other than A1S_INTERNAL) belong to that directory:
they can be deleted here but not edited.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import BigInteger, Boolean, ColumnElement, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailpolicy.api.schemas import UNSET, Body, Int64, PartialBody, SearchableListQuery
from mailpolicy.config import Rules
from mailpolicy.engine import ImpersonationRule
from mailpolicy.errors import CODE_READ_ONLY, ValidationFailed
from mailpolicy.resources.base import (
    Comments,
    LegacyEntryRead,
    Pattern,
    SettingsEntry,
    address_key,
    name_key,
    timestamps,
)
from mailpolicy.resources.patterns import email_problem, fail, regex_problem
from mailpolicy.resources.spec import ResourceSpec

Provenance = Literal[
    "A1S_INTERNAL", "SNOOPY-CASB_OFFICE_365", "SNOOPY-OFFICE_365", "SNOOPY-GOOGLE_DIRECTORY"
]
INTERNAL: Provenance = "A1S_INTERNAL"
Name = Field(max_length=1024)


class ImpersonationEntry(SettingsEntry):
    __tablename__ = "impersonation_registry"

    name: Mapped[str] = mapped_column(String(1024))
    email: Mapped[str] = mapped_column(Text)
    is_email_regex: Mapped[bool] = mapped_column(Boolean, default=False)
    provenance: Mapped[str] = mapped_column(String(32), default=INTERNAL)
    directory_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    directory_node_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    external_directory_node_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    comments: Mapped[str | None] = mapped_column(Text, nullable=True)

    @classmethod
    def extra_indexes(cls) -> tuple[Index, ...]:
        return (
            Index("ix_impersonation_registry_account_name", "account_id", "name", "id"),
            Index("ix_impersonation_registry_account_email", "account_id", "email", "id"),
            Index(
                "ix_impersonation_registry_account_provenance",
                "account_id",
                "provenance",
                "created_at",
            ),
        )


# A directory's own identifier for a node, kept as the directory sent it.
ExternalNodeId = Annotated[str | None, Field(max_length=255)]


class ImpersonationCreate(Body):
    email: Pattern
    is_email_regex: bool
    name: str = Name
    comments: Comments = None
    directory_id: Int64 | None = None
    directory_node_id: Int64 | None = None
    external_directory_node_id: ExternalNodeId = Field(default=None, deprecated=True)
    provenance: Provenance = INTERNAL


class ImpersonationUpdate(PartialBody):
    email: Pattern = UNSET
    is_email_regex: bool = UNSET
    name: str = Field(default=UNSET, max_length=1024)
    comments: Comments = UNSET
    directory_id: Int64 | None = UNSET
    directory_node_id: Int64 | None = UNSET
    external_directory_node_id: ExternalNodeId = Field(default=UNSET, deprecated=True)
    provenance: Provenance = UNSET


class ImpersonationRead(LegacyEntryRead):
    name: str
    email: str
    is_email_regex: bool
    provenance: Provenance
    directory_id: int | None
    directory_node_id: int | None
    external_directory_node_id: str | None = Field(deprecated=True)
    comments: str | None


class ImpersonationListQuery(SearchableListQuery):
    order: Literal["name", "email", "created_at"] | None = Field(
        default=None, description="Field to sort by."
    )
    provenance: Provenance | None = None


def _filters(q: ImpersonationListQuery) -> list[ColumnElement[bool]]:
    if q.provenance is None:
        return []
    return [ImpersonationEntry.provenance == q.provenance]


def _read_only_when_synced(existing: ImpersonationEntry | None, _values: dict[str, Any]) -> None:
    if existing is not None and existing.provenance != INTERNAL:
        raise ValidationFailed(
            f"Impersonation registry entry {existing.id} is synced from {existing.provenance} and "
            "cannot be edited here; change it in the directory, or delete it.",
            code=CODE_READ_ONLY,
        )


def _check(row: ImpersonationEntry, _rules: Rules) -> None:
    if not row.name.strip():
        raise fail("name", "must not be empty")
    problem = regex_problem(row.email) if row.is_email_regex else email_problem(row.email)
    if problem:
        raise fail("email", problem)


def serialize(row: ImpersonationEntry) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "email": row.email,
        "is_email_regex": row.is_email_regex,
        "provenance": row.provenance,
        "directory_id": row.directory_id,
        "directory_node_id": row.directory_node_id,
        "external_directory_node_id": row.external_directory_node_id,
        "comments": row.comments,
        **timestamps(row),
    }


def to_rule(row: ImpersonationEntry) -> ImpersonationRule:
    """The entry as the policy engine reads it."""
    return ImpersonationRule(
        id=row.id, name=row.name, email=row.email, is_email_regex=row.is_email_regex
    )


SPEC = ResourceSpec(
    path="impersonation_registry",
    noun="impersonation registry entry",
    model=ImpersonationEntry,
    id_param="impersonation_registry_id",
    create=ImpersonationCreate,
    update=ImpersonationUpdate,
    put=None,
    read=ImpersonationRead,
    list_query=ImpersonationListQuery,
    serialize=serialize,
    to_rule=to_rule,
    check=_check,
    label=ImpersonationEntry.name,
    identity=lambda r: (
        name_key(r.name),
        r.is_email_regex,
        r.email if r.is_email_regex else address_key(r.email),
    ),
    filters=_filters,
    orderings={
        "name": ImpersonationEntry.name,
        "email": ImpersonationEntry.email,
        "created_at": ImpersonationEntry.created_at,
    },
    search=(ImpersonationEntry.name, ImpersonationEntry.email, ImpersonationEntry.comments),
    before_write=_read_only_when_synced,
    batch="none",
    summaries={
        "list": "List entries in impersonation registry",
        "create": "Create impersonation registry entry",
        "get": "Get an impersonation registry entry",
        "edit": "Update an impersonation registry entry",
        "delete": "Delete an impersonation registry entry",
    },
)
