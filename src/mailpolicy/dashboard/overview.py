"""The overview: the first page after login (before it, the login form).

What mail the account received lately, per final disposition and per protected domain (one
bar per day over the last 7 days, or per hour over the last 24 hours); the settings entries
mail matches most and those it has not matched in a while (GET /stats/entries); the protected
domains whose ownership is not verified yet (GET /settings/domains by status); and whether the
detection engines this server uses answer.

The API lists message records but does not aggregate them (investigate's `metric` is refused),
so the counts are read here, in one read transaction of the viewer's own account: grouped
queries over the records' account-and-time index, never a page of records per message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mailpolicy.dashboard.charts import OTHER, Chart, Series, stacked_bars
from mailpolicy.dashboard.client import Answer
from mailpolicy.dashboard.login import login_page
from mailpolicy.dashboard.web import AnyPage, Page, count_request
from mailpolicy.db import utcnow
from mailpolicy.detect.pipeline import Detector
from mailpolicy.engine import DISPOSITIONS
from mailpolicy.messages.records import MessageRecipient, MessageRecord

router = APIRouter()

SpanName = Literal["7d", "24h"]
DEFAULT_SPAN: SpanName = "7d"
DEFAULT_STALE_DAYS = 30
MAX_STALE_DAYS = 36_500
TOP_ENTRIES = 10
UNVERIFIED_SHOWN = 10
TOP_DOMAINS = 8  # the others are one series, "Other domains"
UNVERIFIED = ("PENDING", "FAILED", "TIMEOUT")

# Bottom of each bar first: clean mail, then the dispositions from least to most severe.
_STACK = ("NONE", *reversed(DISPOSITIONS))
DISPOSITION_COLOURS = {
    "NONE": "#0f6b2f",
    "BULK": "#0b57d0",
    "SPOOF": "#8e3ea8",
    "SPAM": "#9a5b00",
    "SUSPICIOUS": "#c2410c",
    "MALICIOUS-BEC": "#a8326c",
    "MALICIOUS": "#b3261e",
}


@dataclass(frozen=True, slots=True)
class Span:
    name: SpanName
    label: str
    edges: list[dt.datetime]  # bucket i is [edges[i], edges[i + 1])
    buckets: list[str]  # each bucket's name in the table and tooltips
    ticks: list[str]  # and on the chart's x axis


def span_of(name: SpanName, now: dt.datetime) -> Span:
    """The buckets of a span, in UTC: the 7 days ending with today, or the 24 hours ending
    with the current one."""
    if name == "24h":
        hour = now.replace(minute=0, second=0, microsecond=0)
        edges = [hour - dt.timedelta(hours=23 - i) for i in range(25)]
        starts = edges[:-1]
        return Span(
            name,
            "last 24 hours, per hour (UTC)",
            edges,
            [f"{t.day} {t:%b} {t:%H}:00" for t in starts],
            [f"{t:%H}:00" for t in starts],
        )
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    edges = [midnight - dt.timedelta(days=6 - i) for i in range(8)]
    starts = edges[:-1]
    return Span(
        name,
        "last 7 days, per day (UTC)",
        edges,
        [f"{t:%a} {t.day} {t:%b}" for t in starts],
        [f"{t:%a} {t.day}" for t in starts],
    )


@dataclass
class Traffic:
    """Messages per bucket: by final disposition, and by protected domain (a message counts
    once for each protected domain it had recipients in)."""

    buckets: int
    by_disposition: dict[str, list[int]] = field(default_factory=dict)
    by_domain: dict[str, list[int]] = field(default_factory=dict)
    recipient_domain: dict[str, str] = field(default_factory=dict)  # a name to fall back on

    @property
    def total(self) -> int:
        return sum(sum(counts) for counts in self.by_disposition.values())

    @property
    def detected(self) -> int:
        return sum(sum(c) for d, c in self.by_disposition.items() if d != "NONE")


def _bucket(column: Any, edges: Sequence[dt.datetime]) -> Any:
    """The bucket number of a time, as a CASE every dialect runs."""
    return case(*[(column < edge, i) for i, edge in enumerate(edges[1:])], else_=None)


def _add(into: dict[str, list[int]], buckets: int, rows: Any) -> None:
    for bucket, key, count in rows:
        if bucket is not None:
            into.setdefault(key, [0] * buckets)[int(bucket)] += int(count)


def traffic(session: Session, account_id: str, edges: Sequence[dt.datetime]) -> Traffic:
    """The account's message counts from edges[0] to edges[-1], per bucket."""
    r = MessageRecord
    recipients = MessageRecipient
    found = Traffic(len(edges) - 1)
    in_span = (r.account_id == account_id, r.scanned_at >= edges[0], r.scanned_at < edges[-1])
    # Grouped outside the subquery, by its columns: a GROUP BY repeating the CASE would repeat
    # its parameters, which PostgreSQL does not take for the same expression.
    records = (
        select(
            _bucket(r.scanned_at, edges).label("bucket"),
            r.final_disposition.label("key"),
        )
        .where(*in_span)
        .subquery()
    )
    _add(
        found.by_disposition,
        found.buckets,
        session.execute(
            select(records.c.bucket, records.c.key, func.count()).group_by(
                records.c.bucket, records.c.key
            )
        ),
    )
    per_domain = (
        select(
            _bucket(r.scanned_at, edges).label("bucket"),
            recipients.protected_domain_id.label("key"),
            r.id.label("record_id"),
        )
        .join(recipients, recipients.record_id == r.id)
        .where(*in_span)
        .distinct()
        .subquery()
    )
    _add(
        found.by_domain,
        found.buckets,
        session.execute(
            select(per_domain.c.bucket, per_domain.c.key, func.count()).group_by(
                per_domain.c.bucket, per_domain.c.key
            )
        ),
    )
    if found.by_domain:
        names = session.execute(
            select(recipients.protected_domain_id, func.min(recipients.domain))
            .join(r, recipients.record_id == r.id)
            .where(*in_span)
            .group_by(recipients.protected_domain_id)
        )
        found.recipient_domain = {str(domain_id): str(name) for domain_id, name in names}
    return found


