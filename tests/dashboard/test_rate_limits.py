"""A session's pages draw on its token's rate limit, the quota the token's API calls use too."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mailpolicy.app import create_app
from mailpolicy.config import Settings
from tests.support.api import make_tenant
from tests.support.dashboard import login
from tests.support.databases import Databases

LIMIT = 6


def test_pages_and_api_calls_share_the_tokens_quota(databases: Databases) -> None:
    app = create_app(
        Settings(database_url=databases.fresh(), rate_limit=LIMIT, rate_limit_window_seconds=300)
    )
    try:
        tenant = make_tenant(app.state.db, "limited")
        api = f"/client/v4/accounts/{tenant.id}/email-security/settings/block_senders"
        with (
            TestClient(app, base_url="http://127.0.0.1") as browser,
            TestClient(app, base_url="http://127.0.0.1") as other,
        ):
            csrf = login(browser, tenant.write_token)  # the overview it lands on: 1
            for _ in range(2):  # 3
                assert browser.get(api, headers=tenant.write).status_code == 200
            for _ in range(3):  # 6: the quota is spent
                assert browser.get("/dashboard/block_senders").status_code == 200

            refused = browser.get("/dashboard/block_senders")
            assert refused.status_code == 429
            assert "MAILPOLICY_RATE_LIMIT" in refused.text
            assert f"{LIMIT:,} requests in 300 s" in refused.text
            assert 0 < int(refused.headers["retry-after"]) <= 300
            assert refused.headers["ratelimit-policy"] == f'"default";q={LIMIT};w=300'
            # The refusal is shown inside the dashboard, to the viewer it refuses.
            assert tenant.id in refused.text
            assert 'action="/dashboard/logout"' in refused.text
            # The overview is a page like the others, and the API refuses the token as well.
            assert browser.get("/dashboard").status_code == 429
            assert browser.get(api, headers=tenant.write).status_code == 429

            # Another token of the account has a quota of its own.
            login(other, tenant.read_token)
            assert other.get("/dashboard/block_senders").status_code == 200

            # A throttled session can still log out.
            answer = browser.post(
                "/dashboard/logout", data={"csrf_token": csrf}, follow_redirects=False
            )
            assert answer.status_code == 303
            assert (
                browser.get("/dashboard/block_senders", follow_redirects=False).status_code == 303
            )
    finally:
        app.state.db.dispose()
