"""Protected domains: the recipient domains whose mail mailpolicy decides on.

Special to domains: a domain's name is fixed once created; PUT replaces the whole entry; a
deprecated bulk DELETE takes a JSON array; and domains created through the API start `PENDING`
with a DNS TXT ownership record that GET /domains/{id}/verification returns; mailpolicy.dns.verifier
makes a domain ACTIVE when the record is published, and reads its SPF and DMARC status. The
operator can also activate a domain by hand (`mailpolicy domains activate ID`).
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from fastapi import Body as BodyParam
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    Index,
    Integer,
    String,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from mailpolicy.api.deps import ReadAccess, RulesDep, SessionDep, WriteAccess, WriteSessionDep
from mailpolicy.api.envelope import (
    BATCH_ID_HEADER,
    RATE_LIMIT_HEADERS,
    Closed,
    IdResult,
    answers,
    ok,
    single,
    with_batch_id,
)
from mailpolicy.api.schemas import (
    MAX_BATCH,
    MAX_ID,
    UNSET,
    Body,
    IdRef,
    PartialBody,
    SearchableListQuery,
    StrictBody,
)
from mailpolicy.audit.events import Author
from mailpolicy.config import Rules
from mailpolicy.db import UTCDateTime, utcnow
from mailpolicy.engine import ProtectedDomainRule
from mailpolicy.errors import NotFound, ValidationFailed
from mailpolicy.resources.base import (
    DomainName,
    LegacyEntryRead,
    SettingsEntry,
    domain_key,
    timestamps,
)
from mailpolicy.resources.crud import (
    delete_entry,
    get_entry,
    record_change,
    replace_values,
    update_entry,
)
from mailpolicy.resources.patterns import domain_problem, fail, network_problem
from mailpolicy.resources.router import entry_path
from mailpolicy.resources.spec import ResourceSpec
from mailpolicy.timefmt import iso

DeliveryMode = Literal["DIRECT", "BCC", "JOURNAL", "API", "RETRO_SCAN"]
Disposition = Literal[
    "MALICIOUS",
    "MALICIOUS-BEC",
    "SUSPICIOUS",
    "SPOOF",
    "SPAM",
    "BULK",
    "ENCRYPTED",
    "EXTERNAL",
    "UNKNOWN",
    "NONE",
]
Region = Literal["GLOBAL", "AU", "DE", "IN", "US"]
Folder = Literal["AllItems", "Inbox"]
Status = Literal["PENDING", "ACTIVE", "FAILED", "TIMEOUT"]
PENDING: Status = "PENDING"
ACTIVE: Status = "ACTIVE"
TXT_PREFIX = "_cf-email-sec-challenge"
DEFAULT_LOOKBACK_HOPS = 1


def _uuid(value: str | None) -> str | None:
    if value is not None:
        try:
            uuid.UUID(value)
        except ValueError:
            raise ValueError("must be a UUID") from None
    return value


IntegrationId = Annotated[str | None, Field(max_length=36), AfterValidator(_uuid)]
Modes = Annotated[list[DeliveryMode], Field(min_length=1, max_length=10)]
Dispositions = Annotated[list[Disposition], Field(max_length=10)]
Regions = Annotated[list[Region], Field(min_length=1, max_length=10)]
IpRestrictions = Annotated[
    list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]],
    Field(max_length=100),
]
# A transport is a host name, optionally with a scheme and port (smtp://mx.example.com:25).
Transport = Annotated[str, Field(max_length=255)]
Hops = Annotated[int, Field(ge=1, le=20)]


def delivery_modes(stored: str) -> list[str]:
    """The delivery modes a stored ",DIRECT,BCC," holds, in order."""
    return [m for m in stored.split(",") if m]


class ProtectedDomain(SettingsEntry):
    __tablename__ = "domains"

    domain: Mapped[str] = mapped_column(String(253))
    # Delivery modes as ",DIRECT,BCC,": a portable, indexable "contains" filter on any database.
    delivery_modes: Mapped[str] = mapped_column(String(128))
    active_delivery_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    drop_dispositions: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    ip_restrictions: Mapped[list[str]] = mapped_column(JSON, default=list)
    folder: Mapped[str | None] = mapped_column(String(16), nullable=True)
    integration_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    lookback_hops: Mapped[int] = mapped_column(Integer, default=DEFAULT_LOOKBACK_HOPS)
    require_tls_inbound: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    require_tls_outbound: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    transport: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    spf_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    dmarc_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    inbox_provider: Mapped[str | None] = mapped_column(String(16), nullable=True)
    o365_tenant_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The ownership TXT record's token; None for a domain the operator activated by hand.
    verification_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    authorized_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # DNS checks (mailpolicy.dns.verifier): when the TXT record has been looked for since, when it
    # was last looked for and what was seen; when SPF and DMARC were last read and why they have
    # the status they have; the last DNS error (None once DNS answers again); consecutive checks
    # that ended without a final answer (the backoff); when the domain is next due a check.
    pending_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    verification_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    verification_message: Mapped[str | None] = mapped_column(String(512), nullable=True)
    dns_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    spf_detail: Mapped[str | None] = mapped_column(String(512), nullable=True)
    dmarc_detail: Mapped[str | None] = mapped_column(String(512), nullable=True)
    dns_error: Mapped[str | None] = mapped_column(String(512), nullable=True)
    dns_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    dns_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Messages the milter received for this domain: on `count_day` (UTC) and the day before.
    count_day: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    count_current: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    count_previous: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    @classmethod
    def extra_indexes(cls) -> tuple[Index, ...]:
        # Equality filters lead indexes ending in the default order (created_at, id), so a
        # filtered first page is read in order. allowed_delivery_mode is a "contains" test on
        # delivery_modes and reads every domain of the account.
        return (
            Index("ix_domains_dns_due", "dns_due_at"),
            Index("ix_domains_account_domain", "account_id", "domain", "id"),
            Index("ix_domains_account_status", "account_id", "status", "created_at", "id"),
            Index(
                "ix_domains_account_integration", "account_id", "integration_id", "created_at", "id"
            ),
            Index(
                "ix_domains_account_active_mode",
                "account_id",
                "active_delivery_mode",
                "created_at",
                "id",
            ),
        )

    @property
    def allowed_delivery_modes(self) -> list[str]:
        return delivery_modes(self.delivery_modes)

    @allowed_delivery_modes.setter
    def allowed_delivery_modes(self, modes: list[str]) -> None:
        self.delivery_modes = "," + ",".join(modes) + ","
        self.active_delivery_mode = modes[0] if modes else None


class DomainCreate(StrictBody):
    allowed_delivery_modes: Modes
    domain: DomainName
    drop_dispositions: Dispositions
    ip_restrictions: IpRestrictions
    regions: Regions
    folder: Folder | None = None
    integration_id: IntegrationId = None
    lookback_hops: Hops | None = None
    require_tls_inbound: bool | None = None
    require_tls_outbound: bool | None = None
    transport: Transport | None = None


class DomainReplace(Body):
    allowed_delivery_modes: Modes
    drop_dispositions: Dispositions
    ip_restrictions: IpRestrictions
    regions: Regions
    lookback_hops: Hops | None = None
    folder: Folder | None = None
    integration_id: IntegrationId = None
    require_tls_inbound: bool | None = None
    require_tls_outbound: bool | None = None
    transport: Transport | None = None
    domain: DomainName | None = Field(
        default=None, description="Accepted from older clients; must equal the domain's name."
    )


class DomainUpdate(PartialBody):
    allowed_delivery_modes: Modes = UNSET
    drop_dispositions: Dispositions = UNSET
    ip_restrictions: IpRestrictions = UNSET
    lookback_hops: Hops = UNSET
    regions: Regions = UNSET
    folder: Folder | None = UNSET
    integration_id: IntegrationId = UNSET
    require_tls_inbound: bool = UNSET
    require_tls_outbound: bool = UNSET
    transport: Transport = UNSET
    domain: DomainName = Field(
        default=UNSET, description="Accepted from older clients; must equal the domain's name."
    )


class Authorization(Closed):
    authorized: bool
    status_message: str | None
    timestamp: dt.datetime


class EmailsProcessed(Closed):
    timestamp: dt.datetime
    total_emails_processed: int
    total_emails_processed_previous: int


class DomainRead(LegacyEntryRead):
    domain: str
    allowed_delivery_modes: list[DeliveryMode]
    drop_dispositions: list[Disposition]
    regions: list[Region]
    ip_restrictions: list[str]
    folder: Folder | None
    integration_id: uuid.UUID | None
    lookback_hops: int
    require_tls_inbound: bool | None
    require_tls_outbound: bool | None
    transport: str = Field(description='The mail transport host; "" when none is set.')
    status: Status | None
    spf_status: Literal["none", "good", "neutral", "open", "invalid"] | None
    dmarc_status: Literal["none", "good", "invalid"] | None
    inbox_provider: Literal["Microsoft", "Google"] | None
    o365_tenant_id: str | None
    authorization: Authorization
    emails_processed: EmailsProcessed


class Verification(Closed):
    status: Status | None
    last_checked_at: dt.datetime | None
    txt_record_name: str = Field(description="The DNS TXT record to publish: its name ...")
    txt_record_value: str = Field(description="... and its value.")


def _status(value: str | None) -> str | None:
    # The current SDKs send capitals; older clients (and the contract's seeds) lowercase.
    return value.upper() if isinstance(value, str) else value


class DomainListQuery(SearchableListQuery):
    order: Literal["domain", "created_at"] | None = Field(
        default=None, description="Field to sort by."
    )
    allowed_delivery_mode: DeliveryMode | None = Field(
        default=None, description="Delivery mode to filter by."
    )
    active_delivery_mode: DeliveryMode | None = Field(
        default=None, description="Currently active delivery mode to filter by."
    )
    domain: list[DomainName] | None = Field(
        default=None, max_length=100, description="Domain names to filter by (at most 100)."
    )
    integration_id: IntegrationId = Field(default=None, description="Integration ID to filter by.")
    status: Annotated[Status | None, BeforeValidator(_status)] = Field(
        default=None, description="Filters response to domains with the provided status."
    )


def _filters(q: DomainListQuery) -> list[ColumnElement[bool]]:
    m = ProtectedDomain
    conditions: list[ColumnElement[bool]] = []
    if q.allowed_delivery_mode is not None:
        conditions.append(m.delivery_modes.contains(f",{q.allowed_delivery_mode},"))
    if q.active_delivery_mode is not None:
        conditions.append(m.active_delivery_mode == q.active_delivery_mode)
    if q.domain:
        conditions.append(m.domain.in_([domain_key(d) for d in q.domain]))
    if q.integration_id is not None:
        conditions.append(m.integration_id == q.integration_id)
    if q.status is not None:
        conditions.append(m.status == q.status)
    return conditions


def _to_columns(values: dict[str, Any]) -> dict[str, Any]:
    values = dict(values)
    if isinstance(values.get("domain"), str):
        values["domain"] = domain_key(values["domain"])
    if "lookback_hops" in values and values["lookback_hops"] is None:
        values["lookback_hops"] = DEFAULT_LOOKBACK_HOPS
    return values


def _name_is_fixed(existing: ProtectedDomain, values: dict[str, Any]) -> None:
    name = values.pop("domain", None)
    if name is not None and name != existing.domain:
        raise fail(
            "domain", f"a domain's name cannot change after creation (it is {existing.domain})"
        )


def _check(row: ProtectedDomain, _rules: Rules) -> None:
    problem = domain_problem(row.domain)
    if problem:
        raise fail("domain", problem)
    for index, value in enumerate(row.ip_restrictions):
        # ip_restrictions name the relays that hand mail to us; internal ones are private by nature.
        problem = network_problem(value, Rules(allow_private_ips=True))
        if problem:
            raise ValidationFailed(
                f"ip_restrictions[{index}]: {problem}.", pointer=f"/ip_restrictions/{index}"
            )


def _before_write(existing: ProtectedDomain | None, values: dict[str, Any]) -> None:
    """A domain's name is fixed once it is created; a new domain awaits its TXT record, and its
    DNS is checked as soon as the verifier can."""
    if existing is not None:
        _name_is_fixed(existing, values)
        return
    now = utcnow()
    values.update(
        status=PENDING,
        spf_status=None,  # not read yet
        dmarc_status=None,
        verification_token=secrets.token_hex(16),
        pending_since=now,
        dns_due_at=now,
    )


def txt_record_name(domain: str) -> str:
    """Where a domain's ownership TXT record is published ..."""
    return f"{TXT_PREFIX}.{domain}"


