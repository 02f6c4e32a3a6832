"""A camera's UTC day (or one hour of it) as a timeline: recorded spans, the gaps between them and alert markers,
placed for SVG."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts import Alert
from dashboard.time_range import TimeRange

MERGE_GAP = timedelta(seconds=1)
"""Segments closer than this are one span: recorders leave a few milliseconds between segments."""
WIDTH = 960
MARKER_TOP, MARKER_HEIGHT = 0, 12
BAR_TOP, BAR_HEIGHT = 16, 36
HEIGHT = BAR_TOP + BAR_HEIGHT + 16
"""The hour labels sit in the last 16 pixels."""
MIN_MARK_WIDTH = 2.0
"""A marker or span is never thinner than this, so that a short one can still be seen and clicked."""


@dataclass(frozen=True, slots=True)
class Bar:
    """A recorded span where the SVG draws it."""

    x: float
    width: float
    span: TimeRange


@dataclass(frozen=True, slots=True)
class Marker:
    """An alert where the SVG draws it (above the bar, over the time it ran)."""

    x: float
    width: float
    alert: Alert


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DayTimeline:
    """One UTC day (or hour) of a camera: what was recorded, what was not, and its alerts."""

    day: TimeRange
    """The time drawn: a whole day, or one hour of it when zoomed in."""
    spans: tuple[TimeRange, ...]
    gaps: tuple[TimeRange, ...]
    bars: tuple[Bar, ...]
    markers: tuple[Marker, ...]
    ticks: tuple[Tick, ...]
    width: int = WIDTH
    height: int = HEIGHT
    marker_top: int = MARKER_TOP
    marker_height: int = MARKER_HEIGHT
    bar_top: int = BAR_TOP
    bar_height: int = BAR_HEIGHT


def recorded_spans(periods: Iterable[tuple[datetime, datetime]], within: TimeRange) -> list[TimeRange]:
    """Recorded (start, end) periods merged where less than MERGE_GAP apart, cut to `within`.

    Example:
        >>> from datetime import UTC
        >>> t = datetime(2026, 11, 28, 9, tzinfo=UTC)
        >>> s = timedelta(seconds=1)
        >>> [(int((r.start - t) / s), int((r.end - t) / s))
        ...  for r in recorded_spans([(t, t + 4 * s), (t + 4 * s, t + 8 * s), (t + 20 * s, t + 24 * s)],
        ...                          TimeRange(t, t + 22 * s))]
        [(0, 8), (20, 22)]
    """
    spans: list[TimeRange] = []
    for start, end in sorted(periods):
        start, end = max(start, within.start), min(end, within.end)
        if end <= start:
            continue
        if spans and start - spans[-1].end < MERGE_GAP:
            spans[-1] = TimeRange(spans[-1].start, max(spans[-1].end, end))
        else:
            spans.append(TimeRange(start, end))
    return spans


def gaps_between(spans: Sequence[TimeRange], within: TimeRange) -> list[TimeRange]:
    """The parts of `within` that no span covers; `spans` sorted, apart and inside `within`."""
    gaps, cursor = [], within.start
    for span in spans:
        if span.start > cursor:
            gaps.append(TimeRange(cursor, span.start))
        cursor = max(cursor, span.end)
    if cursor < within.end:
        gaps.append(TimeRange(cursor, within.end))
    return gaps


def day_timeline(day: TimeRange, periods: Iterable[tuple[datetime, datetime]], alerts: Iterable[Alert],
                 now: datetime) -> DayTimeline:
    """The timeline of `day` (a day, or an hour: ticks every hour, or every 5 minutes); gaps stop at `now`, and an
    alert still open runs to it (or the day's end)."""
    spans = recorded_spans(periods, day)
    past = TimeRange(day.start, min(day.end, max(now, day.start)))
    scale = WIDTH / day.duration.total_seconds()

    def place(start: datetime, end: datetime) -> tuple[float, float]:
        x = (start - day.start).total_seconds() * scale
        return x, min(max(MIN_MARK_WIDTH, (end - start).total_seconds() * scale), WIDTH - x)

    markers = []
    for alert in alerts:
        start = max(alert.started_at, day.start)
        end = min(alert.ended_at or max(now, alert.started_at), day.end)
        markers.append(Marker(*place(start, max(start, end)), alert))
    return DayTimeline(
        day=day,
        spans=tuple(spans),
        gaps=tuple(gaps_between([s for s in spans if s.start < past.end], past)),
        bars=tuple(Bar(*place(span.start, span.end), span) for span in spans),
        markers=tuple(sorted(markers, key=lambda m: m.x)),
        ticks=_ticks(day, scale),
    )


def _ticks(drawn: TimeRange, scale: float) -> tuple[Tick, ...]:
    """Every hour of a day, or every 5 minutes of a shorter time, on the round times."""
    step, label = (timedelta(hours=1), "%H") if drawn.duration > timedelta(hours=2) else (timedelta(minutes=5), "%H:%M")
    midnight = drawn.start.replace(hour=0, minute=0, second=0, microsecond=0)
    at = midnight + -(-(drawn.start - midnight) // step) * step
    ticks = []
    while at < drawn.end:
        ticks.append(Tick((at - drawn.start).total_seconds() * scale, f"{at:{label}}", at))
        at += step
    return tuple(ticks)
