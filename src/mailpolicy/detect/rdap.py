"""When a sender's domain was registered, asked of RDAP, for the ``recent_domain`` finding.

What it does, for operators
---------------------------
For each message the milter asks :meth:`RegistrationDates.registered` for the sender's domain.
The answer is the registration date of the domain's *registrable* part (the name a registrant
bought: ``mail.shop.example.co.uk`` is asked as ``example.co.uk``, by the ICANN section of the
public suffix list bundled with ``publicsuffixlist``; the list is never fetched), read from the
``registration`` event of an RDAP domain object (RFC 9082 query ``GET {base}/domain/{name}``,
RFC 9083 reply). ``base_url`` is either a bootstrap redirector such as ``https://rdap.org``,
which answers with a redirect to the registry's own RDAP server, or one registry's RDAP base.

The lookup never holds mail up and never fails it:

* Answers are cached in memory: a date for ``ttl`` (a day by default), and "no answer" (the
  registry said 404, or could not be asked: refused, timed out, 5xx, a reply that is not an
  RDAP domain object) for ``failure_ttl`` (15 minutes), after which the domain is asked again.
  A domain object without a registration event (some registries do not publish one) is an
  answer too, kept for ``ttl``. At most ``cache_size`` domains are remembered, least recently
  used first out.
* On a cache miss the lookup is started on a small pool of its own threads (``workers`` in
  flight at most, ``queue`` waiting at most; when both are full the domain is not looked up
  this time and ``dropped`` is counted) and the message waits for it at most ``wait`` seconds
  (0.25 by default; 0 never waits). A later message from the same domain finds the answer in
  the cache. Many connections asking for one domain at once cause one lookup.
* One lookup takes at most ``timeout`` seconds, redirects included: every step (connecting,
  sending, each read) waits at most the time left, and the lookup is abandoned once the time
  is up (checked between redirects and between reads of the body). Five redirects at most,
  never from https down to http; bodies over 1 MB (after gzip or deflate) are refused; cookies
  are never kept.
* Names that are not domains a registry could answer for are not looked up: IP literals,
  names without a dot, public suffixes themselves (``co.uk``), special-use names (``.test``,
  ``.local``, ``.onion``, ``.arpa``, ...).
* Failures are logged on the ``mailpolicy.detect`` logger at most once a minute, with the
  number of messages held back since the last one; :meth:`RegistrationDates.stats` counts
  everything for metrics.

Each lookup tells the RDAP server (rdap.org, then the registry) a sender domain seen in mail.
Public redirectors rate-limit: at volume, the cache is what keeps the lookups few.

Names are normalised as the engine stores them (lower case, no surrounding dots), Unicode
labels turned into A-labels (NFC, then Punycode) for the query.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import ipaddress
import json
import logging
import queue as queues
import threading
import time
import unicodedata
import zlib
from concurrent.futures import CancelledError, Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Final, Literal

import httpx
from cachetools import TLRUCache
from publicsuffixlist import PublicSuffixList

from mailpolicy.detect.replies import ReplyRefused, read_bounded
from mailpolicy.engine import normalize_domain

logger = logging.getLogger("mailpolicy.detect")

MAX_BODY: Final = 1_000_000
"""The largest RDAP reply read, in bytes (after decompression)."""
MAX_REDIRECTS: Final = 5
LOG_INTERVAL: Final = 60.0
"""Seconds between two failure messages in the log."""
FUTURE_SLACK: Final = dt.timedelta(days=1)
"""A registration date later than now by more than this is not believed."""

# Top-level names that no registry answers for: RFC 6761 (test, example, invalid, localhost),
# RFC 6762 (local), RFC 7686 (onion), RFC 9476 (alt), the infrastructure domain and ICANN's
# private-use .internal.
SPECIAL_USE: Final = frozenset(
    {"test", "example", "invalid", "localhost", "local", "onion", "alt", "arpa", "internal"}
)
# IDNA's full stops (RFC 3490 section 3.1): ideographic, fullwidth and halfwidth.
_DOTS: Final = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_LDH: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")

_MISSING: Final = object()

Outcome = Literal["found", "undated", "not_found", "failed"]


@dataclass(frozen=True, slots=True)
class _Answer:
    outcome: Outcome
    date: dt.datetime | None = None
    problem: str = ""


class _Failure(Exception):
    """A lookup that got no usable answer; the message says why."""


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    # Registries register names under ICANN's suffixes; the private section (github.io,
    # blogspot.com, ...) names domains inside registrations, which RDAP knows nothing of.
    return PublicSuffixList(only_icann=True)


def _a_label(label: str) -> str | None:
    """One label as sent in the query, or None when it cannot be part of a domain."""
    if not label:
        return None
    if label.isascii():
        ascii_label = label
    else:
        if not all(c == "-" or unicodedata.category(c)[0] in "LMN" for c in label):
            return None
        try:
            ascii_label = "xn--" + label.encode("punycode").decode("ascii")
        except UnicodeError:
            return None
    if len(ascii_label) > 63 or not set(ascii_label) <= _LDH:
        return None
    return ascii_label


def registrable_domain(domain: str) -> str | None:
    """The name an RDAP query asks for ``domain`` (the A-label form of its registrable part),
    or None when it is not looked up (not a domain, an IP literal, a public suffix, a
    special-use name)."""
    if not isinstance(domain, str) or len(domain) > 1024:
        return None
    name = normalize_domain(unicodedata.normalize("NFC", domain.translate(_DOTS)))
    if not name or "." not in name:
        return None
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        pass
    else:
        return None
    labels = [_a_label(label) for label in name.split(".")]
    if any(label is None for label in labels):
        return None
    ascii_name = ".".join(label for label in labels if label is not None)
    top = ascii_name.rsplit(".", 1)[-1]
    if len(ascii_name) > 253 or top.isdigit() or top in SPECIAL_USE:
        return None
    found = _public_suffixes().privatesuffix(ascii_name)
    return found if isinstance(found, str) else None


def _instant(value: object) -> dt.datetime | None:
    """An RFC 3339 date (RFC 9083 section 4.5) as an aware UTC datetime, or None."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None


