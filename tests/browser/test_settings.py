"""Settings through the dashboard's forms, checked through the API: a blocked sender made in
the browser is the entry the official SDK reads; a value the API refuses is shown next to its
field with the API's own message; an entry is edited, found by a search, and deleted."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from cloudflare import Cloudflare
from playwright.sync_api import Page


def test_a_blocked_sender_made_in_the_browser_is_what_the_sdk_reads(
    page: Page,
    base_url: str,
    account_id: str,
    login: Callable[..., None],
    sdk: Cloudflare,
) -> None:
    login(page)
    page.goto(f"{base_url}/dashboard/block_senders")
    page.get_by_role("link", name="New entry").click()
    page.wait_for_url(f"{base_url}/dashboard/block_senders/new")
    page.fill("[name=pattern]", r"^invoice-\d+@billing\.example$")
    page.select_option("[name=pattern_type]", "EMAIL")
    page.check("[name=is_regex]")
    page.fill("[name=comments]", "fake invoices, from the browser")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{base_url}/dashboard/block_senders*")
    row = page.locator("table tbody tr", has_text="invoice-")
    assert row.count() == 1
    (entry,) = [
        e
        for e in sdk.email_security.settings.block_senders.list(account_id=account_id)
        if e.comments == "fake invoices, from the browser"
    ]
    assert entry.pattern == r"^invoice-\d+@billing\.example$"
    assert entry.pattern_type == "EMAIL"
    assert entry.is_regex is True
    # The list's row links to the entry's page, whose form holds what was saved.
    assert str(entry.id) in row.inner_text()
    row.get_by_role("link", name=str(entry.id)).click()
    page.wait_for_url(f"{base_url}/dashboard/block_senders/{entry.id}")
    assert page.locator("[name=pattern]").input_value() == entry.pattern
    assert page.locator("[name=is_regex]").is_checked()


def test_a_refused_value_is_shown_next_to_its_field_with_the_apis_message(
    page: Page, base_url: str, login: Callable[..., None], settings_api: httpx.Client
) -> None:
    body = {"pattern": "not an address", "pattern_type": "EMAIL", "is_regex": False}
    api_answer = settings_api.post("block_senders", json=body)
    assert api_answer.status_code in {400, 422}, api_answer.text
    (error,) = api_answer.json()["errors"]
    assert error["source"]["pointer"] == "/pattern"
    login(page)
    page.goto(f"{base_url}/dashboard/block_senders/new")
    page.fill("[name=pattern]", body["pattern"])
    page.select_option("[name=pattern_type]", "EMAIL")
    with page.expect_response(f"{base_url}/dashboard/block_senders") as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.status == 422
    shown = page.locator("p.field-error#error-pattern")
    shown.wait_for()
    assert shown.inner_text().strip() == error["message"]
    field = page.locator("[name=pattern]")
    assert field.get_attribute("aria-invalid") == "true"
    assert "error-pattern" in (field.get_attribute("aria-describedby") or "")
    assert field.input_value() == body["pattern"]  # what was typed is kept
    # The other fields are not marked.
    assert page.locator("[name=pattern_type]").get_attribute("aria-invalid") is None
    listed = settings_api.get("block_senders", params={"pattern": body["pattern"]})
    assert [e for e in listed.json()["result"] if e["pattern"] == body["pattern"]] == []


def test_an_entry_is_found_edited_and_deleted(
    page: Page, base_url: str, login: Callable[..., None], settings_api: httpx.Client
) -> None:
    made = [
        settings_api.post(
            "trusted_domains",
            json={"pattern": pattern, "is_recent": True, "is_regex": False, "is_similarity": False},
        )
        for pattern in ("alpha-partner.example", "beta-partner.example", "gamma.example")
    ]
    assert all(m.status_code == 201 for m in made), [m.text for m in made]
    target = made[1].json()["result"]
    login(page)
    page.goto(f"{base_url}/dashboard/trusted_domains")
    assert page.locator("table tbody tr").count() == 3
    page.fill("input[name=search]", "partner")
    page.locator("input[name=search]").press("Enter")
    page.wait_for_url("**/dashboard/trusted_domains?*search=partner*")
    rows = page.locator("table tbody tr")
    assert rows.count() == 2
    assert "gamma.example" not in page.locator("table").inner_text()
    page.get_by_role("link", name=str(target["id"])).click()
    page.wait_for_url(f"{base_url}/dashboard/trusted_domains/{target['id']}")
    page.fill("[name=comments]", "edited in the browser")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{base_url}/dashboard/trusted_domains*")
    after = settings_api.get(f"trusted_domains/{target['id']}").json()["result"]
    assert after["comments"] == "edited in the browser"
    assert after["pattern"] == "beta-partner.example"
    page.goto(f"{base_url}/dashboard/trusted_domains/{target['id']}")
    page.once("dialog", lambda dialog: dialog.accept())  # "Delete ...? This cannot be undone."
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(f"{base_url}/dashboard/trusted_domains*")
    assert settings_api.get(f"trusted_domains/{target['id']}").status_code == 404
    left = {e["pattern"] for e in settings_api.get("trusted_domains").json()["result"]}
    assert left == {"alpha-partner.example", "gamma.example"}
