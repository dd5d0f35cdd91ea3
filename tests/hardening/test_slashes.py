"""A trailing slash changes nothing: the same answer as without it, and never a redirect built
from the client's Host header."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.api import Tenant, make_tenant
from tests.support.hardening import Server
from tests.support.wire import Conn, Response, request

HOSTILE_HOST = "attacker.example"
EMPTY_BATCH: dict[str, list[object]] = {"deletes": [], "patches": [], "puts": [], "posts": []}
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def _send(
    server: Server, method: str, target: str, headers: dict[str, str], body: Any = None
) -> Response:
    with Conn(server.port) as conn:
        conn.send(
            request(
                method,
                target,
                host=HOSTILE_HOST,
                headers={**headers, "Content-Type": "application/json"},
                json_body=body,
            )
        )
        response = conn.response()
    assert not 300 <= response.status < 400, response
    assert "location" not in response.headers, response
    assert HOSTILE_HOST.encode() not in response.raw_head + response.body, response
    return response


def _conversation(server: Server, tenant: Tenant, slash: str) -> list[tuple[int, str]]:
    """Every method on the collection and on one entry, with `slash` after each path; the
    answers with the tenant's ids and the timestamps replaced by placeholders."""
    auth = tenant.write
    collection = tenant.url("block_senders") + slash
    entry = {"pattern": "spam.example", "pattern_type": "DOMAIN", "is_regex": False}
    created = _send(server, "POST", collection, auth, entry)
    assert created.status == 201, created
    entry_id = created.json()["result"]["id"]
    item = tenant.url("block_senders", entry_id) + slash
    answers = [
        created,
        _send(server, "GET", collection, auth),
        _send(server, "GET", collection + "?pattern=spam.example", auth),
        _send(server, "GET", item, auth),
        _send(server, "PATCH", item, auth, {"comments": "seen in a campaign"}),
        _send(server, "POST", collection, auth, entry),  # identical: a conflict
        _send(server, "POST", collection, auth, {"pattern": ""}),  # invalid: a 400
        _send(server, "PUT", collection, auth, entry),  # no such operation: a 405
        _send(server, "GET", collection, {}),  # no credentials: a 401
        _send(server, "DELETE", item, {}),
        _send(server, "POST", tenant.url("block_senders", "batch") + slash, auth, EMPTY_BATCH),
        _send(server, "DELETE", item, auth),
        _send(server, "GET", item, auth),  # gone: a 404
        _send(server, "PATCH", item, auth, {"comments": "too late"}),
        _send(server, "DELETE", item, auth),
        _send(server, "GET", "/healthz" + slash, {}),
        _send(server, "GET", "/client/v4/nowhere" + slash, {}),  # no route: a 404
    ]

    def masked(response: Response) -> tuple[int, str]:
        text = response.body.decode().replace(tenant.id, "<account>").replace(entry_id, "<id>")
        text = TIMESTAMP.sub("<time>", text)
        allow = response.headers.get("allow", "")
        return response.status, f"{text} allow={allow}"

    return [masked(answer) for answer in answers]


@pytest.mark.parametrize("slash", ["/", "//"])
def test_trailing_slash_gives_the_same_answers(server: Server, slash: str) -> None:
    plain = _conversation(server, server.tenant, "")
    other = make_tenant(server.live.app.state.db, "slashes")
    slashed = _conversation(server, other, slash)
    assert [status for status, _ in plain] == [
        201, 200, 200, 200, 200, 409, 400, 405, 401, 401, 200, 200, 404, 404, 404, 200, 404
    ]  # fmt: skip
    for (status, text), (slashed_status, slashed_text) in zip(plain, slashed, strict=True):
        assert slashed_status == status
        assert json.loads(slashed_text.rpartition(" allow=")[0]) == json.loads(
            text.rpartition(" allow=")[0]
        )
        assert slashed_text == text