def registration_date(reply: object) -> _Answer:
    """What an RDAP domain object (parsed JSON) says of the domain's registration: its latest
    ``registration`` event, the current registration."""
    if not isinstance(reply, dict):
        raise _Failure("the reply is not a JSON object")
    if "errorCode" in reply:
        raise _Failure(f"the reply is an RDAP error ({str(reply.get('errorCode'))[:20]})")
    events = reply.get("events")
    if not isinstance(events, list):
        return _Answer("undated")
    seen = False
    dates: list[dt.datetime] = []
    latest_believable = dt.datetime.now(dt.UTC) + FUTURE_SLACK
    for event in events:
        if not isinstance(event, dict):
            continue
        action = event.get("eventAction")
        if not isinstance(action, str) or action.strip().lower() != "registration":
            continue
        seen = True
        date = _instant(event.get("eventDate"))
        if date is not None and date <= latest_believable:
            dates.append(date)
    if dates:
        return _Answer("found", max(dates))
    if seen:
        raise _Failure("the registration event has no valid date")
    return _Answer("undated")


def _decompress(body: bytes, encoding: str) -> bytes:
    if encoding in {"", "identity"}:
        return body
    if encoding in {"gzip", "x-gzip"}:
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise _Failure(f"unsupported Content-Encoding {encoding[:20]!r}")
    try:
        decoder = zlib.decompressobj(wbits)
        out = decoder.decompress(body, MAX_BODY + 1)
    except zlib.error as exc:
        raise _Failure(f"the {encoding} body does not decompress") from exc
    if len(out) > MAX_BODY or decoder.unconsumed_tail:
        raise _Failure(f"the reply is over {MAX_BODY} bytes")
    return out


