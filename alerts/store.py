"""The alert store: SQLite (WAL) through SQLAlchemy, schema by Alembic."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, select, update
from sqlalchemy.orm import Session

from alerts.alert import Alert, AlertStatus, Severity
from alerts.tables import AlertRow

_MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class AlertStore:
    """Reads and writes alerts; the schema is brought up to date on open.

    Example:
        >>> store = AlertStore(":memory:")  # doctest: +SKIP
        >>> store.list_alerts()  # doctest: +SKIP
        []
    """

    def __init__(self, database: str | Path) -> None:
        if str(database) != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(f"sqlite:///{database}")
        event.listen(self.engine, "connect", _sqlite_pragmas)
        self._upgrade_schema()

    def _upgrade_schema(self) -> None:
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def insert(self, alert: Alert) -> int:
        """Store a new alert and return its id."""
        row = AlertRow(
            camera=alert.camera,
            rule=alert.rule,
            kind=alert.kind,
            label=alert.label,
            track_id=alert.track_id,
            score=alert.score,
            severity=str(alert.severity),
            started_at=alert.started_at,
            ended_at=alert.ended_at,
            status=str(alert.status),
            snapshot_path=alert.snapshot_path,
            box=",".join(f"{v:.1f}" for v in alert.box),
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)
            session.flush()
            return row.id

    def end(self, alert_id: int, ended_at: datetime) -> None:
        with Session(self.engine) as session, session.begin():
            session.execute(
                update(AlertRow).where(AlertRow.id == alert_id, AlertRow.ended_at.is_(None)).values(ended_at=ended_at)
            )

    def list_alerts(self, camera: str | None = None, limit: int = 100) -> list[Alert]:
        """The newest alerts first."""
        query = select(AlertRow).order_by(AlertRow.started_at.desc(), AlertRow.id.desc()).limit(limit)
        if camera is not None:
            query = query.where(AlertRow.camera == camera)
        with Session(self.engine) as session:
            return [_to_alert(row) for row in session.scalars(query)]

    def close(self) -> None:
        self.engine.dispose()


def _to_alert(row: AlertRow) -> Alert:
    x1, y1, x2, y2 = (float(v) for v in row.box.split(","))
    return Alert(
        camera=row.camera,
        rule=row.rule,
        kind=row.kind,
        label=row.label,
        track_id=row.track_id,
        score=row.score,
        severity=Severity(row.severity),
        started_at=row.started_at,
        box=(x1, y1, x2, y2),
        ended_at=row.ended_at,
        status=AlertStatus(row.status),
        snapshot_path=row.snapshot_path,
        id=row.id,
    )
