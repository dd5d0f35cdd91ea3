"""The HTTP server: uvicorn, with deadlines for connections that send nothing useful.

uvicorn closes a keep-alive connection that stays silent, but not one that trickles its
request headers a byte at a time: such a connection would hold a file descriptor forever.
Here every connection must complete its next request's headers within `header_timeout`
seconds of opening or of its previous response; the body then has its own deadline
(mailpolicy.guard). A request the HTTP parser refuses is answered in the v4 envelope.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from mailpolicy.config import Settings
from mailpolicy.errors import CODE_BAD_FRAMING, ErrorItem, failure_body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline on request headers."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _header_timed_out(self) -> None:
        self._header_deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being served; its body has a deadline of its own
        if not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        body = json.dumps(
            failure_body([ErrorItem(CODE_BAD_FRAMING, f"Malformed HTTP request: {msg}")])
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"connection", b"close"),
            (b"x-should-retry", b"false"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


def protocol_for(settings: Settings) -> type[GuardedH11Protocol]:
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout": settings.header_timeout},
    )


def server_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration `mailpolicy serve` runs with (tests use it too)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "http": protocol_for(settings),
        "timeout_keep_alive": settings.keepalive_timeout,
        # Request line plus headers: 16 KiB, as h11's default; larger is a 400.
        "h11_max_incomplete_event_size": 16 * 1024,
        "server_header": False,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)
