"""A real authoritative DNS server on loopback, serving zones the tests write (dnslib).

It answers over UDP and TCP like any authoritative server: the records it holds, NOERROR with no
records for a name that exists without the type asked, NXDOMAIN for a name it does not hold.
A test can make a name answer SERVFAIL, or make a whole server silent (a resolver that never
answers), to stand for a DNS that cannot be asked.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer

_QUIET = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)


def _key(name: object) -> str:
    return str(name).rstrip(".").lower()


class Zones(BaseResolver):  # type: ignore[misc]
    """The records served, replaced as tests publish and withdraw them."""

    def __init__(self) -> None:
        self._records: dict[str, list[Any]] = {}
        self._failing: set[str] = set()
        self._lock = threading.Lock()
        self.questions: list[tuple[str, str]] = []

    def publish(self, zone: str) -> None:
        """Add the records of `zone` (master-file text) to what is served."""
        records = RR.fromZone(zone)
        with self._lock:
            for record in records:
                self._records.setdefault(_key(record.rname), []).append(record)

    def withdraw(self, name: str, rtype: str | None = None) -> None:
        with self._lock:
            kept = [
                r
                for r in self._records.get(name.lower(), [])
                if rtype is not None and QTYPE[r.rtype] != rtype
            ]
            if kept:
                self._records[name.lower()] = kept
            else:
                self._records.pop(name.lower(), None)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._failing.clear()
            self.questions.clear()

    def fail(self, name: str) -> None:
        """Questions about `name` get SERVFAIL from now on."""
        with self._lock:
            self._failing.add(name.lower())

    def resolve(self, request: Any, _handler: Any) -> Any:
        reply = request.reply()
        reply.header.aa = 1
        name, qtype = _key(request.q.qname), QTYPE[request.q.qtype]
        with self._lock:
            self.questions.append((name, qtype))
            if name in self._failing:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            records = list(self._records.get(name, ()))
        if not records:
            reply.header.rcode = RCODE.NXDOMAIN
        for record in records:
            if QTYPE[record.rtype] == qtype or QTYPE[record.rtype] == "CNAME":
                reply.add_answer(record)
        return reply


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


@contextmanager
def authority() -> Iterator[tuple[Zones, int]]:
    """An authoritative server on 127.0.0.1 (UDP and TCP); its zones and port."""
    zones = Zones()
    port = _free_port()
    servers = [
        DNSServer(zones, address="127.0.0.1", port=port, tcp=tcp, logger=_QUIET)
        for tcp in (False, True)
    ]
    for server in servers:
        server.start_thread()
    try:
        yield zones, port
    finally:
        for server in servers:
            server.stop()
            server.server.server_close()


@contextmanager
def silent_resolver() -> Iterator[int]:
    """A UDP port on 127.0.0.1 that takes questions and never answers them."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
