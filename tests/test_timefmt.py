"""Timestamps as every answer writes them: RFC 3339, UTC, microseconds, a four-digit year."""

from __future__ import annotations

import datetime as dt

from mailpolicy.timefmt import iso


def test_timestamps_are_rfc_3339_in_utc() -> None:
    assert iso(dt.datetime(2014, 1, 1, 5, 20, 0, 123450, tzinfo=dt.UTC)) == (
        "2014-01-01T05:20:00.123450Z"
    )
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert iso(dt.datetime(2014, 1, 1, 7, 20, tzinfo=plus_two)) == "2014-01-01T05:20:00.000000Z"
    assert iso(None) is None


def test_a_year_before_1000_keeps_four_digits() -> None:
    # A what-if window can be asked for in any year; "365-10-21" would be no date-time.
    assert iso(dt.datetime(365, 10, 21, 6, 11, 18, tzinfo=dt.UTC)) == "0365-10-21T06:11:18.000000Z"
