"""Settings of one account, made through the API, for the milter's tests (`AccountSettings`,
which the `settings_` fixture of tests/milter/conftest.py hands out)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.api import Tenant, protect


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
        return protect(self.create, self.app.state.db, domain, *drops, active=active)

    def block(self, pattern: str, pattern_type: str = "DOMAIN") -> dict[str, Any]:
        return self.create(
            "block_senders", {"pattern": pattern, "pattern_type": pattern_type, "is_regex": False}
        )