def disposition_chart(span: Span, counts: dict[str, list[int]]) -> Chart:
    order = [d for d in _STACK if d in counts] + sorted(d for d in counts if d not in _STACK)
    series = [Series(d, counts[d], DISPOSITION_COLOURS.get(d, "")) for d in order]
    return stacked_bars(
        "chart-dispositions",
        f"Messages by final disposition, {span.label}",
        span.buckets,
        series,
        ticks=span.ticks,
    )


def busiest_domains(counts: dict[str, list[int]]) -> list[str]:
    return sorted(counts, key=lambda d: (-sum(counts[d]), d))


def domain_chart(span: Span, counts: dict[str, list[int]], names: dict[str, str]) -> Chart:
    ranked = busiest_domains(counts)
    series = [Series(names.get(d, d), counts[d]) for d in ranked[:TOP_DOMAINS]]
    rest = ranked[TOP_DOMAINS:]
    if rest:
        others = [sum(counts[d][i] for d in rest) for i in range(len(span.buckets))]
        series.append(Series(f"Other domains ({len(rest)})", others, OTHER))
    return stacked_bars(
        "chart-domains",
        f"Messages by protected domain, {span.label}",
        span.buckets,
        series,
        ticks=span.ticks,
    )


async def _domain_names(page: Page, counted: Traffic, ids: list[str]) -> dict[str, str]:
    """Each protected domain's name, from the API; a domain deleted since is named by its
    recipients' domain."""

    async def one(domain_id: str) -> tuple[str, str]:
        answer = await page.api.get(f"/settings/domains/{quote(domain_id, safe='')}")
        if answer.ok and isinstance(answer.result, dict):
            return domain_id, str(answer.result.get("domain", domain_id))
        fallback = counted.recipient_domain.get(domain_id, domain_id)
        return domain_id, f"{fallback} (no longer protected)"

    return dict(await asyncio.gather(*(one(d) for d in ids)))


# ---- detection engines ---------------------------------------------------------------------

EngineState = Literal["ok", "down", "off", "on"]


@dataclass(frozen=True, slots=True)
class Engine:
    name: str
    state: EngineState
    summary: str
    detail: str = ""


