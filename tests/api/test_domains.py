"""Protected domains: a fixed name, PUT replacement, bulk DELETE, DNS TXT verification and
activation, and the domain-specific filters and limits."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI

from mailpolicy.audit.events import CLI
from mailpolicy.resources.domains import activate
from tests.support.api import Api, assert_error
from tests.support.resources import INTEGRATION_A, domain_body

PATH = "domains"


def replace_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "allowed_delivery_modes": ["BCC"],
        "drop_dispositions": ["SPAM"],
        "ip_restrictions": ["8.8.8.0/24"],
        "lookback_hops": 3,
        "regions": ["US"],
    }
    return {**body, **overrides}


def full_domain(api: Api, name: str = "full.example.com") -> dict[str, Any]:
    return api.create(
        PATH,
        domain_body(
            name,
            folder="Inbox",
            integration_id=INTEGRATION_A,
            lookback_hops=4,
            require_tls_inbound=True,
            require_tls_outbound=False,
            transport="smtp://relay.example.com",
        ),
    )


def ids(api: Api, **params: Any) -> list[str]:
    response = api.get(PATH, params=params)
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["result"]]


def test_created_domain_is_pending_and_lowercase(api: Api) -> None:
    created = api.create(PATH, domain_body("Mixed.Example.COM"))
    assert created["domain"] == "mixed.example.com"
    assert created["status"] == "PENDING"
    # SPF and DMARC are unknown until the verifier has read DNS (tests/verification).
    assert created["spf_status"] is None
    assert created["dmarc_status"] is None
    assert created["authorization"]["authorized"] is False
    assert created["lookback_hops"] == 1
    for name in (
        "folder",
        "integration_id",
        "require_tls_inbound",
        "require_tls_outbound",
    ):
        assert created[name] is None, name
    # A string in the current SDKs' schema: "" rather than null when none is set.
    assert created["transport"] == ""


def test_null_lookback_hops_on_create_means_the_default(api: Api) -> None:
    created = api.create(PATH, domain_body("hops.example.com", lookback_hops=None))
    assert created["lookback_hops"] == 1


def test_create_refuses_unknown_fields(api: Api) -> None:
    response = api.post(PATH, json=domain_body("strict.example.com", colour="blue"))
    assert_error(response, 400, "/colour")
    assert ids(api) == []


def test_duplicate_domain_is_409(api: Api) -> None:
    api.create(PATH, domain_body("dup.example.com"))
    assert_error(api.post(PATH, json=domain_body("DUP.example.com.")), 409)
    assert len(ids(api)) == 1


@pytest.mark.parametrize(
    ("name", "pointer"),
    [
        pytest.param("not a domain", "/domain", id="space"),
        pytest.param("localhost", "/domain", id="single-label"),
        pytest.param("192.0.2.1", "/domain", id="ip-address"),
    ],
)
def test_invalid_domain_name_is_400(api: Api, name: str, pointer: str) -> None:
    assert_error(api.post(PATH, json=domain_body(name)), 400, pointer)


def test_verification_gives_the_txt_record(api: Api) -> None:
    created = api.create(PATH, domain_body("verify.example.com"))
    response = api.get(PATH, created["id"], "verification")
    assert response.status_code == 200, response.text
    info = response.json()["result"]
    assert info["txt_record_name"] == "_cf-email-sec-challenge.verify.example.com"
    assert isinstance(info["txt_record_value"], str)
    assert info["txt_record_value"]
    assert info["status"] == "PENDING"
    assert "last_checked_at" in info
    # Each domain gets its own token.
    other = api.create(PATH, domain_body("verify2.example.com"))
    other_info = api.get(PATH, other["id"], "verification").json()["result"]
    assert other_info["txt_record_value"] != info["txt_record_value"]


def test_verification_of_unknown_domain_is_404(api: Api) -> None:
    assert_error(api.get(PATH, str(uuid.uuid4()), "verification"), 404)


def test_activated_domain_needs_no_txt_record(api: Api, app: FastAPI) -> None:
    created = api.create(PATH, domain_body("activate.example.com"))
    with app.state.db.transaction() as session:
        activate(session, created["id"], CLI)
    response = api.get(PATH, created["id"], "verification")
    assert response.status_code == 204
    assert response.content == b""
    domain = api.get(PATH, created["id"]).json()["result"]
    assert domain["status"] == "ACTIVE"
    assert domain["authorization"]["authorized"] is True
    assert ids(api, status="active") == [created["id"]]
    assert ids(api, status="pending") == []


# The contract's values are lowercase; the official SDK sends them in capitals.
@pytest.mark.parametrize(
    ("pending_status", "active_status"),
    [
        pytest.param("pending", "active", id="lowercase"),
        pytest.param("PENDING", "ACTIVE", id="uppercase"),
        pytest.param("Pending", "Active", id="capitalised"),
    ],
)
def test_status_filter_ignores_case(
    api: Api, app: FastAPI, pending_status: str, active_status: str
) -> None:
    pending = api.create(PATH, domain_body("pending.example.com"))
    active = api.create(PATH, domain_body("active.example.com"))
    with app.state.db.transaction() as session:
        activate(session, active["id"], CLI)
    assert ids(api, status=pending_status) == [pending["id"]]
    assert ids(api, status=active_status) == [active["id"]]


def test_status_filter_refuses_unknown_status(api: Api) -> None:
    assert_error(api.get(PATH, params={"status": "verified"}), 400, "/status")


def test_domain_filter_is_repeatable(api: Api) -> None:
    a = api.create(PATH, domain_body("a.example.com"))
    api.create(PATH, domain_body("b.example.com"))
    c = api.create(PATH, domain_body("c.example.com"))
    response = api.client.get(
        api.tenant.url(PATH) + "?domain=a.example.com&domain=C.example.com",
        headers=api.tenant.write,
    )
    assert response.status_code == 200, response.text
    assert [e["id"] for e in response.json()["result"]] == [a["id"], c["id"]]


def test_active_delivery_mode_is_the_first_allowed_mode(api: Api) -> None:
    bcc_first = api.create(
        PATH, domain_body("one.example.com", allowed_delivery_modes=["BCC", "DIRECT"])
    )
    direct_first = api.create(
        PATH, domain_body("two.example.com", allowed_delivery_modes=["DIRECT", "BCC"])
    )
    assert ids(api, active_delivery_mode="BCC") == [bcc_first["id"]]
    assert ids(api, active_delivery_mode="DIRECT") == [direct_first["id"]]
    assert ids(api, allowed_delivery_mode="BCC") == [bcc_first["id"], direct_first["id"]]
    # Changing the allowed modes moves the active one with them.
    api.patch(PATH, bcc_first["id"], json={"allowed_delivery_modes": ["JOURNAL", "BCC"]})
    assert ids(api, active_delivery_mode="JOURNAL") == [bcc_first["id"]]
    assert ids(api, active_delivery_mode="BCC") == []


def test_integration_id_filter(api: Api) -> None:
    linked = api.create(PATH, domain_body("linked.example.com", integration_id=INTEGRATION_A))
    api.create(PATH, domain_body("unlinked.example.com"))
    assert ids(api, integration_id=INTEGRATION_A) == [linked["id"]]
    assert ids(api, integration_id=str(uuid.uuid4())) == []


def test_patch_cannot_rename(api: Api) -> None:
    created = api.create(PATH, domain_body("fixed.example.com"))
    response = api.patch(
        PATH, created["id"], json={"domain": "other.example.com", "lookback_hops": 5}
    )
    assert_error(response, 400, "/domain")
    assert api.get(PATH, created["id"]).json()["result"] == created


def test_patch_with_the_same_name_is_accepted(api: Api) -> None:
    created = api.create(PATH, domain_body("same.example.com"))
    response = api.patch(
        PATH, created["id"], json={"domain": "same.example.com", "lookback_hops": 5}
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["domain"] == "same.example.com"
    assert response.json()["result"]["lookback_hops"] == 5


def test_put_replaces_every_mutable_field(api: Api) -> None:
    created = full_domain(api)
    response = api.put(PATH, created["id"], json=replace_body())
    assert response.status_code == 200, response.text
    replaced = response.json()["result"]
    assert {k: replaced[k] for k in replace_body()} == replace_body()
    # Optional fields left out go back to their defaults.
    for name in (
        "folder",
        "integration_id",
        "require_tls_inbound",
        "require_tls_outbound",
    ):
        assert replaced[name] is None, name
    assert replaced["transport"] == ""
    assert replaced["domain"] == created["domain"]
    assert replaced["status"] == created["status"]
    assert replaced["created_at"] == created["created_at"]
    assert replaced["modified_at"] > created["modified_at"]
    assert api.get(PATH, created["id"]).json()["result"] == replaced


def test_put_without_lookback_hops_sets_the_default(api: Api) -> None:
    """Optional in both current SDKs' PUT and batch puts: left out, it goes back to 1."""
    created = api.create(PATH, domain_body("hops-put.example.com", lookback_hops=6))
    body = replace_body()
    del body["lookback_hops"]
    replaced = api.put(PATH, created["id"], json=body)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["result"]["lookback_hops"] == 1
    batch = api.post(
        PATH,
        "batch",
        json={"deletes": [], "patches": [], "posts": [], "puts": [{"id": created["id"], **body}]},
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["result"]["puts"][0]["lookback_hops"] == 1


def test_put_sets_optional_fields_that_are_sent(api: Api) -> None:
    created = api.create(PATH, domain_body("put.example.com"))
    body = replace_body(
        folder="AllItems", require_tls_outbound=True, transport="smtp://mx.example.com"
    )
    replaced = api.put(PATH, created["id"], json=body).json()["result"]
    assert (replaced["folder"], replaced["require_tls_outbound"], replaced["transport"]) == (
        "AllItems",
        True,
        "smtp://mx.example.com",
    )


@pytest.mark.parametrize(
    "missing",
    [
        pytest.param(f, id=f)
        for f in (
            "allowed_delivery_modes",
            "drop_dispositions",
            "ip_restrictions",
            "regions",
        )
    ],
)
def test_put_requires_every_required_field(api: Api, missing: str) -> None:
    created = full_domain(api)
    body = replace_body()
    del body[missing]
    assert_error(api.put(PATH, created["id"], json=body), 400, f"/{missing}")
    assert api.get(PATH, created["id"]).json()["result"] == created


def test_put_cannot_rename(api: Api) -> None:
    created = full_domain(api)
    assert_error(
        api.put(PATH, created["id"], json=replace_body(domain="x.example.com")), 400, "/domain"
    )
    response = api.put(PATH, created["id"], json=replace_body(domain=created["domain"]))
    assert response.status_code == 200, response.text


def test_put_unknown_domain_is_404(api: Api) -> None:
    assert_error(api.put(PATH, str(uuid.uuid4()), json=replace_body()), 404)


def test_bulk_delete(api: Api) -> None:
    a = api.create(PATH, domain_body("a.example.com"))
    b = api.create(PATH, domain_body("b.example.com"))
    keep = api.create(PATH, domain_body("keep.example.com"))
    response = api.delete(PATH, json=[{"id": a["id"]}, {"id": b["id"]}])
    assert response.status_code == 200, response.text
    assert response.json()["result"] == [{"id": a["id"]}, {"id": b["id"]}]
    assert ids(api) == [keep["id"]]


def test_bulk_delete_with_an_unknown_id_deletes_nothing(api: Api) -> None:
    a = api.create(PATH, domain_body("a.example.com"))
    response = api.delete(PATH, json=[{"id": a["id"]}, {"id": str(uuid.uuid4())}])
    assert_error(response, 404, "/1/id")
    assert ids(api) == [a["id"]]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param([], id="empty-array"),
        pytest.param({"id": "x"}, id="object"),
        pytest.param([{"name": "x"}], id="item-without-id"),
    ],
)
def test_bulk_delete_refuses_bad_bodies(api: Api, body: Any) -> None:
    api.create(PATH, domain_body("a.example.com"))
    assert_error(api.delete(PATH, json=body), 400)
    assert len(ids(api)) == 1


