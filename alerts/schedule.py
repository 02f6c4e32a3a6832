"""Armed hours: on which days and between which local times a rule raises alerts."""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Schedule:
    """A daily window of local wall-clock time on some days of the week.

    `start` is inclusive and `end` exclusive. When `start` > `end` the window
    crosses midnight and belongs to the day it starts on: mon 22:00–06:00
    arms Monday 22:00 to Tuesday 06:00. When `start` == `end` the listed days
    are armed all day. Times are compared as local wall times in `timezone`,
    so a window keeps its local hours across daylight-saving changes.

    Example:
        >>> night = Schedule.parse(["mon"], "22:00", "06:00", "Europe/Paris")
        >>> tuesday_3am_paris = datetime.datetime(2024, 1, 2, 2, 0, tzinfo=datetime.UTC)
        >>> night.is_armed(tuesday_3am_paris)
        True
    """

    days: frozenset[str]
    start: datetime.time
    end: datetime.time
    timezone: zoneinfo.ZoneInfo

    def __post_init__(self) -> None:
        if not self.days:
            raise ValueError("a schedule needs at least one day")
        unknown = sorted(set(self.days) - set(WEEKDAYS))
        if unknown:
            raise ValueError(f"unknown day {unknown[0]!r}, expected one of {', '.join(WEEKDAYS)}")

    @classmethod
    def parse(cls, days: list[str], start: str, end: str, timezone: str) -> Schedule:
        """Build a schedule from config text: day names, "HH:MM" times and an IANA timezone name.

        Day names are case-insensitive. Raises ValueError naming the bad value.
        """
        return cls(
            days=frozenset(day.lower() for day in days),
            start=_parse_time(start),
            end=_parse_time(end),
            timezone=_parse_timezone(timezone),
        )

    def is_armed(self, when: datetime.datetime) -> bool:
        """True when the timezone-aware instant `when` falls in the window."""
        if when.tzinfo is None:
            raise ValueError(f"is_armed needs a timezone-aware datetime, got naive {when.isoformat()}")
        local = when.astimezone(self.timezone)
        today = WEEKDAYS[local.weekday()]
        now = local.time()
        if self.start == self.end:
            return today in self.days
        if self.start < self.end:
            return today in self.days and self.start <= now < self.end
        yesterday = WEEKDAYS[local.weekday() - 1]
        return (today in self.days and now >= self.start) or (yesterday in self.days and now < self.end)


def _parse_time(text: str) -> datetime.time:
    try:
        return datetime.datetime.strptime(text, "%H:%M").time()
    except (TypeError, ValueError):
        raise ValueError(f"bad time {text!r}, expected HH:MM") from None


def _parse_timezone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown timezone {name!r}, expected an IANA name such as 'Europe/Paris'") from None
