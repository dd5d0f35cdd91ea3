"""What if: which recorded messages a proposed settings change would decide differently.

The proposal is an object keyed by resource name, each value that resource's batch body
(`{"block_senders": {"posts": [...]}, "allow_policies": {"deletes": [{"id": "..."}]}}`). It is
applied by the resources' own batch code, in a transaction that is always rolled back: it is
validated exactly as the batch endpoints validate it (a bad item is the same 400, its pointer
under the resource's name), and nothing of it is ever committed. The account's snapshot is
built inside that transaction before and after the change; then every record of the time
range is decided again with both, from the engine inputs the record kept (`features`), and
the recipients whose disposition or action differ are reported, with the reasons of both.

Replay is as recorded: the authentication results, client and headers the milter saw, never
fresh lookups. A message's body text is kept only when a content policy matched it; any other
record is replayable only if every body content policy of both snapshots was tested against its
body when it was decided (see _BodyCheck). The rest are counted as `not_replayable`, never
guessed. A refusal at RCPT is replayed from its envelope, as it was decided. The baseline is
today's settings, not the decision made at the time (which each recipient also shows, as
`recorded`), so every change reported is the proposal's doing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, Field, create_model
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailpolicy.api.schemas import MAX_BATCH, Body, StrictBody, batch_model
from mailpolicy.audit.events import Author
from mailpolicy.config import Rules
from mailpolicy.db import Database, utcnow
from mailpolicy.engine import (
    AuthResults,
    DKIMResult,
    Finding,
    Message,
    RecipientVerdict,
    Snapshot,
    TLSInfo,
    body_policies,
    evaluate,
)
from mailpolicy.errors import ApiError
from mailpolicy.evaluation.snapshots import load_snapshot
from mailpolicy.messages.query import recipients_of
from mailpolicy.messages.records import MessageRecord
from mailpolicy.resources import REGISTRY
from mailpolicy.resources.crud import run_batch
from mailpolicy.resources.spec import ResourceSpec
from mailpolicy.timefmt import iso

DEFAULT_WINDOW = dt.timedelta(days=7)
MAX_WINDOW = dt.timedelta(days=31)
MAX_RECORDS = 200_000
MAX_SAMPLES = 1000
READ_BATCH = 2000
WHATIF = Author("whatif")


@cache
def body_model() -> type[BaseModel]:
    """The body: each resource's own batch body, under its name, all optional."""
    fields: dict[str, Any] = {}
    for spec, _ in REGISTRY:
        full = spec.batch == "full"
        if spec.batch == "none":
            continue
        strict = batch_model(
            spec.model.__name__,
            patch=spec.update if full else None,
            put=spec.put if full else None,
            post=spec.create if full else None,
        )
        # The same arrays, each optional here: a proposal names only what it changes.
        steps: dict[str, Any] = {
            step: (info.annotation, Field(default_factory=list, max_length=MAX_BATCH))
            for step, info in strict.model_fields.items()
        }
        batch = create_model(f"WhatIf{spec.model.__name__}Batch", __base__=Body, **steps)
        fields[spec.path] = (
            batch | None,
            Field(default=None, description=f"A {spec.path} batch body."),
        )
    return create_model("WhatIfBody", __base__=StrictBody, **fields)


def window(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    now = utcnow()
    end = end or now
    start = start or end - DEFAULT_WINDOW
    if end - start > MAX_WINDOW:
        raise ApiError(
            f"the time range spans {(end - start).days} days; what-if replays at most "
            f"{MAX_WINDOW.days}: narrow start or end",
            pointer="/start",
        )
    return start, end


def snapshots(
    database: Database, account_id: str, body: BaseModel, rules: Rules
) -> tuple[Snapshot, Snapshot]:
    """The account's snapshot now and with the proposal applied; the proposal is rolled back."""
    specs: dict[str, ResourceSpec[Any]] = {spec.path: spec for spec, _ in REGISTRY}
    with database.transaction() as session:
        current = load_snapshot(session, account_id)
        try:
            for name in type(body).model_fields:
                batch = getattr(body, name)
                if batch is None:
                    continue
                try:
                    run_batch(session, specs[name], account_id, batch, rules, WHATIF)
                except ApiError as exc:
                    raise exc.with_prefix(f"/{name}") from None
            session.flush()
            proposed = load_snapshot(session, account_id)
        finally:
            session.rollback()
    return current, proposed


def message_of(record: MessageRecord, recipients: tuple[str, ...]) -> Message:
    """The message the engine read when it decided the record, from its features."""
    f = record.features
    auth = f.get("auth") or {}
    tls = f.get("tls")
    return Message(
        envelope_from=f.get("envelope_from", record.envelope_from),
        header_from=f.get("header_from") or "",
        reply_to=f.get("reply_to"),
        recipients=recipients,
        client_ip=f.get("client_ip") or "",
        client_hostname=f.get("client_hostname"),
        helo=f.get("helo"),
        tls=None if not tls else TLSInfo(tls[0], tls[1]),
        auth=AuthResults(
            spf=auth.get("spf", "none"),
            dmarc=auth.get("dmarc", "none"),
            dkim=tuple(DKIMResult(d, r) for d, r in auth.get("dkim", [])),
        ),
        findings=tuple(Finding(*finding[:5]) for finding in f.get("findings", [])),
        subject=f.get("subject"),
        body=f.get("body"),
    )


def _outcome(verdict: RecipientVerdict) -> dict[str, Any]:
    return {
        "disposition": verdict.disposition,
        "action": verdict.action,
        "explanation": verdict.explanation,
        "reasons": [reason.to_dict() for reason in verdict.reasons],
    }


@dataclass
class Replay:
    start: dt.datetime
    end: dt.datetime
    examined: int = 0
    not_replayable: int = 0
    truncated: bool = False
    changed_messages: int = 0
    changed_recipients: int = 0

    def __post_init__(self) -> None:
        self.transitions: Counter[tuple[str, str, str, str]] = Counter()
        self.samples: list[dict[str, Any]] = []

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": iso(self.start),
            "end": iso(self.end),
            "as_recorded": True,
            "examined": self.examined,
            "not_replayable": self.not_replayable,
            "truncated": self.truncated,
            "changed_messages": self.changed_messages,
            "changed_recipients": self.changed_recipients,
            "transitions": [
                {
                    "from": {"disposition": a, "action": b},
                    "to": {"disposition": c, "action": d},
                    "recipients": n,
                }
                for (a, b, c, d), n in self.transitions.most_common()
            ],
            "messages": self.samples,
        }