class _LogLimiter:
    """Failure messages at most once per LOG_INTERVAL, counting the ones held back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: float | None = None
        self._held = 0

    def warning(self, message: str, *args: object, exc_info: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if self._last is not None and now - self._last < LOG_INTERVAL:
                self._held += 1
                return
            held, self._held, self._last = self._held, 0, now
        if held:
            message += " (%d more RDAP problems since the last message)"
            args = (*args, held)
        logger.warning(message, *args, exc_info=exc_info)


class RegistrationDates:
    """Registration dates of sender domains by RDAP: cached, bounded, time-limited.

    Thread-safe: one instance serves every milter connection. ``registered`` never raises.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 3.0,
        wait: float = 0.25,
        cache_size: int = 10_000,
        ttl: float = 86_400.0,
        failure_ttl: float = 900.0,
        workers: int = 2,
        queue: int = 1_000,
    ) -> None:
        base = httpx.URL(base_url)
        if base.scheme not in {"http", "https"} or not base.host:
            raise ValueError(f"the RDAP base URL must be http(s)://host[/path], not {base_url!r}")
        if timeout <= 0 or wait < 0 or ttl < 0 or failure_ttl < 0:
            raise ValueError("timeout must be positive; wait and the ttls not negative")
        if cache_size < 0 or workers < 1 or queue < 0:
            raise ValueError("workers must be at least 1; cache_size and queue not negative")
        self._base = str(base).rstrip("/")
        self._timeout = timeout
        self._wait = wait
        self._ttl = ttl
        self._failure_ttl = failure_ttl
        self._capacity = workers + queue
        _public_suffixes()  # the list parsed now, not on the first message
        self._lock = threading.Lock()
        self._cache: TLRUCache[str, object] = TLRUCache(maxsize=cache_size, ttu=self._expiry)
        self._pending: dict[str, Future[dt.datetime | None]] = {}
        self._counts = dict.fromkeys(
            ("lookups", "hits", "misses", "failures", "not_found", "undated", "dropped"), 0
        )
        self._log = _LogLimiter()
        self._closed = False
        self._client = httpx.Client(
            headers={
                "Accept": "application/rdap+json",
                "Accept-Encoding": "gzip, deflate",
                "User-Agent": "mailpolicy (RDAP registration dates)",
            },
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
            follow_redirects=False,  # followed one by one, within the lookup's deadline
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=2 * workers,
                max_keepalive_connections=2 * workers,
                keepalive_expiry=30.0,
            ),
        )
        self._jobs: queues.SimpleQueue[str | None] = queues.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"mailpolicy-rdap-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    # -- the caller's side -------------------------------------------------------------------

    def registered(self, domain: str) -> dt.datetime | None:
        """The registrable domain's registration date (aware, UTC) if known: from the cache;
        on a miss, starts one lookup (deduplicated: the same domain asked by many threads is
        looked up once) and waits at most `wait` seconds for it. None when unknown, not
        found, failed or not yet answered."""
        try:
            name = registrable_domain(domain)
            if name is None:
                return None
            with self._lock:
                cached = self._cache.get(name, _MISSING)
                if cached is not _MISSING:
                    self._counts["hits"] += 1
                    return cached if isinstance(cached, dt.datetime) else None
                self._counts["misses"] += 1
                future = self._pending.get(name)
                full = len(self._pending) >= self._capacity
                if future is None and not self._closed and not full:
                    future = self._pending[name] = Future()
                    self._jobs.put(name)
                elif future is None and not self._closed:
                    self._counts["dropped"] += 1
            if future is None:
                if full and not self._closed:
                    self._log.warning(
                        "RDAP lookup of %s dropped: %d lookups already in flight or waiting",
                        name,
                        self._capacity,
                    )
                return None
            if self._wait <= 0:
                return None
            return future.result(timeout=self._wait)
        except (FutureTimeout, CancelledError):
            return None
        except Exception:  # never fail a message for a date
            self._log.warning("RDAP registration date of %r failed", domain, exc_info=True)
            return None

    def stats(self) -> dict[str, int]:
        """Counters since start: ``lookups`` started, cache ``hits`` and ``misses``,
        ``failures`` (could not ask, or the reply was unusable), ``not_found`` (404),
        ``undated`` (a domain object without a registration date), ``dropped`` (not looked
        up, the queue was full); and the current ``pending`` lookups and ``cached`` domains."""
        with self._lock:
            return {
                **self._counts,
                "pending": len(self._pending),
                "cached": len(self._cache),
            }

    def close(self) -> None:
        """Stops the workers and returns at once: lookups not started are abandoned (callers
        waiting for them get None now), the connections are closed, and nothing is looked up,
        cached or logged afterwards. A lookup already on the wire is not waited for: its
        daemon thread ends when that lookup does (within ``timeout``), its answer discarded."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for future in self._pending.values():
                future.cancel()
            self._pending.clear()
        for _ in self._threads:
            self._jobs.put(None)
        try:
            self._client.close()
        except Exception:  # a worker's request raced the close; it ends on its own
            logger.debug("closing the RDAP client", exc_info=True)
        deadline = time.monotonic() + 0.2
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> RegistrationDates:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the workers' side -------------------------------------------------------------------

    def _expiry(self, _key: str, value: object, now: float) -> float:
        return now + (self._ttl if value is not None else self._failure_ttl)

    def _work(self) -> None:
        while True:
            name = self._jobs.get()
            if name is None:
                return
            with self._lock:
                if self._closed:
                    continue
                self._counts["lookups"] += 1
            answer = self._lookup(name)
            with self._lock:
                future = self._pending.pop(name, None)
                if self._closed:
                    continue
                key = {"failed": "failures", "not_found": "not_found", "undated": "undated"}
                if answer.outcome in key:
                    self._counts[key[answer.outcome]] += 1
                self._remember(name, answer)
                if future is not None:
                    with contextlib.suppress(InvalidStateError):  # cancelled by close()
                        future.set_result(answer.date)
            if answer.outcome == "failed":
                self._log.warning("RDAP lookup of %s failed: %s", name, answer.problem)

    def _remember(self, name: str, answer: _Answer) -> None:
        """Caches an answer (under the lock). A date is kept for ttl; "undated" too, as False
        (the registry answered, and asking again will not make it publish a date); None,
        "not found" or "could not ask", for failure_ttl (_expiry)."""
        value = {"found": answer.date, "undated": False}.get(answer.outcome)
        if self._cache.maxsize == 0 or (self._ttl if value is not None else self._failure_ttl) <= 0:
            return
        with contextlib.suppress(ValueError):  # larger than the cache
            self._cache[name] = value

    def _lookup(self, name: str) -> _Answer:
        """One RDAP query, its redirects followed; never raises."""
        deadline = time.monotonic() + self._timeout
        try:
            request = self._client.build_request("GET", f"{self._base}/domain/{name}")
            for _ in range(MAX_REDIRECTS + 1):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _Failure(f"no answer within {self._timeout:g}s")
                request.extensions = {
                    **request.extensions,
                    "timeout": httpx.Timeout(left).as_dict(),
                }
                response = self._client.send(request, stream=True)
                try:
                    following = response.next_request
                    if following is not None:
                        if request.url.scheme == "https" and following.url.scheme != "https":
                            raise _Failure(f"redirected from https to {following.url}")
                        request = following
                        continue
                    status = response.status_code
                    if status == 404:
                        return _Answer("not_found")
                    if status != 200:
                        raise _Failure(f"HTTP {status} from {request.url}")
                    body = self._read(response, deadline)
                finally:
                    response.close()
                try:
                    reply = json.loads(body)
                except (ValueError, RecursionError) as exc:
                    raise _Failure(f"the reply from {request.url} is not JSON") from exc
                return registration_date(reply)
            raise _Failure(f"more than {MAX_REDIRECTS} redirects")
        except _Failure as exc:
            return _Answer("failed", problem=str(exc))
        except httpx.TimeoutException:
            return _Answer("failed", problem=f"no answer within {self._timeout:g}s")
        except Exception as exc:  # httpx errors, a closed client, anything a server provokes
            return _Answer("failed", problem=f"{type(exc).__name__}: {exc}"[:300])

    def _read(self, response: httpx.Response, deadline: float) -> bytes:
        """The body, at most MAX_BODY bytes (decompressed too), read before the deadline."""
        try:
            body = read_bounded(
                response, limit=MAX_BODY, deadline=deadline, timeout=self._timeout, raw=True
            )
        except ReplyRefused as exc:
            raise _Failure(str(exc)) from None
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        return _decompress(body, encoding)
