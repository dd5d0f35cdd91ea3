"""A protected domain's ownership and DNS, shown on its entry page (/dashboard/domains/{id}).

The TXT record to publish and where its check stands come from the API's verification endpoint
(GET /settings/domains/{id}/verification; 204 for a domain the operator activated by hand);
the status, SPF and DMARC status from the entry itself. What the DNS checks last saw (the SPF
and DMARC records and why they have the status they have, a DNS error, when the domain is due
its next check) has no API field: it is read from the domain's row, once the API has answered
the entry to this session's token, and only that account's row.

The background verifier of `mailpolicy serve` checks DNS on its schedule; while the domain is
PENDING the page's status part asks again by itself every POLL_SECONDS. "Check DNS now" (a Write
session) does what `mailpolicy domains verify ID` does at the command line: the ownership record
is looked for at once (again, for a domain that timed out or failed), SPF and DMARC are read
whatever their age, and a change of status is the session token's in the audit history. The
API has no such action, so the page asks the verifier itself, for a domain the API has first
answered to the session's token.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from mailpolicy.audit.events import Author
from mailpolicy.dashboard.settings_pages import EXTRAS
from mailpolicy.dashboard.web import Page, Viewing
from mailpolicy.dns.verifier import Report, check
from mailpolicy.resources.domains import ProtectedDomain
from mailpolicy.timefmt import iso

router = APIRouter()

POLL_SECONDS = 15

SPF_MEANS = {
    "good": "The SPF record ends in -all or ~all: receivers can refuse mail sent from elsewhere.",
    "neutral": "The SPF record ends in ?all: receivers are told nothing about mail sent from "
    "elsewhere. End it with -all (or ~all) once every sender is listed.",
    "open": "The SPF record ends in +all, or has no all: anyone may send as this domain. End "
    "it with -all (or ~all).",
    "invalid": "The SPF record cannot be used (two records, a syntax error, or more than 10 "
    "DNS lookups): receivers treat it as none. Fix what the detail says.",
    "none": "No SPF record: publish one (v=spf1 … -all) naming the servers that send this "
    "domain's mail.",
}
DMARC_MEANS = {
    "good": "The DMARC policy is p=quarantine or p=reject: receivers act on mail that fails "
    "authentication.",
    "invalid": "The DMARC record cannot be used: fix what the detail says.",
    "none": "No DMARC record, or p=none: receivers take no action on mail that fails "
    "authentication. Publish _dmarc with p=quarantine or p=reject once reports look clean.",
}
STATUS_MEANS = {
    "ACTIVE": "Verified: mailpolicy decides the mail for this domain.",
    "PENDING": "Not verified yet: mail for this domain is not decided until the TXT record "
    "below is found. Checks run in the background, soon after creation and then every 90 "
    "seconds at most.",
    "TIMEOUT": "The TXT record was not found within the verification window: the background "
    "checks have stopped. Publish the record, then check DNS now (or ask the operator to run "
    "`mailpolicy domains verify` with this domain's id).",
    "FAILED": "Another value was found at the TXT record's name all along: publish the value "
    "below, then check DNS now (or ask the operator to run `mailpolicy domains verify` with "
    "this domain's id).",
}


@dataclass(frozen=True, slots=True)
class DnsSeen:
    """What the domain's DNS checks last recorded (none of it is in the API's answer)."""

    checked_at: str | None
    spf_detail: str | None
    dmarc_detail: str | None
    error: str | None
    due_at: str | None
    pending_since: str | None


def _dns_seen(page: Page, domain_id: str) -> DnsSeen | None:
    account_id = page.who.account_id
    d = ProtectedDomain
    with page.database.transaction(write=False) as session:
        row = session.execute(
            select(
                d.dns_checked_at,
                d.spf_detail,
                d.dmarc_detail,
                d.dns_error,
                d.dns_due_at,
                d.pending_since,
            ).where(d.id == domain_id, d.account_id == account_id)
        ).first()
    if row is None:
        return None
    return DnsSeen(
        iso(row.dns_checked_at),
        row.spf_detail,
        row.dmarc_detail,
        row.dns_error,
        iso(row.dns_due_at),
        iso(row.pending_since),
    )


def _when(value: str | None) -> str:
    """An API timestamp for people: to the second, UTC."""
    if not value:
        return ""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


async def domain_extra(page: Page, entry: dict[str, Any]) -> dict[str, Any]:
    """The context of templates/extra_domains.html for one domain the API answered."""
    domain_id = str(entry["id"])
    answer = await page.api.get(f"/settings/domains/{quote(domain_id, safe='')}/verification")
    verification: dict[str, Any] | None = None
    by_operator = False
    problems: list[str] = []
    if answer.status == 204:
        by_operator = True
    elif answer.ok and isinstance(answer.result, dict):
        verification = answer.result
    else:
        problems = [p.message for p in answer.problems]
    seen = await run_in_threadpool(_dns_seen, page, domain_id)
    status = entry.get("status")
    authorization = entry.get("authorization") or {}
    record = None
    if verification is not None:
        record = (
            f'{verification["txt_record_name"]}. 300 IN TXT "{verification["txt_record_value"]}"'
        )
    return {
        "status": status,
        "status_means": STATUS_MEANS.get(str(status), ""),
        "status_message": authorization.get("status_message"),
        "authorized": bool(authorization.get("authorized")),
        "since": _when(authorization.get("timestamp")),
        "verification": verification,
        "record": record,
        "last_checked": _when(verification.get("last_checked_at")) if verification else "",
        "by_operator": by_operator,
        "problems": problems,
        "polling": status == "PENDING",
        "poll_seconds": POLL_SECONDS,
        "spf": entry.get("spf_status"),
        "spf_means": SPF_MEANS.get(str(entry.get("spf_status")), ""),
        "dmarc": entry.get("dmarc_status"),
        "dmarc_means": DMARC_MEANS.get(str(entry.get("dmarc_status")), ""),
        "seen": seen,
        "dns_checked": _when(seen.checked_at) if seen else "",
        "due": _when(seen.due_at) if seen else "",
        "checked": page.request.query_params.get("checked") == "1",
    }


EXTRAS["domains"] = domain_extra


@router.get("/domains/{entry_id}/verification", name="domains-verification")
async def verification_status(page: Viewing, entry_id: str) -> Response:
    """The domain page's status part on its own, as its polling asks for it; a browser that
    opens it whole is sent to the domain's page."""
    if not page.request.headers.get("hx-request"):
        return page.redirect(f"/domains/{quote(entry_id, safe='')}")
    answer = await page.api.get(f"/settings/domains/{quote(entry_id, safe='')}")
    if not answer.ok:
        raise page.failed(answer)
    entry: dict[str, Any] = answer.result
    return page.render(
        "extra_domains.html", entry=entry, extra=await domain_extra(page, entry), fragment=True
    )


@router.post("/domains/{entry_id}/check", name="domains-check")
async def check_now(page: Viewing, entry_id: str) -> Response:
    """Ask DNS about one domain now, as `mailpolicy domains verify` does; back to its page."""
    await page.writable()
    path = f"/domains/{quote(entry_id, safe='')}"
    answer = await page.api.get(f"/settings{path}")  # this token's account's domain, or 404
    if not answer.ok:
        raise page.failed(answer)
    by = Author(page.who.actor)

    def run() -> Report:
        return check(page.database, page.settings, entry_id, by_operator=True, author=by)

    await run_in_threadpool(run)
    return page.redirect(path, checked="1")
