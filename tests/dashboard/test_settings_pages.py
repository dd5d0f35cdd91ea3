"""The settings pages of every resource: what a form sends is what the API would have been
sent, its refusals are shown beside their fields, and CSV goes out and comes back whole."""

from __future__ import annotations

import csv
import html
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mailpolicy.dashboard.forms import Field, fields_of
from mailpolicy.resources import REGISTRY
from tests.support.api import Tenant
from tests.support.dashboard import cells, field_errors, login
from tests.support.resources import BY_PATH, FULL_BATCH, RESOURCES, Resource, params

SPECS = {spec.path: spec for spec, _ in REGISTRY}
# Fields the API writes itself, and those every write moves.
_SKIP = {"id", "created_at", "modified_at", "last_modified"}


def form_of(fields: list[Field], body: dict[str, Any]) -> dict[str, Any]:
    """The form a person would fill in to send `body`."""
    data: dict[str, Any] = {}
    for field in fields:
        if field.name not in body:
            continue
        value = body[field.name]
        if field.kind == "bool":
            if value:
                data[field.name] = "on"
        elif field.kind == "tristate":
            data[field.name] = "" if value is None else ("true" if value else "false")
        elif field.kind == "multi":
            data[field.name] = list(value)
        elif field.kind == "lines":
            data[field.name] = "\n".join(value)
        else:
            data[field.name] = "" if value is None else str(value)
    return data


def api_list(client: TestClient, tenant: Tenant, resource: str) -> list[dict[str, Any]]:
    answer = client.get(tenant.url(resource), headers=tenant.write, params={"per_page": 1000})
    assert answer.status_code == 200, answer.text
    result: list[dict[str, Any]] = answer.json()["result"]
    return result


