"""Screenshots of every page of the dashboard, for docs/dashboard/: `make dashboard-screenshots`
runs this module (its name keeps it out of the suite's own runs).

The server is the one tests/browser/test_pages.py tours: three entries in every resource, a
protected domain, and mail through a real Postfix (delivered, held in quarantine, refused at
RCPT). Each page is taken at 1280x900, logged in with the Write token, and a few states that
only a form reaches besides (a refused value, a CSV preview, a verdict, a what-if preview, a
Read session); docs/dashboard/README.md lists them all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

OUT = Path(__file__).resolve().parents[2] / "docs" / "dashboard"
VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def server(mail_server: Any) -> Any:
    return mail_server


def file_name(name: str) -> str:
    return name.replace("/", "_").replace(" ", "_") + ".png"


def test_every_page_is_taken(
    browser: Browser,
    base_url: str,
    account_id: str,
    read_token: str,
    login: Callable[..., None],
    tour: dict[str, str],
) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    taken: list[tuple[str, str, str]] = []  # (file, path, what it shows)
    # A context of its own, without the tests' console collector: a page that logs an error
    # is still taken (the tests are where such errors fail).
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()

    def shoot(name: str, what: str) -> None:
        page.wait_for_load_state("networkidle")
        page.screenshot(path=OUT / file_name(name), full_page=True)
        path = generic(page.url.removeprefix(base_url))
        taken.append((file_name(name), path, what))

    try:
        page.goto(f"{base_url}/dashboard")
        shoot("login", "The login page: an API token of the account.")
        login(page)
        for name, path in tour.items():
            page.goto(f"{base_url}/dashboard{path}")
            if name == "held message":  # its preview, opened
                page.locator("#preview summary").click()
                page.wait_for_function("document.querySelector('#preview img').naturalWidth > 0")
            shoot(name, describe(name))
        states(page, base_url, protected_domain(base_url, account_id, read_token), shoot)
        context.clear_cookies()
        login(page, read_token)
        page.goto(f"{base_url}/dashboard{tour['block_senders/entry']}")
        shoot("read_only", "A Read session: the page is shown, its changes are disabled.")
    finally:
        context.close()
    write_readme(taken)
    assert len(list(OUT.glob("*.png"))) == len(taken)


def generic(path: str) -> str:
    """A page's path with its entry's or message's id as {id} (they differ at every run)."""
    path = re.sub(r"^(/dashboard/messages/)[^/?]+$", r"\1{id}", path)
    return re.sub(r"^(/dashboard/[a-z_]+/)(?!new$|import$)[^/?]+$", r"\1{id}", path)


def protected_domain(base_url: str, account_id: str, token: str) -> str:
    answer = httpx.get(
        f"{base_url}/client/v4/accounts/{account_id}/email-security/settings/domains",
        params={"per_page": 100},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    active = [d["domain"] for d in answer.json()["result"] if d.get("status") == "ACTIVE"]
    assert active, answer.text
    return str(active[0])


def states(page: Page, base_url: str, domain: str, shoot: Callable[[str, str], None]) -> None:
    """What only a form reaches: a refused value, a CSV preview, a verdict, a what-if."""
    page.goto(f"{base_url}/dashboard/block_senders/new")
    page.fill("[name=pattern]", "not an address")
    page.select_option("[name=pattern_type]", "EMAIL")
    page.get_by_role("button", name="Save").click()
    page.locator(".field-error").first.wait_for()
    shoot("block_senders_refused", "A value the API refused, its message beside the field.")
    page.goto(f"{base_url}/dashboard/block_senders/import")
    page.fill(
        "textarea[name=csv]",
        "pattern,pattern_type,is_regex,comments\n"
        "bulk-mail.example,DOMAIN,false,newsletters nobody asked for\n"
        "promo@deals.example,EMAIL,false,\n",
    )
    page.get_by_role("button", name="Preview").click()
    page.locator("table#preview").wait_for()
    shoot("block_senders_import_preview", "A CSV import's preview, before it is applied.")
    page.goto(f"{base_url}/dashboard/test")
    page.fill("[name=sender]", "promo@mail.spam.example")
    page.fill("[name=recipients]", f"ann@{domain}\nbob@elsewhere.example")
    page.fill("[name=client_ip]", "203.0.113.9")
    page.fill("[name=subject]", "Offers")
    page.get_by_role("button", name="Test").click()
    page.locator("table#verdicts").wait_for()
    shoot("test_verdict", "A tested message's verdict per recipient, with its reasons.")
    page.goto(f"{base_url}/dashboard/whatif")
    blocked = {"pattern": "partner.example", "pattern_type": "DOMAIN", "is_regex": False}
    change = {"block_senders": {"posts": [blocked]}}
    page.fill("[name=change]", json.dumps(change))
    page.get_by_role("button", name="Preview").click()
    page.locator("#summary").wait_for()
    shoot("whatif_preview", "What if: the recorded messages a change would decide otherwise.")


def describe(name: str) -> str:
    fixed = {
        "overview": "The overview: the account's mail and settings at a glance.",
        "messages": "The messages the milter recorded, searchable.",
        "message": "A delivered message: its trace and the reasons for its verdict.",
        "held message": "A message held in quarantine, with Release and Allow this sender.",
        "refused message": "A message refused at RCPT by a blocked sender.",
        "test": "Test a message against the settings.",
        "whatif": "What if: propose a settings change.",
        "audit": "The audit history of every change.",
    }
    if name in fixed:
        return fixed[name]
    resource, _, part = name.partition("/")
    label = resource.replace("_", " ")
    return {
        "": f"The list of {label}, with search and filters.",
        "new": f"A new entry of {label}.",
        "entry": f"An entry of {label}: edit or delete it.",
        "import": f"A CSV import of {label}.",
    }[part]


def write_readme(taken: list[tuple[str, str, str]]) -> None:
    lines = [
        "# The dashboard's pages",
        "",
        "Screenshots of every page of the web dashboard (`/dashboard`), at 1280x900, on a server",
        "with three entries in every settings resource and mail sent through a real Postfix.",
        "`make dashboard-screenshots` takes them again (tests/browser/screenshots.py).",
        "",
        "| Screenshot | Page | What it shows |",
        "| --- | --- | --- |",
    ]
    lines += [f"| [{file}]({file}) | `{path}` | {what} |" for file, path, what in taken]
    (OUT / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
