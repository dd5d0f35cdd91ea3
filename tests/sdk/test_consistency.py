"""Read-your-writes over a real socket: once the SDK has a write's response, the write is
committed, so the very next request (or another client) sees it.

The in-process TestClient cannot show this: it waits for the whole ASGI call, including anything
the app does after sending the response. Over a socket the client moves on at once.
"""

from __future__ import annotations

from collections.abc import Callable

from cloudflare import Cloudflare
from sqlalchemy import text

from tests.support.api import LiveServer, Tenant
from tests.support.sdk import BLOCK_SENDER, TRUSTED_DOMAIN

ROUNDS = 30


def test_an_edit_is_visible_to_the_next_request(
    sdk: Cloudflare, make_sdk: Callable[..., Cloudflare], tenant: Tenant
) -> None:
    reader = make_sdk(api_token=tenant.read_token).email_security.settings.trusted_domains
    domains = sdk.email_security.settings.trusted_domains
    created = domains.create(account_id=tenant.id, **TRUSTED_DOMAIN)
    stale = []
    for round_ in range(ROUNDS):
        comment = f"round {round_}"
        edited = domains.edit(created.id, account_id=tenant.id, comments=comment)
        assert edited.comments == comment
        seen = reader.get(created.id, account_id=tenant.id).comments
        if seen != comment:
            stale.append((comment, seen))
    assert stale == []


def test_a_created_entry_is_committed_when_its_response_arrives(
    sdk: Cloudflare, live_server: LiveServer, tenant: Tenant
) -> None:
    senders = sdk.email_security.settings.block_senders
    missing = []
    for n in range(ROUNDS):
        created = senders.create(
            account_id=tenant.id, **{**BLOCK_SENDER, "pattern": f"s{n}.example.net"}
        )
        with live_server.app.state.db.engine.connect() as conn:
            found = conn.execute(
                text("SELECT count(*) FROM block_senders WHERE id = :id"), {"id": created.id}
            ).scalar_one()
        if found != 1:
            missing.append(created.id)
    assert missing == []


def test_a_delete_is_visible_to_the_next_request(sdk: Cloudflare, tenant: Tenant) -> None:
    senders = sdk.email_security.settings.block_senders
    created = [
        senders.create(account_id=tenant.id, **{**BLOCK_SENDER, "pattern": f"s{n}.example.net"})
        for n in range(ROUNDS)
    ]
    still_listed = 0
    for entry in created:
        senders.delete(entry.id, account_id=tenant.id)
        listed = {e.id for e in senders.list(account_id=tenant.id, per_page=1000).result}
        still_listed += entry.id in listed
    assert still_listed == 0
