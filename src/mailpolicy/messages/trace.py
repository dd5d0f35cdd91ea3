"""A record told as lines (trace) and as findings (detections), in Cloudflare's shapes.

The trace's inbound side is mailpolicy's own decision, stage by stage (the connection, the
envelope, each recipient's verdict with every reason, what the milter did), then the lines of
Postfix's log for the message when mailpolicy follows it (MAILPOLICY_POSTFIX_MAILLOG). The
outbound side is what happened after: releases, and Postfix's lines since. A side is pending
while a recipient of it has no final delivery status yet.
"""

from __future__ import annotations

import json
from typing import Any

from mailpolicy.messages import mime_headers
from mailpolicy.messages.records import MessageRecipient, MessageRecord
from mailpolicy.timefmt import iso

# Cloudflare numbers its threat categories; these are mailpolicy's, one per kind of setting
# that can drop a message (docs/compatibility.md).
THREAT_CATEGORIES = {
    "block": (1, "blocked_sender", "The sender matched a blocked sender entry."),
    "content_policy": (2, "content_policy", "The message matched a content policy."),
    "impersonation": (3, "impersonation", "The sender impersonates a registered name."),
    "require_tls": (4, "tls_required", "The sending domain must use TLS, and did not."),
}
_FINAL = {"delivered", "rejected", "bounced"}


def _line(lines: list[dict[str, Any]], at: str | None, message: str) -> None:
    lines.append({"lineno": len(lines) + 1, "logged_at": at, "message": message})


def trace(record: MessageRecord, recipients: list[MessageRecipient]) -> dict[str, Any]:
    at = iso(record.scanned_at)
    inbound: list[dict[str, Any]] = []
    client = f"{record.client_hostname or 'unknown'}[{record.client_ip or '-'}]"
    tls = f"{record.tls_protocol} {record.tls_cipher}" if record.tls_protocol else "none"
    _line(inbound, at, f"connect from {client}, helo={record.helo or '-'}, tls={tls}")
    _line(inbound, at, f"{record.postfix_id}: from=<{record.envelope_from}>")
    stage = record.features.get("stage", "eom")
    for recipient in recipients:
        when = (
            "at RCPT" if recipient.action == "refused" or stage == "rcpt" else "at end of message"
        )
        _line(
            inbound,
            at,
            f"{record.postfix_id}: to=<{recipient.address}> {when}: disposition "
            f"{recipient.disposition}, {recipient.action}: {recipient.explanation}",
        )
        for reason in recipient.reasons:
            state = "honoured" if reason.get("honoured") else "not honoured"
            _line(
                inbound,
                at,
                f"{record.postfix_id}:   {state}: {reason.get('effect')} "
                f"{reason.get('resource')}/{reason.get('id')} on {reason.get('field')}: "
                f"{reason.get('note')}",
            )
    if record.quarantine_reason:
        _line(
            inbound,
            at,
            f"{record.postfix_id}: held in Postfix's hold queue: {record.quarantine_reason}",
        )
    outbound: list[dict[str, Any]] = []
    for entry in record.action_log:
        if entry.get("operation") == "QUARANTINE_RELEASE":
            by = (entry.get("properties") or {}).get("requested_by")
            _line(
                outbound,
                entry.get("completed_at"),
                f"{record.postfix_id}: release by {by}: {entry.get('status')}",
            )
    for logged in record.trace:
        side = outbound if logged.get("side") == "outbound" else inbound
        _line(side, logged.get("logged_at"), logged.get("message", ""))
    pending = any(r.delivery_status not in _FINAL for r in recipients if r.action != "quarantined")
    return {
        "inbound": {"lines": inbound, "pending": pending and not record.released_at},
        "outbound": {"lines": outbound, "pending": bool(record.released_at) and pending},
    }


def detections(record: MessageRecord, recipients: list[MessageRecipient]) -> dict[str, Any]:
    honoured = [
        reason for recipient in recipients for reason in recipient.reasons if reason.get("honoured")
    ]
    categories = []
    for effect in dict.fromkeys(r.get("effect") for r in honoured):
        if effect in THREAT_CATEGORIES:
            number, name, description = THREAT_CATEGORIES[effect]
            categories.append({"id": number, "name": name, "description": description})
    findings = [dict(finding) for finding in record.findings] + [
        {
            "detection": recipient.disposition,
            "name": f"{reason.get('resource')}/{reason.get('id')}",
            "field": reason.get("field"),
            "value": reason.get("pattern"),
            "reason": reason.get("note"),
            "detail": reason.get("effect"),
        }
        for recipient in recipients
        for reason in recipient.reasons
        if reason.get("honoured") and recipient.disposition != "NONE"
    ]
    # A setting that decided for several recipients is one finding, not one per recipient.
    unique: dict[str, dict[str, Any]] = {}
    for finding in findings:
        unique.setdefault(json.dumps(finding, sort_keys=True, default=str), finding)
    return {
        "action": record.action,
        "attachments": [],
        "headers": mime_headers.headers_of(record),
        "links": [],
        "sender_info": {
            "as_name": None,
            "as_number": None,
            "geo": None,
            "ip": record.client_ip,
            "pld": record.sender_domain or None,
        },
        "threat_categories": categories,
        "validation": {"comment": None, **record.validation},
        "findings": list(unique.values()),
        "final_disposition": record.final_disposition,
    }
