"""Logging in and out, sessions, CSRF, the Read token, and the headers every page carries."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailpolicy.access.credentials import ApiToken, revoke
from mailpolicy.app import create_app
from mailpolicy.audit.events import CLI
from mailpolicy.config import Settings
from mailpolicy.dashboard.sessions import DashboardSession
from tests.support.api import Tenant, make_tenant
from tests.support.dashboard import csrf_of, login
from tests.support.databases import Databases

STATIC = Path(__file__).parents[2] / "src" / "mailpolicy" / "dashboard" / "static"
# htmx as vendored: https://www.npmjs.com/package/htmx.org (0BSD), dist/htmx.min.js.
HTMX_VERSION = "2.0.11"
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"


def test_vendored_htmx_is_the_pinned_release() -> None:
    source = (STATIC / "htmx.min.js").read_bytes()
    assert hashlib.sha256(source).hexdigest() == HTMX_SHA256
    assert f'version:"{HTMX_VERSION}"'.encode() in source


def test_the_login_form_until_logged_in(client: TestClient) -> None:
    for path in ("/dashboard", "/dashboard/block_senders", "/dashboard/allow_policies/new"):
        answer = client.get(path, follow_redirects=False)
        if path == "/dashboard":
            assert answer.status_code == 200
            assert 'action="/dashboard/login"' in answer.text
            assert 'name="token"' in answer.text
        else:
            assert answer.status_code == 303
            assert answer.headers["location"] == "/dashboard"


def test_every_page_carries_a_strict_policy(client: TestClient, tenant: Tenant) -> None:
    login(client, tenant.write_token)
    for path in ("/dashboard", "/dashboard/block_senders", "/dashboard/static/dashboard.css"):
        headers = client.get(path).headers
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
    assert client.get("/dashboard/block_senders").headers["cache-control"] == "no-store"
    # The API keeps its own headers: the policy is the dashboard's.
    assert "content-security-policy" not in client.get("/healthz").headers


def test_the_session_cookie(client: TestClient, tenant: Tenant) -> None:
    form = client.get("/dashboard")
    answer = client.post(
        "/dashboard/login",
        data={"token": tenant.write_token, "csrf_token": csrf_of(form)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and "session" in v
    )
    assert cookie.startswith("mailpolicy_session=")
    assert "; HttpOnly" in cookie
    assert "; SameSite=Strict" in cookie
    assert "; Path=/dashboard" in cookie
    assert "Secure" not in cookie  # plain http here; https gets Secure
    # The cookie holds no part of the token.
    assert tenant.write_token not in cookie


def test_the_session_lives_in_the_database(app: FastAPI, tenant: Tenant) -> None:
    """A second server on the same database (another replica) knows the session."""
    with TestClient(app, base_url="http://127.0.0.1") as first:
        login(first, tenant.write_token)
        cookie = first.cookies.get("mailpolicy_session")
    assert cookie
    replica = create_app(Settings(database_url=app.state.db.url, rate_limit=0))
    try:
        with TestClient(replica, base_url="http://127.0.0.1") as second:
            second.cookies.set("mailpolicy_session", cookie, path="/dashboard")
            page = second.get("/dashboard/block_senders", follow_redirects=False)
            assert page.status_code == 200
            assert tenant.id in page.text
    finally:
        replica.state.db.dispose()
    with app.state.db.transaction(write=False) as session:
        stored = session.scalars(select(DashboardSession.id)).all()
    assert cookie not in stored  # only its digest is kept
    assert hashlib.sha256(cookie.encode()).hexdigest() in stored


def test_a_wrong_token_is_refused(client: TestClient, tenant: Tenant) -> None:
    form = client.get("/dashboard")
    answer = client.post(
        "/dashboard/login",
        data={"token": tenant.write_token + "x", "csrf_token": csrf_of(form)},
        follow_redirects=False,
    )
    assert answer.status_code == 401
    assert "not valid" in answer.text
    assert 'role="alert"' in answer.text
    assert "mailpolicy_session" not in answer.headers.get("set-cookie", "")
    empty = client.post("/dashboard/login", data={"token": " ", "csrf_token": csrf_of(answer)})
    assert empty.status_code == 422
    assert "Enter an API token" in empty.text


def test_a_login_from_another_site_is_refused(client: TestClient, tenant: Tenant) -> None:
    """A login a page of another origin posts is refused, with the login form's token or
    without; so is one carrying a token that is not the cookie's."""
    client.get("/dashboard")
    elsewhere = (
        ({}, {"origin": "https://evil.example"}),
        ({}, {"sec-fetch-site": "cross-site"}),
        ({}, {"sec-fetch-site": "same-site", "origin": "http://127.0.0.1"}),
        ({}, {"origin": "null"}),
        ({"csrf_token": "forged"}, {}),
        ({"csrf_token": "forged"}, {"origin": "https://evil.example"}),
    )
    for given, headers in elsewhere:
        answer = client.post(
            "/dashboard/login",
            data={"token": tenant.write_token, **given},
            headers=headers,
            follow_redirects=False,
        )
        assert answer.status_code == 403, (given, headers)
        assert "security token" in answer.text
    assert client.get("/dashboard/block_senders", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    "headers",
    [{}, {"origin": "http://127.0.0.1", "sec-fetch-site": "same-origin"}],
    ids=["a script", "a page of the dashboard"],
)
def test_a_login_with_the_token_alone(
    client: TestClient, tenant: Tenant, headers: dict[str, str]
) -> None:
    """A client that says nothing of another origin (a script, which no forged post can make
    log in) may post the token alone, without the login form's token."""
    answer = client.post(
        "/dashboard/login",
        data={"token": tenant.read_token},
        headers=headers,
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard"
    page = client.get("/dashboard/block_senders")
    assert page.status_code == 200
    assert "Read only" in page.text


def test_logout_ends_the_session_everywhere(client: TestClient, tenant: Tenant) -> None:
    csrf = login(client, tenant.write_token)
    cookie = client.cookies.get("mailpolicy_session")
    # Without the CSRF token a post cannot log anyone out.
    assert client.post("/dashboard/logout", data={}).status_code == 403
    assert client.get("/dashboard/block_senders").status_code == 200
    answer = client.post("/dashboard/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    # The old cookie, replayed, no longer opens anything.
    client.cookies.set("mailpolicy_session", cookie or "", path="/dashboard")
    again = client.get("/dashboard/block_senders", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == "/dashboard"


def test_forms_need_the_sessions_csrf_token(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    csrf = login(client, tenant.write_token)
    other = TestClient(client.app, base_url="http://127.0.0.1")
    other_csrf = login(other, other_tenant.write_token)
    body = {"pattern": "csrf@example.com", "pattern_type": "EMAIL"}
    for given in ({}, {"csrf_token": "forged"}, {"csrf_token": other_csrf}):
        answer = client.post("/dashboard/block_senders", data={**body, **given})
        assert answer.status_code == 403
        assert "security token" in answer.text
    listed = client.get(
        f"/client/v4/accounts/{tenant.id}/email-security/settings/block_senders",
        headers=tenant.write,
    ).json()
    assert listed["result"] == []
    # The header htmx sends serves as well as the field.
    sent = client.post(
        "/dashboard/block_senders",
        data=body,
        headers={"X-CSRF-Token": csrf},
        follow_redirects=False,
    )
    assert sent.status_code == 303


def test_a_read_token_sees_everything_and_changes_nothing(
    client: TestClient, tenant: Tenant
) -> None:
    made = client.post(
        f"/client/v4/accounts/{tenant.id}/email-security/settings/block_senders",
        headers=tenant.write,
        json={"pattern": "seen@example.com", "pattern_type": "EMAIL", "is_regex": False},
    ).json()["result"]
    csrf = login(client, tenant.read_token)
    listing = client.get("/dashboard/block_senders")
    assert "seen@example.com" in listing.text
    assert "Read only" in listing.text
    assert "can only read" in listing.text
    entry = client.get(f"/dashboard/block_senders/{made['id']}")
    assert entry.status_code == 200
    assert '<button type="submit" class="" disabled' in entry.text
    for path, data in (
        ("/dashboard/block_senders", {"pattern": "no@example.com", "pattern_type": "EMAIL"}),
        (f"/dashboard/block_senders/{made['id']}", {"pattern": "changed@example.com"}),
        (f"/dashboard/block_senders/{made['id']}/delete", {}),
    ):
        answer = client.post(path, data={**data, "csrf_token": csrf})
        assert answer.status_code == 403
        assert "can only read" in answer.text
    listed = client.get(
        f"/client/v4/accounts/{tenant.id}/email-security/settings/block_senders",
        headers=tenant.read,
    ).json()["result"]
    assert [e["pattern"] for e in listed] == ["seen@example.com"]


def test_a_revoked_token_ends_its_sessions(app: FastAPI, client: TestClient) -> None:
    tenant = make_tenant(app.state.db, "revoked-dash")
    login(client, tenant.write_token)
    assert client.get("/dashboard/block_senders").status_code == 200
    with app.state.db.transaction() as session:
        token_id = session.scalars(
            select(ApiToken.id).where(
                ApiToken.account_id == tenant.id, ApiToken.permission == "write"
            )
        ).one()
        revoke(session, ApiToken, token_id, CLI)
    answer = client.get("/dashboard/block_senders", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard"


def test_an_idle_session_expires(databases: Databases) -> None:
    app = create_app(
        Settings(database_url=databases.fresh(), rate_limit=0, dashboard_idle_seconds=1)
    )
    try:
        tenant = make_tenant(app.state.db, "idle")
        with TestClient(app, base_url="http://127.0.0.1") as client:
            login(client, tenant.write_token)
            assert client.get("/dashboard/block_senders").status_code == 200
            time.sleep(2.2)
            answer = client.get("/dashboard/block_senders", follow_redirects=False)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/dashboard"
            # It is gone, not just refused.
            with app.state.db.transaction(write=False) as session:
                assert session.scalars(select(DashboardSession)).all() == []
    finally:
        app.state.db.dispose()


def test_the_dashboard_can_be_turned_off(databases: Databases) -> None:
    app = create_app(Settings(database_url=databases.fresh(), dashboard=False))
    try:
        with TestClient(app) as client:
            assert client.get("/dashboard").status_code == 404
            assert client.get("/healthz").status_code == 200
    finally:
        app.state.db.dispose()


def test_an_unknown_page_says_so(client: TestClient, tenant: Tenant) -> None:
    login(client, tenant.write_token)
    answer = client.get("/dashboard/no_such_thing")
    assert answer.status_code == 404
    assert "There is no dashboard page /dashboard/no_such_thing" in answer.text
    assert answer.headers["content-type"].startswith("text/html")


def test_the_static_files_are_served(client: TestClient) -> None:
    for name, kind in (("htmx.min.js", "javascript"), ("dashboard.css", "text/css")):
        answer = client.get(f"/dashboard/static/{name}")
        assert answer.status_code == 200
        assert kind in answer.headers["content-type"]
        assert answer.content == (STATIC / name).read_bytes()


def test_over_https_the_cookies_are_secure(app: FastAPI, tenant: Tenant) -> None:
    with TestClient(app, base_url="https://127.0.0.1") as client:
        form = client.get("/dashboard")
        (login_cookie,) = [
            v for k, v in form.headers.multi_items() if k == "set-cookie" and "login" in v
        ]
        assert "; Secure" in login_cookie
        answer = client.post(
            "/dashboard/login",
            data={"token": tenant.write_token, "csrf_token": csrf_of(form)},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        (session_cookie,) = [
            v
            for k, v in answer.headers.multi_items()
            if k == "set-cookie" and v.startswith("mailpolicy_session=")
        ]
        assert "; Secure" in session_cookie
        assert "; SameSite=Strict" in session_cookie
        assert client.get("/dashboard/block_senders").status_code == 200


def test_the_logout_page_asks_for_a_post(client: TestClient, tenant: Tenant) -> None:
    # Opened (a bookmark, a typed address), /dashboard/logout asks; it does not log out.
    assert client.get("/dashboard/logout", follow_redirects=False).headers["location"] == (
        "/dashboard"
    )
    login(client, tenant.write_token)
    asked = client.get("/dashboard/logout")
    assert asked.status_code == 200
    assert "<h1>Log out</h1>" in asked.text
    assert client.get("/dashboard/block_senders").status_code == 200
    answer = client.post(
        "/dashboard/logout", data={"csrf_token": csrf_of(asked)}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert client.get("/dashboard/block_senders", follow_redirects=False).status_code == 303