def _where(url: str) -> str:
    """A service's address without any credentials in it."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}" if parts.scheme else "(not a URL)"


async def engines(page: Page) -> list[Engine]:
    """What this server detects with, and whether each engine answers it now."""
    settings = page.settings
    detector: Detector | None = getattr(page.request.app.state.api.state, "detector", None)
    found: list[Engine] = []
    rspamd = detector.rspamd if detector is not None else None
    if rspamd is None or not settings.rspamd_url:
        found.append(
            Engine(
                "rspamd",
                "off",
                "Not configured: messages get no spam or virus findings.",
                "Set MAILPOLICY_RSPAMD_URL to rspamd's normal worker "
                "(e.g. http://127.0.0.1:11333): README, section “Detections”.",
            )
        )
        found.append(
            Engine(
                "ClamAV",
                "off",
                "Not configured: mailpolicy asks ClamAV through rspamd's antivirus module.",
            )
        )
    else:
        answers = await run_in_threadpool(rspamd.ping)
        where = _where(settings.rspamd_url)
        if answers:
            found.append(Engine("rspamd", "ok", f"Answers at {where}."))
        else:
            then = (
                "mail is deferred (4.7.1) while it does not answer"
                if settings.scan_failure == "tempfail"
                else "mail is decided without its findings while it does not answer"
            )
            found.append(
                Engine(
                    "rspamd",
                    "down",
                    f"Does not answer at {where}: {then} "
                    f"(MAILPOLICY_SCAN_FAILURE={settings.scan_failure}).",
                    "Check that rspamd runs and listens there, and the password it asks "
                    "(MAILPOLICY_RSPAMD_PASSWORD).",
                )
            )
        found.append(
            Engine(
                "ClamAV",
                "on" if answers else "down",
                "Asked through rspamd's antivirus module (rspamd's configuration says whether "
                "it is enabled)."
                if answers
                else "Asked through rspamd's antivirus module: out of reach while rspamd is.",
            )
        )
    dates = detector.dates if detector is not None else None
    if dates is None or not settings.rdap_url:
        found.append(
            Engine(
                "RDAP (recently registered domains)",
                "off",
                "Off: set MAILPOLICY_RDAP_URL (e.g. https://rdap.org) to look up when sender "
                "domains were registered.",
            )
        )
    else:
        counts = dates.stats()
        lookups, failures = counts.get("lookups", 0), counts.get("failures", 0)
        state: EngineState = "down" if lookups and failures >= lookups else "ok"
        found.append(
            Engine(
                "RDAP (recently registered domains)",
                state,
                f"Asks {_where(settings.rdap_url)}: {lookups:,} lookups since this server "
                f"started, {failures:,} failed; a sender domain under "
                f"{settings.recent_domain_days} days old is "
                f"{settings.recent_domain_disposition}.",
            )
        )
    found.append(
        Engine(
            "Lookalike domains",
            "on" if settings.lookalike_domains else "off",
            (
                "On: a sender domain close to a protected or registry domain is "
                f"{settings.lookalike_disposition}."
            )
            if settings.lookalike_domains
            else "Off (MAILPOLICY_LOOKALIKE_DOMAINS).",
        )
    )
    found.append(
        Engine(
            "DMARC failures",
            "on" if settings.dmarc_spoof else "off",
            "On: a DMARC failure under p=reject or p=quarantine is SPOOF."
            if settings.dmarc_spoof
            else "Off (MAILPOLICY_DMARC_SPOOF).",
        )
    )
    return found


# ---- the page ------------------------------------------------------------------------------


def stale_days_of(raw: str | None) -> int:
    if raw and raw.strip().isdigit():
        return min(max(int(raw.strip()), 1), MAX_STALE_DAYS)
    return DEFAULT_STALE_DAYS


def _listed(answer: Answer) -> tuple[list[dict[str, Any]], int, list[str]]:
    if not answer.ok:
        return [], 0, [p.message for p in answer.problems]
    return list(answer.result or []), int(answer.info.get("total_count") or 0), []


@router.get("")
async def overview(page: AnyPage) -> Response:
    if page.viewer is None:
        return login_page(page)
    await count_request(page)
    params = page.request.query_params
    span_name: SpanName = "24h" if params.get("span") == "24h" else DEFAULT_SPAN
    stale_days = stale_days_of(params.get("stale_days"))
    span = span_of(span_name, utcnow())
    account_id = page.who.account_id

    def read() -> Traffic:
        with page.database.transaction(write=False) as session:
            return traffic(session, account_id, span.edges)

    api = page.api
    calls = asyncio.gather(
        api.get("/stats/entries", order="hits", direction="desc", per_page=TOP_ENTRIES),
        api.get(
            "/stats/entries",
            stale_days=stale_days,
            order="last_hit_at",
            direction="asc",
            per_page=TOP_ENTRIES,
        ),
        api.get("/settings/domains", per_page=1),
        *(
            api.get("/settings/domains", status=s, per_page=UNVERIFIED_SHOWN, order="domain")
            for s in UNVERIFIED
        ),
    )
    counted, engine_list, answers = await asyncio.gather(
        run_in_threadpool(read), engines(page), calls
    )
    top_answer, stale_answer, all_domains, *unverified_answers = answers
    names = await _domain_names(page, counted, busiest_domains(counted.by_domain)[:TOP_DOMAINS])
    top, _, top_problems = _listed(top_answer)
    stale, stale_total, stale_problems = _listed(stale_answer)
    unverified = []
    for status, answer in zip(UNVERIFIED, unverified_answers, strict=True):
        listed, total, _ = _listed(answer)
        unverified.append((status, listed, total))
    return page.render(
        "overview.html",
        title="Overview",
        nav="overview",
        span=span,
        spans=[("7d", "Last 7 days"), ("24h", "Last 24 hours")],
        traffic=counted,
        dispositions=disposition_chart(span, counted.by_disposition),
        domains=domain_chart(span, counted.by_domain, names),
        top=[e for e in top if int(e.get("hits") or 0) > 0],
        stale=stale,
        stale_total=stale_total,
        stale_days=stale_days,
        problems=top_problems + stale_problems,
        domain_total=int(all_domains.info.get("total_count") or 0) if all_domains.ok else 0,
        unverified=unverified,
        unverified_total=sum(total for _, _, total in unverified),
        engines=engine_list,
    )
