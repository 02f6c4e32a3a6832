"""Read-only aggregate queries on the alert database that AlertStore does not offer: counts and recent starts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from alerts import AlertStore
from alerts.tables import AlertRow
from dashboard.filters import AlertFilters


def count_alerts(store: AlertStore, filters: AlertFilters) -> int:
    """How many alerts `store.list_alerts(**filters.as_kwargs(), limit=None)` would return."""
    query = select(func.count()).select_from(AlertRow)
    with Session(store.engine) as session:
        return session.scalar(_matching(query, filters))


def totals_by_rule_and_status(store: AlertStore) -> dict[tuple[str, str], int]:
    """Stored alerts per (rule, status)."""
    query = select(AlertRow.rule, AlertRow.status, func.count()).group_by(AlertRow.rule, AlertRow.status)
    with Session(store.engine) as session:
        return {(rule, status): count for rule, status, count in session.execute(query)}


def starts_since(store: AlertStore, since: datetime) -> list[tuple[str, datetime]]:
    """(rule, started_at) of the alerts that started at or after `since`."""
    query = select(AlertRow.rule, AlertRow.started_at).where(AlertRow.started_at >= since)
    with Session(store.engine) as session:
        return [(rule, started_at) for rule, started_at in session.execute(query)]


def _matching(query: Select, filters: AlertFilters) -> Select:
    for column, value in (
        (AlertRow.camera, filters.camera),
        (AlertRow.rule, filters.rule),
        (AlertRow.severity, filters.severity),
        (AlertRow.status, filters.status),
    ):
        if value is not None:
            query = query.where(column == str(value))
    if filters.since is not None:
        query = query.where(AlertRow.started_at >= filters.since)
    if filters.until is not None:
        query = query.where(AlertRow.started_at < filters.until)
    return query