def replay(
    session: Session,
    account_id: str,
    current: Snapshot,
    proposed: Snapshot,
    start: dt.datetime,
    end: dt.datetime,
) -> Replay:
    """Every record of the range decided with both snapshots; the differences."""
    result = Replay(start, end)
    bodies = _BodyCheck(body_policies(current), body_policies(proposed))
    r = MessageRecord
    statement = (
        select(r)
        .where(r.account_id == account_id, r.scanned_at >= start, r.scanned_at < end)
        .order_by(r.scanned_at.desc(), r.id.desc())
        .limit(MAX_RECORDS + 1)
        .execution_options(yield_per=READ_BATCH)
    )
    batch: list[MessageRecord] = []
    for record in session.scalars(statement):
        if result.examined + result.not_replayable >= MAX_RECORDS:
            result.truncated = True
            break
        batch.append(record)
        if len(batch) >= READ_BATCH:
            _replay_batch(session, batch, current, proposed, bodies, result)
            batch = []
    _replay_batch(session, batch, current, proposed, bodies, result)
    return result


@dataclass(frozen=True, slots=True)
class _BodyCheck:
    """Whether a record can be replayed, given that its body is kept only when a content
    policy matched it. With the text kept, the engine reads it again. Without it, the body
    cannot change an answer if every body content policy of both snapshots was tested
    against it, unchanged, when the message was decided (and, the text not being kept, none
    matched). A refusal at RCPT is replayed from the envelope alone, as it was decided."""

    current: dict[str, str]
    proposed: dict[str, str]

    def replayable(self, features: dict[str, Any]) -> bool:
        if features.get("stage") == "rcpt" or features.get("body") is not None:
            return True
        tested: dict[str, str] = features.get("body_policies") or {}
        return all(
            tested.get(i) == pattern
            for policies in (self.current, self.proposed)
            for i, pattern in policies.items()
        )


def _replay_batch(
    session: Session,
    records: list[MessageRecord],
    current: Snapshot,
    proposed: Snapshot,
    bodies: _BodyCheck,
    result: Replay,
) -> None:
    if not records:
        return
    recipients = recipients_of(session, [r.id for r in records])
    for record in records:
        rows = recipients[record.id]
        if not record.features or not rows or not bodies.replayable(record.features):
            result.not_replayable += 1
            continue
        result.examined += 1
        message = message_of(record, tuple(row.address for row in rows))
        before = evaluate(message, current).recipients
        after = evaluate(message, proposed).recipients
        changes = []
        for row, old, new in zip(rows, before, after, strict=True):
            if (old.disposition, old.action) == (new.disposition, new.action):
                continue
            result.transitions[(old.disposition, old.action, new.disposition, new.action)] += 1
            changes.append(
                {
                    "address": row.address,
                    "recorded": {"disposition": row.disposition, "action": row.action},
                    "before": _outcome(old),
                    "after": _outcome(new),
                }
            )
        if not changes:
            continue
        result.changed_messages += 1
        result.changed_recipients += len(changes)
        if len(result.samples) < MAX_SAMPLES:
            result.samples.append(
                {
                    "id": record.id,
                    "postfix_id": record.postfix_id,
                    "scanned_at": iso(record.scanned_at),
                    "envelope_from": record.envelope_from,
                    "from": record.header_from,
                    "subject": record.subject,
                    "decided_at": record.features.get("stage", "eom"),
                    "recipients": changes,
                }
            )


def what_if(
    database: Database,
    account_id: str,
    body: BaseModel,
    rules: Rules,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> dict[str, Any]:
    begin, finish = window(start, end)
    current, proposed = snapshots(database, account_id, body, rules)
    with database.transaction(write=False) as session:
        return replay(session, account_id, current, proposed, begin, finish).to_dict()
