"""Charts as inline SVG: the geometry is worked out here, templates/charts.html draws it.

A chart is a stacked bar chart: one bar per time bucket, one segment per series. Colours go
in SVG presentation attributes (`fill=`), never in `style=`, so the dashboard's CSP needs no
'unsafe-inline'. Every chart is drawn with the table of its numbers beside it, for screen
readers and for anyone who wants the exact figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Colours for series without one of their own: each has at least 3:1 contrast on white
# (WCAG 1.4.11), and neighbours differ in lightness as well as hue.
PALETTE = (
    "#0b57d0",
    "#9a5b00",
    "#00707a",
    "#8e3ea8",
    "#0f6b2f",
    "#a8326c",
    "#5f4b8b",
    "#b3261e",
)
OTHER = "#6b7280"

# The chart's box, in SVG user units (the CSS scales it to its column).
WIDTH = 720
HEIGHT = 260
LEFT = 48  # room for the y axis' labels
RIGHT = 8
TOP = 12
BOTTOM = 40  # room for the x axis' labels
BAR_SHARE = 0.72  # of a bucket's width
MAX_X_LABELS = 12


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[int]
    colour: str = ""


@dataclass(frozen=True, slots=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    fill: str
    label: str  # the segment's tooltip: bucket, series and count


@dataclass(frozen=True, slots=True)
class Tick:
    at: float  # x for the x axis, y for the y axis
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    """A stacked bar chart, laid out; `rows` is its table (bucket, each series, total)."""

    id: str
    title: str
    description: str
    width: int
    height: int
    segments: list[Segment]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    legend: list[tuple[str, str]]  # (name, colour)
    columns: list[str]
    rows: list[list[str | int]]
    totals: list[int]
    total: int
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return self.total == 0


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 times a power of ten that is at least `value` (at least 1)."""
    if value <= 1:
        return 1
    power = _power(value)
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _power(value: int) -> int:
    """The largest power of ten not above `value` (a positive whole number)."""
    return int("1" + "0" * (len(str(value)) - 1))


def _y_ticks(top: int) -> list[int]:
    """Round values from 0 to `top` (a nice ceiling: 1, 2 or 5 times a power of ten), four or
    five steps apart; every whole number up to 5."""
    if top <= 5:
        return list(range(top + 1))
    leading = top // _power(top)
    step = top // (4 if leading == 2 else 5)
    return list(range(0, top + 1, step))


def stacked_bars(
    chart_id: str,
    title: str,
    buckets: Sequence[str],
    series: Sequence[Series],
    *,
    ticks: Sequence[str] | None = None,
    unit: str = "messages",
    bucket_heading: str = "When",
) -> Chart:
    """Lay out one bar per bucket, the series stacked in the order given (bottom first).
    `buckets` name the bars in tooltips and the table; `ticks`, shorter, on the x axis."""
    coloured = [
        Series(s.name, list(s.values), s.colour or PALETTE[i % len(PALETTE)])
        for i, s in enumerate(series)
    ]
    count = len(buckets)
    totals = [sum(s.values[i] for s in coloured) for i in range(count)]
    total = sum(totals)
    top = nice_ceiling(max(totals, default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(count, 1)
    bar = slot * BAR_SHARE
    segments: list[Segment] = []
    for i, bucket in enumerate(buckets):
        x = LEFT + i * slot + (slot - bar) / 2
        base = float(HEIGHT - BOTTOM)
        for s in coloured:
            value = s.values[i]
            if value <= 0:
                continue
            height = plot_height * value / top
            base -= height
            segments.append(
                Segment(
                    round(x, 2),
                    round(base, 2),
                    round(bar, 2),
                    round(height, 2),
                    s.colour,
                    f"{bucket}: {s.name} {value:,}",
                )
            )
    every = max(1, math.ceil(count / MAX_X_LABELS))
    x_ticks = [
        Tick(round(LEFT + i * slot + slot / 2, 2), tick)
        for i, tick in enumerate(ticks if ticks is not None else buckets)
        if i % every == 0
    ]
    y_ticks = [
        Tick(round(HEIGHT - BOTTOM - plot_height * v / top, 2), f"{v:,}") for v in _y_ticks(top)
    ]
    busiest = max(range(count), key=lambda i: totals[i]) if count else 0
    if total:
        description = (
            f"{total:,} {unit} in all across {count} bars, stacked by "
            f"{', '.join(s.name for s in coloured)}; the most, {totals[busiest]:,}, "
            f"at {buckets[busiest]}."
        )
    else:
        description = f"No {unit} in this period."
    rows: list[list[str | int]] = [
        [bucket, *[s.values[i] for s in coloured], totals[i]] for i, bucket in enumerate(buckets)
    ]
    return Chart(
        id=chart_id,
        title=title,
        description=description,
        width=WIDTH,
        height=HEIGHT,
        segments=segments,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        legend=[(s.name, s.colour) for s in coloured],
        columns=[bucket_heading, *[s.name for s in coloured], "Total"],
        rows=rows,
        totals=[sum(s.values) for s in coloured],
        total=total,
    )
