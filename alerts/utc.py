"""Aware times as UTC text: to the second for people, at full precision for JSON."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_text(moment: datetime | None) -> str:
    """`2026-11-28T09:00:00Z`, or an empty string for no time.

    Example:
        >>> from datetime import timedelta, timezone
        >>> utc_text(datetime(2026, 11, 28, 10, 0, 0, 500, tzinfo=timezone(timedelta(hours=1)))), utc_text(None)
        ('2026-11-28T09:00:00Z', '')
    """
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_iso(moment: datetime | None) -> str | None:
    """Full-precision ISO 8601 in UTC with a `Z`, for JSON.

    Example:
        >>> utc_iso(datetime(2026, 11, 28, 9, 0, 0, 500, tzinfo=UTC)), utc_iso(None)
        ('2026-11-28T09:00:00.000500Z', None)
    """
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
