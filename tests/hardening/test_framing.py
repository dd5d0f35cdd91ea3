"""Requests whose framing is ambiguous or malformed: refused with a 400 envelope, the connection
closed, and nothing sent behind them on the same connection ever served."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from mailpolicy.errors import CODE_BAD_FRAMING
from tests.support.hardening import Server
from tests.support.wire import Conn, assert_envelope, exchange, request

SMUGGLED = "smuggled.example"


def _create(server: Server, pattern: str) -> bytes:
    """A pipelined request with a visible effect: it creates a blocked sender."""
    return request(
        "POST",
        server.url("block_senders"),
        headers={**server.auth, "Content-Type": "application/json"},
        json_body={"pattern": pattern, "pattern_type": "DOMAIN", "is_regex": False},
    )


def _entries(server: Server) -> int:
    response = exchange(
        server.port, request("GET", server.url("block_senders"), headers=server.auth)
    )
    assert response.status == 200, response
    count: int = response.json()["result_info"]["total_count"]
    return count


def _exists(server: Server, pattern: str) -> bool:
    response = exchange(
        server.port,
        request("GET", server.url("block_senders") + f"?pattern={pattern}", headers=server.auth),
    )
    assert response.status == 200, response
    return bool(response.json()["result"])


def _head(server: Server, *lines: str) -> bytes:
    """A POST to the API's block_senders, authenticated, with these header lines as given."""
    return "\r\n".join(
        [
            f"POST {server.url('block_senders')} HTTP/1.1",
            "Host: 127.0.0.1",
            f"Authorization: {server.auth['Authorization']}",
            "Content-Type: application/json",
            *lines,
            "",
            "",
        ]
    ).encode("latin-1")


BODY = json.dumps({"pattern": "front.example", "pattern_type": "DOMAIN", "is_regex": False})
CHUNKED_BODY = f"{len(BODY):x}\r\n{BODY}\r\n0\r\n\r\n"

# Each is the head (and body) of a request that two HTTP parsers could frame differently.
AMBIGUOUS = {
    "content-length-and-chunked": (
        ["Content-Length: 5", "Transfer-Encoding: chunked"],
        "0\r\n\r\n",
    ),
    # h11 reads the body as chunks, fails on it and answers 400 itself, while the guard is
    # about to refuse the same request: one answer only, and no error from the second.
    "content-length-and-chunked-unchunked-body": (
        [f"Content-Length: {len(BODY)}", "Transfer-Encoding: chunked"],
        BODY,
    ),
    "chunked-then-content-length": (
        ["Transfer-Encoding: chunked", f"Content-Length: {len(CHUNKED_BODY)}"],
        CHUNKED_BODY,
    ),
    "content-length-zero-and-chunked": (
        ["Content-Length: 0", "Transfer-Encoding: chunked"],
        CHUNKED_BODY,
    ),
    "two-content-lengths": ([f"Content-Length: {len(BODY)}", "Content-Length: 5"], BODY),
    "content-length-list": ([f"Content-Length: {len(BODY)}, 5"], BODY),
    "chunked-identity": (["Transfer-Encoding: chunked, identity"], CHUNKED_BODY),
    "identity-chunked": (["Transfer-Encoding: identity, chunked"], CHUNKED_BODY),
    "gzip-chunked": (["Transfer-Encoding: gzip, chunked"], CHUNKED_BODY),
    "unknown-coding": (["Transfer-Encoding: xchunked"], CHUNKED_BODY),
    "two-transfer-encodings": (
        ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
        CHUNKED_BODY,
    ),
    "folded-transfer-encoding": (
        ["Transfer-Encoding:", " chunked", f"Content-Length: {len(BODY)}"],
        BODY,
    ),
    "folded-content-length": (["Content-Length:", f" {len(BODY)}"], BODY),
    "folded-other-header": (["X-Note: first", "\tsecond", f"Content-Length: {len(BODY)}"], BODY),
    "space-before-colon": ([f"Content-Length : {len(BODY)}"], BODY),
}


def _failures(cases: dict[str, Callable[[], None]]) -> list[str]:
    """Run every case, each on its own connection; what failed, by name. (One server for them
    all keeps the suite fast; every case still reports on its own.)"""
    failed = []
    for name, case in cases.items():
        try:
            case()
        except (AssertionError, OSError) as exc:
            failed.append(f"{name}: {exc!r}"[:600])
    return failed


def test_ambiguous_framing_is_refused_and_nothing_behind_it_is_served(server: Server) -> None:
    def refused(n: int, lines: list[str], body: str) -> Callable[[], None]:
        def case() -> None:
            before = _entries(server)
            with Conn(server.port) as conn:
                conn.send(_head(server, *lines) + body.encode() + _create(server, f"s{n}.example"))
                assert_envelope(conn.response(), 400, CODE_BAD_FRAMING)
                assert conn.is_closed()
            # Neither the request nor the one behind it created anything.
            assert not _exists(server, f"s{n}.example")
            assert _entries(server) == before

        return case

    cases = {name: refused(n, *case) for n, (name, case) in enumerate(AMBIGUOUS.items())}
    failed = _failures(cases)
    assert not failed, "\n".join(failed)
    # The server is still serving.
    assert exchange(server.port, request("GET", "/healthz")).status == 200


