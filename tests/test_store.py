"""The alert store on a real SQLite file and a real PostgreSQL server: schema by migration, WAL, aware UTC times."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta, timezone

import cv2
import numpy as np
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.exc import StatementError

from alerts import Alert, AlertEnded, AlertStarted, AlertStatus, AlertStore, AlertWriter, Severity
from alerts.store import _MIGRATIONS, AlertNotFound
from alerts.writer import raw_frame_path
from streamer import Frame


def alert(camera: str = "lobby", started_at: datetime | None = None, **fields) -> Alert:
    return Alert(
        camera=camera,
        rule=fields.pop("rule", "person-seen"),
        kind="presence",
        label="person",
        track_id=4,
        score=0.81,
        severity=fields.pop("severity", Severity.INFO),
        started_at=started_at or datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
        box=(10.0, 20.0, 50.0, 120.0),
        **fields,
    )


def test_schema_is_created_by_migration_in_wal_mode(tmp_path) -> None:
    path = tmp_path / "sub" / "vigil.db"
    AlertStore(path).close()
    AlertStore(path).close()  # upgrading an up-to-date file changes nothing
    store = AlertStore(path)
    with store.engine.connect() as first, store.engine.connect() as second:
        for connection in (first, second):
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1, "cascades apply on every connection"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2, "FULL"
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0009",)]
        columns = {row[1] for row in db.execute("PRAGMA table_info(alerts)")}
        action_columns = {row[1] for row in db.execute("PRAGMA table_info(alert_actions)")}
        [foreign_key] = db.execute("PRAGMA foreign_key_list(alert_actions)").fetchall()
    assert columns == {
        "id", "camera", "rule", "kind", "label", "track_id", "score", "severity", "started_at", "ended_at", "status",
        "snapshot_path", "box", "zone", "line", "count", "clip_path", "details", "alert_key",
    }
    assert action_columns == {"id", "alert_id", "at", "actor", "action", "note"}
    assert (foreign_key[2], foreign_key[3], foreign_key[4], foreign_key[6]) == ("alerts", "alert_id", "id", "CASCADE")


def test_insert_end_and_list_keep_times_aware_utc(database) -> None:
    store = AlertStore(database)
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


def test_naive_times_are_refused(database) -> None:
    store = AlertStore(database)
    with pytest.raises(StatementError, match="timezone-aware"):
        store.insert(alert(started_at=datetime(2026, 11, 28, 9, 30)))


def test_writer_saves_the_snapshot_before_the_row_and_ends_alerts(database, tmp_path) -> None:
    store = AlertStore(database)
    writer = AlertWriter(store, tmp_path / "media", journal_dir=tmp_path / "journal")
    writer.start()
    image = np.full((240, 320, 3), 90, np.uint8)
    started = alert()
    writer.submit([AlertStarted(started, Frame("lobby", 3, 0.3, 0.0, 0.0, image))])
    writer.submit([AlertEnded(started.key, datetime(2026, 11, 28, 9, 31, tzinfo=UTC), pts=60.0)])
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
    undrawn = cv2.imread(str(raw_frame_path(stored.snapshot_path)))
    assert np.abs(undrawn.astype(int) - 90).max() < 8, "the frame fine-tuning learns from has nothing drawn on it"


def test_event_fields_round_trip(database) -> None:
    store = AlertStore(database)
    details = {"dwell_s": 12.5, "direction": "in", "path": [[1, 2], [3, 4]], "note": "café"}
    alert_id = store.insert(alert(zone="door", line="gate-line", count=3, clip_path="/m/c.mp4", details=details))
    plain_id = store.insert(alert())
    stored = store.get(alert_id)
    assert (stored.zone, stored.line, stored.count, stored.clip_path) == ("door", "gate-line", 3, "/m/c.mp4")
    assert stored.details == details
    plain = store.get(plain_id)
    assert (plain.zone, plain.line, plain.count, plain.clip_path, plain.details) == (None, None, None, None, {})


def test_update_best_replaces_the_moment_and_merges_details(database) -> None:
    store = AlertStore(database)
    alert_id = store.insert(alert(snapshot_path="/m/first.jpg", details={"dwell_s": 3.0, "zone": "door"}))
    store.update_best(alert_id, 0.95, (11.0, 21.0, 51.0, 121.0), "/m/best.jpg", {"dwell_s": 7.5, "peak": True})
    best = store.get(alert_id)
    assert (best.score, best.box, best.snapshot_path) == (0.95, (11.0, 21.0, 51.0, 121.0), "/m/best.jpg")
    assert best.details == {"dwell_s": 7.5, "zone": "door", "peak": True}
    store.update_best(alert_id, 0.97, (12.0, 22.0, 52.0, 122.0), None, {})
    assert store.get(alert_id).snapshot_path == "/m/best.jpg", "None keeps the current snapshot"
    assert store.get(alert_id).score == 0.97


def test_set_clip_and_unknown_ids(database) -> None:
    store = AlertStore(database)
    alert_id = store.insert(alert())
    store.set_clip(alert_id, "/m/clip.mp4")
    assert store.get(alert_id).clip_path == "/m/clip.mp4"
    with pytest.raises(AlertNotFound, match="no alert with id 99"):
        store.get(99)
    with pytest.raises(AlertNotFound, match="99"):
        store.set_clip(99, "/m/clip.mp4")
    with pytest.raises(AlertNotFound, match="99"):
        store.update_best(99, 0.9, (0.0, 0.0, 1.0, 1.0), None, {})


def test_rows_keep_media_paths_relative_to_the_media_folder_and_old_whole_paths_are_made_so(database, tmp_path) -> None:
    """Every node mounts the shared media folder where it likes: no row names the folder itself."""
    old = AlertStore(database)  # a store from before paths were relative
    old_id = old.insert(alert(snapshot_path=str(tmp_path / "media/lobby/old.jpg"), clip_path="/elsewhere/c.mp4"))
    old.close()
    store = AlertStore(database, media_dir=tmp_path / "media")
    new_id = store.insert(alert(snapshot_path=str(tmp_path / "media/lobby/new.jpg")))
    store.update_best(new_id, 0.9, (1.0, 2.0, 3.0, 4.0), str(tmp_path / "media/lobby/best.jpg"), {})
    store.set_clip(new_id, str(tmp_path / "media/clips/new.mp4"))
    with store.engine.connect() as connection:
        rows = dict(connection.exec_driver_sql("SELECT id, snapshot_path || ' ' || clip_path FROM alerts").all())
        outbox = connection.exec_driver_sql("SELECT snapshot_path FROM outbox ORDER BY id").scalars().all()
    assert rows == {old_id: "lobby/old.jpg /elsewhere/c.mp4", new_id: "lobby/best.jpg clips/new.mp4"}
    assert outbox == ["lobby/old.jpg", "lobby/new.jpg", "lobby/best.jpg"]
    moved = AlertStore(database, media_dir=tmp_path / "mounted-elsewhere")
    assert moved.get(new_id).snapshot_path == str(tmp_path / "mounted-elsewhere/lobby/best.jpg")
    assert moved.get(old_id).clip_path == "/elsewhere/c.mp4", "a file outside the folder keeps its whole path"
    store.close()
    moved.close()


def test_close_open_may_be_limited_to_some_cameras(database) -> None:
    store = AlertStore(database)
    lobby, yard = store.insert(alert("lobby")), store.insert(alert("yard"))
    assert store.close_open(datetime.now(UTC), "camera moved", cameras=["yard"]) == 1
    assert store.get(lobby).ended_at is None and store.get(yard).ended_at is not None
    assert [a.note for a in store.actions(yard)] == ["camera moved"]
    store.close()


@pytest.mark.parametrize("details", [{"dwell_s": float("nan")}, {"when": datetime(2026, 1, 1)}])
def test_details_that_are_not_strict_json_are_refused(database, details) -> None:
    store = AlertStore(database)
    with pytest.raises(StatementError, match="not storable as JSON"):
        store.insert(alert(details=details))
    assert store.list_alerts() == []


def test_list_filters_combine_and_page(database) -> None:
    store = AlertStore(database)
    t0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    ids = [
        store.insert(alert("lobby", t0, rule="person-seen", severity=Severity.INFO)),
        store.insert(alert("lobby", t0 + timedelta(minutes=10), rule="person-down", severity=Severity.CRITICAL)),
        store.insert(alert("gate", t0 + timedelta(minutes=20), rule="person-seen", severity=Severity.INFO)),
        store.insert(alert("lobby", t0 + timedelta(minutes=30), rule="person-seen", severity=Severity.INFO)),
    ]
    store.set_status(ids[3], AlertStatus.ACKNOWLEDGED, "ana")

    def found(**filters) -> list[int]:
        return [a.id for a in store.list_alerts(**filters)]

    assert found(camera="lobby") == [ids[3], ids[1], ids[0]]
    assert found(rule="person-down") == [ids[1]]
    assert found(severity=Severity.INFO, camera="lobby") == [ids[3], ids[0]]
    assert found(status=AlertStatus.ACKNOWLEDGED) == [ids[3]]
    assert found(status=AlertStatus.NEW, rule="person-seen") == [ids[2], ids[0]]
    between = found(since=t0 + timedelta(minutes=10), until=t0 + timedelta(minutes=30))
    assert between == [ids[2], ids[1]], "since is inclusive, until exclusive"
    paris = timezone(timedelta(hours=1))
    assert found(since=datetime(2026, 11, 28, 10, 20, tzinfo=paris)) == [ids[3], ids[2]], "compared in UTC"
    assert found(limit=2) == [ids[3], ids[2]]
    assert found(limit=2, offset=2) == [ids[1], ids[0]]
    assert found(limit=None) == ids[::-1]
    with pytest.raises(ValueError, match="-1"):
        store.list_alerts(limit=-1)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_its_wal_files_are_owner_only_whatever_the_umask(tmp_path) -> None:
    path = tmp_path / "vigil.db"
    umask = os.umask(0o022)
    try:
        store = AlertStore(path)
        store.insert(alert())
        side_files = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
        assert all(file.exists() for file in side_files), "WAL is open"
        assert {file.name: _mode(file) for file in (path, *side_files)} == {
            "vigil.db": 0o600, "vigil.db-wal": 0o600, "vigil.db-shm": 0o600
        }
        store.close()
    finally:
        os.umask(umask)


def test_an_existing_database_open_to_others_is_tightened_with_a_warning(tmp_path, caplog) -> None:
    path = tmp_path / "vigil.db"
    AlertStore(path).close()
    path.chmod(0o664)
    wal = path.with_name("vigil.db-wal")
    wal.write_bytes(b"")
    wal.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="alerts.private_files"):
        AlertStore(path).close()
    assert _mode(path) == 0o600 and (not wal.exists() or _mode(wal) == 0o600)
    assert "vigil.db was open to other users (mode 0664); it is now owner-only (0600)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="alerts.private_files"):
        AlertStore(path).close()
    assert caplog.text == "", "an owner-only file is left as it is, silently"


def test_upgrading_a_database_where_two_jobs_raced_keeps_only_the_newest_active(tmp_path) -> None:
    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        insert = ("INSERT INTO training_jobs (dataset, status, requested_by, created_at, spec) "
                  "VALUES ('site', ?, 'admin', '2026-12-01 09:00:00', '{}')")
        for status in ("succeeded", "running", "queued"):
            connection.exec_driver_sql(insert, (status,))
        connection.commit()
    engine.dispose()
    AlertStore(path).close()
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT id, status, error FROM training_jobs ORDER BY id").fetchall()
        assert rows == [(1, "succeeded", None), (2, "failed", "another job was active at the same time"),
                        (3, "queued", None)]
        with pytest.raises(sqlite3.IntegrityError, match="uq_training_jobs_one_active"):
            db.execute(insert.replace("?", "'running'"))


@pytest.mark.filterwarnings("ignore:.*expression-based index:UserWarning", "ignore:.*expression-based index")
def test_the_migrations_build_the_schema_the_models_describe(database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from alerts.tables import Base

    store = AlertStore(database)
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        if connection.dialect.name == "postgresql":
            # Alembic cannot compare an expression index on PostgreSQL (it reports it removed and added): check it.
            one_active = [d for d in differences if d[1].name == "uq_training_jobs_one_active"]
            assert sorted(d[0] for d in one_active) == ["add_index", "remove_index"]
            differences = [d for d in differences if d not in one_active]
            definition = connection.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_training_jobs_one_active'").scalar_one()
            assert "UNIQUE INDEX" in definition and definition.count("'queued'") == 2, definition
        assert differences == []
    store.close()


def test_a_database_url_is_kept_its_password_masked_and_its_files_go_to_the_state_folder(write_config, tmp_path,
                                                                                          monkeypatch) -> None:
    from streamer.redaction import redact_text
    from vigil.config import ConfigError, load_config

    monkeypatch.setenv("DB_PASSWORD", "db-pass-4711")
    url = "postgresql+psycopg://vigil:${DB_PASSWORD}@db.lan:5432/vigil"
    storage = load_config(write_config({"cameras": {"lobby": {"url": "lobby.mp4"}},
                                        "storage": {"database": url}})).storage
    assert storage.database == "postgresql+psycopg://vigil:db-pass-4711@db.lan:5432/vigil", "not taken for a path"
    assert (storage.journal_dir, storage.secret_key, storage.score_profile) == (
        tmp_path / "data" / "vigil.journal", tmp_path / "data" / "dashboard-secret.key",
        tmp_path / "data" / "vigil.scores.json")
    assert "db-pass-4711" not in redact_text(f"cannot connect to {storage.database}")
    sqlite = load_config(write_config({"cameras": {"lobby": {"url": "lobby.mp4"}},
                                       "storage": {"database": "db/site.db"}}, name="sqlite.yaml")).storage
    assert (sqlite.journal_dir, sqlite.secret_key) == (tmp_path / "db" / "site.db.journal",
                                                       tmp_path / "db" / "dashboard-secret.key"), "as before"
    with pytest.raises(ConfigError, match="storage.database: unsupported database URL scheme 'mysql'"):
        load_config(write_config({"cameras": {"lobby": {"url": "lobby.mp4"}},
                                  "storage": {"database": "mysql://x/y"}}, name="mysql.yaml"))
