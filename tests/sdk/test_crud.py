"""create -> get -> list -> edit -> delete for all eight resources, through the official SDK,
sync and async, with typed responses (string UUID ids, parsed aware datetimes)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cloudflare import AsyncCloudflare, Cloudflare, NotFoundError
from cloudflare.types.email_security import settings as types

from tests.support.api import Tenant
from tests.support.sdk import CASE_PARAMS, ResourceCase


def response_type(case: ResourceCase, operation: str) -> type[Any]:
    cls: type[Any] = getattr(types, f"{case.types}{operation}Response")
    return cls


def assert_entry(entry: Any, case: ResourceCase, operation: str, expected: dict[str, Any]) -> None:
    """A typed entry: the SDK's model class, a UUID string id, aware datetimes, the values sent."""
    assert isinstance(entry, response_type(case, operation)), type(entry)
    assert isinstance(entry.id, str)
    assert str(uuid.UUID(entry.id)) == entry.id
    declared = response_type(case, operation).model_fields
    stamps = [entry.created_at, entry.modified_at]
    # The deprecated alias, where the SDK still declares it (not on content policies).
    if "last_modified" in declared:
        stamps.append(entry.last_modified)
        assert entry.last_modified == entry.modified_at
    for stamp in stamps:
        assert isinstance(stamp, dt.datetime)
        assert stamp.utcoffset() == dt.timedelta(0)
    # Everything the server sent is a field the SDK declares.
    assert not entry.model_extra, entry.model_extra
    assert entry.modified_at >= entry.created_at
    for name, value in expected.items():
        assert getattr(entry, name) == value, name


def resource_of(client: Cloudflare | AsyncCloudflare, case: ResourceCase) -> Any:
    return getattr(client.email_security.settings, case.attr)


def run_sync_lifecycle(client: Cloudflare, account: str, case: ResourceCase) -> None:
    resource = resource_of(client, case)

    created = resource.create(account_id=account, **case.create)
    assert_entry(created, case, "Create", case.create)

    fetched = resource.get(created.id, account_id=account)
    assert_entry(fetched, case, "Get", case.create)
    assert fetched.created_at == created.created_at

    page = resource.list(account_id=account)
    assert [e.id for e in page.result] == [created.id]
    assert_entry(page.result[0], case, "List", case.create)
    assert page.result_info is not None
    assert (page.result_info.page, page.result_info.per_page) == (1, 20)

    edited = resource.edit(created.id, account_id=account, **case.edit)
    assert_entry(edited, case, "Edit", {**case.create, **case.edit, "id": created.id})
    assert edited.created_at == created.created_at
    assert edited.modified_at >= created.modified_at
    again = resource.get(created.id, account_id=account)
    assert again.to_dict() == edited.to_dict()

    deleted = resource.delete(created.id, account_id=account)
    assert isinstance(deleted, response_type(case, "Delete"))
    assert deleted.id == created.id
    with pytest.raises(NotFoundError) as caught:
        resource.get(created.id, account_id=account)
    assert caught.value.status_code == 404
    assert resource.list(account_id=account).result == []


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_lifecycle_with_api_token(sdk: Cloudflare, tenant: Tenant, case: ResourceCase) -> None:
    run_sync_lifecycle(sdk, tenant.id, case)


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_lifecycle_with_legacy_email_and_key(
    make_sdk: Callable[..., Cloudflare], tenant: Tenant, case: ResourceCase
) -> None:
    client = make_sdk(api_email=tenant.key_email, api_key=tenant.write_key)
    run_sync_lifecycle(client, tenant.id, case)


async def run_async_lifecycle(client: AsyncCloudflare, account: str, case: ResourceCase) -> None:
    resource = resource_of(client, case)

    created = await resource.create(account_id=account, **case.create)
    assert_entry(created, case, "Create", case.create)

    fetched = await resource.get(created.id, account_id=account)
    assert_entry(fetched, case, "Get", case.create)

    page = await resource.list(account_id=account)
    assert [e.id for e in page.result] == [created.id]
    assert_entry(page.result[0], case, "List", case.create)
    assert [e.id async for e in resource.list(account_id=account)] == [created.id]

    edited = await resource.edit(created.id, account_id=account, **case.edit)
    assert_entry(edited, case, "Edit", {**case.create, **case.edit})
    assert edited.created_at == created.created_at

    deleted = await resource.delete(created.id, account_id=account)
    assert isinstance(deleted, response_type(case, "Delete"))
    assert deleted.id == created.id
    with pytest.raises(NotFoundError):
        await resource.get(created.id, account_id=account)


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_async_lifecycle(
    make_async_sdk: Callable[..., AsyncCloudflare], tenant: Tenant, case: ResourceCase
) -> None:
    async def scenario() -> None:
        async with make_async_sdk(api_token=tenant.write_token) as client:
            await run_async_lifecycle(client, tenant.id, case)

    asyncio.run(scenario())


def test_read_token_reads_every_resource(
    sdk: Cloudflare, make_sdk: Callable[..., Cloudflare], tenant: Tenant
) -> None:
    """A Read token lists and gets what a Write token created."""
    from tests.support.sdk import CASES

    reader = make_sdk(api_token=tenant.read_token)
    for case in CASES:
        created = resource_of(sdk, case).create(account_id=tenant.id, **case.create)
        listed = resource_of(reader, case).list(account_id=tenant.id)
        assert [e.id for e in listed.result] == [created.id], case.attr
        fetched = resource_of(reader, case).get(created.id, account_id=tenant.id)
        assert fetched.id == created.id
