"""The HTTP server: uvicorn, with deadlines for connections that send (or take) nothing useful.

uvicorn closes a keep-alive connection that stays silent, but not one that trickles its
request headers a byte at a time, nor one that stops reading its responses: either would hold
a file descriptor (and, for the second, the unsent responses) forever. Here every connection
must complete its next request's headers within `header_timeout` seconds of opening or of its
previous response; the body then has its own deadline (mailpolicy.api.guard); and a client that
takes none of a response for `send_timeout` seconds is dropped.

h11, uvicorn's parser, measures a request's head only while it is incomplete, so a head over
the limit that arrives in one read went through; and it joins folded header lines (obs-fold),
which a proxy in front of mailpolicy may read differently (RFC 9112 section 5.2 lets a server
refuse them). Both are refused here. A request the parser refuses is answered in the v4
envelope, saying why.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import resource
import signal
import socket
import sys
import threading
from multiprocessing.context import SpawnProcess
from typing import Any

import h11
import uvicorn
from uvicorn._subprocess import get_subprocess
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.h11_impl import H11Protocol

from mailpolicy.api.errors import render
from mailpolicy.config import Settings
from mailpolicy.errors import CODE_BAD_FRAMING, ErrorItem

# Request line plus headers, up to and including the blank line after them: 16 KiB, as h11's
# default. Larger is a 400.
HEAD_LIMIT = 16 * 1024
# uvicorn's own logger: the supervisor's lines sit with the workers' in the same log.
log = logging.getLogger("uvicorn.error")

_END_OF_HEAD = re.compile(rb"\n\r?\n")  # as h11 finds it: bare LF line endings are accepted
_FOLDED_LINE = re.compile(rb"\n[ \t]")


class StrictConnection(h11.Connection):
    """h11's server side, refusing what h11 lets through (see above), and keeping the reason
    for the last refusal so the answer can give it."""

    refusal = ""

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        try:
            if self.their_state is h11.IDLE:
                self._check_head()
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refusal = str(exc)
            raise

    def _check_head(self) -> None:
        pending, _ = self.trailing_data  # the next request, from its first byte
        end = _END_OF_HEAD.search(pending, 0, HEAD_LIMIT)
        if end is None:
            if len(pending) >= HEAD_LIMIT:
                raise h11.RemoteProtocolError(
                    f"the request line and headers exceed {HEAD_LIMIT:,} bytes"
                )
            return  # incomplete, and within the limit so far
        if _FOLDED_LINE.search(pending, 0, end.start()):
            raise h11.RemoteProtocolError("a header line is folded (obs-fold)")


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a strict parser and deadlines on headers and sends."""

    header_timeout: float = 10.0
    send_timeout: float = 30.0

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        # The deadlines travel with the configuration, which worker processes receive pickled.
        self.header_timeout = getattr(config, "header_timeout", self.header_timeout)
        self.send_timeout = getattr(config, "send_timeout", self.send_timeout)
        self.parser = StrictConnection(h11.SERVER, HEAD_LIMIT)
        self.conn = self.parser
        self._header_deadline: asyncio.TimerHandle | None = None
        self._send_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvicorn annotates a Transport; asyncio hands every protocol a BaseTransport.
        super().connection_made(transport)  # type: ignore[arg-type]
        _no_delay(transport)
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Armed on a closing connection too: if its client never takes the last response, the
        # deadline drops it rather than wait for that forever.
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        self._disarm_send_deadline()
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
        if self.transport.get_write_buffer_size():
            self.transport.abort()  # its client has not even taken the last response
        else:
            self.transport.close()

    # asyncio calls these when the transport's unsent bytes pass its high-water mark, and when
    # they fall back under the low one: the client stopped reading, then read again.
    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_deadline is None:
            self._send_deadline = self.loop.call_later(self.send_timeout, self.transport.abort)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._disarm_send_deadline()

    def _disarm_send_deadline(self) -> None:
        if self._send_deadline is not None:
            self._send_deadline.cancel()
            self._send_deadline = None

    def send_400_response(self, msg: str) -> None:
        # uvicorn's `msg` is the same for every refusal; the parser's reason says what was wrong.
        reason = self.parser.refusal or msg
        if self.cycle is not None and not self.cycle.response_complete:
            # The request being served (its body was malformed) is answered here, so whatever
            # its handler would send is dropped: as if the client had gone.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if self.conn.our_state in {h11.IDLE, h11.SEND_RESPONSE}:
            item = ErrorItem(CODE_BAD_FRAMING, f"Malformed HTTP request: {reason[:200]}", "")
            response = render(400, [item], {"connection": "close"})
            for event in (
                h11.Response(status_code=400, headers=response.raw_headers, reason=b"Bad Request"),
                h11.Data(data=bytes(response.body)),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


def _no_delay(transport: asyncio.BaseTransport) -> None:
    """Send each answer at once (TCP_NODELAY). asyncio sets it only on sockets opened as TCP by
    protocol number; on a connection from a listening socket opened without one, each
    answer's last segment would wait for the client to acknowledge the one before: 40 ms of
    delayed acknowledgement per request."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration, carrying the deadlines GuardedH11Protocol enforces."""

    def __init__(self, app: Any, *, header_timeout: float, send_timeout: float, **options: Any):
        super().__init__(app, **options)
        self.header_timeout = header_timeout
        self.send_timeout = send_timeout


def server_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration `mailpolicy serve` runs with (tests use it too).

    `app` is the application, or with `factory=True` and `workers=N` an import string naming a
    function that makes it (each worker process makes its own).
    """
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "http": GuardedH11Protocol,
        # Only the protocol above may speak on a connection: no upgrade to WebSocket, whatever
        # happens to be installed, since that would leave the deadlines behind.
        "ws": "none",
        "timeout_keep_alive": settings.keepalive_timeout,
        "server_header": False,
    }
    options.update(overrides)
    return ServerConfig(
        app,
        header_timeout=settings.header_timeout,
        # As long to take a response as to send a body: both are a client moving bytes.
        send_timeout=settings.body_timeout,
        **options,
    )


def serve(config: uvicorn.Config) -> None:
    """Run the server: in this process, or in `config.workers` worker processes."""
    if config.workers > 1:
        Workers(config).run()
    else:
        uvicorn.Server(config).run()


def _run_worker(config: uvicorn.Config, sockets: list[socket.socket]) -> None:
    uvicorn.Server(config).run(sockets=sockets)


class Workers:
    """`serve --workers N`: N processes on one port, each with a listening socket of its own.

    The sockets share the port (SO_REUSEPORT), so the kernel spreads new connections over the
    workers. One socket shared by every worker would not: the first worker to wake accepts
    every connection waiting, and a client that opens its connections at once (a load
    balancer's pool, a benchmark) would have one worker serve them all. The sockets are bound
    here, before any worker starts, so a port in use is an error at once; a worker that dies
    is replaced on its own socket, so no socket is ever left without a worker.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        self.config = config
        self.stop = threading.Event()

    def run(self) -> None:
        sockets = [self._bind() for _ in range(self.config.workers)]
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stop.set())
        log.info("Started parent process [%d] with %d workers", os.getpid(), len(sockets))
        workers = [self._start(sock) for sock in sockets]
        failed = False
        try:
            while not self.stop.wait(0.5):
                for slot, worker in enumerate(workers):
                    if worker.is_alive():
                        continue
                    if worker.exitcode == STARTUP_FAILURE:
                        log.error("Worker [%d] could not start; stopping.", worker.pid)
                        failed = True
                        self.stop.set()
                        break
                    log.warning(
                        "Worker [%d] died (exit code %s); replacing it", worker.pid, worker.exitcode
                    )
                    workers[slot] = self._start(sockets[slot])
        finally:
            for worker in workers:
                if worker.is_alive():
                    worker.terminate()
            for worker in workers:
                worker.join(self.config.timeout_graceful_shutdown or 30)
                if worker.is_alive():
                    worker.kill()
                    worker.join()
            for sock in sockets:
                sock.close()
            log.info("Stopping parent process [%d]", os.getpid())
        if failed:
            sys.exit(STARTUP_FAILURE)

    def _bind(self) -> socket.socket:
        host = self.config.host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((host, self.config.port))
        except OSError as exc:
            sock.close()
            log.error("%s", exc)
            sys.exit(STARTUP_FAILURE)
        sock.listen(self.config.backlog)
        sock.set_inheritable(True)
        return sock

    def _start(self, sock: socket.socket) -> SpawnProcess:
        worker = get_subprocess(self.config, functools.partial(_run_worker, self.config), [sock])
        worker.start()
        return worker


def raise_file_limit() -> int:
    """Lift the soft limit on open files to the hard one, and return it.

    Each connection holds a descriptor until the deadlines above free it; a soft limit of
    1,024, common on Linux, would let a burst of half-open connections use them all up.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65_536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            return soft
        return wanted
    return soft
