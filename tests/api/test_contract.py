"""The contract every settings resource keeps, run over one table of resource descriptors.

Each descriptor says how to make distinct valid entries, how to edit one, and which filters,
orderings and search fields its list takes; the tests below are written once, for all seven.
The other test modules of this package reuse the table.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api, assert_error

Entry = dict[str, Any]
QueryValue = str | list[str]

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
ENVELOPE_KEYS = {"success", "errors", "messages", "result"}
INTEGRATION_A = "6f1c5a8e-1b7e-4f57-9a52-1d3e9b1b5a01"
INTEGRATION_B = "0b8d2c4f-7a3e-4d0c-8e51-2c6a9f3d7b02"
# How many entries the list tests create: enough for three pages of three.
POPULATION = 7


@dataclass(frozen=True)
class Filter:
    """A list filter: a value some entries match, one that leaves out some of those, and what
    matching means for an entry as the API returns it."""

    param: str
    hit: QueryValue
    miss: QueryValue
    holds: Callable[[Entry, QueryValue], bool]


def flag(name: str) -> Filter:
    return Filter(name, "true", "false", lambda entry, value: entry[name] is (value == "true"))


def equals(name: str, hit: str, miss: str) -> Filter:
    return Filter(name, hit, miss, lambda entry, value: entry[name] == value)


@dataclass(frozen=True)
class Resource:
    path: str
    id_param: str
    make: Callable[[int], Entry]  # a valid create body; distinct for distinct n
    patch: Entry  # a valid PATCH body for make(0)'s entry, every value different from it
    required: tuple[str, ...]  # required on create
    filters: tuple[Filter, ...] = ()
    orderings: tuple[str, ...] = ()
    search: tuple[str, ...] = ()  # the text fields `search` looks in
    batch: Literal["full", "deletes", "none"] = "full"
    # A minimal batch `puts` item for an entry (without id), for resources with a full batch.
    put: Callable[[Entry], Entry] | None = None
    # A field and a value that pass the schema but not the resource's semantic checks.
    invalid: tuple[str, Any] = ("pattern", "(unclosed")
    # Output fields besides the timestamps that follow every write.
    volatile: tuple[str, ...] = ()
    # The create body says additionalProperties: false.
    strict: bool = False
    # The nullable free-text field (None: the resource has none).
    note: str | None = "comments"

    def __str__(self) -> str:
        return self.path


def _allow_policy(n: int) -> Entry:
    # Pairs (2k, 2k+1) share a pattern and differ in a flag, so ordering by pattern has ties.
    k = n // 2
    pattern_type, pattern = (
        ("EMAIL", f"friend{k}@partner.example"),
        ("DOMAIN", f"partner{k}.example.org"),
        ("IP", f"203.0.113.{k + 1}"),
    )[k % 3]
    return {
        "pattern": pattern,
        "pattern_type": pattern_type,
        "is_regex": False,
        "is_trusted_sender": n % 2 == 0,
        "is_acceptable_sender": n % 3 == 0,
        "is_exempt_recipient": n % 4 == 1,
        "verify_sender": n % 5 != 0,
        "comments": f"Allowed sender {n}",
    }


def _blocked_sender(n: int) -> Entry:
    # A pattern and its regex twin are distinct entries that tie when ordered by pattern.
    k = n // 2
    pattern_type, pattern = (
        ("EMAIL", f"spammer{k}@bad.example"),
        ("DOMAIN", f"spam{k}.example.net"),
        ("IP", f"198.51.100.{k + 1}"),
    )[k % 3]
    return {
        "pattern": pattern,
        "pattern_type": pattern_type,
        "is_regex": n % 2 == 1,
        "comments": f"Blocked sender {n}",
    }


def domain_body(name: str, **overrides: Any) -> Entry:
    body: Entry = {
        "domain": name,
        "allowed_delivery_modes": ["DIRECT"],
        "drop_dispositions": ["MALICIOUS"],
        "ip_restrictions": [],
        "regions": ["GLOBAL"],
    }
    return {**body, **overrides}


def _domain(n: int) -> Entry:
    return domain_body(
        f"corp{n}.example.com",
        allowed_delivery_modes=(["DIRECT"], ["BCC", "DIRECT"], ["JOURNAL"])[n % 3],
        drop_dispositions=["MALICIOUS", "SPAM"] if n % 2 else ["MALICIOUS"],
        integration_id=INTEGRATION_A if n % 2 == 0 else None,
        transport=f"smtp://Relay{n}.corp.example",
    )


def _impersonation(n: int) -> Entry:
    # Pairs share a display name, so ordering by name has ties.
    return {
        "name": f"Person {n // 2}",
        "email": f"person{n}@corp.example",
        "is_email_regex": False,
        "provenance": "SNOOPY-OFFICE_365" if n % 3 == 2 else "A1S_INTERNAL",
        "comments": f"Registered person {n}",
    }


def _sending_restriction(n: int) -> Entry:
    return {
        "domain": f"tls{n}.example.com",
        "exclude": [f"legacy.tls{n}.example.com"] if n % 2 else [],
        "comments": f"TLS required {n}",
    }


def _trusted_domain(n: int) -> Entry:
    # Pairs share a pattern and differ in is_recent, so ordering by pattern has ties.
    return {
        "pattern": f"partner{n // 2}.example.com",
        "is_regex": False,
        "is_recent": n % 2 == 0,
        "is_similarity": n % 3 == 0,
        "comments": f"Trusted partner {n}",
    }


def _url_ignore_pattern(n: int) -> Entry:
    return {"pattern": rf"^https://docs{n}\.example\.com/", "comments": f"Ignored URL {n}"}


def _content_policy(n: int) -> Entry:
    # Pairs share a name, so ordering by name has ties.
    return {
        "name": f"Policy {n // 2}",
        "pattern": f"invoice +#?0*{n}([^0-9]|$)",
        "targets": ["SUBJECT"] if n % 2 == 0 else ["SUBJECT", "BODY"],
        "enabled": n % 3 != 0,
        "notes": f"Content policy {n}",
    }


def _one_of(name: str) -> Callable[[Entry, QueryValue], bool]:
    return lambda entry, values: entry[name] in values


def _includes(name: str) -> Callable[[Entry, QueryValue], bool]:
    return lambda entry, value: value in entry[name]


RESOURCES: tuple[Resource, ...] = (
    Resource(
        path="allow_policies",
        id_param="policy_id",
        make=_allow_policy,
        patch={"verify_sender": True, "comments": "Patched by the contract suite"},
        required=(
            "is_acceptable_sender",
            "is_exempt_recipient",
            "is_regex",
            "is_trusted_sender",
            "pattern",
            "pattern_type",
            "verify_sender",
        ),
        filters=(
            flag("is_exempt_recipient"),
            flag("is_trusted_sender"),
            flag("is_acceptable_sender"),
            flag("verify_sender"),
            equals("pattern_type", "DOMAIN", "IP"),
            equals("pattern", "partner1.example.org", "nobody@partner.example"),
        ),
        orderings=("pattern", "created_at"),
        search=("pattern", "comments"),
        put=lambda e: {"pattern": e["pattern"], "pattern_type": e["pattern_type"]},
    ),
    Resource(
        path="block_senders",
        id_param="pattern_id",
        make=_blocked_sender,
        patch={"pattern": "patched@bad.example", "comments": "Patched by the contract suite"},
        required=("is_regex", "pattern", "pattern_type"),
        filters=(
            equals("pattern_type", "IP", "EMAIL"),
            equals("pattern", "spam1.example.net", "nobody@bad.example"),
        ),
        orderings=("pattern", "created_at"),
        search=("pattern", "comments"),
        put=lambda e: {
            "pattern": e["pattern"],
            "pattern_type": e["pattern_type"],
            "is_regex": e["is_regex"],
        },
    ),
    Resource(
        path="domains",
        id_param="domain_id",
        make=_domain,
        patch={
            "lookback_hops": 7,
            "transport": "smtp://patched.corp.example",
            "require_tls_inbound": True,
            "regions": ["US", "DE"],
        },
        required=(
            "allowed_delivery_modes",
            "domain",
            "drop_dispositions",
            "ip_restrictions",
            "regions",
        ),
        filters=(
            Filter(
                "allowed_delivery_mode", "DIRECT", "RETRO_SCAN", _includes("allowed_delivery_modes")
            ),
            Filter(
                "active_delivery_mode",
                "DIRECT",
                "BCC",
                lambda entry, value: entry["allowed_delivery_modes"][0] == value,
            ),
            Filter(
                "domain",
                ["corp1.example.com", "corp3.example.com"],
                ["absent.example.com"],
                _one_of("domain"),
            ),
            equals("integration_id", INTEGRATION_A, INTEGRATION_B),
            equals("status", "PENDING", "ACTIVE"),
        ),
        orderings=("domain", "created_at"),
        search=("domain", "transport"),
        put=lambda _e: {
            "allowed_delivery_modes": ["BCC"],
            "drop_dispositions": [],
            "ip_restrictions": [],
            "lookback_hops": 2,
            "regions": ["AU"],
        },
        invalid=("domain", "not a domain"),
        volatile=("emails_processed",),
        strict=True,
        note=None,
    ),
    Resource(
        path="impersonation_registry",
        id_param="impersonation_registry_id",
        make=_impersonation,
        patch={"name": "Patched Person", "comments": "Patched by the contract suite"},
        required=("email", "is_email_regex", "name"),
        filters=(equals("provenance", "SNOOPY-OFFICE_365", "SNOOPY-GOOGLE_DIRECTORY"),),
        orderings=("name", "email", "created_at"),
        search=("name", "email", "comments"),
        batch="none",
        invalid=("email", "(unclosed"),
    ),
    Resource(
        path="sending_domain_restrictions",
        id_param="sending_domain_restriction_id",
        make=_sending_restriction,
        patch={"exclude": ["mx.tls0.example.com"], "comments": "Patched by the contract suite"},
        required=("domain", "exclude"),
        orderings=("domain", "created_at"),
        search=("domain", "comments"),
        batch="deletes",
        invalid=("domain", "(unclosed"),
    ),
    Resource(
        path="trusted_domains",
        id_param="trusted_domain_id",
        make=_trusted_domain,
        patch={"is_similarity": False, "comments": "Patched by the contract suite"},
        required=("is_recent", "is_regex", "is_similarity", "pattern"),
        filters=(
            flag("is_recent"),
            flag("is_similarity"),
            equals("pattern", "partner1.example.com", "partner9.example.com"),
        ),
        orderings=("pattern", "created_at"),
        search=("pattern", "comments"),
        put=lambda e: {
            "pattern": e["pattern"],
            "is_regex": e["is_regex"],
            "is_recent": False,
            "is_similarity": False,
        },
    ),
    Resource(
        path="content_policies",
        id_param="policy_id",
        make=_content_policy,
        patch={"enabled": True, "notes": "Patched by the contract suite"},
        required=("enabled", "name", "pattern", "targets"),
        filters=(flag("enabled"), equals("name", "Policy 1", "Policy 99")),
        orderings=("name", "created_at"),
        search=("name", "pattern", "notes"),
        put=lambda e: {
            "name": e["name"],
            "pattern": e["pattern"],
            "targets": e["targets"],
            "enabled": e["enabled"],
        },
        note="notes",
    ),
    Resource(
        path="url_ignore_patterns",
        id_param="pattern_id",
        make=_url_ignore_pattern,
        patch={"comments": "Patched by the contract suite"},
        required=("pattern",),
        put=lambda e: {"pattern": e["pattern"]},
        strict=True,
    ),
)

BY_PATH = {r.path: r for r in RESOURCES}
FULL_BATCH = tuple(r for r in RESOURCES if r.batch == "full")


def params(resources: tuple[Resource, ...] = RESOURCES) -> list[Any]:
    return [pytest.param(r, id=r.path) for r in resources]


def populate(api: Api, resource: Resource, count: int = POPULATION) -> list[Entry]:
    return [api.create(resource.path, resource.make(n)) for n in range(count)]


def list_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [entry["id"] for entry in response.json()["result"]]


def _assert_entity(entry: Entry) -> None:
    assert str(uuid.UUID(entry["id"])) == entry["id"]
    for name in ("created_at", "modified_at"):
        assert TIMESTAMP.fullmatch(entry[name]), (name, entry[name])
    # The deprecated alias, on the seven resources whose schema still has it.
    if "last_modified" in entry:
        assert entry["last_modified"] == entry["modified_at"]


# ---- one entry through its whole life -------------------------------------------------------


@pytest.mark.parametrize("resource", params())
def test_create_get_edit_delete(api: Api, resource: Resource) -> None:
    body = resource.make(0)
    response = api.post(resource.path, json=body)
    assert response.status_code == 201, response.text
    envelope = response.json()
    assert set(envelope) == ENVELOPE_KEYS
    assert envelope["success"] is True
    assert envelope["errors"] == []
    assert envelope["messages"] == []
    created = envelope["result"]
    _assert_entity(created)
    assert {k: created[k] for k in body} == body
    entry_id = created["id"]

    fetched = api.get(resource.path, entry_id)
    assert fetched.status_code == 200
    assert set(fetched.json()) == ENVELOPE_KEYS
    assert fetched.json()["result"] == created

    assert all(created[k] != v for k, v in resource.patch.items()), "the patch must change things"
    response = api.patch(resource.path, entry_id, json=resource.patch)
    assert response.status_code == 200, response.text
    edited = response.json()["result"]
    _assert_entity(edited)
    assert edited["id"] == entry_id
    assert edited["created_at"] == created["created_at"]
    assert edited["modified_at"] > created["modified_at"]
    assert {k: edited[k] for k in resource.patch} == resource.patch
    unchanged = (
        set(created) - set(resource.patch) - {"modified_at", "last_modified", *resource.volatile}
    )
    assert {k: edited[k] for k in unchanged} == {k: created[k] for k in unchanged}
    assert api.get(resource.path, entry_id).json()["result"] == edited

    response = api.delete(resource.path, entry_id)
    assert response.status_code == 200, response.text
    assert set(response.json()) == ENVELOPE_KEYS
    assert response.json()["result"] == {"id": entry_id}
    assert_error(api.get(resource.path, entry_id), 404)
    assert_error(api.delete(resource.path, entry_id), 404)
    assert_error(api.patch(resource.path, entry_id, json=resource.patch), 404)


@pytest.mark.parametrize("resource", params())
@pytest.mark.parametrize("method", [pytest.param(m, id=m) for m in ("GET", "PATCH", "DELETE")])
def test_unknown_id_is_404(api: Api, resource: Resource, method: str) -> None:
    api.create(resource.path, resource.make(0))
    json = resource.patch if method == "PATCH" else None
    response = api.request(method, resource.path, str(uuid.uuid4()), json=json)
    assert_error(response, 404)


# ---- lists ------------------------------------------------------------------------------------


FILTER_CASES = [pytest.param(r, f, id=f"{r.path}-{f.param}") for r in RESOURCES for f in r.filters]


@pytest.mark.parametrize(("resource", "list_filter"), FILTER_CASES)
def test_list_filter(api: Api, resource: Resource, list_filter: Filter) -> None:
    created = populate(api, resource)
    selections = {}
    for value in (list_filter.hit, list_filter.miss):
        expected = [e["id"] for e in created if list_filter.holds(e, value)]
        response = api.get(resource.path, params={list_filter.param: value, "per_page": 1000})
        assert list_ids(response) == expected, value
        assert response.json()["result_info"]["total_count"] == len(expected)
        selections[str(value)] = set(expected)
    hit, miss = selections[str(list_filter.hit)], selections[str(list_filter.miss)]
    assert hit, "the matching example must match some entries"
    assert hit - miss, "the non-matching example must leave out some of them"


ORDER_CASES = [pytest.param(r, o, id=f"{r.path}-{o}") for r in RESOURCES for o in r.orderings]


@pytest.mark.parametrize(("resource", "order"), ORDER_CASES)
def test_list_order(api: Api, resource: Resource, order: str) -> None:
    # Most factories give pairs of entries the same pattern or name, so ties are broken by id.
    created = populate(api, resource)
    ascending = [e["id"] for e in sorted(created, key=lambda e: (e[order], e["id"]))]
    for direction, expected in (("asc", ascending), ("desc", ascending[::-1])):
        response = api.get(resource.path, params={"order": order, "direction": direction})
        assert list_ids(response) == expected, direction


@pytest.mark.parametrize("resource", params())
def test_list_defaults_to_creation_order_and_20_per_page(api: Api, resource: Resource) -> None:
    created = populate(api, resource, 22)
    response = api.get(resource.path)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {*ENVELOPE_KEYS, "result_info"}
    assert body["result_info"] == {"count": 20, "page": 1, "per_page": 20, "total_count": 22}
    assert body["result"] == created[:20]
    if resource.orderings:
        newest_first = api.get(resource.path, params={"direction": "desc"})
        assert list_ids(newest_first) == [e["id"] for e in created[::-1][:20]]


@pytest.mark.parametrize("resource", params())
def test_pagination(api: Api, resource: Resource) -> None:
    created = populate(api, resource)
    seen: list[str] = []
    for page, count in ((1, 3), (2, 3), (3, 1)):
        response = api.get(resource.path, params={"page": page, "per_page": 3})
        seen += list_ids(response)
        assert response.json()["result_info"] == {
            "count": count,
            "page": page,
            "per_page": 3,
            "total_count": POPULATION,
        }
    assert sorted(seen) == sorted(e["id"] for e in created)
    assert len(set(seen)) == len(seen)

    # Far past the end too: an offset beyond what the database can count is still just empty.
    for page in (4, 10**6, 2**63 - 1):
        past = api.get(resource.path, params={"page": page, "per_page": 1000})
        assert list_ids(past) == [], page
        assert past.json()["result_info"] == {
            "count": 0,
            "page": page,
            "per_page": 1000,
            "total_count": POPULATION,
        }


@pytest.mark.parametrize("resource", params())
@pytest.mark.parametrize("page", [2**63, 2**64, 10**30])
def test_a_page_beyond_64_bits_is_refused(api: Api, resource: Resource, page: int) -> None:
    response = api.get(resource.path, params={"page": page})
    assert_error(response, 400, "/page", contains="page")


SEARCH_CASES = [pytest.param(r, f, id=f"{r.path}-{f}") for r in RESOURCES for f in r.search]


@pytest.mark.parametrize(("resource", "field_name"), SEARCH_CASES)
def test_search_is_case_insensitive(api: Api, resource: Resource, field_name: str) -> None:
    created = populate(api, resource)
    needle = created[3][field_name].swapcase()
    expected = [
        e["id"]
        for e in created
        if any(needle.lower() in (e[f] or "").lower() for f in resource.search)
    ]
    assert created[3]["id"] in expected
    assert len(expected) < len(created)
    response = api.get(resource.path, params={"search": needle})
    assert list_ids(response) == expected
    assert response.json()["result_info"]["total_count"] == len(expected)
    assert list_ids(api.get(resource.path, params={"search": "no-such-text-anywhere"})) == []


@pytest.mark.parametrize("resource", params(tuple(r for r in RESOURCES if r.search)))
@pytest.mark.parametrize("needle", [pytest.param(c, id=c) for c in ("%", "_", "\\")])
def test_search_wildcards_are_literal(api: Api, resource: Resource, needle: str) -> None:
    free_text = resource.search[-1]
    populate(api, resource, 3)
    odd = api.create(resource.path, {**resource.make(3), free_text: "100% under_score back\\slash"})
    assert list_ids(api.get(resource.path, params={"search": needle})) == [odd["id"]]


def test_every_resource_is_in_the_table(client: TestClient) -> None:
    document = client.get("/client/v4/openapi.json").json()
    prefix = "/accounts/{account_id}/email-security/settings/"
    served = {p[len(prefix) :] for p in document["paths"] if p.startswith(prefix)}
    assert {p for p in served if "/" not in p} == set(BY_PATH)
    for resource in RESOURCES:
        assert f"{resource.path}/{{{resource.id_param}}}" in served
        assert (f"{resource.path}/batch" in served) is (resource.batch != "none")
