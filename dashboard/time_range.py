"""Times and ranges asked for in query arguments (footage, exports, timelines), checked strictly: one message each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from alerts.utc import utc_text

EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
"""Times outside these years are typing mistakes, not recordings."""


class BadRange(ValueError):
    """A time argument cannot be used; the message names it and says why."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    """[start, end) in UTC.

    Example:
        >>> span = requested_range({"from": "2026-11-28T09:00:00Z", "to": "2026-11-28T10:05:00+01:00"},
        ...                        longest=timedelta(minutes=10))
        >>> span.duration
        datetime.timedelta(seconds=300)
    """

    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def parse_moment(name: str, text: str | None) -> datetime:
    """ISO 8601 with `Z` or an offset; a time with neither is UTC. Raises BadRange naming `name`."""
    if not text or not text.strip():
        raise BadRange(f"{name}: missing; give an ISO 8601 time such as 2026-11-28T09:00:00Z")
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadRange(f"{name}: {text[:40]!r} is not an ISO 8601 time such as 2026-11-28T09:00:00Z") from None
    _check_year(name, parsed.year)  # first: an offset could push year 1 or 9999 out of what datetime holds
    moment = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    _check_year(name, moment.year)
    return moment


def parse_day(text: str) -> date:
    """`YYYY-MM-DD`, a UTC day. Raises BadRange."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadRange(f"day: {text[:40]!r} is not a day such as 2026-11-28") from None
    _check_year("day", day.year)
    return day


def day_range(day: date) -> TimeRange:
    """The 24 hours of a UTC day."""
    start = datetime.combine(day, time(), UTC)
    return TimeRange(start, start + timedelta(days=1))


def requested_range(args: Mapping[str, str], longest: timedelta, names: tuple[str, str] = ("from", "to")) -> TimeRange:
    """The range [args[from], args[to]), at most `longest` long. Raises BadRange."""
    first, last = names
    start, end = parse_moment(first, args.get(first)), parse_moment(last, args.get(last))
    if end <= start:
        raise BadRange(f"{last} ({utc_text(end)}) must be after {first} ({utc_text(start)})")
    if end - start > longest:
        raise BadRange(f"{first} to {last} is {_minutes(end - start)}, longer than the {_minutes(longest)} allowed")
    return TimeRange(start, end)


def _check_year(name: str, year: int) -> None:
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise BadRange(f"{name}: year {year} is out of range ({EARLIEST_YEAR} to {LATEST_YEAR})")


def _minutes(span: timedelta) -> str:
    return f"{round(span.total_seconds() / 60, 2):g} min"
