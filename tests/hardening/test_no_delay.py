"""Answers leave at once on every connection, whatever socket accepted it.

asyncio sets TCP_NODELAY only on sockets opened as TCP by protocol number. A listening socket
opened without one (as uvicorn's shared socket for several workers was) leaves it off, and
each answer's last segment waited for the client's delayed acknowledgement (40 ms): two
workers served a tenth of what one did. The protocol sets it on every connection.
"""

from __future__ import annotations

import asyncio
import socket

from mailpolicy.api.server import _no_delay


def _delays(sock: socket.socket) -> bool:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0


def test_connections_on_a_shared_socket_send_without_delay() -> None:
    async def accept_one() -> tuple[bool, bool]:
        # As uvicorn's Config.bind_socket opens it for --workers: no protocol number.
        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        client = socket.create_connection(listening.getsockname())
        accepted, _ = listening.accept()
        loop = asyncio.get_running_loop()
        transport, _protocol = await loop.connect_accepted_socket(asyncio.Protocol, accepted)
        try:
            before = _delays(transport.get_extra_info("socket"))
            _no_delay(transport)
            after = _delays(transport.get_extra_info("socket"))
        finally:
            transport.close()
            client.close()
            listening.close()
        return before, after

    before, after = asyncio.run(accept_one())
    assert before, "asyncio now sets TCP_NODELAY itself here: this guard can go"
    assert not after
