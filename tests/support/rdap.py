"""A loopback RDAP server: real HTTP on 127.0.0.1, serving the RFC 9083 domain objects a test
publishes, for the registration-date lookups (mailpolicy.detect.rdap) and the mail-flow tests
that reach them.

    with serving_rdap() as rdap:
        rdap.publish("example.com", registered=dt.datetime(2026, 11, 30, tzinfo=dt.UTC))
        dates = RegistrationDates(rdap.base_url)        # GET /domain/example.com
        ...
        assert rdap.requests["example.com"] == 1

Every other domain is a 404 (an RDAP error object). A published domain can instead answer
slowly (``delay``), with another status (``status=500``), with a body of the test's own
(``body=b"not json"``, a huge one), gzip-compressed (``gzip``), without Content-Length and
closing the connection (``length=False``), or through redirects (``redirects=1``: first a 302
to ``/hop/1/domain/<name>``, the way rdap.org sends a query on to the registry's server; a
large number makes a redirect loop as far as any client is concerned). ``redirect_all`` does
the same for every domain, published or not.

The server speaks HTTP/1.1 with keep-alive, one thread per connection. Delays wake when the
server stops, so stopping never waits for a slow reply. ``requests`` counts the requests per
domain (every hop of a redirect counts), ``log`` keeps each request's path and Accept header.
"""

from __future__ import annotations

import datetime as dt
import gzip as gzip_module
import json
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PATH = re.compile(r"^(?:/hop/(\d+))?/domain/([^/?#]+)$")


def domain_object(
    name: str, registered: dt.datetime | None, events: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """An RFC 9083 domain object for `name`, with a registration event at `registered` (and
    `events`, if given, instead of the usual ones)."""
    if events is None:
        events = [{"eventAction": "last update of RDAP database", "eventDate": _rfc3339(None)}]
        if registered is not None:
            events.insert(0, {"eventAction": "registration", "eventDate": _rfc3339(registered)})
    return {
        "objectClassName": "domain",
        "rdapConformance": ["rdap_level_0"],
        "ldhName": name,
        "handle": f"{name.upper().replace('.', '_')}-TEST",
        "status": ["active"],
        "events": events,
    }


def _rfc3339(instant: dt.datetime | None) -> str:
    instant = (instant or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Reply:
    """How the server answers for one domain."""

    registered: dt.datetime | None = None
    events: list[dict[str, Any]] | None = None
    status: int = 200
    body: bytes | None = None  # instead of the domain object
    delay: float = 0.0  # seconds before the answer (the headers too)
    redirects: int = 0  # 302s before the answer
    gzip: bool = False  # Content-Encoding: gzip, whatever the client accepts
    length: bool = True  # False: no Content-Length, the connection closed after the body


@dataclass(frozen=True)
class Request:
    path: str
    domain: str
    accept: str


@dataclass
class RdapServer:
    """The server's state; start it with :func:`serving_rdap`."""

    host: str = "127.0.0.1"
    port: int = 0
    replies: dict[str, Reply] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    log: list[Request] = field(default_factory=list)
    redirect_all: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    connections: set[socket.socket] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def publish(
        self,
        domain: str,
        registered: dt.datetime | None = None,
        *,
        events: list[dict[str, Any]] | None = None,
        status: int = 200,
        body: bytes | None = None,
        delay: float = 0.0,
        redirects: int = 0,
        gzip: bool = False,
        length: bool = True,
    ) -> Reply:
        """Answers for `domain` (its A-label form, lower case) from now on (see Reply)."""
        reply = Reply(registered, events, status, body, delay, redirects, gzip, length)
        with self.lock:
            self.replies[domain.lower()] = reply
        return reply

    def withdraw(self, domain: str) -> None:
        """`domain` is a 404 again."""
        with self.lock:
            self.replies.pop(domain.lower(), None)

    def count(self, domain: str) -> int:
        """Requests received naming `domain`, redirect hops included."""
        with self.lock:
            return self.requests[domain.lower()]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.log.clear()

    def answer(self, path: str, accept: str) -> tuple[int, dict[str, str], bytes, Reply | None]:
        """(status, headers, body, reply) for a request to `path`."""
        found = _PATH.match(path)
        if found is None:
            return 400, {"Content-Type": "application/rdap+json"}, _error(400), None
        hop, domain = int(found.group(1) or 0), found.group(2).lower()
        with self.lock:
            self.requests[domain] += 1
            self.log.append(Request(path, domain, accept))
            reply = self.replies.get(domain)
        redirects = max(self.redirect_all, reply.redirects if reply else 0)
        if hop < redirects:
            location = f"/hop/{hop + 1}/domain/{domain}"
            return 302, {"Location": location, "Content-Length": "0"}, b"", reply
        if reply is None:
            return 404, {"Content-Type": "application/rdap+json"}, _error(404), None
        body = reply.body
        if body is None:
            body = json.dumps(domain_object(domain, reply.registered, reply.events)).encode()
        headers = {"Content-Type": "application/rdap+json"}
        if reply.gzip:
            body = gzip_module.compress(body)
            headers["Content-Encoding"] = "gzip"
        return reply.status, headers, body, reply


def _error(status: int) -> bytes:
    return json.dumps(
        {"errorCode": status, "title": "not found" if status == 404 else "bad"}
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        state = self.server.state
        status, headers, body, reply = state.answer(self.path, self.headers.get("Accept", ""))
        if reply is not None and reply.delay and status != 302:
            # Woken early when the server stops.
            state.stopping.wait(reply.delay)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 302 and (reply is None or reply.length):
            self.send_header("Content-Length", str(len(body)))
        elif status != 302:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def setup(self) -> None:
        super().setup()
        with self.server.state.lock:
            self.server.state.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.state.lock:
                self.server.state.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `requests` and `log` instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: RdapServer) -> None:
        self.state = state
        super().__init__((state.host, state.port), _Handler)


@contextmanager
def serving_rdap() -> Iterator[RdapServer]:
    """A started RDAP server on 127.0.0.1 and a free port, stopped on leaving."""
    state = RdapServer()
    server = _Server(state)
    state.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="rdap-server", daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        state.stopping.set()
        server.shutdown()
        # Kept-alive connections end now, not when their clients hang up.
        with state.lock:
            open_connections = list(state.connections)
        for connection in open_connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        thread.join(5)
