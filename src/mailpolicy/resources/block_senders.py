"""Blocked senders: patterns whose mail is always treated as malicious."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from sqlalchemy import Boolean, ColumnElement, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mailpolicy.api.schemas import UNSET, Body, PartialBody, SearchableListQuery
from mailpolicy.config import Rules
from mailpolicy.engine import BlockedSenderRule
from mailpolicy.resources.base import (
    Comments,
    LegacyEntryRead,
    Pattern,
    PatternType,
    SettingsEntry,
    WritablePatternType,
    sender_key,
    timestamps,
)
from mailpolicy.resources.patterns import fail, pattern_problem
from mailpolicy.resources.spec import ResourceSpec


class BlockedSender(SettingsEntry):
    __tablename__ = "block_senders"

    pattern: Mapped[str] = mapped_column(String(1024))
    pattern_type: Mapped[str] = mapped_column(String(16))
    is_regex: Mapped[bool] = mapped_column(Boolean, default=False)
    comments: Mapped[str | None] = mapped_column(String(1024), nullable=True)

    @classmethod
    def extra_indexes(cls) -> tuple[Index, ...]:
        # As for allow policies: the type filter in the default order, and by pattern.
        return (
            Index("ix_block_senders_account_pattern", "account_id", "pattern", "id"),
            Index(
                "ix_block_senders_account_type", "account_id", "pattern_type", "created_at", "id"
            ),
            Index(
                "ix_block_senders_account_type_pattern",
                "account_id",
                "pattern_type",
                "pattern",
                "id",
            ),
        )


class BlockedSenderCreate(Body):
    is_regex: bool
    pattern: Pattern
    pattern_type: WritablePatternType
    comments: Comments = None


class BlockedSenderUpdate(PartialBody):
    is_regex: bool = UNSET
    pattern: Pattern = UNSET
    pattern_type: WritablePatternType = UNSET
    comments: Comments = UNSET


class BlockedSenderRead(LegacyEntryRead):
    pattern: str
    pattern_type: PatternType
    is_regex: bool
    comments: str | None


class BlockedSenderListQuery(SearchableListQuery):
    order: Literal["pattern", "created_at"] | None = Field(
        default=None, description="Field to sort by."
    )
    pattern_type: PatternType | None = Field(default=None, description="Filter by pattern type.")
    pattern: str | None = Field(
        default=None, max_length=1024, description="Filter by pattern value."
    )


def _filters(q: BlockedSenderListQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if q.pattern_type is not None:
        conditions.append(BlockedSender.pattern_type == q.pattern_type)
    if q.pattern is not None:
        conditions.append(BlockedSender.pattern.in_({q.pattern, q.pattern.lower()}))
    return conditions


def _check(row: BlockedSender, rules: Rules) -> None:
    problem = pattern_problem(row.pattern, row.pattern_type, row.is_regex, rules)
    if problem:
        raise fail("pattern", problem)


def serialize(row: BlockedSender) -> dict[str, Any]:
    return {
        "id": row.id,
        "pattern": row.pattern,
        "pattern_type": row.pattern_type,
        "is_regex": row.is_regex,
        "comments": row.comments,
        **timestamps(row),
    }


def to_rule(row: BlockedSender) -> BlockedSenderRule:
    """The entry as the policy engine reads it."""
    return BlockedSenderRule(
        id=row.id, pattern=row.pattern, pattern_type=row.pattern_type, is_regex=row.is_regex
    )


SPEC = ResourceSpec(
    path="block_senders",
    noun="blocked sender",
    model=BlockedSender,
    id_param="pattern_id",
    create=BlockedSenderCreate,
    update=BlockedSenderUpdate,
    put=BlockedSenderCreate,
    read=BlockedSenderRead,
    list_query=BlockedSenderListQuery,
    serialize=serialize,
    to_rule=to_rule,
    check=_check,
    label=BlockedSender.pattern,
    identity=lambda r: (
        r.pattern_type,
        r.is_regex,
        sender_key(r.pattern, r.pattern_type, r.is_regex),
    ),
    filters=_filters,
    orderings={"pattern": BlockedSender.pattern, "created_at": BlockedSender.created_at},
    search=(BlockedSender.pattern, BlockedSender.comments),
    summaries={
        "list": "List blocked email senders",
        "create": "Create blocked email sender",
        "batch": "Batch blocked senders operations",
        "get": "Get a blocked email sender",
        "edit": "Update a blocked email sender",
        "delete": "Delete a blocked email sender",
    },
)
