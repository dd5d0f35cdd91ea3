"""CSV through the dashboard: an uploaded file is previewed (nothing written yet), then applied
as one batch, after which the API answers with its entries; a file the API would refuse
changes nothing; the export downloads every entry as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page


def blocked(settings_api: httpx.Client) -> dict[str, dict[str, object]]:
    response = settings_api.get("block_senders", params={"per_page": 100})
    assert response.status_code == 200, response.text
    return {entry["pattern"]: entry for entry in response.json()["result"]}


def test_an_uploaded_csv_is_previewed_then_applied(
    page: Page, base_url: str, login: Callable[..., None], settings_api: httpx.Client
) -> None:
    existing = settings_api.post(
        "block_senders",
        json={"pattern": "old.example", "pattern_type": "DOMAIN", "is_regex": False},
    )
    assert existing.status_code == 201, existing.text
    old_id = existing.json()["result"]["id"]
    text = (
        "id,pattern,pattern_type,is_regex,comments\n"
        ",csv-one.example,DOMAIN,false,first from a file\n"
        ",promo@csv-two.example,EMAIL,false,second from a file\n"
        f"{old_id},,,,edited by a file\n"
    )
    login(page)
    page.goto(f"{base_url}/dashboard/block_senders/import")
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "senders.csv", "mimeType": "text/csv", "buffer": text.encode()}],
    )
    with page.expect_response(f"{base_url}/dashboard/block_senders/import") as answer:
        page.get_by_role("button", name="Preview").click()
    assert answer.value.status == 200
    preview = page.locator("table#preview")
    preview.wait_for()
    rows = preview.locator("tbody tr")
    assert rows.count() == 3
    assert "csv-one.example" in rows.nth(0).inner_text()
    assert "promo@csv-two.example" in rows.nth(1).inner_text()
    assert str(old_id) in rows.nth(2).inner_text()
    assert "edited by a file" in rows.nth(2).inner_text()
    # A preview writes nothing.
    before = blocked(settings_api)
    assert set(before) == {"old.example"}
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(f"{base_url}/dashboard/block_senders*")
    after = blocked(settings_api)
    assert set(after) == {"old.example", "csv-one.example", "promo@csv-two.example"}
    assert after["csv-one.example"]["pattern_type"] == "DOMAIN"
    assert after["csv-one.example"]["comments"] == "first from a file"
    assert after["promo@csv-two.example"]["pattern_type"] == "EMAIL"
    assert after["old.example"]["comments"] == "edited by a file"
    assert after["old.example"]["id"] == old_id
    assert page.locator("table tbody tr").count() == 3


def test_a_row_of_the_wrong_shape_is_named_by_its_line_and_nothing_can_be_applied(
    page: Page, base_url: str, login: Callable[..., None], settings_api: httpx.Client
) -> None:
    before = blocked(settings_api)
    login(page)
    page.goto(f"{base_url}/dashboard/block_senders/import")
    page.fill(
        "textarea[name=csv]",
        "pattern,pattern_type,is_regex\n"
        "shape-ok.example,DOMAIN,false\n"
        "shape.example,PLANET,false\n",
    )
    with page.expect_response(f"{base_url}/dashboard/block_senders/import") as answer:
        page.get_by_role("button", name="Preview").click()
    assert answer.value.status == 422
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "Line 3" in alert.inner_text()
    assert page.get_by_role("button", name="Apply").count() == 0
    assert blocked(settings_api) == before


def test_a_batch_the_api_refuses_changes_nothing(
    page: Page, base_url: str, login: Callable[..., None], settings_api: httpx.Client
) -> None:
    before = blocked(settings_api)
    login(page)
    page.goto(f"{base_url}/dashboard/block_senders/import")
    # The second row is of the right shape, but the API refuses its pattern as an address.
    page.fill(
        "textarea[name=csv]",
        "pattern,pattern_type,is_regex\n"
        "batch-ok.example,DOMAIN,false\n"
        "not an address,EMAIL,false\n",
    )
    page.get_by_role("button", name="Preview").click()
    page.locator("table#preview").wait_for()
    with page.expect_response(f"{base_url}/dashboard/block_senders/import/apply") as answer:
        page.get_by_role("button", name="Apply").click()
    assert answer.value.status in {400, 422}
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "Line 3" in alert.inner_text()
    assert blocked(settings_api) == before


def test_the_export_downloads_every_entry(
    page: Page,
    base_url: str,
    login: Callable[..., None],
    settings_api: httpx.Client,
    tmp_path: Path,
) -> None:
    login(page)
    page.goto(f"{base_url}/dashboard/block_senders")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert {row["pattern"] for row in rows} == set(blocked(settings_api))
    assert all(row["id"] for row in rows)