def txt_record_value(token: str | None) -> str:
    """... and the value it holds."""
    return f"mailpolicy-verification={token}"


def activate(session: Session, domain_id: str, by: Author) -> ProtectedDomain:
    """The operator asserts ownership: the domain becomes active and needs no TXT record.

    Its status is the operator's from now on: the verifier reads its SPF and DMARC, never
    its status.
    """
    row = session.get(ProtectedDomain, domain_id, with_for_update=True)
    if row is None:
        raise NotFound(f"No domain with id {domain_id}.")
    before = serialize(row)
    row.status = ACTIVE
    row.verification_token = None
    row.pending_since = None
    row.verification_message = None
    row.authorized_at = utcnow()
    row.modified_at = row.authorized_at
    session.flush()
    record_change(session, SPEC, row, "activate", before, by)
    return row


def count_messages(session: Session, messages: dict[str, int], today: dt.date) -> None:
    """Add to each protected domain's count for `today`, rolling the day over when it changed."""
    if not messages:
        return
    rows = session.scalars(
        select(ProtectedDomain).where(ProtectedDomain.id.in_(list(messages))).with_for_update()
    )
    for row in rows:
        added = messages[row.id]
        if row.count_day == today:
            row.count_current += added
            continue
        yesterday = today - dt.timedelta(days=1)
        row.count_previous = row.count_current if row.count_day == yesterday else 0
        row.count_current = added
        row.count_day = today


