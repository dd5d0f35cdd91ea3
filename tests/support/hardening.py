"""The guarded server as the hardening tests see it: the short deadlines its settings are given
(`HEADER_TIMEOUT`, `KEEPALIVE_TIMEOUT`, `BODY_TIMEOUT`), and the `Server` a test opens sockets
to, which the `server` fixture of tests/hardening/conftest.py hands out.

HTTP spoken by hand over those sockets is in tests/support/wire.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.api import LiveServer, Tenant

# Seconds. Small, so a test sees a deadline fire; the assertions allow ten times as long.
HEADER_TIMEOUT = 1.0
KEEPALIVE_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0


@dataclass(frozen=True)
class Server:
    """The live server, the port to open sockets to, and an account with a Write token."""

    live: LiveServer
    port: int
    tenant: Tenant

    def url(self, resource: str, *parts: str) -> str:
        return self.tenant.url(resource, *parts)

    @property
    def auth(self) -> dict[str, str]:
        return self.tenant.write
