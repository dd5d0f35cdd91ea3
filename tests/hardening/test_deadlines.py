"""Connections that send too little, too slowly, or read nothing are closed by the server, within
generous bounds: the assertions allow ten times each deadline, so they never race it."""

from __future__ import annotations

import contextlib
import socket
import time

from mailpolicy.errors import CODE_TIMEOUT
from tests.support.hardening import BODY_TIMEOUT, HEADER_TIMEOUT, KEEPALIVE_TIMEOUT, Server
from tests.support.wire import Conn, assert_envelope, exchange, request, wait_readable


def test_silent_connection_is_closed(server: Server) -> None:
    with Conn(server.port) as conn:
        assert conn.closed_within(10 * HEADER_TIMEOUT) is not None
        assert conn.buffer == b""


def test_trickled_headers_are_closed_at_the_header_deadline(server: Server) -> None:
    """Each byte arrives well within the deadline; the headers as a whole never do. (A byte
    every quarter second: faster than any per-read idle timer would allow for.)"""
    head = request("GET", "/healthz", headers={"User-Agent": "trickle " * 20})
    with Conn(server.port) as conn:
        started = time.monotonic()
        closed = False
        for byte in head[:-2]:  # never the final CRLF: the headers never complete
            try:
                conn.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if conn.closed_within(0.25) is not None:
                closed = True
                break
            assert time.monotonic() - started < 10 * HEADER_TIMEOUT, "still open"
        assert closed
        assert conn.buffer == b""  # closed without an answer: nothing was asked


def test_idle_keepalive_connection_is_closed(server: Server) -> None:
    with Conn(server.port) as conn:
        conn.send(request("GET", "/healthz"))
        response = conn.response()
        assert response.status == 200
        assert response.headers.get("connection") != "close"
        assert conn.closed_within(10 * KEEPALIVE_TIMEOUT) is not None
        assert conn.buffer == b""


def test_keepalive_connection_trickling_its_next_request_is_closed(server: Server) -> None:
    with Conn(server.port) as conn:
        conn.send(request("GET", "/healthz"))
        assert conn.response().status == 200
        started = time.monotonic()
        closed = False
        for byte in request("GET", "/healthz", headers={"X-Slow": "s" * 200})[:-2]:
            try:
                conn.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if conn.closed_within(0.25) is not None:
                closed = True
                break
            assert time.monotonic() - started < 10 * HEADER_TIMEOUT, "still open"
        assert closed
        assert conn.buffer == b""


def _slow_body(server: Server, *, chunked: bool, trickle: bool) -> None:
    framing = "Transfer-Encoding: chunked" if chunked else "Content-Length: 100"
    head = (
        f"POST {server.url('block_senders')} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {server.auth['Authorization']}\r\n{framing}\r\n\r\n"
    ).encode()
    with Conn(server.port) as conn:
        conn.send(head + (b"a\r\n0123456789\r\n" if chunked else b'{"pat'))
        if trickle:
            # A byte at a time, each in time, the body as a whole late.
            for _ in range(int(40 * BODY_TIMEOUT)):
                try:
                    conn.send(b"1\r\n \r\n" if chunked else b" ")
                except (BrokenPipeError, ConnectionResetError):
                    break
                if conn.buffer or conn.closed_within(0.25) is not None:
                    break
        response = conn.response(10 * BODY_TIMEOUT)
        assert_envelope(response, 408, CODE_TIMEOUT)
        assert response.headers.get("connection") == "close"
        assert conn.is_closed()


def test_stalled_body_is_a_408_and_closes(server: Server) -> None:
    _slow_body(server, chunked=False, trickle=False)


def test_stalled_chunked_body_is_a_408_and_closes(server: Server) -> None:
    _slow_body(server, chunked=True, trickle=False)


def test_trickled_body_is_a_408_and_closes(server: Server) -> None:
    _slow_body(server, chunked=False, trickle=True)


def test_trickled_chunked_body_is_a_408_and_closes(server: Server) -> None:
    _slow_body(server, chunked=True, trickle=True)


def test_many_idle_connections_are_all_closed_and_the_server_still_answers(
    server: Server,
) -> None:
    with contextlib.ExitStack() as stack:
        connections = [stack.enter_context(Conn(server.port)) for _ in range(500)]
        waiting = {conn.sock: conn for conn in connections}
        deadline = time.monotonic() + 10 * HEADER_TIMEOUT
        while waiting and time.monotonic() < deadline:
            for sock in wait_readable(list(waiting), 0.5):
                try:
                    data = sock.recv(4096)
                except ConnectionResetError:
                    data = b""
                assert data == b"", data  # nothing was asked, so nothing is answered
                del waiting[sock]
        assert not waiting, f"{len(waiting)} of 500 connections still open"
    assert exchange(server.port, request("GET", "/healthz")).status == 200


def test_client_that_never_reads_its_responses_is_dropped(server: Server) -> None:
    """Pipelined requests whose answers the client never reads: the server gives up on the
    connection instead of holding it (and the answers) forever."""
    asks = 200
    with Conn(server.port, rcvbuf=4096) as conn:
        conn.send(request("GET", "/client/v4/openapi.json") * asks)
        time.sleep(3 * BODY_TIMEOUT)
        received = bytearray()
        conn.sock.settimeout(10 * KEEPALIVE_TIMEOUT)
        try:
            while chunk := conn.sock.recv(1 << 20):
                received += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        assert received.count(b"HTTP/1.1 200 OK") < asks


def test_the_header_deadline_does_not_cut_a_request_being_served(server: Server) -> None:
    """A body that arrives in time, after most of the header deadline has passed, is served:
    the header deadline stops at the end of the headers."""
    body = b'{"pattern": "late.example", "pattern_type": "DOMAIN", "is_regex": false}'
    head = (
        f"POST {server.url('block_senders')} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {server.auth['Authorization']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with Conn(server.port) as conn:
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        time.sleep(HEADER_TIMEOUT * 0.5)
        conn.send(head)
        time.sleep(BODY_TIMEOUT * 0.7)
        conn.send(body)
        assert conn.response().status == 201
