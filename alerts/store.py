"""The alert store: SQLite (WAL) or PostgreSQL through SQLAlchemy, schema by Alembic."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, delete, event, func, insert, select, update
from sqlalchemy.orm import Session

from alerts.alert import Alert, AlertStatus, Severity
from alerts.alert_filter import AlertFilter
from alerts.notify.events import CameraStatus, EventKind, add_alert_event, add_camera_event
from alerts.media_root import MediaRoot
from alerts.private_files import private_sqlite_file
from alerts.tables import AlertActionRow, AlertRow, OutboxRow

_MIGRATIONS = Path(__file__).parent / "migrations"

_ALLOWED_FROM: dict[AlertStatus, tuple[AlertStatus, ...]] = {
    AlertStatus.NEW: (),
    AlertStatus.ACKNOWLEDGED: (AlertStatus.NEW,),
    AlertStatus.RESOLVED: (AlertStatus.NEW, AlertStatus.ACKNOWLEDGED),
    AlertStatus.FALSE_POSITIVE: (AlertStatus.NEW, AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED),
}
"""For each status, the statuses an alert may move to it from."""


def is_database_url(database: str | Path) -> bool:
    """A SQLAlchemy URL (postgresql+psycopg://…) rather than a SQLite file's path."""
    return "://" in str(database)


class AlertNotFound(LookupError):
    def __init__(self, alert_id: int) -> None:
        self.alert_id = alert_id
        super().__init__(f"no alert with id {alert_id}")


class InvalidTransition(ValueError):
    def __init__(self, alert_id: int, current: AlertStatus, requested: AlertStatus) -> None:
        self.alert_id = alert_id
        self.current = current
        self.requested = requested
        super().__init__(f"alert {alert_id}: cannot go from {current} to {requested}")


@dataclass(frozen=True, slots=True)
class AlertAction:
    """One entry of an alert's audit trail; `action` is a status value, "note" or "closed"."""

    alert_id: int
    at: datetime
    """Timezone-aware UTC."""
    actor: str
    action: str
    note: str | None


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def set_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return set_pragmas


class AlertStore:
    """Reads and writes alerts and their audit trail in SQLite (a file's path) or PostgreSQL (a URL,
    `postgresql+psycopg://user:password@host/db`); the schema is brought up to date on open.

    Every change an operator or a sink would want to hear of (an alert started, improved, ended, or its status
    changed; a camera's status) adds its outbox event in the change's own transaction: both are stored or neither.

    A SQLite database file and SQLite's files beside it are readable by their owner only (0600).

    Every method runs in its own transaction. A write that waits more than
    `busy_timeout_ms` for another connection's lock raises OperationalError.

    Example:
        >>> store = AlertStore(":memory:")  # doctest: +SKIP
        >>> store.list_alerts(camera="lobby", status=AlertStatus.NEW)  # doctest: +SKIP
        []
    """

    def __init__(self, database: str | Path, busy_timeout_ms: int = 5000, media_dir: str | Path | None = None) -> None:
        if is_database_url(database):  # postgresql+psycopg://user@host/db: the server keeps its own files
            self.engine: Engine = create_engine(str(database), pool_pre_ping=True)
        else:
            if str(database) != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
                private_sqlite_file(Path(database))
            self.engine = create_engine(f"sqlite:///{database}")
            event.listen(self.engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        self.media = MediaRoot(None if media_dir is None else Path(media_dir))
        """Snapshot and clip paths are kept relative to it: every node that mounts it reads the same files."""
        self._upgrade_schema()
        self._relativise_whole_paths()

    def _upgrade_schema(self) -> None:
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        sqlite = self.engine.dialect.name == "sqlite"
        with self.engine.connect() as connection:
            if sqlite:  # batch migrations rebuild tables: with foreign keys on, dropping `alerts` drops its actions
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")

    def _relativise_whole_paths(self) -> None:
        """Rows written before paths were relative (or by a store without the media folder) name it no more."""
        prefix = self.media.prefix
        if prefix is None:
            return
        with Session(self.engine) as session, session.begin():
            for column in (AlertRow.snapshot_path, AlertRow.clip_path, OutboxRow.snapshot_path):
                session.execute(update(column.class_).where(func.substr(column, 1, len(prefix)) == prefix)
                                .values({column: func.substr(column, len(prefix) + 1)}))

    def insert(self, alert: Alert) -> int:
        """Store a new alert and return its id; an alert whose key is already stored is kept as it is.

        So an alert replayed from the writer's journal after a crash is not stored twice.
        """
        row = AlertRow(
            alert_key=alert.key,
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
            snapshot_path=self.media.stored(alert.snapshot_path),
            box=_box_text(alert.box),
            zone=alert.zone,
            line=alert.line,
            count=alert.count,
            clip_path=self.media.stored(alert.clip_path),
            details=alert.details,
        )
        with Session(self.engine) as session, session.begin():
            existing = session.scalar(select(AlertRow.id).where(AlertRow.alert_key == alert.key))
            if existing is not None:
                return existing
            session.add(row)
            session.flush()
            add_alert_event(session, EventKind.ALERT_STARTED, _to_alert(row), f"{alert.key}.started")
            return row.id

    def id_for_key(self, key: str) -> int | None:
        """The id of the alert stored with `key`, or None."""
        with Session(self.engine) as session:
            return session.scalar(select(AlertRow.id).where(AlertRow.alert_key == key))

    def end(self, alert_id: int, ended_at: datetime) -> None:
        """Record when the alert ended; an alert that has already ended keeps its time."""
        with Session(self.engine) as session, session.begin():
            ended = session.execute(
                update(AlertRow).where(AlertRow.id == alert_id, AlertRow.ended_at.is_(None)).values(ended_at=ended_at)
            ).rowcount
            if ended:
                _add_event(session, alert_id, EventKind.ALERT_ENDED, "ended")

    def update_best(
        self,
        alert_id: int,
        score: float,
        box: tuple[float, float, float, float],
        snapshot_path: str | None,
        details: dict[str, Any],
    ) -> None:
        """Make a better-scoring moment the alert's own: its score, box and snapshot; `details` is merged in.

        A `snapshot_path` of None keeps the current snapshot.
        """
        values: dict[str, Any] = {"score": score, "box": _box_text(box)}
        if snapshot_path is not None:
            values["snapshot_path"] = self.media.stored(snapshot_path)
        with Session(self.engine) as session, session.begin():
            # The update comes first so the merge below reads details inside the write transaction.
            _update_one(session, alert_id, values)
            current = session.scalar(select(AlertRow.details).where(AlertRow.id == alert_id))
            session.execute(update(AlertRow).where(AlertRow.id == alert_id).values(details={**current, **details}))
            _add_event(session, alert_id, EventKind.ALERT_UPDATED, f"updated.{score:.6f}")

    def set_clip(self, alert_id: int, clip_path: str, starts_at: datetime | None = None,
                 ends_at: datetime | None = None) -> None:
        """Point the alert at its clip; the times it really covers go into details as `clip_from` and `clip_to`."""
        with Session(self.engine) as session, session.begin():
            _update_one(session, alert_id, {"clip_path": self.media.stored(clip_path)})
            if starts_at is not None and ends_at is not None:
                current = session.scalar(select(AlertRow.details).where(AlertRow.id == alert_id))
                covered = {"clip_from": starts_at.astimezone(UTC).isoformat(),
                           "clip_to": ends_at.astimezone(UTC).isoformat()}
                session.execute(update(AlertRow).where(AlertRow.id == alert_id).values(details={**current, **covered}))

    def set_status(self, alert_id: int, status: AlertStatus, actor: str, note: str | None = None) -> None:
        """Move the alert to `status` and record who did it, in one transaction.

        Allowed: new → acknowledged → resolved, new → resolved, and any status → false_positive.
        Asking for the status the alert already has changes nothing and records nothing.
        Raises AlertNotFound or InvalidTransition.
        """
        status = AlertStatus(status)
        with Session(self.engine) as session, session.begin():
            # Conditional update: the check and the change cannot be split by another writer.
            changed = session.execute(
                update(AlertRow)
                .where(AlertRow.id == alert_id, AlertRow.status.in_([str(s) for s in _ALLOWED_FROM[status]]))
                .values(status=str(status))
            ).rowcount
            if not changed:
                current = session.scalar(select(AlertRow.status).where(AlertRow.id == alert_id))
                if current is None:
                    raise AlertNotFound(alert_id)
                if current == status:
                    return
                raise InvalidTransition(alert_id, AlertStatus(current), status)
            action = _action(alert_id, actor, str(status), note)
            session.add(action)
            session.flush()
            _add_event(session, alert_id, EventKind.ALERT_STATUS, f"status.{action.id}",
                       {"status": str(status), "by": actor, "note": note})

    def add_note(self, alert_id: int, actor: str, note: str) -> None:
        if not note.strip():
            raise ValueError(f"empty note {note!r} for alert {alert_id}")
        with Session(self.engine) as session, session.begin():
            if session.get(AlertRow, alert_id) is None:
                raise AlertNotFound(alert_id)
            session.add(_action(alert_id, actor, "note", note))

    def actions(self, alert_id: int) -> list[AlertAction]:
        """The alert's audit trail, oldest first."""
        with Session(self.engine) as session:
            if session.get(AlertRow, alert_id) is None:
                raise AlertNotFound(alert_id)
            rows = session.scalars(
                select(AlertActionRow).where(AlertActionRow.alert_id == alert_id).order_by(AlertActionRow.id)
            )
            return [AlertAction(row.alert_id, row.at, row.actor, row.action, row.note) for row in rows]

    def get(self, alert_id: int) -> Alert:
        with Session(self.engine) as session:
            row = session.get(AlertRow, alert_id)
            if row is None:
                raise AlertNotFound(alert_id)
            return self._alert(row)

    def list_alerts(
        self,
        *,
        camera: str | None = None,
        rule: str | None = None,
        status: AlertStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        severity: Severity | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[Alert]:
        """Alerts newest first, optionally those that started in [since, until); `limit=None` returns all."""
        if (limit is not None and limit < 0) or offset < 0:
            raise ValueError(f"limit {limit} and offset {offset} must not be negative")
        matching = AlertFilter(camera=camera, rule=rule, severity=severity, status=status, since=since, until=until)
        query = select(AlertRow).order_by(AlertRow.started_at.desc(), AlertRow.id.desc()).limit(limit).offset(offset)
        with Session(self.engine) as session:
            return [self._alert(row) for row in session.scalars(matching.where(query))]

    def count_alerts(self, matching: AlertFilter = AlertFilter()) -> int:
        """How many alerts `list_alerts(**matching.as_kwargs(), limit=None)` returns."""
        with Session(self.engine) as session:
            return session.scalar(matching.where(select(func.count()).select_from(AlertRow)))

    def close_open(self, ended_at: datetime, note: str, actor: str = "system",
                   cameras: Collection[str] | None = None) -> int:
        """End every alert that has not ended (left open by a crash), of `cameras` if given, noting why; returns
        how many."""
        with Session(self.engine) as session, session.begin():
            query = update(AlertRow).where(AlertRow.ended_at.is_(None))
            if cameras is not None:
                query = query.where(AlertRow.camera.in_(list(cameras)))
            closed = session.scalars(query.values(ended_at=ended_at).returning(AlertRow.id)).all()
            if closed:
                now = datetime.now(UTC)
                session.execute(
                    insert(AlertActionRow),
                    [{"alert_id": i, "at": now, "actor": actor, "action": "closed", "note": note} for i in closed],
                )
                for alert_id in closed:
                    _add_event(session, alert_id, EventKind.ALERT_ENDED, "ended", {"note": note})
            return len(closed)

    def record_camera_status(self, camera: str, status: CameraStatus, at: datetime, error: str | None) -> None:
        """Tell the sinks `camera` went online, offline or stopped at `at` (a replay of the change adds nothing)."""
        with Session(self.engine) as session, session.begin():
            add_camera_event(session, camera, status, at, error)

    def delete_before(
        self, cutoff: datetime, statuses: tuple[AlertStatus, ...] = (AlertStatus.RESOLVED, AlertStatus.FALSE_POSITIVE)
    ) -> list[Alert]:
        """Delete alerts that started before `cutoff` with one of `statuses`, and their actions.

        Returns the deleted alerts, whose snapshot and clip files are the caller's to remove.
        """
        with Session(self.engine) as session, session.begin():
            rows = session.scalars(
                delete(AlertRow)
                .where(AlertRow.started_at < cutoff, AlertRow.status.in_([str(s) for s in statuses]))
                .returning(AlertRow)
            ).all()
            return [self._alert(row) for row in rows]

    def _alert(self, row: AlertRow) -> Alert:
        """The alert a row holds, its media paths whole."""
        alert = _to_alert(row)
        return replace(alert, snapshot_path=self.media.resolved(alert.snapshot_path),
                       clip_path=self.media.resolved(alert.clip_path))

    def close(self) -> None:
        self.engine.dispose()


def _update_one(session: Session, alert_id: int, values: dict[str, Any]) -> None:
    if not session.execute(update(AlertRow).where(AlertRow.id == alert_id).values(**values)).rowcount:
        raise AlertNotFound(alert_id)


def _add_event(session: Session, alert_id: int, kind: EventKind, suffix: str,
               change: dict[str, Any] | None = None) -> None:
    """Add the outbox event of a change just made to `alert_id`, keyed by the alert's key and `suffix`; an end says
    how many alerts of the rule are still open on the camera (a sensor stays on until none is)."""
    alert = _to_alert(session.scalars(select(AlertRow).where(AlertRow.id == alert_id)
                                      .execution_options(populate_existing=True)).one())
    rule_open = None
    if kind is EventKind.ALERT_ENDED:
        rule_open = session.scalar(select(func.count()).select_from(AlertRow).where(
            AlertRow.camera == alert.camera, AlertRow.rule == alert.rule, AlertRow.ended_at.is_(None)))
    add_alert_event(session, kind, alert, f"{alert.key}.{suffix}", change, rule_open)


def _action(alert_id: int, actor: str, action: str, note: str | None) -> AlertActionRow:
    return AlertActionRow(alert_id=alert_id, at=datetime.now(UTC), actor=actor, action=action, note=note)


def _box_text(box: tuple[float, float, float, float]) -> str:
    return ",".join(f"{v:.1f}" for v in box)


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
        clip_path=row.clip_path,
        zone=row.zone,
        line=row.line,
        count=row.count,
        details=row.details,
        id=row.id,
        key=row.alert_key,
    )
