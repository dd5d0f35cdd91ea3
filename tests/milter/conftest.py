"""Settings of one account, made through the API, for the milter's tests."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.api import Tenant
from tests.support.milter import AccountSettings


@pytest.fixture
def settings_(client: TestClient, app: FastAPI, tenant: Tenant) -> AccountSettings:
    return AccountSettings(client, app, tenant)
