"""Sending-domain restrictions: mail from these domains must arrive over TLS or is dropped."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mailpolicy.api.schemas import UNSET, Body, PartialBody, SearchableListQuery
from mailpolicy.config import Rules
from mailpolicy.engine import SendingDomainRestrictionRule
from mailpolicy.errors import ValidationFailed
from mailpolicy.resources.base import (
    Comments,
    DomainName,
    LegacyEntryRead,
    SettingsEntry,
    domain_key,
    timestamps,
)
from mailpolicy.resources.patterns import domain_problem, fail
from mailpolicy.resources.spec import ResourceSpec

MAX_EXCLUDES = 100


class SendingDomainRestriction(SettingsEntry):
    __tablename__ = "sending_domain_restrictions"

    domain: Mapped[str] = mapped_column(String(253))
    exclude: Mapped[list[str]] = mapped_column(JSON, default=list)
    comments: Mapped[str | None] = mapped_column(String(1024), nullable=True)

    @classmethod
    def extra_indexes(cls) -> tuple[Index, ...]:
        return (
            Index("ix_sending_domain_restrictions_account_domain", "account_id", "domain", "id"),
        )


# One restriction's exemptions: subdomains of its domain. A longer list belongs in a
# restriction on each subdomain that does need TLS.
Excludes = Annotated[list[DomainName], Field(max_length=MAX_EXCLUDES)]


class SendingDomainRestrictionCreate(Body):
    domain: DomainName = Field(description="Domain that requires TLS enforcement.")
    exclude: Excludes = Field(description="Subdomains to exempt from TLS requirements.")
    comments: Comments = None


class SendingDomainRestrictionUpdate(PartialBody):
    domain: DomainName = UNSET
    exclude: Excludes = UNSET
    comments: Comments = UNSET


class SendingDomainRestrictionRead(LegacyEntryRead):
    domain: str
    exclude: list[str]
    comments: str | None


class SendingDomainRestrictionListQuery(SearchableListQuery):
    order: Literal["domain", "created_at"] | None = Field(
        default=None, description="Field to sort by."
    )


def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    values = dict(values)
    if isinstance(values.get("domain"), str):
        values["domain"] = domain_key(values["domain"])
    if isinstance(values.get("exclude"), list):
        values["exclude"] = [domain_key(e) for e in values["exclude"]]
    return values


def _check(row: SendingDomainRestriction, _rules: Rules) -> None:
    problem = domain_problem(row.domain)
    if problem:
        raise fail("domain", problem)
    for index, name in enumerate(row.exclude):
        problem = domain_problem(name)
        if problem is None and not name.endswith("." + row.domain):
            problem = f"'{name}' is not a subdomain of {row.domain}"
        if problem:
            raise ValidationFailed(f"exclude[{index}]: {problem}.", pointer=f"/exclude/{index}")


def serialize(row: SendingDomainRestriction) -> dict[str, Any]:
    return {
        "id": row.id,
        "domain": row.domain,
        "exclude": list(row.exclude),
        "comments": row.comments,
        **timestamps(row),
    }


def to_rule(row: SendingDomainRestriction) -> SendingDomainRestrictionRule:
    """The entry as the policy engine reads it."""
    return SendingDomainRestrictionRule(id=row.id, domain=row.domain, exclude=tuple(row.exclude))


SPEC = ResourceSpec(
    path="sending_domain_restrictions",
    noun="sending domain restriction",
    model=SendingDomainRestriction,
    id_param="sending_domain_restriction_id",
    create=SendingDomainRestrictionCreate,
    update=SendingDomainRestrictionUpdate,
    put=None,
    read=SendingDomainRestrictionRead,
    list_query=SendingDomainRestrictionListQuery,
    serialize=serialize,
    to_rule=to_rule,
    check=_check,
    label=SendingDomainRestriction.domain,
    identity=lambda r: (domain_key(r.domain),),
    orderings={
        "domain": SendingDomainRestriction.domain,
        "created_at": SendingDomainRestriction.created_at,
    },
    search=(SendingDomainRestriction.domain, SendingDomainRestriction.comments),
    to_columns=_normalise,
    batch="deletes",
    summaries={
        "list": "List sending domain restrictions",
        "create": "Create a sending domain restriction",
        "batch": "Batch sending domain restrictions operations",
        "get": "Get a sending domain restriction",
        "edit": "Update a sending domain restriction",
        "delete": "Delete a sending domain restriction",
    },
)
