"""The investigate answers and bodies, as the served OpenAPI document declares them.

Answers follow the official SDKs' models (Python `cloudflare` 5.9.0 `types/email_security/
investigate*`, TypeScript 7.3.0); mailpolicy's own fields are marked as such.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from mailpolicy.api.envelope import Closed
from mailpolicy.api.schemas import Body

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
ShortDisposition = Literal["MALICIOUS", "SUSPICIOUS", "SPOOF", "SPAM", "BULK", "NONE"]
AuthVerdict = Literal["pass", "neutral", "fail", "error", "none"]
DeliveryStatus = Literal[
    "delivered", "moved", "quarantined", "rejected", "deferred", "bounced", "queued", "move_failed"
]
MAX_IDS = 100
# An investigate id: a queue id, a time and 8 hex digits (mailpolicy's are at most 80).
InvestigateId = Annotated[str, Field(max_length=200)]


class ActionLogProperties(Closed):
    folder: str | None = None
    requested_by: str | None = None


class ActionLogRead(Closed):
    completed_at: dt.datetime
    operation: Literal[
        "MOVE", "RELEASE", "RECLASSIFY", "SUBMISSION", "QUARANTINE_RELEASE", "PREVIEW"
    ]
    properties: ActionLogProperties | None = None
    status: str | None = None


AllowType = Literal[
    "quarantine_release",
    "acceptable_sender",
    "allowed_sender",
    "allowed_recipient",
    "domain_similarity",
    "domain_recency",
    "managed_acceptable_sender",
    "outbound_ndr",
]


class PropertiesRead(Closed):
    allowlisted_pattern: str | None = None
    allowlisted_pattern_type: AllowType | None = None
    blocklisted_message: bool | None = None
    blocklisted_pattern: str | None = None


class FindingRead(Closed):
    attachment: str | None = None
    detail: str | None = None
    detection: Disposition | None = None
    field: str | None = None
    name: str | None = None
    portion: str | None = None
    reason: str | None = None
    score: float | None = None
    value: str | None = None


class ValidationRead(Closed):
    comment: str | None = None
    dkim: AuthVerdict | None = None
    dmarc: AuthVerdict | None = None
    spf: AuthVerdict | None = None


class ReasonRead(Closed):
    resource: str
    id: str
    pattern: str
    field: str
    effect: str
    honoured: bool
    note: str
    overridden_by: str | None = None


class RecipientRead(Closed):
    """mailpolicy's own: one recipient's verdict and what the milter did with it."""

    address: str
    disposition: str
    action: Literal[
        "delivered", "refused", "removed", "rejected", "discarded", "quarantined", "released"
    ]
    delivery_status: DeliveryStatus
    explanation: str
    reasons: list[ReasonRead]


class TLSRead(Closed):
    protocol: str
    cipher: str | None


class MessageRead(Closed):
    id: str
    action_log: list[ActionLogRead]
    client_recipients: list[str]
    detection_reasons: list[str]
    is_phish_submission: bool
    is_quarantined: bool
    postfix_id: str
    properties: PropertiesRead
    ts: str
    alert_id: str | None
    delivery_mode: Literal["DIRECT"] | None
    delivery_status: list[DeliveryStatus]
    edf_hash: str | None
    envelope_from: str | None
    envelope_to: list[str]
    final_disposition: Disposition
    findings: list[FindingRead]
    from_: str | None = Field(alias="from")
    from_name: str | None
    htmltext_structure_hash: str | None
    message_id: str | None
    post_delivery_operations: list[Literal["PREVIEW", "QUARANTINE_RELEASE", "SUBMISSION", "MOVE"]]
    postfix_id_outbound: str | None
    replyto: str | None
    scanned_at: dt.datetime
    sent_at: dt.datetime | None
    sent_date: str | None
    smtp_helo_server_ip: str | None
    smtp_previous_hop_ip: str | None
    subject: str | None
    threat_categories: list[str]
    to: list[str]
    to_name: list[str]
    validation: ValidationRead
    x_originating_ip: str | None
    action: str = Field(description="mailpolicy's own: what the milter did with the message.")
    client_hostname: str | None = Field(description="mailpolicy's own.")
    helo: str | None = Field(description="mailpolicy's own: the client's HELO name.")
    tls: TLSRead | None = Field(description="mailpolicy's own.")
    size: int | None = Field(description="mailpolicy's own: bytes, headers included.")
    settings_version: int = Field(
        description="mailpolicy's own: the account's settings version it was decided with."
    )
    released_at: dt.datetime | None = Field(description="mailpolicy's own.")
    recipients: list[RecipientRead] = Field(description="mailpolicy's own.")


class InvestigateResultInfo(Closed):
    count: int
    page: int
    per_page: int
    total_count: int = Field(
        description="Messages matching, counted up to 10,000 (see total_count_capped)."
    )
    total_count_capped: bool = Field(
        description="mailpolicy's own: true when more than 10,000 match (total_count is then "
        "10,000)."
    )
    cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end.")


class MessageListEnvelope(Closed):
    success: Literal[True]
    errors: list[Any]
    messages: list[Any]
    result: list[MessageRead]
    result_info: InvestigateResultInfo


class HeaderRead(Closed):
    name: str
    value: str


class LinkRead(Closed):
    href: str
    text: str | None = None


class SenderInfoRead(Closed):
    as_name: str | None = None
    as_number: int | None = None
    geo: str | None = None
    ip: str | None = None
    pld: str | None = None


class ThreatCategoryRead(Closed):
    id: int
    description: str | None = None
    name: str | None = None


class DetectionsRead(Closed):
    action: str
    attachments: list[dict[str, Any]]
    headers: list[HeaderRead]
    links: list[LinkRead]
    sender_info: SenderInfoRead
    threat_categories: list[ThreatCategoryRead]
    validation: ValidationRead
    findings: list[FindingRead]
    final_disposition: Disposition


class TraceLineRead(Closed):
    lineno: int
    logged_at: dt.datetime
    message: str


class TraceSideRead(Closed):
    lines: list[TraceLineRead]
    pending: bool


class TraceRead(Closed):
    inbound: TraceSideRead
    outbound: TraceSideRead


class RawRead(Closed):
    raw: str = Field(description="The message as received, UTF-8 (undecodable bytes replaced).")


class PreviewRead(Closed):
    screenshot: str = Field(description="A PNG of the message, base64.")


class ReleaseRead(Closed):
    id: str
    postfix_id: str
    delivered: list[str] = Field(
        description="Recipients the message was handed back to Postfix for (released from hold)."
    )
    failed: list[str] = Field(description="Recipients Postfix could not release it for.")
    undelivered: list[str] = Field(
        description="Recipients of the record the release does not reach (refused or removed)."
    )


class SubmissionRead(Closed):
    submission_id: str
    requested_at: dt.datetime
    requested_by: str
    original_disposition: ShortDisposition
    requested_disposition: ShortDisposition
    original_postfix_id: str
    customer_status: Literal["escalated", "reviewed", "unreviewed"]
    status: str
    subject: str | None
    type: Literal["Team", "User"]
    message_id: str = Field(description="mailpolicy's own: the investigate id it is about.")


# ---- bodies --------------------------------------------------------------------------------


class ReleaseBody(Body):
    """`{"ids": [...]}`; the bare JSON array of SDK 4.x is read as the same."""

    ids: list[InvestigateId] = Field(
        min_length=1, max_length=MAX_IDS, description="Investigate ids."
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_array(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"ids": value}
        return value


class PreviewBody(Body):
    id: str = Field(max_length=200, description="The investigate id.")


class ReclassifyBody(Body):
    expected_disposition: ShortDisposition
    eml_content: str | None = Field(default=None, max_length=1 << 20)
    escalated_submission_id: str | None = Field(default=None, max_length=200)


class MoveBody(Body):
    destination: str = Field(max_length=64)
    ids: list[InvestigateId] | None = Field(default=None, max_length=MAX_IDS)
    expected_disposition: str | None = Field(default=None, max_length=20)
    postfix_ids: list[InvestigateId] | None = Field(default=None, max_length=MAX_IDS)
