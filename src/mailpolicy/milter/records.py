"""The records of one message (mailpolicy.messages.records), built from what the milter saw.

Pure: the connection, the transaction and the verdicts in, plain drafts out. One draft per
account whose recipients the message reached; a recipient refused at RCPT is in its account's
draft with the action `refused`, and a message whose every recipient was refused there (so
that Postfix gave it no queue id) gets a synthetic one, `NOQUEUE` and 8 hex digits.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import secrets
from typing import Any

from mailpolicy import mime
from mailpolicy.db import utcnow
from mailpolicy.engine import Message, RecipientVerdict
from mailpolicy.messages.records import (
    QUARANTINED,
    RecipientDraft,
    RecordDraft,
)
from mailpolicy.milter.session import Connection, Transaction, address

MAX_FIELD = 998
RESOURCE_CONTENT = "content_policies"


def features(
    message: Message,
    *,
    stage: str,
    body_read: bool,
    body_policies: dict[str, str] | None = None,
    body_matched: list[str] | None = None,
) -> dict[str, Any]:
    """What the engine read, as JSON: a replay builds the same Message from it. The text of
    the body is kept only when a content policy found something in it (as a detection's
    evidence); otherwise the record keeps the body content policies it was tested against
    (`body_policies`, id -> pattern), none of which matched: all a replay needs to know that
    the body cannot change its answer (mailpolicy.messages.whatif)."""
    auth = message.auth
    return {
        "stage": stage,
        "envelope_from": message.envelope_from,
        "header_from": message.header_from,
        "reply_to": message.reply_to,
        "client_ip": message.client_ip,
        "client_hostname": message.client_hostname,
        "helo": message.helo,
        "tls": None if message.tls is None else [message.tls.protocol, message.tls.cipher],
        "auth": {
            "spf": auth.spf,
            "dmarc": auth.dmarc,
            "dkim": [[sig.domain, sig.result] for sig in auth.dkim],
        },
        "findings": [
            [f.kind, f.disposition, f.domain, f.source, f.label] for f in message.findings
        ],
        "subject": message.subject,
        "body_read": body_read,
        "body_policies": body_policies or {},
        "body_matched": body_matched or [],
        "body": message.body if body_matched else None,
    }


def _validation(message: Message | None) -> dict[str, Any]:
    if message is None:
        return {}
    auth = message.auth
    dkim = "none"
    results = [sig.result.lower() for sig in auth.dkim]
    for verdict in ("pass", "fail", "neutral", "error"):
        if verdict in results:
            dkim = verdict
            break
    known = {"pass", "neutral", "fail", "error", "none"}

    def one(value: str) -> str:
        value = value.lower()
        if value in known:
            return value
        return "fail" if value in {"softfail", "permerror"} else "error"

    return {
        "spf": one(auth.spf),
        "dkim": dkim if dkim in known else "error",
        "dmarc": one(auth.dmarc),
    }


def _header(transaction: Transaction, name: str) -> str | None:
    raw = transaction.headers.get(name)
    if raw is None:
        return None
    return mime.decoded(raw, MAX_FIELD) or None


def _sent_at(transaction: Transaction) -> dt.datetime | None:
    value = _header(transaction, "date")
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


# The common shapes of an address header item, `addr@host` and `Name <addr@host>`, read
# without the stdlib's full RFC 5322 parser (a quarter of what a record costs to make);
# anything else (quotes, comments, groups, escapes) goes to the parser.
_PLAIN = re.compile(r"\s*([^\s<>()\",;:\\@]+@[^\s<>()\",;:\\@]+)\s*")
_NAMED = re.compile(r"\s*([^<>()\",;:\\]*?)\s*<([^\s<>()\",;:\\@]+@[^\s<>()\",;:\\@]+)>\s*")


def _address(item: str) -> tuple[str, str] | None:
    plain = _PLAIN.fullmatch(item)
    if plain is not None:
        return "", plain[1]
    named = _NAMED.fullmatch(item)
    if named is not None:
        return named[1], named[2]
    return None


def _addresses(value: str | None) -> list[tuple[str, str]]:
    if not value:
        return []
    quick = [_address(item) for item in value.split(",")]
    if all(found is not None for found in quick):
        return [found for found in quick if found is not None][:100]
    return [(name, addr) for name, addr in email.utils.getaddresses([value]) if addr][:100]


def _from(value: str | None) -> tuple[str, str]:
    if not value:
        return "", ""
    return _address(value) or email.utils.parseaddr(value)


def _reasons(verdict: RecipientVerdict) -> list[dict[str, Any]]:
    return [reason.to_dict() for reason in verdict.reasons]


def _body_matched(transaction: Transaction, account_id: str) -> list[str]:
    """The body content policies any of the account's recipients matched."""
    return sorted(
        {
            reason.id
            for route, verdict, _ in transaction.outcomes.values()
            if route.account_id == account_id
            for reason in verdict.reasons
            if reason.resource == RESOURCE_CONTENT and reason.field == "body"
        }
    )


