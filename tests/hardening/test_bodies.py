"""Request bodies: the limit (MAILPOLICY_MAX_BODY_BYTES, 1 MiB by default) admits real work and
refuses more, exactly at the limit; credentials are checked before a body is read; and no body
is read (or held) for a request that no authenticated operation serves."""

from __future__ import annotations

import contextlib
import json

import pytest

from mailpolicy.config import Settings
from mailpolicy.errors import CODE_AUTH, CODE_TOO_LARGE
from tests.support.hardening import Server
from tests.support.wire import Conn, assert_envelope, exchange, request

LIMIT = Settings.model_fields["max_body_bytes"].default


def _allow_policy(n: int, comments: str = "") -> dict[str, object]:
    return {
        "pattern": f"newsletter{n}@partner{n % 97}.example",
        "pattern_type": "EMAIL",
        "is_regex": False,
        "is_trusted_sender": False,
        "is_acceptable_sender": True,
        "is_exempt_recipient": False,
        "verify_sender": True,
        "comments": comments or f"Partner newsletter {n}; approved by the mail team (MAIL-{n})",
    }


def test_a_thousand_entry_batch_fits_under_the_default_limit(server: Server) -> None:
    body = json.dumps(
        {"deletes": [], "patches": [], "puts": [], "posts": [_allow_policy(n) for n in range(1000)]}
    ).encode()
    assert len(body) < LIMIT
    # Headroom: comments of 800 characters each (1024 at most) would still fit.
    long = [_allow_policy(n, "c" * 800) for n in range(1000)]
    assert len(json.dumps({"deletes": [], "patches": [], "puts": [], "posts": long})) < LIMIT
    response = exchange(
        server.port,
        request(
            "POST",
            server.url("allow_policies", "batch"),
            headers={**server.auth, "Content-Type": "application/json"},
            body=body,
        ),
    )
    assert response.status == 200, response
    assert len(response.json()["result"]["posts"]) == 1000
    listed = exchange(
        server.port,
        request("GET", server.url("allow_policies") + "?per_page=1", headers=server.auth),
    )
    assert listed.json()["result_info"]["total_count"] == 1000


def _padded_create(size: int) -> bytes:
    """A valid create body padded with JSON whitespace to exactly `size` bytes."""
    body = json.dumps({"pattern": "padded.example", "pattern_type": "DOMAIN", "is_regex": False})
    return (body + " " * (size - len(body))).encode()


def _chunked(body: bytes, piece: int = 60_000) -> bytes:
    chunks = [body[i : i + piece] for i in range(0, len(body), piece)]
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_the_limit_is_read(server: Server, chunked: bool) -> None:
    body = _padded_create(LIMIT)
    url = server.url("block_senders")
    headers = {**server.auth, "Content-Type": "application/json"}
    if chunked:
        data = request("POST", url, headers={**headers, "Transfer-Encoding": "chunked"})
        data += _chunked(body)
    else:
        data = request("POST", url, headers=headers, body=body)
    assert exchange(server.port, data).status == 201


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_one_byte_over_the_limit_is_refused(server: Server, chunked: bool) -> None:
    body = _padded_create(LIMIT + 1)
    url = server.url("block_senders")
    if chunked:
        data = request("POST", url, headers={**server.auth, "Transfer-Encoding": "chunked"})
        data += _chunked(body)
    else:
        data = request("POST", url, headers=server.auth, body=body)
    with Conn(server.port) as conn:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.send(data)  # may be refused before the client finishes sending
        response = conn.response()
        assert_envelope(response, 413, CODE_TOO_LARGE)
        assert response.headers.get("connection") == "close"
        assert conn.is_closed()
    listed = exchange(server.port, request("GET", server.url("block_senders"), headers=server.auth))
    assert listed.json()["result"] == []


def _headers_only(server: Server, target: str, headers: dict[str, str]) -> Conn:
    """A connection that has sent a request's headers, declaring a body it never sends."""
    conn = Conn(server.port)
    head = {**headers, "Content-Type": "application/json", "Content-Length": str(LIMIT // 2)}
    conn.send(request("POST", target, headers=head))
    return conn


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({}, id="none"),
        pytest.param({"Authorization": "Bearer not-a-real-token"}, id="unknown-token"),
        pytest.param({"X-Auth-Email": "a@b.example", "X-Auth-Key": "nope"}, id="unknown-key"),
    ],
)
def test_credentials_are_refused_before_the_body_is_read(
    server: Server, credentials: dict[str, str]
) -> None:
    """Answered while the body has not been sent: the server did not wait for it."""
    with _headers_only(server, server.url("block_senders"), credentials) as conn:
        response = conn.response()
        assert_envelope(response, 401, CODE_AUTH)
        assert response.headers.get("connection") == "close"
        assert conn.is_closed()


@pytest.mark.parametrize("expect", [False, True], ids=["plain", "expect-100-continue"])
def test_declared_length_over_the_limit_is_refused_before_the_body(
    server: Server, expect: bool
) -> None:
    """A 413 at once; a client that asked whether to send the body is told not to (no 100)."""
    with Conn(server.port) as conn:
        headers = {**server.auth, "Content-Length": str(100 << 20)}
        if expect:
            headers["Expect"] = "100-continue"
        conn.send(request("POST", server.url("block_senders"), headers=headers))
        assert_envelope(conn.response(), 413, CODE_TOO_LARGE)
        assert conn.is_closed()


@pytest.mark.parametrize(
    ("target", "status"),
    [
        pytest.param("/healthz", 405, id="public-route"),
        pytest.param("/client/v4/openapi.json", 405, id="api-document"),
        pytest.param("/client/v4/nowhere", 404, id="no-route"),
        pytest.param(
            "/client/v4/accounts/{account}/email-security/settings/block_senders/{id}",
            405,
            id="wrong-method",
        ),
    ],
)
def test_no_body_is_read_where_no_operation_takes_one(
    server: Server, target: str, status: int
) -> None:
    """Anyone may send a body to any path; it is only read for an authenticated operation.
    Elsewhere the answer comes at once and the connection closes, the body unread."""
    url = target.format(account=server.tenant.id, id="3f0c2a7e5b1d4c8e9f6a0d2b4e6f8a10")
    with _headers_only(server, url, {}) as conn:
        response = conn.response()
        assert_envelope(response, status)
        assert response.headers.get("connection") == "close"
        assert conn.is_closed()