@pytest.mark.parametrize(
    ("overrides", "pointer"),
    [
        pytest.param({"lookback_hops": 0}, "/lookback_hops", id="hops-0"),
        pytest.param({"lookback_hops": 21}, "/lookback_hops", id="hops-21"),
        pytest.param({"allowed_delivery_modes": []}, "/allowed_delivery_modes", id="no-modes"),
        pytest.param(
            {"allowed_delivery_modes": ["SMOKE_SIGNAL"]}, "/allowed_delivery_modes/0", id="mode"
        ),
        pytest.param({"regions": []}, "/regions", id="no-regions"),
        pytest.param({"regions": ["GLOBAL", "MARS"]}, "/regions/1", id="region"),
        pytest.param({"drop_dispositions": ["NASTY"]}, "/drop_dispositions/0", id="disposition"),
        pytest.param({"folder": "Spam"}, "/folder", id="folder"),
        pytest.param({"integration_id": "not-a-uuid"}, "/integration_id", id="integration-id"),
        pytest.param({"ip_restrictions": ["8.8.8.8", "nonsense"]}, "/ip_restrictions/1", id="ip"),
        pytest.param({"ip_restrictions": ["8.8.8.1/24"]}, "/ip_restrictions/0", id="ip-host-bits"),
        pytest.param({"ip_restrictions": ["127.0.0.1"]}, "/ip_restrictions/0", id="ip-loopback"),
        pytest.param({"regions": ["US"] * 11}, "/regions", id="too-many-regions"),
    ],
)
def test_invalid_fields_are_400(api: Api, overrides: dict[str, Any], pointer: str) -> None:
    assert_error(api.post(PATH, json=domain_body("bad.example.com", **overrides)), 400, pointer)
    created = api.create(PATH, domain_body("good.example.com"))
    patch = {k: v for k, v in overrides.items() if k != "domain"}
    assert_error(api.patch(PATH, created["id"], json=patch), 400, pointer)
    assert api.get(PATH, created["id"]).json()["result"] == created


def test_ip_restrictions_admit_private_relays(api: Api) -> None:
    # Relays that hand mail to us are often internal: private ranges are fine here.
    created = api.create(
        PATH, domain_body("relay.example.com", ip_restrictions=["10.0.0.0/8", "2001:db8::/32"])
    )
    assert created["ip_restrictions"] == ["10.0.0.0/8", "2001:db8::/32"]


def test_patch_null_for_non_nullable_field_is_400(api: Api) -> None:
    created = full_domain(api)
    for name in (
        "lookback_hops",
        "allowed_delivery_modes",
        "regions",
        "require_tls_inbound",
        "transport",
    ):
        assert_error(api.patch(PATH, created["id"], json={name: None}), 400, f"/{name}")
    response = api.patch(PATH, created["id"], json={"folder": None, "integration_id": None})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["folder"] is None
    assert response.json()["result"]["integration_id"] is None
