"""Alerts per hour per rule as the geometry of a small line chart, for a template to draw as SVG."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
"""One per rule, in order of alert count; they repeat past eight rules."""
WIDTH, HEIGHT = 720, 180
LEFT, RIGHT, TOP, BOTTOM = 32, 8, 10, 22
"""Margins around the plot, for the axis labels."""


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    count: int
    hour: str
    """The bucket's start, `HH:00Z`."""


@dataclass(frozen=True, slots=True)
class Series:
    rule: str
    colour: str
    points: tuple[Point, ...]

    @property
    def total(self) -> int:
        return sum(p.count for p in self.points)

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True, slots=True)
class HourlyChart:
    """Counts per rule in the `hours` hourly buckets ending with the current hour, and where to draw them."""

    start: datetime
    peak: int
    series: tuple[Series, ...]
    x_ticks: tuple[tuple[float, str], ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def chart_start(now: datetime, hours: int = 24) -> datetime:
    """Start of the first bucket: the current hour is the last one."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - (hours - 1) * HOUR


def hourly_chart(starts: Iterable[tuple[str, datetime]], now: datetime, hours: int = 24) -> HourlyChart:
    """Bucket (rule, started_at) pairs by hour; alerts outside the chart's hours are ignored.

    Example:
        >>> now = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
        >>> chart = hourly_chart([("crowd", now), ("crowd", now - HOUR)], now, hours=3)
        >>> [(p.hour, p.count) for p in chart.series[0].points]
        [('07:00Z', 0), ('08:00Z', 1), ('09:00Z', 1)]
    """
    start = chart_start(now, hours)
    counts: Counter[tuple[str, int]] = Counter()
    for rule, started_at in starts:
        bucket = int((started_at - start) // HOUR)
        if 0 <= bucket < hours:
            counts[rule, bucket] += 1
    totals: Counter[str] = Counter()
    for (rule, _), count in counts.items():
        totals[rule] += count
    peak = max(counts.values(), default=0)
    labels = [f"{start + i * HOUR:%H}:00Z" for i in range(hours)]
    step = (WIDTH - RIGHT - LEFT) / max(hours - 1, 1)

    def y(count: int) -> float:
        return HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * count / max(peak, 1)

    rules = sorted(totals, key=lambda rule: (-totals[rule], rule))
    series = tuple(
        Series(
            rule,
            COLOURS[i % len(COLOURS)],
            tuple(Point(LEFT + h * step, y(counts[rule, h]), counts[rule, h], labels[h]) for h in range(hours)),
        )
        for i, rule in enumerate(rules)
    )
    ticks = tuple((LEFT + h * step, labels[h]) for h in range(0, hours, 6))
    return HourlyChart(start=start, peak=peak, series=series, x_ticks=ticks)
