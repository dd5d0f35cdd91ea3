"""Reading an HTTP reply from a detection service (rspamd, RDAP) without trusting it: a body
larger than the caller allows, or one still arriving at the caller's deadline, is refused."""

from __future__ import annotations

import time

import httpx


class ReplyRefused(Exception):
    """The reply was too large or too slow; the message says which, for a person."""


def read_bounded(
    response: httpx.Response, *, limit: int, deadline: float, timeout: float, raw: bool = False
) -> bytes:
    """The body, at most `limit` bytes, read before `deadline` (time.monotonic()). `raw` reads
    it as it came, still compressed (for a caller that bounds the decompression itself)."""
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise ReplyRefused(f"a reply of {declared} bytes (more than {limit})")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw() if raw else response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise ReplyRefused(f"a reply of more than {limit} bytes")
        if time.monotonic() > deadline:
            raise ReplyRefused(f"no answer within {timeout:g}s")
        chunks.append(chunk)
    return b"".join(chunks)