def _findings(message: Message) -> list[dict[str, Any]]:
    """The message's detections in investigate's finding shape: what found it and what it
    saw (name), the disposition (detection), the domain it concerns (value)."""
    return [
        {
            "detection": finding.disposition,
            "name": f"{finding.source}/{finding.label}" if finding.source else finding.kind,
            "detail": finding.kind,
            "field": "domain" if finding.domain else None,
            "value": finding.domain,
            "reason": (f"{finding.source}: {finding.label}" if finding.source else None),
        }
        for finding in message.findings
    ]


def no_queue_id() -> str:
    """The queue id of a message Postfix gave none (every recipient refused at RCPT)."""
    return f"NOQUEUE{secrets.token_hex(4).upper()}"


def accounts(transaction: Transaction) -> list[str]:
    """The accounts a transaction's records go to, in the order their recipients came."""
    return list(dict.fromkeys(route.account_id for route, _, _ in transaction.outcomes.values()))


def drafts(
    connection: Connection,
    transaction: Transaction,
    *,
    postfix_id: str | None,
    versions: dict[str, int],
    scanned_at: dt.datetime | None = None,
    ids: dict[str, str] | None = None,
    quarantine_reason: str | None = None,
) -> list[RecordDraft]:
    """The records of a finished transaction, one per account it reached (`ids`: the record
    ids chosen already, by account)."""
    if not transaction.outcomes:
        return []
    now = scanned_at or utcnow()
    queue_id = postfix_id or no_queue_id()
    from_name, from_address = _from(_header(transaction, "from"))
    to = _addresses(_header(transaction, "to"))
    subject = _header(transaction, "subject")
    raw = transaction.raw()
    by_account: dict[str, RecordDraft] = {}
    for recipient, outcome in transaction.outcomes.items():
        route, verdict, action = outcome
        draft = by_account.get(route.account_id)
        if draft is None:
            message = transaction.messages.get(route.account_id)
            envelope_only = transaction.envelope_messages.get(recipient)
            read = message or envelope_only
            draft = RecordDraft(
                id=(ids or {}).get(route.account_id, ""),
                quarantine_reason=quarantine_reason,
                account_id=route.account_id,
                postfix_id=queue_id,
                scanned_at=now,
                envelope_from=transaction.sender,
                settings_version=versions.get(route.account_id, 0),
                client_ip=connection.client_ip or None,
                client_hostname=connection.client_hostname,
                helo=connection.helo,
                tls_protocol=connection.tls.protocol if connection.tls else None,
                tls_cipher=connection.tls.cipher if connection.tls else None,
                header_from=from_address or None,
                from_name=from_name or None,
                reply_to=_header(transaction, "reply-to"),
                to=[addr for _, addr in to],
                to_name=[name for name, _ in to],
                subject=subject,
                message_id=_header(transaction, "message-id"),
                sent_at=_sent_at(transaction),
                size=transaction.size if transaction.ended else None,
                validation=_validation(message),
                features=(
                    features(
                        read,
                        stage="eom" if message is not None else "rcpt",
                        body_read=message is not None and message.body is not None,
                        body_policies=transaction.body_policies.get(route.account_id),
                        body_matched=_body_matched(transaction, route.account_id),
                    )
                    if read is not None
                    else {}
                ),
            )
            if message is not None:
                draft.findings = _findings(message)
                if transaction.detected.scan.status != "off":
                    draft.features["scan"] = transaction.detected.scan.summary()
            by_account[route.account_id] = draft
        draft.recipients.append(
            RecipientDraft(
                address=address(recipient) or recipient,
                protected_domain_id=route.domain_id,
                disposition=verdict.disposition,
                action=action,
                explanation=verdict.explanation,
                reasons=_reasons(verdict),
            )
        )
        if action == QUARANTINED and raw is not None:
            draft.raw, draft.raw_complete = raw
    return list(by_account.values())
