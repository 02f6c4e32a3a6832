"""Alert filters from query arguments, shared by the HTML pages and the JSON API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from flask import abort, request
from werkzeug.routing import IntegerConverter

from alerts import AlertFilter, AlertStatus, Severity


MAX_SQL_INT = 2**63 - 1
"""The largest id, offset or count SQLite and PostgreSQL hold; larger ones would overflow in the driver."""


class BadFilter(ValueError):
    """A query argument cannot be used as a filter; the message names it."""


def filters_from_args(args: Mapping[str, str]) -> AlertFilter:
    """The alert filters `args` name; empty values mean no filter (as an HTML form sends them). Raises BadFilter.

    Example:
        >>> filters_from_args({"camera": "lobby", "status": "new", "since": "2026-11-28T09:00"}).since
        datetime.datetime(2026, 11, 28, 9, 0, tzinfo=datetime.timezone.utc)
    """
    values = {field.name: (args.get(field.name) or "").strip() or None for field in fields(AlertFilter)}
    return AlertFilter(
        camera=values["camera"],
        rule=values["rule"],
        severity=_choice("severity", values["severity"], Severity),
        status=_choice("status", values["status"], AlertStatus),
        since=_moment("since", values["since"]),
        until=_moment("until", values["until"]),
    )


def request_filters() -> AlertFilter:
    """The alert filters of this request's query string; a bad one is a 400 naming it."""
    try:
        return filters_from_args(request.args)
    except BadFilter as error:
        abort(400, description=str(error))


def _choice(name: str, text: str | None, kind: type[Severity | AlertStatus]) -> Any:
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        raise BadFilter(f"{name}: unknown value {text!r}; expected one of {', '.join(kind)}") from None


def _moment(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: a time zone pushing year 1 or 9999 out of range
        raise BadFilter(f"{name}: {text!r} is not an ISO 8601 time such as 2026-11-28T09:00 (UTC)") from None


def whole_number(text: str, minimum: int, maximum: int) -> int | None:
    """`text` as a whole number within [minimum, maximum], else None; digits are counted before any conversion."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)):
        return None
    value = int(text)
    return value if minimum <= value <= maximum else None


def query_int(name: str, default: int, minimum: int = 0, maximum: int = MAX_SQL_INT) -> int:
    """A whole-number query argument within [minimum, maximum]; anything else is a 400 naming it."""
    text = request.args.get(name, "")
    if not text:
        return default
    value = whole_number(text, minimum, maximum)
    if value is None:
        abort(400, description=f"{name}: {text[:40]!r} is not a whole number from {minimum} to {maximum}")
    return value


def is_sql_int(text: str) -> bool:
    """Whether `text` is a whole number the database can hold (ids from forms)."""
    return whole_number(text, 0, MAX_SQL_INT) is not None


class SqlIntConverter(IntegerConverter):
    """`<int:…>` in routes, matching only ids the database can hold: a larger one is a 404, not an overflow."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 (Werkzeug's argument name)
        kwargs.setdefault("max", MAX_SQL_INT)
        super().__init__(map, *args, **kwargs)
