"""Trusted domains: partners whose new or lookalike domains should not raise detections."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from sqlalchemy import Boolean, ColumnElement, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mailpolicy.api.schemas import UNSET, Body, PartialBody, SearchableListQuery
from mailpolicy.config import Rules
from mailpolicy.engine import TrustedDomainRule
from mailpolicy.resources.base import (
    Comments,
    LegacyEntryRead,
    Pattern,
    SettingsEntry,
    domain_key,
    timestamps,
)
from mailpolicy.resources.patterns import domain_problem, fail, regex_problem
from mailpolicy.resources.spec import ResourceSpec


class TrustedDomain(SettingsEntry):
    __tablename__ = "trusted_domains"

    pattern: Mapped[str] = mapped_column(String(1024))
    is_regex: Mapped[bool] = mapped_column(Boolean, default=False)
    is_recent: Mapped[bool] = mapped_column(Boolean, default=False)
    is_similarity: Mapped[bool] = mapped_column(Boolean, default=False)
    comments: Mapped[str | None] = mapped_column(String(1024), nullable=True)

    @classmethod
    def extra_indexes(cls) -> tuple[Index, ...]:
        return (Index("ix_trusted_domains_account_pattern", "account_id", "pattern", "id"),)


class TrustedDomainCreate(Body):
    is_recent: bool
    is_regex: bool
    is_similarity: bool
    pattern: Pattern
    comments: Comments = None


class TrustedDomainUpdate(PartialBody):
    is_recent: bool = UNSET
    is_regex: bool = UNSET
    is_similarity: bool = UNSET
    pattern: Pattern = UNSET
    comments: Comments = UNSET


class TrustedDomainRead(LegacyEntryRead):
    pattern: str
    is_regex: bool
    is_recent: bool
    is_similarity: bool
    comments: str | None


class TrustedDomainListQuery(SearchableListQuery):
    order: Literal["pattern", "created_at"] | None = Field(
        default=None, description="Field to sort by."
    )
    is_recent: bool | None = None
    is_similarity: bool | None = None
    pattern: str | None = Field(default=None, max_length=1024)


def _filters(q: TrustedDomainListQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if q.is_recent is not None:
        conditions.append(TrustedDomain.is_recent.is_(q.is_recent))
    if q.is_similarity is not None:
        conditions.append(TrustedDomain.is_similarity.is_(q.is_similarity))
    if q.pattern is not None:
        conditions.append(TrustedDomain.pattern.in_({q.pattern, q.pattern.lower()}))
    return conditions


def _check(row: TrustedDomain, _rules: Rules) -> None:
    problem = regex_problem(row.pattern) if row.is_regex else domain_problem(row.pattern)
    if problem:
        raise fail("pattern", problem)


def serialize(row: TrustedDomain) -> dict[str, Any]:
    return {
        "id": row.id,
        "pattern": row.pattern,
        "is_regex": row.is_regex,
        "is_recent": row.is_recent,
        "is_similarity": row.is_similarity,
        "comments": row.comments,
        **timestamps(row),
    }


def to_rule(row: TrustedDomain) -> TrustedDomainRule:
    """The entry as the policy engine reads it."""
    return TrustedDomainRule(
        id=row.id,
        pattern=row.pattern,
        is_regex=row.is_regex,
        is_recent=row.is_recent,
        is_similarity=row.is_similarity,
    )


SPEC = ResourceSpec(
    path="trusted_domains",
    noun="trusted domain",
    model=TrustedDomain,
    id_param="trusted_domain_id",
    create=TrustedDomainCreate,
    update=TrustedDomainUpdate,
    put=TrustedDomainCreate,
    read=TrustedDomainRead,
    list_query=TrustedDomainListQuery,
    serialize=serialize,
    to_rule=to_rule,
    check=_check,
    label=TrustedDomain.pattern,
    identity=lambda r: (
        r.is_regex,
        r.pattern if r.is_regex else domain_key(r.pattern),
        r.is_recent,
        r.is_similarity,
    ),
    filters=_filters,
    orderings={"pattern": TrustedDomain.pattern, "created_at": TrustedDomain.created_at},
    search=(TrustedDomain.pattern, TrustedDomain.comments),
    summaries={
        "list": "List trusted email domains",
        "create": "Create trusted email domain",
        "batch": "Batch trusted domains operations",
        "get": "Get a trusted email domain",
        "edit": "Update a trusted email domain",
        "delete": "Delete a trusted email domain",
    },
)
