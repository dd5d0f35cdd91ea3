"""RFC 3339 timestamps, UTC, with microseconds: 2014-01-01T05:20:00.123450Z."""

from __future__ import annotations

import datetime as dt


def iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    # isoformat, not strftime: %Y leaves a year before 1000 unpadded ("365-10-21"), which is
    # no RFC 3339 date.
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
