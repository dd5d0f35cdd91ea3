"""rspamd's HTTP protocol: one message scanned by `POST /checkv2` on rspamd's normal worker.

What it does, for operators
---------------------------
:meth:`RspamdClient.scan` sends the message as received, with what the SMTP session knew about
it in rspamd's request headers (``IP``, ``Hostname``, ``Helo``, ``From``, one ``Rcpt`` per
recipient, ``Queue-Id``, ``TLS-Version``/``TLS-Cipher``, ``MTA-Name``), and reads back the
action, the score and the symbols rspamd found. ``MTA-Name`` is the authserv-id rspamd writes
into the Authentication-Results header it asks the MTA to add (its ``milter_headers`` module with
``use = ["authentication-results"]``); the reply carries that header's value for mailpolicy to
read as its own authentication results. ``User`` (SMTP AUTH) and ``Pass: all`` are never sent:
mail scanned here is inbound, and forcing every rule after a pre-result costs CPU for nothing.

* Values that come from SMTP (HELO, host name, addresses, TLS strings) are cleaned before they
  become request headers: control characters (CR and LF above all, which would start a header
  of the sender's choosing) become spaces, the value is cut at 998 bytes, and text that is not
  ASCII travels as UTF-8. A client address that is not an IP address is not sent at all.
* One :class:`httpx.Client` (a small keep-alive pool) serves every thread; rspamd 3.4 closes
  the connection after each reply, so in practice each scan opens one.
* ``timeout`` bounds the whole scan: every step (connecting, sending, each read) waits at most
  the time left, and reading stops once the time is up. A reply over 4 MiB is refused.
* :class:`ScanFailed` is the only exception :meth:`~RspamdClient.scan` raises: connection refused,
  no answer in time, an HTTP status other than 200, a reply that is not rspamd's JSON, or an
  error rspamd reports. Its message names rspamd's address and what went wrong, for the log.

Symbol groups
-------------
With ``Flags: groups`` rspamd 3.4 adds the groups of the symbols that fired, with their scores,
to the reply (:attr:`ScanReply.groups`), not the groups of each symbol. When the client is given
the controller's address it also learns which groups each symbol belongs to from the
controller's ``GET /symbols`` (once, and again at most once a minute while that fails), and
fills :attr:`Symbol.groups` from it; without the controller :attr:`Symbol.groups` is ``()``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from mailpolicy.detect.replies import ReplyRefused, read_bounded

MAX_REPLY = 4 * 1024 * 1024
MAX_HEADER_VALUE = 998  # bytes: RFC 5322's line limit, far above any honest HELO or address
GROUPS_RETRY = 60.0  # seconds between attempts to learn the symbol groups while that fails
# Flags rspamd 3.4 knows (src/libserver/protocol.c): pass_all, no_log, skip, skip_process,
# no_stat, ssl, profile, milter, zstd, ext_urls, body_block, groups. Only `groups` is asked for.
FLAGS = "groups"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACES = re.compile(r" {2,}")


@dataclass(frozen=True, slots=True)
class ScanRequest:
    message: bytes  # the message as received (headers CRLF, blank line, body), up to the limit
    envelope_from: str  # "" for a bounce
    recipients: tuple[str, ...]
    client_ip: str
    client_hostname: str | None = None
    helo: str | None = None
    queue_id: str | None = None
    tls_version: str | None = None
    tls_cipher: str | None = None
    mta_name: str | None = None  # the authserv-id rspamd's Authentication-Results is to carry


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str
    score: float
    options: tuple[str, ...]
    groups: tuple[str, ...]  # e.g. ("antivirus",) when known (see the module's docstring), else ()


@dataclass(frozen=True, slots=True)
class ScanReply:
    action: str  # as rspamd spells it: "no action", "greylist", "add header", "reject", ...
    score: float
    required_score: float
    is_skipped: bool
    symbols: Mapping[str, Symbol]
    authentication_results: str | None  # the Authentication-Results value rspamd asks to add
    elapsed: float  # seconds the request took
    # The groups of the symbols that fired, with each group's score (Flags: groups).
    groups: Mapping[str, float] = field(default_factory=dict)


class ScanFailed(Exception):
    """rspamd could not be asked, or did not answer as rspamd answers."""


class _Failure(Exception):
    pass


def clean_header_value(value: str) -> bytes:
    """`value` as a request header value that cannot end the header or start another: control
    characters (C0, DEL and C1, CR and LF among them) become spaces, runs of spaces one space,
    surrounding spaces go, UTF-8, at most MAX_HEADER_VALUE bytes (cut on a character)."""
    encoded = _SPACES.sub(" ", _CONTROL.sub(" ", value)).strip(" ")
    raw = encoded.encode("utf-8", errors="replace")
    if len(raw) > MAX_HEADER_VALUE:
        raw = raw[:MAX_HEADER_VALUE].decode("utf-8", errors="ignore").encode("utf-8")
    return raw


def _address(value: str) -> bytes:
    cleaned = clean_header_value(value)
    return cleaned if cleaned else b"<>"


def request_headers(request: ScanRequest, password: str | None = None) -> list[tuple[str, bytes]]:
    """rspamd's request headers for `request`, in the order sent (Rcpt once per recipient)."""
    headers: list[tuple[str, bytes]] = []
    # "unknown" or worse is not sent: rspamd scans without a client address.
    with contextlib.suppress(ValueError):
        headers.append(("IP", str(ipaddress.ip_address(request.client_ip.strip())).encode()))
    optional = (
        ("Hostname", request.client_hostname),
        ("Helo", request.helo),
    )
    headers.extend((name, clean_header_value(v)) for name, v in optional if v)
    headers.append(("From", _address(request.envelope_from)))
    headers.extend(("Rcpt", _address(r)) for r in request.recipients if clean_header_value(r))
    more = (
        ("Queue-Id", request.queue_id),
        ("TLS-Version", request.tls_version),
        ("TLS-Cipher", request.tls_cipher),
        ("MTA-Name", request.mta_name),
    )
    headers.extend((name, clean_header_value(v)) for name, v in more if v)
    headers.append(("Flags", FLAGS.encode()))
    if password is not None:
        headers.append(("Password", clean_header_value(password)))
    return [(name, value) for name, value in headers if value]


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Failure(f"a reply whose {what} is not a number")
    return float(value)


