"""What a connection and a message show the milter, turned into engine messages; the engine's
verdicts turned into what the milter tells the MTA.

Nothing here knows the milter library, so every rule can be tested without an MTA. The engine
is the only place a rule is decided: this module only chooses which recipients it asks about
(those of an active protected domain), when (at RCPT, from the envelope alone, and at the end
of the message, from everything), and what a verdict means for the SMTP transaction.

At RCPT only what the envelope settles is acted on: a recipient whose envelope-only verdict
is a drop caused by a TLS restriction or a blocked sender (or client address) is refused
there, since nothing later in the message can change that. Everything else waits for the end
of the message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mailpolicy import mime
from mailpolicy.detect.authentication import auth_results, authserv_id
from mailpolicy.detect.pipeline import NOTHING_DETECTED, Detected, Detector, Envelope
from mailpolicy.engine import (
    DISPOSITIONS,
    Finding,
    Message,
    Reason,
    RecipientVerdict,
    TLSInfo,
    body_policies,
    evaluate,
    normalize_path,
)
from mailpolicy.messages.records import (
    DELIVERED,
    DISCARDED,
    QUARANTINED,
    REFUSED,
    REJECTED,
    REMOVED,
)
from mailpolicy.milter.policies import Policies, Route

DropAction = Literal["reject", "discard", "quarantine"]

HEADER_DISPOSITION = "X-MailPolicy-Disposition"
HEADER_REASONS = "X-MailPolicy-Reasons"
OWN_HEADERS = (HEADER_DISPOSITION.lower(), HEADER_REASONS.lower())
AUTH_HEADER = "authentication-results"
# The headers whose first value the decision reads, and those MIME needs to read the body.
READ_HEADERS = frozenset(
    ("from", "reply-to", "subject", "mime-version", "content-type", "content-transfer-encoding")
)
# And those a message record shows.
RECORD_HEADERS = frozenset(("to", "date", "message-id"))
KEPT_HEADERS = READ_HEADERS | RECORD_HEADERS
# Bounds on what one message can make the milter keep.
MAX_AUTH_HEADERS = 50
MAX_HEADER_BYTES = 16 * 1024
MAX_SUBJECT = 16_384
MAX_TEXT = 1_000_000
MAX_REASONS = 20
MAX_DETECTION_TEXT = 100
EFFECT_DETECTION = "detection"

DROP = "drop"
REPLY_CODE = "550"
REPLY_STATUS = "5.7.1"


@dataclass
class Connection:
    """What the MTA told the milter about the client, for every message of the connection."""

    client_ip: str = ""
    client_hostname: str | None = None
    helo: str | None = None
    tls: TLSInfo | None = None


@dataclass
class Transaction:
    """One message, from MAIL FROM to its end."""

    sender: str = ""
    recipients: list[str] = field(default_factory=list)  # as given, governed or not
    routes: dict[str, Route] = field(default_factory=dict)  # governed recipient -> its domain
    refused: set[str] = field(default_factory=set)  # refused at RCPT
    headers: dict[str, bytes] = field(default_factory=dict)  # first value of READ_HEADERS
    # Trusted-authserv-id candidates: (value, whether only other A-R headers came before it).
    auth: list[tuple[str, bool]] = field(default_factory=list)
    leading: bool = True  # no header but Authentication-Results seen yet
    own_headers: dict[str, int] = field(default_factory=dict)  # X-MailPolicy-* occurrences
    body: bytearray = field(default_factory=bytearray)
    body_limit: int = 0
    # Whether any governed recipient's account has a content policy on the body: if none
    # has, the body is neither kept nor read.
    wants_body: bool = False
    # What the message matched, per account, and the protected domains that received it.
    matched: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    domains: dict[str, set[str]] = field(default_factory=dict)
    # For the message's records: each governed recipient's verdict and what the milter did
    # about it, the messages the engine read (per account at the end, per recipient at RCPT),
    # the message's size, and its raw copy (headers and body up to `raw_cap` bytes; 0 keeps
    # none), for quarantined mail.
    outcomes: dict[str, tuple[Route, RecipientVerdict, str]] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    body_policies: dict[str, dict[str, str]] = field(default_factory=dict)
    envelope_messages: dict[str, Message] = field(default_factory=dict)
    recording: bool = False
    raw_cap: int = 0
    # The message as received is also kept, up to `scan_cap` bytes, for rspamd to scan
    # (0: not scanned).
    scan_cap: int = 0
    raw_headers: bytearray = field(default_factory=bytearray)
    raw_full: bool = False  # a header did not fit: the headers kept are a prefix
    header_bytes: int = 0
    body_bytes: int = 0
    ended: bool = False
    detected: Detected = NOTHING_DETECTED

    @property
    def size(self) -> int:
        return self.header_bytes + 2 + self.body_bytes

    @property
    def keep(self) -> int:
        """How much of the message as received is kept (for quarantine and for scanning)."""
        return max(self.raw_cap, self.scan_cap)

    def add_header(self, name: str, value: bytes) -> None:
        key = name.lower()
        keep = self.keep
        if keep > 0:
            folded = value.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            line = name.encode("ascii", "replace") + b": " + folded + b"\r\n"
            self.header_bytes += len(line)
            if not self.raw_full and self.header_bytes <= keep:
                self.raw_headers += line
            else:
                self.raw_full = True
        elif self.recording:
            self.header_bytes += len(name) + len(value) + 4  # "Name: value\r\n"
        if key == AUTH_HEADER:
            if len(self.auth) < MAX_AUTH_HEADERS:
                self.auth.append((value.decode("utf-8", "replace"), self.leading))
            return
        self.leading = False
        if key in OWN_HEADERS:
            self.own_headers[key] = self.own_headers.get(key, 0) + 1
        elif key in KEPT_HEADERS and key not in self.headers:
            self.headers[key] = value[:MAX_HEADER_BYTES]

    def add_body(self, chunk: bytes) -> bool:
        """Keep the body up to the limit; False once the rest need not be sent (while records
        are kept, the whole body is read, for the message's size)."""
        self.body_bytes += len(chunk)
        limit = max(self.body_limit if self.wants_body else 0, self.keep)
        room = limit - len(self.body)
        if room > 0:
            self.body += chunk[:room]
        return self.recording or len(self.body) < limit

    def raw(self) -> tuple[bytes, bool] | None:
        """The message as received for its quarantine copy, and whether it is whole (a larger
        one keeps its first `raw_cap` bytes, a preview); None when no copy is kept."""
        if self.raw_cap <= 0 or not self.raw_headers:
            return None
        copy = bytes(self.raw_headers) + b"\r\n" + bytes(self.body)
        whole = not self.raw_full and self.size <= self.raw_cap
        return (copy, True) if whole else (copy[: self.raw_cap], False)

    def scan_copy(self) -> bytes | None:
        """The whole message as received, for scanning; None when it is larger than the scan
        limit (or not kept)."""
        if self.scan_cap <= 0 or self.raw_full or self.size > self.scan_cap:
            return None
        return bytes(self.raw_headers) + b"\r\n" + bytes(self.body[: self.body_bytes])

    def remember(self, route: Route, verdict: RecipientVerdict) -> None:
        entries = self.matched.setdefault(route.account_id, set())
        entries.update((reason.resource, reason.id) for reason in verdict.reasons)
        self.domains.setdefault(route.account_id, set()).add(route.domain_id)


def address(value: str) -> str | None:
    """An envelope address as the MTA passes it (<a@b>, maybe with ESMTP arguments)."""
    return normalize_path(value.split(None, 1)[0] if value.strip() else "")


# ---- at RCPT ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RcptDecision:
    route: Route | None  # None: no active protected domain governs the recipient
    refusal: str | None  # the one-line reason, when the recipient is refused


def _kind(verdict: RecipientVerdict, tls: TLSInfo | None) -> str:
    """The rule that made a drop, in words (never an entry's pattern)."""
    honoured = {reason.effect for reason in verdict.reasons if reason.honoured}
    if (
        "require_tls" in honoured
        and tls is None
        and verdict.explanation.startswith("Dropped: sender domain")
    ):
        return "the sending domain requires TLS"
    if "block" in honoured:
        return "blocked sender"
    if "content_policy" in honoured:
        return "content policy"
    if "impersonation" in honoured and verdict.disposition == "MALICIOUS-BEC":
        return "impersonation of a registered name"
    return f"disposition {verdict.disposition}"


def refusal_text(verdict: RecipientVerdict, tls: TLSInfo | None) -> str:
    return f"Message refused by mailpolicy: {_kind(verdict, tls)}"


def _decided_by_envelope(verdict: RecipientVerdict, tls: TLSInfo | None) -> bool:
    """Whether an envelope-only drop stands whatever the rest of the message says."""
    if verdict.action != DROP:
        return False
    if tls is None and verdict.explanation.startswith("Dropped: sender domain"):
        return True  # a TLS restriction on the envelope sender's domain
    return any(r.honoured and r.effect == "block" for r in verdict.reasons)


def at_rcpt(
    policies: Policies,
    connection: Connection,
    transaction: Transaction,
    recipient: str,
    *,
    refuse: bool,
) -> RcptDecision:
    """Route a recipient; with `refuse`, refuse it when the envelope already decides a drop."""
    normalized = address(recipient)
    route = policies.route(normalized)
    transaction.recipients.append(recipient)
    if route is None:
        return RcptDecision(None, None)
    transaction.routes[recipient] = route
    snapshot = policies.snapshot(route.account_id)
    if snapshot is not None and snapshot.content_body is not None:
        transaction.wants_body = True
    if not refuse or snapshot is None:
        return RcptDecision(route, None)
    message = Message(
        envelope_from=transaction.sender,
        header_from="",
        recipients=(recipient,),
        client_ip=connection.client_ip,
        client_hostname=connection.client_hostname,
        helo=connection.helo,
        tls=connection.tls,
    )
    (verdict,) = evaluate(message, snapshot).recipients
    if not _decided_by_envelope(verdict, connection.tls):
        return RcptDecision(route, None)
    transaction.refused.add(recipient)
    transaction.remember(route, verdict)
    transaction.outcomes[recipient] = (route, verdict, REFUSED)
    transaction.envelope_messages[recipient] = message
    return RcptDecision(route, refusal_text(verdict, connection.tls))


# ---- at the end of the message ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """What to tell the MTA at the end of a message."""

    final: Literal["accept", "reject", "discard", "quarantine"]
    reason: str = ""  # for reject and quarantine
    remove_recipients: tuple[str, ...] = ()
    remove_headers: tuple[tuple[str, int], ...] = ()  # (name, occurrence from 1)
    add_headers: tuple[tuple[str, str], ...] = ()

    @property
    def touches(self) -> bool:
        return bool(self.remove_recipients or self.remove_headers or self.add_headers)


LEAVE_ALONE = Plan("accept")


def _trusted_auth(transaction: Transaction, trusted_id: str | None) -> list[str]:
    """The Authentication-Results values of the trusted authserv-id that the MTA's chain
    added: they are prepended, above every header the message came with, so one below any
    other header came from outside (as does any with another authserv-id)."""
    if not trusted_id:
        return []
    wanted = trusted_id.lower()
    return [
        value for value, leading in transaction.auth if leading and authserv_id(value) == wanted
    ]


def detect(
    detector: Detector,
    connection: Connection,
    transaction: Transaction,
    *,
    trusted_id: str | None,
    queue_id: str | None,
) -> Detected:
    """Every detection that does not depend on an account's settings, once per message:
    rspamd's scan, DMARC, recent domains (pipeline.py)."""
    tls = connection.tls
    envelope = Envelope(
        envelope_from=transaction.sender,
        recipients=tuple(
            address(r) or r for r in transaction.recipients if r not in transaction.refused
        ),
        client_ip=connection.client_ip,
        client_hostname=connection.client_hostname,
        helo=connection.helo,
        tls_version=tls.protocol if tls else None,
        tls_cipher=tls.cipher if tls else None,
        queue_id=queue_id,
    )
    scan = detector.scan(transaction.scan_copy(), transaction.size, envelope)
    return detector.detect(
        scan,
        trusted_auth=_trusted_auth(transaction, trusted_id),
        envelope_from=transaction.sender,
        header_from=mime.unfolded(transaction.headers.get("from", b"")),
    )


def build_message(
    connection: Connection,
    transaction: Transaction,
    recipients: Sequence[str],
    trusted_id: str | None,
    findings: tuple[Finding, ...] = (),
    scanned_auth: str | None = None,
) -> Message:
    """The whole message as the engine reads it. From and Reply-To go as they came (the
    engine reads addresses and encoded display names itself); the body is read only when a
    content policy will look at it. `findings` are the detections for the recipients'
    account, and `scanned_auth` the Authentication-Results rspamd gave (trusted: it came
    from the scan, never from the message)."""
    headers = transaction.headers
    text = None
    if transaction.wants_body:
        mime_headers = b"".join(
            name.encode("ascii") + b": " + headers[name] + b"\r\n"
            for name in ("mime-version", "content-type", "content-transfer-encoding")
            if name in headers
        )
        body = bytes(transaction.body[: transaction.body_limit])
        text = mime.text_of_bytes(mime_headers, body, MAX_TEXT)
    reply_to = headers.get("reply-to")
    subject = headers.get("subject")
    return Message(
        envelope_from=transaction.sender,
        header_from=mime.unfolded(headers.get("from", b"")),
        reply_to=None if reply_to is None else mime.unfolded(reply_to),
        recipients=tuple(recipients),
        client_ip=connection.client_ip,
        client_hostname=connection.client_hostname,
        helo=connection.helo,
        tls=connection.tls,
        auth=auth_results(
            [*_trusted_auth(transaction, trusted_id), *([scanned_auth] if scanned_auth else [])]
        ),
        findings=findings,
        subject=None if subject is None else mime.decoded(subject, MAX_SUBJECT),
        body=text,
    )


def _by_account(transaction: Transaction) -> dict[str, list[str]]:
    accounts: dict[str, list[str]] = {}
    for recipient, route in transaction.routes.items():
        if recipient not in transaction.refused:
            accounts.setdefault(route.account_id, []).append(recipient)
    return accounts


def _detection_item(reason: Reason) -> str:
    """A detection as X-MailPolicy-Reasons tells it: the engine, what it saw (printable ASCII
    only, bounded), and the entry that overrode it."""
    seen = "".join(c if " " <= c <= "~" and c != ";" else "?" for c in reason.pattern)
    seen = seen[:MAX_DETECTION_TEXT]
    item = f"detection {reason.id}" + (f" {seen}" if seen else "")
    if reason.overridden_by:
        item += f" overridden by {reason.overridden_by}"
    return item


def _header_value(delivered: Iterable[RecipientVerdict]) -> tuple[str, str]:
    """X-MailPolicy-Disposition (the most severe of the recipients that get the message) and
    X-MailPolicy-Reasons (what decided it: effect and entry, never a pattern)."""
    verdicts = list(delivered)
    dispositions = {v.disposition for v in verdicts}
    worst = next((d for d in DISPOSITIONS if d in dispositions), "NONE")
    reasons: dict[str, None] = {}
    for verdict in verdicts:
        for reason in verdict.reasons:
            if reason.effect == EFFECT_DETECTION:
                reasons[_detection_item(reason)] = None
            elif reason.honoured:
                reasons[f"{reason.effect} {reason.resource}/{reason.id}"] = None
    listed = list(reasons)[:MAX_REASONS]
    return worst, "; ".join(listed) if listed else "none"


def at_end(
    policies: Policies,
    connection: Connection,
    transaction: Transaction,
    *,
    trusted_id: str | None,
    drop_action: DropAction,
    detected: Detected = NOTHING_DETECTED,
) -> Plan:
    """The verdict for every governed recipient, and what to do about it."""
    transaction.detected = detected
    accounts = _by_account(transaction)
    if not transaction.routes:
        return LEAVE_ALONE  # no recipient of an active protected domain: not ours to judge
    dropped: list[tuple[str, RecipientVerdict]] = []
    delivered: list[tuple[str, RecipientVerdict]] = []
    for account_id, recipients in accounts.items():
        snapshot = policies.snapshot(account_id)
        if snapshot is None:
            continue
        message = build_message(
            connection,
            transaction,
            recipients,
            trusted_id,
            detected.for_account(account_id, snapshot),
            detected.auth_results,
        )
        if transaction.recording:
            transaction.messages[account_id] = message
            transaction.body_policies[account_id] = body_policies(snapshot)
        for recipient, verdict in zip(
            recipients, evaluate(message, snapshot).recipients, strict=True
        ):
            transaction.remember(transaction.routes[recipient], verdict)
            if verdict.action == DROP:
                dropped.append((recipient, verdict))
            else:
                delivered.append((recipient, verdict))
    removals = tuple(
        (name, index)
        for name in (HEADER_DISPOSITION, HEADER_REASONS)
        for index in range(transaction.own_headers.get(name.lower(), 0), 0, -1)
    )
    still_there = [r for r in transaction.recipients if r not in transaction.refused]
    dropped_names = {recipient for recipient, _ in dropped}
    remaining = [r for r in still_there if r not in dropped_names]
    if dropped and drop_action == "quarantine":
        plan = Plan(
            "quarantine",
            reason=refusal_text(dropped[0][1], connection.tls),
            remove_headers=removals,
            add_headers=_added([v for _, v in delivered + dropped], detected),
        )
        _outcomes(transaction, delivered + dropped, QUARANTINED, QUARANTINED)
    elif dropped and not remaining:
        final: Literal["reject", "discard"] = "reject" if drop_action == "reject" else "discard"
        plan = Plan(final, reason=refusal_text(dropped[0][1], connection.tls))
        _outcomes(transaction, dropped, DELIVERED, REJECTED if final == "reject" else DISCARDED)
    else:
        plan = Plan(
            "accept",
            remove_recipients=tuple(recipient for recipient, _ in dropped),
            remove_headers=removals,
            add_headers=_added([v for _, v in delivered], detected),
        )
        _outcomes(transaction, delivered + dropped, DELIVERED, REMOVED)
    transaction.ended = True
    return plan


def _outcomes(
    transaction: Transaction,
    verdicts: Sequence[tuple[str, RecipientVerdict]],
    kept: str,
    dropped: str,
) -> None:
    """What the milter did with each recipient it judged at the end: `kept` for those the
    verdict delivers, `dropped` for those it drops."""
    for recipient, verdict in verdicts:
        action = dropped if verdict.action == DROP else kept
        transaction.outcomes[recipient] = (transaction.routes[recipient], verdict, action)


def _added(
    verdicts: Sequence[RecipientVerdict], detected: Detected = NOTHING_DETECTED
) -> tuple[tuple[str, str], ...]:
    if not verdicts:
        return ()
    disposition, reasons = _header_value(verdicts)
    status = detected.scan.status
    if status in ("failed", "skipped"):
        said = f"rspamd scan {status}"
        reasons = said if reasons == "none" else f"{reasons}; {said}"
    return ((HEADER_DISPOSITION, disposition), (HEADER_REASONS, reasons))