def emails_processed(row: ProtectedDomain, today: dt.date) -> dict[str, Any]:
    """Messages received today (UTC, since `timestamp`) and the day before, as counted."""
    current = previous = 0
    if row.count_day == today:
        current, previous = row.count_current, row.count_previous
    elif row.count_day == today - dt.timedelta(days=1):
        previous = row.count_current
    start = dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC)
    return {
        "timestamp": iso(start),
        "total_emails_processed": current,
        "total_emails_processed_previous": previous,
    }


def _status_message(row: ProtectedDomain) -> str:
    if row.verification_message:
        return row.verification_message
    if row.verification_token is None:
        return "Not verified."
    return f"Awaiting the DNS TXT record {txt_record_name(row.domain)}."


def serialize(row: ProtectedDomain) -> dict[str, Any]:
    # Columns only (see ResourceSpec): a plain row has no allowed_delivery_modes property.
    authorized = row.status == ACTIVE
    return {
        "id": row.id,
        "domain": row.domain,
        "allowed_delivery_modes": delivery_modes(row.delivery_modes),
        "drop_dispositions": list(row.drop_dispositions),
        "regions": list(row.regions),
        "ip_restrictions": list(row.ip_restrictions),
        "folder": row.folder,
        "integration_id": row.integration_id,
        "lookback_hops": row.lookback_hops,
        "require_tls_inbound": row.require_tls_inbound,
        "require_tls_outbound": row.require_tls_outbound,
        # A string in the current schema: "" when none is set.
        "transport": row.transport or "",
        "status": row.status,
        "spf_status": row.spf_status,
        "dmarc_status": row.dmarc_status,
        "inbox_provider": row.inbox_provider,
        "o365_tenant_id": row.o365_tenant_id,
        "authorization": {
            "authorized": authorized,
            "status_message": None if authorized else _status_message(row),
            "timestamp": iso(
                (row.authorized_at if authorized else row.verification_checked_at) or row.created_at
            ),
        },
        "emails_processed": emails_processed(row, utcnow().date()),
        **timestamps(row),
    }


