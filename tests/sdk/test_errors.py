"""Failures as the SDK raises them: the right exception class per status, the v4 failure body on
it, and no retries of a client error even with the SDK's default retry policy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cloudflare import (
    APIStatusError,
    AsyncCloudflare,
    AuthenticationError,
    BadRequestError,
    Cloudflare,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)

from tests.support.api import LiveServer, Tenant
from tests.support.sdk import (
    ALLOW_POLICY,
    BLOCK_SENDER,
    CASE_PARAMS,
    DOMAIN,
    IMPERSONATION,
    SENDING_RESTRICTION,
    TRUSTED_DOMAIN,
    RequestLog,
    ResourceCase,
    changed,
)

MISSING_ID = "00000000-0000-4000-8000-000000000000"


def failure(error: APIStatusError, status: int) -> dict[str, Any]:
    """The v4 failure envelope on an SDK exception, checked; returns the body."""
    assert error.status_code == status
    assert error.response.headers.get("x-should-retry") == "false"
    body: Any = error.body
    assert body["success"] is False
    assert body["result"] is None
    assert body["errors"]
    for item in body["errors"]:
        assert item["code"] >= 1000
        assert item["message"]
    assert str(status) in str(error)
    return dict(body)


def pointers(body: dict[str, Any]) -> list[str | None]:
    return [e.get("source", {}).get("pointer") for e in body["errors"]]


@pytest.mark.parametrize(
    ("attr", "body", "pointer"),
    [
        pytest.param(
            "allow_policies", changed(ALLOW_POLICY, pattern="not-an-email"), "/pattern", id="email"
        ),
        pytest.param(
            "allow_policies",
            changed(ALLOW_POLICY, pattern="partner.example.com", pattern_type="UNKNOWN"),
            "/pattern_type",
            id="unknown-type",
        ),
        pytest.param(
            "block_senders",
            changed(BLOCK_SENDER, pattern="10.1.2.3", pattern_type="IP"),
            "/pattern",
            id="private-ip",
        ),
        pytest.param(
            "block_senders",
            changed(BLOCK_SENDER, pattern="x" * 1025, is_regex=True),
            "/pattern",
            id="too-long",
        ),
        pytest.param(
            "trusted_domains",
            changed(TRUSTED_DOMAIN, pattern="(unclosed", is_regex=True),
            "/pattern",
            id="bad-regex",
        ),
        pytest.param("url_ignore_patterns", {"pattern": "[a-"}, "/pattern", id="bad-url-regex"),
        pytest.param(
            "impersonation_registry",
            changed(IMPERSONATION, email="nobody"),
            "/email",
            id="bad-email",
        ),
        pytest.param(
            "sending_domain_restrictions",
            changed(SENDING_RESTRICTION, exclude=["elsewhere.example.org"]),
            "/exclude/0",
            id="not-a-subdomain",
        ),
        pytest.param(
            "domains",
            changed(DOMAIN, ip_restrictions=["192.0.2.0/24", "300.1.1.1"]),
            "/ip_restrictions/1",
            id="bad-network",
        ),
        pytest.param("domains", changed(DOMAIN, regions=[]), "/regions", id="no-regions"),
    ],
)
def test_invalid_input_is_bad_request(
    sdk: Cloudflare, tenant: Tenant, attr: str, body: dict[str, Any], pointer: str
) -> None:
    resource = getattr(sdk.email_security.settings, attr)
    with pytest.raises(BadRequestError) as caught:
        resource.create(account_id=tenant.id, **body)
    assert pointer in pointers(failure(caught.value, 400))
    assert resource.list(account_id=tenant.id).result == []


def test_invalid_edit_is_bad_request_and_changes_nothing(sdk: Cloudflare, tenant: Tenant) -> None:
    policies = sdk.email_security.settings.allow_policies
    created = policies.create(account_id=tenant.id, **ALLOW_POLICY)
    with pytest.raises(BadRequestError) as caught:
        policies.edit(created.id, account_id=tenant.id, pattern_type="IP")
    assert pointers(failure(caught.value, 400)) == ["/pattern"]
    assert policies.get(created.id, account_id=tenant.id).to_dict() == created.to_dict()


def test_a_directory_synced_impersonation_entry_is_read_only(
    sdk: Cloudflare, tenant: Tenant
) -> None:
    registry = sdk.email_security.settings.impersonation_registry
    synced = registry.create(
        account_id=tenant.id, **IMPERSONATION, provenance="SNOOPY-OFFICE_365", directory_id=7
    )
    assert synced is not None
    assert (synced.provenance, synced.directory_id) == ("SNOOPY-OFFICE_365", 7)
    with pytest.raises(BadRequestError) as caught:
        registry.edit(synced.id, account_id=tenant.id, name="Someone Else")
    assert "SNOOPY-OFFICE_365" in failure(caught.value, 400)["errors"][0]["message"]
    assert registry.get(synced.id, account_id=tenant.id).name == IMPERSONATION["name"]
    deleted = registry.delete(synced.id, account_id=tenant.id)
    assert deleted is not None
    assert deleted.id == synced.id


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({"api_token": "not-a-real-token"}, id="bad-token"),
        pytest.param({"api_email": "admin@alpha.example", "api_key": "0" * 37}, id="bad-key"),
        pytest.param({"api_email": "nobody@example.com", "api_key": "0" * 37}, id="bad-email"),
    ],
)
def test_bad_credentials_are_authentication_errors(
    make_sdk: Callable[..., Cloudflare], tenant: Tenant, credentials: dict[str, str]
) -> None:
    client = make_sdk(**credentials)
    with pytest.raises(AuthenticationError) as caught:
        client.email_security.settings.allow_policies.list(account_id=tenant.id)
    failure(caught.value, 401)


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_read_token_cannot_write(
    sdk: Cloudflare, make_sdk: Callable[..., Cloudflare], tenant: Tenant, case: ResourceCase
) -> None:
    reader = getattr(make_sdk(api_token=tenant.read_token).email_security.settings, case.attr)
    with pytest.raises(PermissionDeniedError) as caught:
        reader.create(account_id=tenant.id, **case.create)
    assert "Write" in failure(caught.value, 403)["errors"][0]["message"]

    created = getattr(sdk.email_security.settings, case.attr).create(
        account_id=tenant.id, **case.create
    )
    with pytest.raises(PermissionDeniedError):
        reader.edit(created.id, account_id=tenant.id, **case.edit)
    with pytest.raises(PermissionDeniedError):
        reader.delete(created.id, account_id=tenant.id)
    assert reader.get(created.id, account_id=tenant.id).to_dict() == created.to_dict()


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_another_accounts_data_is_out_of_reach(
    sdk: Cloudflare,
    make_sdk: Callable[..., Cloudflare],
    tenant: Tenant,
    other_tenant: Tenant,
    case: ResourceCase,
) -> None:
    theirs = getattr(
        make_sdk(api_token=other_tenant.write_token).email_security.settings, case.attr
    ).create(account_id=other_tenant.id, **case.create)
    mine = getattr(sdk.email_security.settings, case.attr)

    # Their account id with my token: refused outright.
    with pytest.raises(PermissionDeniedError) as caught:
        mine.list(account_id=other_tenant.id)
    failure(caught.value, 403)
    with pytest.raises(PermissionDeniedError):
        mine.get(theirs.id, account_id=other_tenant.id)
    # Their entry's id under my account: it does not exist here.
    with pytest.raises(NotFoundError):
        mine.get(theirs.id, account_id=tenant.id)
    with pytest.raises(NotFoundError):
        mine.delete(theirs.id, account_id=tenant.id)


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_unknown_ids_are_not_found(sdk: Cloudflare, tenant: Tenant, case: ResourceCase) -> None:
    resource = getattr(sdk.email_security.settings, case.attr)
    with pytest.raises(NotFoundError) as caught:
        resource.get(MISSING_ID, account_id=tenant.id)
    assert MISSING_ID in failure(caught.value, 404)["errors"][0]["message"]
    with pytest.raises(NotFoundError):
        resource.edit(MISSING_ID, account_id=tenant.id, **case.edit)
    with pytest.raises(NotFoundError):
        resource.delete(MISSING_ID, account_id=tenant.id)


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_duplicates_are_conflicts(sdk: Cloudflare, tenant: Tenant, case: ResourceCase) -> None:
    resource = getattr(sdk.email_security.settings, case.attr)
    first = resource.create(account_id=tenant.id, **case.create)
    with pytest.raises(ConflictError) as caught:
        resource.create(account_id=tenant.id, **case.create)
    failure(caught.value, 409)
    assert [e.id for e in resource.list(account_id=tenant.id).result] == [first.id]


def test_a_conflict_is_not_retried_by_default(live_server: LiveServer, tenant: Tenant) -> None:
    """The SDK retries 409 unless told not to; the server says x-should-retry: false."""
    log = RequestLog()
    http = httpx.Client(event_hooks={"request": [log.record]})
    # Default retry policy (max_retries=2): only the server's header prevents retries.
    with Cloudflare(
        base_url=live_server.base_url,
        api_token=tenant.write_token,
        http_client=http,
        _strict_response_validation=True,
    ) as client:
        assert client.max_retries == 2
        senders = client.email_security.settings.block_senders
        senders.create(account_id=tenant.id, **BLOCK_SENDER)
        log.requests.clear()
        with pytest.raises(ConflictError):
            senders.create(account_id=tenant.id, **BLOCK_SENDER)
    assert [(r.method, r.url.path.rsplit("/", 1)[-1]) for r in log.requests] == [
        ("POST", "block_senders")
    ]


def test_async_errors(make_async_sdk: Callable[..., AsyncCloudflare], tenant: Tenant) -> None:
    log = RequestLog()

    async def scenario() -> list[type[Exception]]:
        raised: list[type[Exception]] = []
        http = httpx.AsyncClient(event_hooks={"request": [log.arecord]})
        async with (
            make_async_sdk(api_token=tenant.write_token, max_retries=2, http_client=http) as writer,
            make_async_sdk(api_token=tenant.read_token) as reader,
            make_async_sdk(api_token="wrong") as stranger,
        ):
            senders = writer.email_security.settings.block_senders
            await senders.create(account_id=tenant.id, **BLOCK_SENDER)
            attempts: list[Any] = [
                senders.create(account_id=tenant.id, **changed(BLOCK_SENDER, pattern="nope")),
                stranger.email_security.settings.block_senders.list(account_id=tenant.id),
                reader.email_security.settings.block_senders.create(
                    account_id=tenant.id, **BLOCK_SENDER
                ),
                senders.get(MISSING_ID, account_id=tenant.id),
                senders.create(account_id=tenant.id, **BLOCK_SENDER),
            ]
            for attempt in attempts:
                try:
                    await attempt
                except APIStatusError as exc:
                    raised.append(type(exc))
        return raised

    assert asyncio.run(scenario()) == [
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
    ]
    # One request each, although the writer would retry a 409 by default.
    assert len(log.requests) == 4
