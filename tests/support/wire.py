"""HTTP/1.1 spoken by hand over real sockets, so a test controls every byte a client sends and
sees every byte (and the close) the server answers with."""

from __future__ import annotations

import json
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Any

# What a read waits for before a test calls the server silent. Generous: a failing test waits
# this long, a passing one never does.
PATIENCE = 10.0


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lowercase names; a repeated header keeps its last value
    body: bytes
    raw_head: bytes = field(repr=False)

    def json(self) -> Any:
        return json.loads(self.body)


class Conn:
    """One client connection to 127.0.0.1:port; a context manager that always closes it."""

    def __init__(self, port: int, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(PATIENCE)
        try:
            self.sock.connect(("127.0.0.1", port))
        except OSError:
            self.sock.close()
            raise
        self.buffer = b""

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, timeout: float) -> bool:
        """Read what arrives within `timeout`; False once the server has closed (EOF or reset)."""
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            return False
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def _until(self, marker: bytes, deadline: float) -> bytes:
        """Everything up to and including `marker`, taken from the buffer."""
        while marker not in self.buffer:
            if not self._fill(max(0.01, deadline - time.monotonic())):
                raise AssertionError(f"connection closed mid-response; got {self.buffer!r}")
        found, _, self.buffer = self.buffer.partition(marker)
        return found + marker

    def _exactly(self, count: int, deadline: float) -> bytes:
        while len(self.buffer) < count:
            if not self._fill(max(0.01, deadline - time.monotonic())):
                raise AssertionError(f"connection closed mid-body; got {self.buffer!r}")
        found, self.buffer = self.buffer[:count], self.buffer[count:]
        return found

    def response(self, timeout: float = PATIENCE) -> Response:
        """The next response on this connection; fails if none arrives within `timeout`."""
        deadline = time.monotonic() + timeout
        head = self._until(b"\r\n\r\n", deadline)[:-4]
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = self._exactly(int(headers["content-length"]), deadline)
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(self._until(b"\r\n", deadline)[:-2], 16):
                body += self._exactly(size + 2, deadline)[:-2]
            self._until(b"\r\n", deadline)
        else:
            # No declared length: the body runs to the close.
            while self._fill(max(0.01, deadline - time.monotonic())):
                pass
            body, self.buffer = self.buffer, b""
        response = Response(status, headers, body, head)
        assert_no_server_error(response)
        return response

    def closed_within(self, timeout: float = PATIENCE) -> float | None:
        """Seconds until the server closes this connection, ignoring anything it sends first;
        None if it is still open after `timeout`."""
        started = time.monotonic()
        deadline = started + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                if not self._fill(left):
                    return time.monotonic() - started
            except TimeoutError:
                return None
        return None

    def is_closed(self) -> bool:
        """Whether the server has closed this connection (checked without waiting long)."""
        return self.closed_within(1.0) is not None


def request(
    method: str,
    target: str,
    *,
    host: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    json_body: Any = None,
) -> bytes:
    """A well-formed HTTP/1.1 request, as bytes."""
    if json_body is not None:
        body = json.dumps(json_body).encode()
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def exchange(port: int, data: bytes, timeout: float = PATIENCE) -> Response:
    """Send `data` on a fresh connection and read one response."""
    with Conn(port) as conn:
        conn.send(data)
        return conn.response(timeout)


def assert_no_server_error(response: Response) -> None:
    """No answer in these tests is ever a 5xx or a traceback."""
    assert response.status < 500, response
    assert b"Traceback" not in response.body, response


def assert_envelope(response: Response, status: int, code: int | None = None) -> dict[str, Any]:
    """A v4 failure envelope with this status (and error code), marked not to be retried."""
    assert response.status == status, response
    assert response.headers.get("content-type", "").startswith("application/json"), response
    body: dict[str, Any] = response.json()
    assert body["success"] is False, body
    assert body["result"] is None, body
    assert body["messages"] == [], body
    assert body["errors"], body
    for error in body["errors"]:
        assert isinstance(error["code"], int), body
        assert error["message"], body
    if code is not None:
        assert [e["code"] for e in body["errors"]] == [code], body
    assert response.headers.get("x-should-retry") == "false", response
    return body


def wait_readable(socks: list[socket.socket], timeout: float) -> list[socket.socket]:
    readable, _, _ = select.select(socks, [], [], timeout)
    return readable