def to_rule(row: ProtectedDomain) -> ProtectedDomainRule:
    """The entry as the policy engine reads it."""
    return ProtectedDomainRule(
        id=row.id,
        domain=row.domain,
        status=row.status,
        drop_dispositions=tuple(row.drop_dispositions),
    )


SPEC = ResourceSpec(
    path="domains",
    noun="domain",
    model=ProtectedDomain,
    id_param="domain_id",
    create=DomainCreate,
    update=DomainUpdate,
    put=DomainReplace,
    read=DomainRead,
    list_query=DomainListQuery,
    serialize=serialize,
    to_rule=to_rule,
    check=_check,
    label=ProtectedDomain.domain,
    identity=lambda r: (domain_key(r.domain),),
    filters=_filters,
    orderings={"domain": ProtectedDomain.domain, "created_at": ProtectedDomain.created_at},
    search=(ProtectedDomain.domain, ProtectedDomain.transport),
    to_columns=_to_columns,
    before_write=_before_write,
    summaries={
        "list": "List protected email domains",
        "create": "Add a new email domain",
        "batch": "Batch domain operations",
        "get": "Get an email domain",
        "edit": "Update an email domain",
        "delete": "Unprotect an email domain",
    },
)

router = APIRouter(
    prefix="/accounts/{account_id}/email-security/settings/domains", tags=["domains"]
)
DomainId = Annotated[str, Path(max_length=MAX_ID, description="Domain identifier.")]