def parse_reply(
    document: object, elapsed: float, groups_of: Mapping[str, tuple[str, ...]] | None = None
) -> ScanReply:
    """A /checkv2 reply (decoded JSON) as a ScanReply; _Failure when it is not one."""
    if not isinstance(document, dict):
        raise _Failure("a reply that is not a JSON object")
    if "error" in document:
        raise _Failure(f"an error: {str(document['error'])[:200]}")
    action = document.get("action")
    if not isinstance(action, str):
        raise _Failure("a reply without an action")
    symbols: dict[str, Symbol] = {}
    raw_symbols = document.get("symbols", {})
    if not isinstance(raw_symbols, dict):
        raise _Failure("a reply whose symbols are not an object")
    for key, raw in raw_symbols.items():
        if not isinstance(raw, dict):
            raise _Failure(f"a reply whose symbol {str(key)[:60]} is not an object")
        name = raw.get("name", key)
        options = raw.get("options", [])
        if not isinstance(name, str) or not isinstance(options, list):
            raise _Failure(f"a reply whose symbol {str(key)[:60]} is malformed")
        symbols[name] = Symbol(
            name=name,
            score=_number(raw.get("score", 0.0), f"symbol {name[:60]}'s score"),
            options=tuple(str(option) for option in options),
            groups=(groups_of or {}).get(name, ()),
        )
    groups: dict[str, float] = {}
    raw_groups = document.get("groups", {})
    if isinstance(raw_groups, dict):
        for group, body in raw_groups.items():
            score = body.get("score", 0.0) if isinstance(body, dict) else 0.0
            groups[str(group)] = _number(score, f"group {str(group)[:60]}'s score")
    return ScanReply(
        action=action,
        score=_number(document.get("score", 0.0), "score"),
        required_score=_number(document.get("required_score", 0.0), "required score"),
        is_skipped=document.get("is_skipped") is True,
        symbols=symbols,
        authentication_results=_authentication_results(document),
        elapsed=elapsed,
        groups=groups,
    )


def _authentication_results(document: Mapping[str, Any]) -> str | None:
    milter = document.get("milter")
    if not isinstance(milter, dict):
        return None
    added = milter.get("add_headers")
    if not isinstance(added, dict):
        return None
    for name, header in added.items():
        if str(name).lower() != "authentication-results":
            continue
        # One header is {"value": ..., "order": n}; several are a list of those (or strings).
        first = header[0] if isinstance(header, list) and header else header
        value = first.get("value") if isinstance(first, dict) else first
        if isinstance(value, str):
            return value
    return None


