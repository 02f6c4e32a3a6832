"""The alert store on a real SQLite file: schema by migration, WAL, aware UTC times."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import cv2
import numpy as np
import pytest
from sqlalchemy.exc import StatementError

from alerts import Alert, AlertEnded, AlertStarted, AlertStatus, AlertStore, AlertWriter, Severity
from streamer import Frame


def alert(camera: str = "lobby", started_at: datetime | None = None) -> Alert:
    return Alert(
        camera=camera,
        rule="person-seen",
        kind="presence",
        label="person",
        track_id=4,
        score=0.81,
        severity=Severity.INFO,
        started_at=started_at or datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
        box=(10.0, 20.0, 50.0, 120.0),
    )


def test_schema_is_created_by_migration_in_wal_mode(tmp_path) -> None:
    path = tmp_path / "sub" / "vigil.db"
    AlertStore(path).close()
    AlertStore(path).close()  # upgrading an up-to-date file changes nothing
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
        columns = {row[1] for row in db.execute("PRAGMA table_info(alerts)")}
    assert {"id", "camera", "rule", "kind", "label", "track_id", "score", "severity", "started_at", "ended_at"} <= columns
    assert {"status", "snapshot_path"} <= columns


def test_insert_end_and_list_keep_times_aware_utc(tmp_path) -> None:
    store = AlertStore(tmp_path / "vigil.db")
    paris = timezone(timedelta(hours=1))
    first = store.insert(alert(started_at=datetime(2026, 11, 28, 10, 0, tzinfo=paris)))
    second = store.insert(alert(camera="gate"))
    store.end(first, datetime(2026, 11, 28, 9, 5, tzinfo=UTC))
    newest_first = store.list_alerts()
    assert [a.id for a in newest_first] == [second, first]
    stored = store.list_alerts(camera="lobby")[0]
    assert stored.started_at == datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    assert stored.started_at.tzinfo is UTC
    assert stored.ended_at == datetime(2026, 11, 28, 9, 5, tzinfo=UTC)
    assert (stored.status, stored.severity, stored.box) == (AlertStatus.NEW, Severity.INFO, (10.0, 20.0, 50.0, 120.0))


def test_naive_times_are_refused(tmp_path) -> None:
    store = AlertStore(tmp_path / "vigil.db")
    with pytest.raises(StatementError, match="timezone-aware"):
        store.insert(alert(started_at=datetime(2026, 11, 28, 9, 30)))


def test_writer_saves_the_snapshot_before_the_row_and_ends_alerts(tmp_path) -> None:
    store = AlertStore(tmp_path / "vigil.db")
    writer = AlertWriter(store, tmp_path / "media")
    writer.start()
    image = np.full((240, 320, 3), 90, np.uint8)
    started = alert()
    writer.submit([AlertStarted(started, Frame("lobby", 3, 0.3, 0.0, 0.0, image))])
    writer.submit([AlertEnded(started.key, datetime(2026, 11, 28, 9, 31, tzinfo=UTC))])
    writer.stop()
    [stored] = store.list_alerts()
    assert stored.ended_at == datetime(2026, 11, 28, 9, 31, tzinfo=UTC)
    snapshot = tmp_path / "media" / "lobby" / "2026-11-28"
    assert stored.snapshot_path is not None and stored.snapshot_path.startswith(str(snapshot))
    data = open(stored.snapshot_path, "rb").read()
    assert data[:2] == b"\xff\xd8", "a JPEG"
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (240, 320, 3)
    assert np.abs(picture[20:120, 10:12].astype(int) - 90).max() > 40, "the box is drawn on the left edge"