def test_pipelined_request_behind_a_sound_one_is_served(server: Server) -> None:
    """The control for the test above: the same pipelined create does take effect behind a
    request framed one way only, so its absence there proves it was not served."""
    with Conn(server.port) as conn:
        conn.send(_head(server, f"Content-Length: {len(BODY)}") + BODY.encode())
        conn.send(_create(server, SMUGGLED))
        assert conn.response().status == 201
        assert conn.response().status == 201
    assert _exists(server, SMUGGLED)
    assert _exists(server, "front.example")


def test_chunked_body_is_read_when_framed_one_way(server: Server) -> None:
    with Conn(server.port) as conn:
        conn.send(_head(server, "Transfer-Encoding: chunked") + CHUNKED_BODY.encode())
        assert conn.response().status == 201
    assert _exists(server, "front.example")


MALFORMED = {
    "garbage-request-line": b"HELLO\r\n\r\n",
    "tls-handshake": bytes.fromhex("160301020001") + b"\x00" * 64 + b"\r\n\r\n",
    "no-http-version": b"GET /healthz\r\nHost: x\r\n\r\n",
    "space-in-target": b"GET /health z HTTP/1.1\r\nHost: x\r\n\r\n",
    "space-in-header-name": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX Bad: 1\r\n\r\n",
    "nul-in-value": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n",
    "bare-cr-in-value": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\rb\r\n\r\n",
    "continuation-first": b"GET /healthz HTTP/1.1\r\n folded: x\r\nHost: x\r\n\r\n",
    "content-length-word": b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "content-length-negative": b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "content-length-plus": b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd",
    "content-length-fraction": b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1.5\r\n\r\n",
    "content-length-hex": b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n",
    "content-length-40-digits": b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: "
    + b"9" * 40
    + b"\r\n\r\n",
    "header-over-16k-at-once": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
    + b"a" * (20 * 1024)
    + b"\r\n\r\n",
    "many-headers-over-16k": b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-H%d: %s\r\n" % (n, b"v" * 90) for n in range(200))
    + b"\r\n",
    "request-line-over-16k": b"GET /healthz?"
    + b"q" * (20 * 1024)
    + b" HTTP/1.1\r\nHost: x\r\n\r\n",
}


def test_malformed_requests_are_400_envelopes_and_close(server: Server) -> None:
    def refused(data: bytes) -> Callable[[], None]:
        def case() -> None:
            with Conn(server.port) as conn:
                conn.send(data)
                response = conn.response()
                assert_envelope(response, 400, CODE_BAD_FRAMING)
                assert response.headers.get("connection") == "close"
                assert conn.is_closed()
            assert exchange(server.port, request("GET", "/healthz")).status == 200

        return case

    failed = _failures({name: refused(data) for name, data in MALFORMED.items()})
    assert not failed, "\n".join(failed)


def test_header_over_16k_trickled_is_refused(server: Server) -> None:
    """Headers arriving in pieces are held to the same limit as headers arriving at once."""
    with Conn(server.port) as conn:
        conn.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        for n in range(40):
            try:
                conn.send(b"X-Part-%d: %s\r\n" % (n, b"p" * 1000))
            except (BrokenPipeError, ConnectionResetError):
                break  # refused before the client finished: what this test wants
        assert_envelope(conn.response(), 400)
        assert conn.is_closed()


@pytest.mark.parametrize(("size", "status"), [(16 * 1024, 200), (16 * 1024 + 1, 400)])
def test_head_limit_is_16k_exactly(server: Server, size: int, status: int) -> None:
    """Request line, headers and the blank line after them: 16 KiB at most."""
    padding = size - len(request("GET", "/healthz", headers={"X-Padding": ""}))
    data = request("GET", "/healthz", headers={"X-Padding": "p" * padding})
    assert len(data) == size
    assert exchange(server.port, data).status == status


def test_bad_chunk_in_a_body_being_read_is_a_400(server: Server) -> None:
    with Conn(server.port) as conn:
        conn.send(_head(server, "Transfer-Encoding: chunked") + b"zz\r\nabc\r\n0\r\n\r\n")
        assert_envelope(conn.response(), 400, CODE_BAD_FRAMING)
        assert conn.is_closed()
    assert not _exists(server, "front.example")


def test_enormous_content_length_is_too_large(server: Server) -> None:
    """Eighteen digits are a well-formed length, and far over the limit: a 413, unread."""
    with Conn(server.port) as conn:
        conn.send(_head(server, "Content-Length: " + "9" * 18))
        assert_envelope(conn.response(), 413)
        assert conn.is_closed()