class RspamdClient:
    """Scans messages with the rspamd normal worker at `url` (http://host:port). Thread-safe."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        password: str | None = None,
        controller_url: str | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._url = url.rstrip("/")
        self._controller = controller_url.rstrip("/") if controller_url else None
        self._timeout = timeout
        self._password = password
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,  # rspamd is local: no proxy from the environment
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        )
        self._groups: dict[str, tuple[str, ...]] | None = None
        self._groups_tried = -GROUPS_RETRY
        self._groups_lock = threading.Lock()

    def scan(self, request: ScanRequest) -> ScanReply:
        """rspamd's verdict on `request`; ScanFailed, and nothing else, when there is none."""
        began = time.monotonic()
        deadline = began + self._timeout
        try:
            groups_of = self._symbol_groups(deadline)
            document = self._exchange(
                self._url,
                "POST",
                "/checkv2",
                deadline,
                content=request.message,
                headers=request_headers(request, self._password),
            )
            return parse_reply(document, time.monotonic() - began, groups_of)
        except _Failure as failure:
            raise ScanFailed(f"rspamd at {self._url}: {failure}") from None

    def ping(self) -> bool:
        """Whether the worker answers `GET /ping` with "pong" (within the timeout, at most 5s)."""
        try:
            auth = [(name.encode("ascii"), value) for name, value in self._auth()]
            reply = self._client.get(
                f"{self._url}/ping", timeout=min(self._timeout, 5.0), headers=auth
            )
            return reply.status_code == 200 and reply.text.strip() == "pong"
        except Exception:
            return False

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RspamdClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- internals --------------------------------------------------------------------------

    def _auth(self) -> list[tuple[str, bytes]]:
        return [] if self._password is None else [("Password", clean_header_value(self._password))]

    def _symbol_groups(self, deadline: float) -> dict[str, tuple[str, ...]] | None:
        """Each symbol's groups from the controller, learned once; None while unknown."""
        if self._controller is None or self._groups is not None:
            return self._groups
        with self._groups_lock:
            now = time.monotonic()
            if self._groups is not None or now - self._groups_tried < GROUPS_RETRY:
                return self._groups
            self._groups_tried = now
            # Half the scan's time at most: the scan itself matters more than its labels.
            budget = now + (deadline - now) / 2
            try:
                listing = self._exchange(
                    self._controller, "GET", "/symbols", budget, headers=self._auth()
                )
            except _Failure:
                return None
            found: dict[str, list[str]] = {}
            for group in listing if isinstance(listing, list) else ():
                if not isinstance(group, dict) or not isinstance(group.get("group"), str):
                    continue
                for rule in group.get("rules") or ():
                    if isinstance(rule, dict) and isinstance(rule.get("symbol"), str):
                        found.setdefault(rule["symbol"], []).append(group["group"])
            self._groups = {symbol: tuple(names) for symbol, names in found.items()}
            return self._groups

    def _exchange(
        self,
        base: str,
        method: str,
        path: str,
        deadline: float,
        *,
        content: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> object:
        """One request, answered within the deadline, its JSON body decoded; _Failure if not."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Failure(f"no answer within {self._timeout:g}s")
        request = self._client.build_request(
            method,
            f"{base}{path}",
            content=content,
            headers=[(name.encode("ascii"), value) for name, value in headers or ()],
        )
        request.extensions = {**request.extensions, "timeout": httpx.Timeout(left).as_dict()}
        try:
            response = self._client.send(request, stream=True)
            try:
                body = self._read(response, deadline)
            finally:
                response.close()
        except httpx.ConnectError as exc:
            raise _Failure(f"cannot connect ({_reason(exc)})") from None
        except httpx.TimeoutException:
            raise _Failure(f"no answer within {self._timeout:g}s") from None
        except _Failure:
            raise
        except Exception as exc:  # httpx errors, a closed client, anything a server provokes
            raise _Failure(f"the exchange failed ({type(exc).__name__}: {_reason(exc)})") from None
        if response.status_code != 200:
            excerpt = body[:200].decode("utf-8", errors="replace").strip()
            raise _Failure(f"HTTP {response.status_code} for {path}: {excerpt or '(no body)'}")
        try:
            return json.loads(body)
        except ValueError:
            raise _Failure(f"a reply to {path} that is not JSON") from None

    def _read(self, response: httpx.Response, deadline: float) -> bytes:
        """The body, at most MAX_REPLY bytes, read before the deadline."""
        try:
            return read_bounded(response, limit=MAX_REPLY, deadline=deadline, timeout=self._timeout)
        except ReplyRefused as exc:
            raise _Failure(str(exc)) from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text[:200] if text else type(exc).__name__