def _kept(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry without what says when it was written (at any depth)."""
    return {
        k: _kept(v) if isinstance(v, dict) else v
        for k, v in entry.items()
        if k not in _SKIP and k != "timestamp"
    }


def same(entry: dict[str, Any], twin: dict[str, Any]) -> None:
    assert _kept(entry) == _kept(twin)


@pytest.mark.parametrize("resource", params())
def test_create_edit_delete_through_the_forms(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, resource: Resource
) -> None:
    spec = SPECS[resource.path]
    csrf = login(client, tenant.write_token)
    page = client.get(f"/dashboard/{resource.path}")
    assert page.status_code == 200
    assert "No " in page.text  # the empty state
    new = client.get(f"/dashboard/{resource.path}/new")
    assert new.status_code == 200
    for field in fields_of(spec.create):
        assert f'name="{field.name}"' in new.text
    body = resource.make(0)
    made = client.post(
        f"/dashboard/{resource.path}",
        data={**form_of(fields_of(spec.create), body), "csrf_token": csrf},
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    # The same body sent to the API by a script makes the same entry.
    twin = client.post(other_tenant.url(resource.path), headers=other_tenant.write, json=body)
    assert twin.status_code == 201, twin.text
    (entry,) = api_list(client, tenant, resource.path)
    same(entry, twin.json()["result"])
    listing = client.get(f"/dashboard/{resource.path}")
    assert entry["id"] in listing.text
    assert len(cells(listing)) == 1

    shown = client.get(f"/dashboard/{resource.path}/{entry['id']}")
    assert shown.status_code == 200
    edit_fields = fields_of(spec.update, all_optional=True, like=spec.create)
    # An edit form sends every field it shows: the entry's own values, then the patch.
    current = {f.name: entry.get(f.name) for f in edit_fields}
    edited = client.post(
        f"/dashboard/{resource.path}/{entry['id']}",
        data={**form_of(edit_fields, {**current, **resource.patch}), "csrf_token": csrf},
        follow_redirects=False,
    )
    assert edited.status_code == 303, edited.text
    twin_id = twin.json()["result"]["id"]
    patched = client.patch(
        other_tenant.url(resource.path, twin_id), headers=other_tenant.write, json=resource.patch
    )
    assert patched.status_code == 200, patched.text
    (entry,) = api_list(client, tenant, resource.path)
    same(entry, patched.json()["result"])

    gone = client.post(
        f"/dashboard/{resource.path}/{entry['id']}/delete",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert gone.status_code == 303
    assert api_list(client, tenant, resource.path) == []


@pytest.mark.parametrize("resource", params())
def test_a_refusal_is_shown_beside_its_field(
    client: TestClient, tenant: Tenant, resource: Resource
) -> None:
    spec = SPECS[resource.path]
    csrf = login(client, tenant.write_token)
    name, bad = resource.invalid
    body = {**resource.make(1), name: bad}
    api = client.post(tenant.url(resource.path), headers=tenant.write, json=body)
    assert api.status_code == 400
    message = api.json()["errors"][0]["message"]
    answer = client.post(
        f"/dashboard/{resource.path}",
        data={**form_of(fields_of(spec.create), body), "csrf_token": csrf},
    )
    assert answer.status_code == 422
    errors = field_errors(answer)
    assert name in errors, answer.text
    assert errors[name] == message
    assert f'id="field-{name}"' in answer.text
    assert 'aria-invalid="true"' in answer.text
    # What was typed is kept, so it can be corrected.
    assert html.escape(str(bad)) in answer.text
    assert api_list(client, tenant, resource.path) == []


def test_search_filters_sort_and_pages(client: TestClient, tenant: Tenant) -> None:
    resource = BY_PATH["block_senders"]
    for n in range(60):
        made = client.post(tenant.url("block_senders"), headers=tenant.write, json=resource.make(n))
        assert made.status_code == 201
    login(client, tenant.write_token)
    first = client.get("/dashboard/block_senders")
    assert "60 entries, page 1 of 3" in first.text
    assert len(cells(first)) == 25
    last = client.get("/dashboard/block_senders", params={"page": 3})
    assert len(cells(last)) == 10
    assert "Previous page" in last.text
    assert "Next page" not in last.text
    found = client.get("/dashboard/block_senders", params={"search": "spammer3@"})
    patterns = sorted(row[1] for row in cells(found))
    assert patterns == ["spammer3@bad.example", "spammer3@bad.example"]
    ips = client.get("/dashboard/block_senders", params={"pattern_type": "IP"})
    assert {row[2] for row in cells(ips)} == {"IP"}
    assert len(cells(ips)) == 20
    ordered = client.get(
        "/dashboard/block_senders",
        params={"order": "pattern", "direction": "desc", "per_page": 100},
    )
    shown = [row[1] for row in cells(ordered)]
    assert shown == sorted(shown, reverse=True)
    nothing = client.get("/dashboard/block_senders", params={"search": "nobody-at-all"})
    assert cells(nothing) == []
    assert "No entry matches" in nothing.text
    bad = client.get("/dashboard/block_senders", params={"pattern_type": "NOPE"})
    assert bad.status_code == 400
    assert "pattern_type" in bad.text


def test_another_accounts_entries_are_not_shown(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = client.post(
        other_tenant.url("block_senders"),
        headers=other_tenant.write,
        json=BY_PATH["block_senders"].make(0),
    ).json()["result"]
    login(client, tenant.write_token)
    assert theirs["id"] not in client.get("/dashboard/block_senders").text
    assert client.get(f"/dashboard/block_senders/{theirs['id']}").status_code == 404


def cell(value: Any) -> str:
    """A value as a person writes it in the CSV: lists split by ';', flags as true/false."""
    if isinstance(value, list):
        return ";".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("resource", params(FULL_BATCH))
def test_csv_export_then_import_edits_and_creates(
    client: TestClient, tenant: Tenant, resource: Resource
) -> None:
    spec = SPECS[resource.path]
    kept = client.post(tenant.url(resource.path), headers=tenant.write, json=resource.make(0))
    assert kept.status_code == 201
    csrf = login(client, tenant.write_token)
    exported = client.get(f"/dashboard/{resource.path}/export.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = _rows(exported.text)
    assert [r["id"] for r in rows] == [kept.json()["result"]["id"]]
    # Add a row for a new entry, made the same way.
    new = resource.make(1)
    header = list(rows[0])
    extra = dict.fromkeys(header, "")
    for name, value in new.items():
        if name in extra:
            extra[name] = cell(value)
    out = io.StringIO()
    writer = csv.DictWriter(out, header)
    writer.writeheader()
    writer.writerows([rows[0], extra])
    text = out.getvalue()
    preview = client.post(
        f"/dashboard/{resource.path}/import", data={"csv": text, "csrf_token": csrf}
    )
    assert preview.status_code == 200, preview.text
    assert 'id="preview"' in preview.text
    assert "1 created, 1 edited" in preview.text
    # The preview changes nothing.
    assert len(api_list(client, tenant, resource.path)) == 1
    applied = client.post(
        f"/dashboard/{resource.path}/import/apply",
        data={"csv": text, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert applied.status_code == 303, applied.text
    entries = api_list(client, tenant, resource.path)
    assert len(entries) == 2
    twin = client.post(tenant.url(resource.path), headers=tenant.write, json={**new})
    # The imported entry is the one a script would have made (the API refuses the twin as a
    # duplicate, or made an identical one where duplicates are allowed).
    made = next(e for e in entries if e["id"] != kept.json()["result"]["id"])
    if twin.status_code == 201:
        same(made, twin.json()["result"])
    else:
        assert twin.status_code in {400, 409}, twin.text
    assert spec.path == resource.path


def test_an_import_with_a_bad_row_changes_nothing(client: TestClient, tenant: Tenant) -> None:
    csrf = login(client, tenant.write_token)
    text = (
        "pattern,pattern_type,is_regex,comments\n"
        "ok@example.com,EMAIL,false,fine\n"
        "(unclosed,EMAIL,true,a broken regex\n"
    )
    preview = client.post("/dashboard/block_senders/import", data={"csv": text, "csrf_token": csrf})
    assert preview.status_code == 200  # the schema admits both rows; the API checks the regex
    applied = client.post(
        "/dashboard/block_senders/import/apply", data={"csv": text, "csrf_token": csrf}
    )
    assert applied.status_code == 422
    assert "Line 3, pattern:" in applied.text
    assert "Nothing was changed" in applied.text
    assert api_list(client, tenant, "block_senders") == []
    unknown = client.post(
        "/dashboard/block_senders/import",
        data={"csv": "pattern,colour\nx@example.com,blue\n", "csrf_token": csrf},
    )
    assert unknown.status_code == 422
    assert "Unknown columns: colour" in unknown.text
    schema = client.post(
        "/dashboard/block_senders/import",
        data={
            "csv": "pattern,pattern_type,is_regex\nx@example.com,SOMETHING,false\n",
            "csrf_token": csrf,
        },
    )
    assert schema.status_code == 422
    assert "Line 2, pattern_type" in schema.text
    assert 'id="preview"' in schema.text  # the rows are still shown, with no Apply button
    assert "/import/apply" not in schema.text


def test_a_file_upload_is_read_as_the_csv(client: TestClient, tenant: Tenant) -> None:
    csrf = login(client, tenant.write_token)
    text = "pattern,pattern_type,is_regex\nfile@example.com,EMAIL,false\n"
    preview = client.post(
        "/dashboard/block_senders/import",
        data={"csrf_token": csrf},
        files={"file": ("senders.csv", ("\ufeff" + text).encode(), "text/csv")},
    )
    assert preview.status_code == 200, preview.text
    assert "file@example.com" in preview.text
    assert "1 created, 0 edited" in preview.text


def test_resources_without_a_full_batch_offer_no_import(client: TestClient, tenant: Tenant) -> None:
    login(client, tenant.write_token)
    for resource in RESOURCES:
        page = client.get(f"/dashboard/{resource.path}")
        has_import = "Import CSV" in page.text
        assert has_import == (resource.batch == "full")
        if resource.batch != "full":
            assert client.get(f"/dashboard/{resource.path}/import").status_code == 404


def test_a_new_entry_form_is_prefilled_from_the_query(client: TestClient, tenant: Tenant) -> None:
    login(client, tenant.write_token)
    page = client.get(
        "/dashboard/allow_policies/new",
        params={"pattern": "friend@partner.example", "pattern_type": "EMAIL"},
    )
    assert 'value="friend@partner.example"' in page.text
    assert '<option value="EMAIL" selected>' in page.text
