"""Allow policies: senders that skip detections, and recipients that receive everything.

The deprecated flags is_sender / is_spoof / is_recipient are accepted as aliases of
is_trusted_sender / is_acceptable_sender / is_exempt_recipient and mirrored in responses.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator
from sqlalchemy import Boolean, ColumnElement, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mailpolicy.api.schemas import UNSET, Body, PartialBody, SearchableListQuery
from mailpolicy.config import Rules
from mailpolicy.engine import AllowPolicyRule
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

# The role flags, each a list filter.
FLAGS = ("is_trusted_sender", "is_acceptable_sender", "is_exempt_recipient", "verify_sender")
ALIASES = {
    "is_sender": "is_trusted_sender",
    "is_spoof": "is_acceptable_sender",
    "is_recipient": "is_exempt_recipient",
}


class AllowPolicy(SettingsEntry):
    __tablename__ = "allow_policies"

    pattern: Mapped[str] = mapped_column(String(1024))
    pattern_type: Mapped[str] = mapped_column(String(16))
    is_regex: Mapped[bool] = mapped_column(Boolean, default=False)
    is_trusted_sender: Mapped[bool] = mapped_column(Boolean, default=False)
    is_acceptable_sender: Mapped[bool] = mapped_column(Boolean, default=False)
    is_exempt_recipient: Mapped[bool] = mapped_column(Boolean, default=False)
    verify_sender: Mapped[bool] = mapped_column(Boolean, default=False)
    comments: Mapped[str | None] = mapped_column(String(1024), nullable=True)

    @classmethod
    def extra_indexes(cls) -> tuple[Index, ...]:
        # Each equality filter leads an index that ends in the default order (created_at, id):
        # its count reads only the matches, and its first page is the first entries of the
        # index. Type and pattern together serve "IP entries by pattern", whose matches sit
        # at one end of the pattern order.
        return (
            Index("ix_allow_policies_account_pattern", "account_id", "pattern", "id"),
            Index(
                "ix_allow_policies_account_type",
                "account_id",
                "pattern_type",
                "created_at",
                "id",
            ),
            Index(
                "ix_allow_policies_account_type_pattern",
                "account_id",
                "pattern_type",
                "pattern",
                "id",
            ),
            *(
                Index(f"ix_allow_policies_account_{flag}", "account_id", flag, "created_at", "id")
                for flag in FLAGS
            ),
        )


class _Aliased:
    """Copies a deprecated flag to its current name when only the old one was sent."""

    @model_validator(mode="before")
    @classmethod
    def _copy_aliases(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for old, new in ALIASES.items():
                if old in data and new not in data:
                    data[new] = data[old]
        return data

    @field_validator("is_sender", "is_spoof", "is_recipient", check_fields=False)
    @classmethod
    def _same_as_current(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        current = info.data.get(ALIASES[info.field_name or ""])
        if value is not None and current is not None and value != current:
            raise ValueError(
                f"conflicts with {ALIASES[info.field_name or '']}={str(current).lower()}; "
                "send only the current field"
            )
        return value


def _alias_satisfies_required(schema: dict[str, Any]) -> None:
    # A create may send a deprecated flag in place of its current name (see _Aliased): the
    # document says "this flag or its alias", not "this flag".
    either = [[current, old] for old, current in ALIASES.items()]
    schema["required"] = [name for name in schema["required"] if name not in ALIASES.values()]
    schema["allOf"] = [{"anyOf": [{"required": [name]} for name in pair]} for pair in either]


class AllowPolicyCreate(_Aliased, Body):
    model_config = ConfigDict(json_schema_extra=_alias_satisfies_required)

    is_acceptable_sender: bool
    is_exempt_recipient: bool
    is_regex: bool
    is_trusted_sender: bool
    pattern: Pattern
    pattern_type: WritablePatternType
    verify_sender: bool
    comments: Comments = None
    is_sender: bool | None = Field(default=None, deprecated=True)
    is_spoof: bool | None = Field(default=None, deprecated=True)
    is_recipient: bool | None = Field(default=None, deprecated=True)


class AllowPolicyPut(_Aliased, Body):
    """A full replacement: flags left out return to false, comments to null."""

    pattern: Pattern
    pattern_type: WritablePatternType
    is_acceptable_sender: bool = False
    is_exempt_recipient: bool = False
    is_regex: bool = False
    is_trusted_sender: bool = False
    verify_sender: bool = False
    comments: Comments = None
    is_sender: bool | None = Field(default=None, deprecated=True)
    is_spoof: bool | None = Field(default=None, deprecated=True)
    is_recipient: bool | None = Field(default=None, deprecated=True)


class AllowPolicyUpdate(_Aliased, PartialBody):
    is_acceptable_sender: bool = UNSET
    is_exempt_recipient: bool = UNSET
    is_regex: bool = UNSET
    is_trusted_sender: bool = UNSET
    pattern: Pattern = UNSET
    pattern_type: WritablePatternType = UNSET
    verify_sender: bool = UNSET
    comments: Comments = UNSET
    is_sender: bool = Field(default=UNSET, deprecated=True)
    is_spoof: bool = Field(default=UNSET, deprecated=True)
    is_recipient: bool = Field(default=UNSET, deprecated=True)


class AllowPolicyRead(LegacyEntryRead):
    pattern: str
    pattern_type: PatternType
    is_regex: bool
    is_trusted_sender: bool
    is_acceptable_sender: bool
    is_exempt_recipient: bool
    verify_sender: bool
    comments: str | None
    is_sender: bool = Field(deprecated=True, description="Same as is_trusted_sender.")
    is_spoof: bool = Field(deprecated=True, description="Same as is_acceptable_sender.")
    is_recipient: bool = Field(deprecated=True, description="Same as is_exempt_recipient.")


class AllowPolicyListQuery(SearchableListQuery):
    order: Literal["pattern", "created_at"] | None = Field(
        default=None, description="Field to sort by."
    )
    is_exempt_recipient: bool | None = None
    is_trusted_sender: bool | None = None
    is_acceptable_sender: bool | None = None
    verify_sender: bool | None = None
    pattern_type: PatternType | None = None
    pattern: str | None = Field(default=None, max_length=1024)


def _filters(q: AllowPolicyListQuery) -> list[ColumnElement[bool]]:
    m = AllowPolicy
    conditions: list[ColumnElement[bool]] = []
    for name in FLAGS:
        value = getattr(q, name)
        if value is not None:
            conditions.append(getattr(m, name).is_(value))
    if q.pattern_type is not None:
        conditions.append(m.pattern_type == q.pattern_type)
    if q.pattern is not None:
        conditions.append(m.pattern.in_({q.pattern, q.pattern.lower()}))
    return conditions


def _to_columns(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in ALIASES}


def _check(row: AllowPolicy, rules: Rules) -> None:
    problem = pattern_problem(row.pattern, row.pattern_type, row.is_regex, rules)
    if problem:
        raise fail("pattern", problem)


def serialize(row: AllowPolicy) -> dict[str, Any]:
    return {
        "id": row.id,
        "pattern": row.pattern,
        "pattern_type": row.pattern_type,
        "is_regex": row.is_regex,
        "is_trusted_sender": row.is_trusted_sender,
        "is_acceptable_sender": row.is_acceptable_sender,
        "is_exempt_recipient": row.is_exempt_recipient,
        "verify_sender": row.verify_sender,
        "comments": row.comments,
        "is_sender": row.is_trusted_sender,
        "is_spoof": row.is_acceptable_sender,
        "is_recipient": row.is_exempt_recipient,
        **timestamps(row),
    }


def to_rule(row: AllowPolicy) -> AllowPolicyRule:
    """The entry as the policy engine reads it."""
    return AllowPolicyRule(
        id=row.id,
        pattern=row.pattern,
        pattern_type=row.pattern_type,
        is_regex=row.is_regex,
        is_trusted_sender=row.is_trusted_sender,
        is_acceptable_sender=row.is_acceptable_sender,
        is_exempt_recipient=row.is_exempt_recipient,
        verify_sender=row.verify_sender,
    )


SPEC = ResourceSpec(
    path="allow_policies",
    noun="allow policy",
    model=AllowPolicy,
    id_param="policy_id",
    create=AllowPolicyCreate,
    update=AllowPolicyUpdate,
    put=AllowPolicyPut,
    read=AllowPolicyRead,
    list_query=AllowPolicyListQuery,
    serialize=serialize,
    to_rule=to_rule,
    check=_check,
    label=AllowPolicy.pattern,
    identity=lambda r: (
        r.pattern_type,
        r.is_regex,
        sender_key(r.pattern, r.pattern_type, r.is_regex),
        r.is_trusted_sender,
        r.is_acceptable_sender,
        r.is_exempt_recipient,
        r.verify_sender,
    ),
    filters=_filters,
    orderings={"pattern": AllowPolicy.pattern, "created_at": AllowPolicy.created_at},
    search=(AllowPolicy.pattern, AllowPolicy.comments),
    to_columns=_to_columns,
    summaries={
        "list": "List email allow policies",
        "create": "Create email allow policy",
        "batch": "Batch allow policies operations",
        "get": "Get an email allow policy",
        "edit": "Update an email allow policy",
        "delete": "Delete an email allow policy",
    },
)
