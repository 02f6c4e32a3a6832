"""Read-only aggregate queries on the alert database that AlertStore does not offer: totals and recent starts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts import AlertStore
from alerts.tables import AlertRow


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

