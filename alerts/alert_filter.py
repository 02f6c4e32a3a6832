"""Which alerts a listing or a count takes: the one filter of the store, the dashboard and the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select

from alerts.alert import AlertStatus, Severity
from alerts.tables import AlertRow


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts to take; None means any. Times select alerts that started in [since, until).

    Example:
        >>> from sqlalchemy import select
        >>> str(AlertFilter(camera="lobby").where(select(AlertRow.id))).splitlines()[-1]
        'WHERE alerts.camera = :camera_1'
    """

    camera: str | None = None
    rule: str | None = None
    severity: Severity | None = None
    status: AlertStatus | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self, query: Select) -> Select:
        """`query` narrowed to the alerts that match."""
        for column, value in (
            (AlertRow.camera, self.camera),
            (AlertRow.rule, self.rule),
            (AlertRow.severity, self.severity),
            (AlertRow.status, self.status),
        ):
            if value is not None:
                query = query.where(column == str(value))
        if self.since is not None:
            query = query.where(AlertRow.started_at >= self.since)
        if self.until is not None:
            query = query.where(AlertRow.started_at < self.until)
        return query

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `AlertStore.list_alerts`."""
        return asdict(self)