@router.put(
    entry_path("domain_id"),
    summary="Replace an email domain",
    responses=answers(single(DomainRead), "The domain as replaced."),
)
def replace_domain(
    access: WriteAccess,
    session: WriteSessionDep,
    rules: RulesDep,
    domain_id: DomainId,
    body: DomainReplace,
) -> JSONResponse:
    values = replace_values(DomainReplace, body)
    if "domain" not in body.model_fields_set:
        values.pop("domain", None)
    by = Author(access.actor)
    row = update_entry(session, SPEC, access.account_id, domain_id, values, rules, by, "replace")
    return ok(serialize(row))


@router.delete(
    "",
    summary="Unprotect multiple email domains",
    deprecated=True,
    responses=with_batch_id(answers(single(list[IdResult]), "The ids of the domains removed.")),
)
def bulk_delete(
    access: WriteAccess,
    session: WriteSessionDep,
    body: Annotated[list[IdRef], BodyParam(min_length=1, max_length=MAX_BATCH)],
) -> JSONResponse:
    """Deprecated; use the batch endpoint. All or nothing: one unknown id deletes nothing."""
    rows = []
    for index, ref in enumerate(body):
        try:
            rows.append(get_entry(session, SPEC, access.account_id, ref.id, lock=True))
        except NotFound as exc:
            raise NotFound(f"[{index}]: {exc}", pointer=f"/{index}/id") from None
    by = Author(access.actor).in_batch()
    for row in dict.fromkeys(rows):  # an id sent twice is one deletion
        delete_entry(session, SPEC, access.account_id, row.id, by)
    return ok([{"id": row.id} for row in rows], headers={BATCH_ID_HEADER: str(by.batch_id)})


@router.get(
    "/{domain_id}/verification",
    summary="Get domain verification details",
    responses={
        **answers(single(Verification), "The DNS TXT record that proves ownership."),
        204: {
            "description": "Verified by other means; no TXT record needed.",
            "headers": RATE_LIMIT_HEADERS,
        },
    },
)
def verification(access: ReadAccess, session: SessionDep, domain_id: DomainId) -> Response:
    """The TXT record that proves ownership, and where its check stands; 204 for a domain the
    operator activated by hand."""
    row: ProtectedDomain = get_entry(session, SPEC, access.account_id, domain_id)
    if row.verification_token is None:
        return Response(status_code=204)
    return ok(
        {
            "status": row.status,
            "last_checked_at": iso(row.verification_checked_at),
            "txt_record_name": txt_record_name(row.domain),
            "txt_record_value": txt_record_value(row.verification_token),
        }
    )
