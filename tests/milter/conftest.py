"""Settings of one account, made through the API, for the milter's tests."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mailpolicy.audit.events import CLI
from mailpolicy.resources.domains import activate
from tests.conftest import Tenant


class AccountSettings:
    """Settings of one account, made through the API."""

    def __init__(self, client: TestClient, app: FastAPI, tenant: Tenant) -> None:
        self.client, self.app, self.tenant = client, app, tenant

    def create(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(self.tenant.url(resource), json=body, headers=self.tenant.write)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()["result"]
        return result

    def protect(self, domain: str, *drops: str, active: bool = True) -> dict[str, Any]:
        created = self.create(
            "domains",
            {
                "domain": domain,
                "allowed_delivery_modes": ["DIRECT"],
                "drop_dispositions": list(drops),
                "ip_restrictions": [],
                "regions": ["GLOBAL"],
            },
        )
        if active:
            with self.app.state.db.transaction() as session:
                activate(session, created["id"], CLI)
        return created

    def block(self, pattern: str, pattern_type: str = "DOMAIN") -> dict[str, Any]:
        return self.create(
            "block_senders", {"pattern": pattern, "pattern_type": pattern_type, "is_regex": False}
        )


@pytest.fixture
def settings_(client: TestClient, app: FastAPI, tenant: Tenant) -> AccountSettings:
    return AccountSettings(client, app, tenant)
