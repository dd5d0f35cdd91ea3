"""Content policies: RE2 patterns looked for in a message's subject and text; a match is MALICIOUS.

An enabled policy whose pattern is found anywhere in one of its targets (SUBJECT, BODY) makes
the message MALICIOUS for every recipient it is not exempt for, at the same precedence step as
a blocked sender. Patterns are matched ignoring case, like every other pattern.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field
from sqlalchemy import JSON, Boolean, ColumnElement, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mailpolicy.api.schemas import UNSET, Body, PartialBody, SearchableListQuery
from mailpolicy.config import Rules
from mailpolicy.engine import TARGET_BODY, TARGET_SUBJECT, ContentPolicyRule
from mailpolicy.resources.base import EntryRead, Regex, SettingsEntry, entry_time
from mailpolicy.resources.patterns import fail, regex_problem
from mailpolicy.resources.spec import ResourceSpec

Target = Literal["SUBJECT", "BODY"]
TARGET_ORDER = (TARGET_SUBJECT, TARGET_BODY)


def _distinct(targets: Sequence[str]) -> list[str]:
    # Each target once, in a fixed order: ["BODY", "SUBJECT", "BODY"] is ["SUBJECT", "BODY"].
    return [t for t in TARGET_ORDER if t in targets]


Targets = Annotated[list[Target], Field(min_length=1, max_length=2), AfterValidator(_distinct)]
Name = Annotated[str, Field(min_length=1, max_length=255)]
Notes = Annotated[str | None, Field(max_length=1024)]


class ContentPolicy(SettingsEntry):
    __tablename__ = "content_policies"

    name: Mapped[str] = mapped_column(String(255))
    pattern: Mapped[str] = mapped_column(String(1024))
    targets: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    notes: Mapped[str | None] = mapped_column(String(1024), nullable=True)

    @classmethod
    def extra_indexes(cls) -> tuple[Index, ...]:
        return (
            Index("ix_content_policies_account_name", "account_id", "name", "id"),
            Index(
                "ix_content_policies_account_enabled", "account_id", "enabled", "created_at", "id"
            ),
        )


class ContentPolicyCreate(Body):
    """Create a content policy (also the shape of a batch `puts` item)."""

    enabled: bool = Field(description="Whether the policy is active.")
    name: Name = Field(description="Human-readable name of the policy.")
    pattern: Regex = Field(description="RE2 regular expression looked for in the targets.")
    targets: Targets = Field(description="Parts of the email the pattern is matched against.")
    notes: Notes = Field(default=None, description="What the policy is for.")


class ContentPolicyUpdate(PartialBody):
    enabled: bool = UNSET
    name: Name = UNSET
    pattern: Regex = UNSET
    targets: Targets = UNSET
    notes: Notes = UNSET


class ContentPolicyRead(EntryRead):
    name: str
    pattern: str
    targets: list[Target]
    enabled: bool
    notes: str | None


class ContentPolicyListQuery(SearchableListQuery):
    order: Literal["name", "created_at"] | None = Field(
        default=None, description="Field to sort by."
    )
    enabled: bool | None = Field(default=None, description="Filter by enabled status.")
    name: str | None = Field(default=None, max_length=255, description="Filter by exact name.")


def _filters(q: ContentPolicyListQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if q.enabled is not None:
        conditions.append(ContentPolicy.enabled.is_(q.enabled))
    if q.name is not None:
        conditions.append(ContentPolicy.name == q.name)
    return conditions


def _check(row: ContentPolicy, _rules: Rules) -> None:
    if not row.name.strip():
        raise fail("name", "must not be blank")
    problem = regex_problem(row.pattern)
    if problem:
        raise fail("pattern", problem)


def serialize(row: ContentPolicy) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "pattern": row.pattern,
        "targets": list(row.targets),
        "enabled": row.enabled,
        "notes": row.notes,
        "created_at": entry_time(row.created_at),
        "modified_at": entry_time(row.modified_at),
    }


def to_rule(row: ContentPolicy) -> ContentPolicyRule:
    """The entry as the policy engine reads it."""
    return ContentPolicyRule(
        id=row.id,
        name=row.name,
        pattern=row.pattern,
        targets=tuple(row.targets),
        enabled=row.enabled,
    )


SPEC = ResourceSpec(
    path="content_policies",
    noun="content policy",
    model=ContentPolicy,
    id_param="policy_id",
    create=ContentPolicyCreate,
    update=ContentPolicyUpdate,
    put=ContentPolicyCreate,
    read=ContentPolicyRead,
    list_query=ContentPolicyListQuery,
    serialize=serialize,
    to_rule=to_rule,
    check=_check,
    # Two policies looking for the same pattern in the same places find the same mail.
    label=ContentPolicy.name,
    identity=lambda r: (r.pattern, *_distinct(r.targets)),
    filters=_filters,
    orderings={"name": ContentPolicy.name, "created_at": ContentPolicy.created_at},
    search=(ContentPolicy.name, ContentPolicy.pattern, ContentPolicy.notes),
    summaries={
        "list": "List content policies",
        "create": "Create a content policy",
        "batch": "Batch content policies operations",
        "get": "Get a content policy",
        "edit": "Update a content policy",
        "delete": "Delete a content policy",
    },
)
