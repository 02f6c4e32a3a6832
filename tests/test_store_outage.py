"""The alert writer against a real SQLite store that stalls, fails or crashes: submit never waits, no alert is lost."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy.exc import IntegrityError

from alerts import Alert, AlertEnded, AlertStarted, AlertStore, AlertUpdated, Severity
from alerts.journal import Journal
from alerts.store_writes import NewAlert, from_record, to_record
from alerts.writer import AlertWriter, ClipSaved, WriterEvent, raw_frame_path
from streamer import Frame

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
IMAGE = np.full((48, 64, 3), 90, np.uint8)
BEST_BOX = (6.0, 6.0, 30.0, 40.0)


def alert(i: int) -> Alert:
    """The i-th alert of a scene, with a key the test can name."""
    return Alert(
        camera="lobby", rule="person-seen", kind="presence", label="person", track_id=i, score=0.5,
        severity=Severity.INFO, started_at=T0 + timedelta(seconds=i), box=(4.0, 4.0, 20.0, 30.0), key=f"{i:032x}",
    )


def lifecycle(i: int, clips: Path) -> list[WriterEvent]:
    """Everything the pipeline submits for one alert: start, a better moment, its clip, its end."""
    started = alert(i)
    return [
        AlertStarted(started, Frame("lobby", 10 * i, 2.0 * i, 0.0, 0.0, IMAGE)),
        AlertUpdated(started.key, 0.9, BEST_BOX, Frame("lobby", 10 * i + 1, 2.0 * i + 0.2, 0.0, 0.0, IMAGE), {"peak": i}),
        ClipSaved(started.key, clips / f"clip-{i}.mp4"),
        AlertEnded(started.key, T0 + timedelta(seconds=i, milliseconds=500), 2.0 * i + 0.5),
    ]


def assert_fully_stored(store: AlertStore, count: int, clips: Path) -> None:
    """Alerts 0..count-1 stored once each, in the order submitted, with every later event applied."""
    stored = sorted(store.list_alerts(limit=None), key=lambda a: a.id)
    assert [a.key for a in stored] == [alert(i).key for i in range(count)]
    for i, a in enumerate(stored):
        assert (a.score, a.box, a.details) == (0.9, BEST_BOX, {"peak": i})
        assert a.ended_at == T0 + timedelta(seconds=i, milliseconds=500)
        assert a.clip_path == str(clips / f"clip-{i}.mp4")
        assert a.snapshot_path is not None and Path(a.snapshot_path).is_file()
        assert raw_frame_path(a.snapshot_path).is_file()


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.005)


def timed_submits(writer: AlertWriter, events: list[WriterEvent]) -> list[float]:
    """Each event submitted on its own; how long each call took, in seconds."""
    durations = []
    for event in events:
        started = time.perf_counter()
        writer.submit([event])
        durations.append(time.perf_counter() - started)
    return durations


def rename_table(database: Path, old: str, new: str) -> None:
    """A real failure: every statement on `alerts` fails with "no such table" until the table is renamed back."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute(f"ALTER TABLE {old} RENAME TO {new}")
    finally:
        connection.close()


def writer_for(store: AlertStore, folder: Path, **options) -> AlertWriter:
    return AlertWriter(store, folder / "media", journal_dir=folder / "vigil.db.journal", **options)


def test_submit_never_waits_on_a_locked_database_and_every_alert_lands_in_order(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="alerts")
    busy_s = 0.5
    store = AlertStore(tmp_path / "vigil.db", busy_timeout_ms=int(busy_s * 1000))
    writer = writer_for(store, tmp_path, max_pending=8)
    writer.start()
    locker = sqlite3.connect(tmp_path / "vigil.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    durations = timed_submits(writer, [event for i in range(15) for event in lifecycle(i, tmp_path)])
    wait_until(lambda: writer.stats().store_failing, "the locked store to fail a write")
    durations += timed_submits(writer, [event for i in range(15, 30) for event in lifecycle(i, tmp_path)])
    locked = writer.stats()
    locker.execute("ROLLBACK")
    locker.close()
    writer.stop()

    assert max(durations) < busy_s / 5, f"slowest submit took {max(durations):.3f} s"
    assert locked.journaled > 0 and locked.pending_in_journal > 0
    assert_fully_stored(store, 30, tmp_path)
    done = writer.stats()
    assert (done.queued, done.pending_in_journal, done.dropped, done.store_failing) == (0, 0, 0, False)
    assert done.replayed == done.journaled >= 60, "every event from the second half at least went through the journal"
    failing = [r for r in caplog.records if "alert store failing" in r.getMessage()]
    assert len(failing) == 1 and "database is locked" in failing[0].getMessage()
    assert "[SQL:" not in failing[0].getMessage(), "the driver's message only, not statements and their values"
    [recovered] = [r.getMessage() for r in caplog.records if "accepting writes again" in r.getMessage()]
    assert f"{done.replayed} write(s) replayed" in recovered


def test_a_store_that_fails_inserts_loses_nothing_and_keeps_the_order(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="alerts")
    database = tmp_path / "vigil.db"
    store = AlertStore(database)
    writer = writer_for(store, tmp_path, max_pending=4)
    writer.start()
    writer.submit(lifecycle(0, tmp_path))
    wait_until(lambda: (i := store.id_for_key(alert(0).key)) is not None and store.get(i).ended_at is not None,
               "the first alert to be stored")
    rename_table(database, "alerts", "alerts_away")
    writer.submit([event for i in range(1, 12) for event in lifecycle(i, tmp_path)])
    wait_until(lambda: writer.stats().pending_in_journal == 44, "the 44 events to be journaled")
    assert writer.stats().store_failing and writer.stats().queued == 0
    rename_table(database, "alerts_away", "alerts")
    writer.stop()

    assert_fully_stored(store, 12, tmp_path)
    assert writer.stats().pending_in_journal == 0
    [failing] = [r.getMessage() for r in caplog.records if "alert store failing" in r.getMessage()]
    assert "no such table: alerts" in failing


def test_stop_with_the_store_down_returns_and_leaves_the_writes_for_the_next_start(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="alerts")
    database = tmp_path / "vigil.db"
    store = AlertStore(database)
    rename_table(database, "alerts", "alerts_away")
    writer = writer_for(store, tmp_path)
    writer.start()
    writer.submit([event for i in range(3) for event in lifecycle(i, tmp_path)])
    started = time.monotonic()
    writer.stop(timeout_s=5.0)
    assert time.monotonic() - started < 5.0 and not writer.is_alive()
    assert writer.stats().pending_in_journal == 12
    assert any("12 write(s) left in the journal" in r.getMessage() for r in caplog.records)

    rename_table(database, "alerts_away", "alerts")
    store.close()
    again = AlertStore(database)
    next_start = writer_for(again, tmp_path)
    next_start.start()
    next_start.stop()
    assert_fully_stored(again, 3, tmp_path)


def test_the_bounded_queue_spills_to_the_journal_when_the_writer_is_stuck(tmp_path) -> None:
    store = AlertStore(tmp_path / "vigil.db")  # the default 5 s busy timeout keeps the writer stuck on the lock
    writer = writer_for(store, tmp_path, max_pending=5)
    writer.start()
    locker = sqlite3.connect(tmp_path / "vigil.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    events = [event for i in range(6) for event in lifecycle(i, tmp_path)]
    writer.submit(events[:1])
    wait_until(lambda: writer.stats().queued == 0, "the writer to take the first event and wait on the lock")
    durations = timed_submits(writer, events[1:])
    stuck = writer.stats()
    locker.execute("ROLLBACK")
    locker.close()
    writer.stop()

    assert max(durations) < 0.25, f"slowest submit took {max(durations):.3f} s"
    assert (stuck.queued, stuck.journaled, stuck.store_failing) == (5, len(events) - 6, False)
    assert_fully_stored(store, 6, tmp_path)
    assert writer.stats().replayed == len(events) - 6


def journal_then_wait_for_kill(folder: str) -> None:
    """In a child process: alert 0 stored, alerts 1-5 and the start of 6 journaled while the table is away; then
    wait to be killed."""
    folder_path = Path(folder)
    database = folder_path / "vigil.db"
    store = AlertStore(database)
    writer = writer_for(store, folder_path, max_pending=4)
    writer.start()
    writer.submit(lifecycle(0, folder_path))
    wait_until(lambda: (i := store.id_for_key(alert(0).key)) is not None and store.get(i).ended_at is not None,
               "alert 0 to be stored")
    rename_table(database, "alerts", "alerts_away")
    writer.submit([event for i in range(1, 6) for event in lifecycle(i, folder_path)])
    writer.submit(lifecycle(6, folder_path)[:1])
    wait_until(lambda: writer.stats().queued == 0 and writer.stats().pending_in_journal == 21, "21 journaled writes")
    print("journaled", flush=True)
    threading.Event().wait()


def test_a_journal_left_by_sigkill_is_replayed_once_on_the_next_start(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="alerts")
    script = f"from tests.test_store_outage import journal_then_wait_for_kill as run; run({str(tmp_path)!r})"
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        said = child.stdout.readline()
    finally:
        child.kill()
        _, errors = child.communicate(timeout=10)
    assert said == "journaled\n", errors[-3000:]

    database, journal = tmp_path / "vigil.db", tmp_path / "vigil.db.journal"
    held, spilled = journal / "held.jsonl", journal / "spilled.jsonl"
    assert held.stat().st_size and spilled.stat().st_size, "the failed write and those queued behind it, then the rest"
    rename_table(database, "alerts_away", "alerts")
    store = AlertStore(database)
    # Alert 1 committed just before the crash, still in the journal; alert 0's insert journaled a second time.
    store.insert(from_record(json.loads(held.read_text().splitlines()[0])).alert)
    Journal(spilled).append(to_record(NewAlert(alert(0))))

    writer = writer_for(store, tmp_path)
    writer.start()
    writer.stop()

    stored = sorted(store.list_alerts(limit=None), key=lambda a: a.id)
    assert [a.key for a in stored] == [alert(i).key for i in range(7)], "each alert once, in order"
    for a in stored[:6]:
        ended_at = T0 + timedelta(seconds=a.track_id, milliseconds=500)
        assert (a.score, a.clip_path is not None, a.ended_at) == (0.9, True, ended_at)
        assert a.snapshot_path is not None and Path(a.snapshot_path).is_file()
    left_open = stored[6]
    assert left_open.ended_at is not None, "the alert the crashed run left open is closed once replayed"
    assert [x.action for x in store.actions(left_open.id)] == ["closed"]
    stats = writer.stats()
    assert (stats.replayed, stats.pending_in_journal, stats.dropped) == (21 + 1 + 1, 0, 0), "and the closing marker"
    assert held.stat().st_size == spilled.stat().st_size == 0
    assert any("22 write(s) left in the journal" in r.getMessage() for r in caplog.records)


def test_an_alert_whose_snapshot_cannot_be_written_is_stored_without_it(tmp_path, caplog) -> None:
    (tmp_path / "media").write_text("a file where the media folder should be")
    store = AlertStore(tmp_path / "vigil.db")
    writer = writer_for(store, tmp_path)
    writer.start()
    writer.submit(lifecycle(0, tmp_path))
    writer.stop()
    [stored] = store.list_alerts()
    assert (stored.snapshot_path, stored.score, stored.ended_at is not None) == (None, 0.9, True)
    assert any("not written" in r.getMessage() and "stored without it" in r.getMessage() for r in caplog.records)


def test_snapshots_are_drawn_by_the_render_callable(tmp_path) -> None:
    drawn_for: list[str] = []

    def render(camera: str, image: np.ndarray, detections) -> np.ndarray:
        drawn_for.append(camera)
        return np.zeros_like(image)

    store = AlertStore(tmp_path / "vigil.db")
    writer = AlertWriter(store, tmp_path / "media", journal_dir=tmp_path / "journal", render=render)
    writer.start()
    writer.submit(lifecycle(0, tmp_path)[:1])
    writer.stop()
    [stored] = store.list_alerts()
    assert drawn_for == ["lobby"]
    assert cv2.imread(stored.snapshot_path).max() < 8, "drawn by render"
    assert abs(int(cv2.imread(str(raw_frame_path(stored.snapshot_path))).mean()) - 90) < 4, "the raw frame undrawn"


def test_alert_keys_are_unique_and_storing_a_stored_key_returns_its_id(tmp_path) -> None:
    store = AlertStore(tmp_path / "vigil.db")
    first = store.insert(alert(0))
    assert store.insert(alert(0)) == first == store.id_for_key(alert(0).key)
    assert store.id_for_key(alert(1).key) is None
    assert store.get(first).key == alert(0).key
    assert len(store.list_alerts()) == 1
    with store.engine.begin() as connection, pytest.raises(IntegrityError, match="UNIQUE"):
        connection.exec_driver_sql(
            "INSERT INTO alerts (camera, rule, kind, label, track_id, score, severity, started_at, status, box,"
            f" details, alert_key) VALUES ('lobby', 'r', 'presence', 'person', 1, 0.5, 'info', '2026-11-28', 'new',"
            f" '0,0,1,1', '{{}}', '{alert(0).key}')"
        )


def test_a_torn_last_journal_line_is_cut_when_the_journal_is_opened(tmp_path, caplog) -> None:
    path = tmp_path / "spilled.jsonl"
    path.write_text('{"write":"purge","cutoff":"2026-11-28T09:30:00+00:00"}\n{"write":"clip","ke')
    journal = Journal(path)
    assert journal.pending == 1
    assert journal.peek() == {"write": "purge", "cutoff": "2026-11-28T09:30:00+00:00"}
    journal.append({"write": "purge", "cutoff": "2026-11-29T09:30:00+00:00"})
    assert path.read_text().count("\n") == 2 and journal.pending == 2
    assert any("torn" in r.getMessage() for r in caplog.records)


def test_a_cluster_workers_replayed_journal_closes_the_alerts_of_its_own_cameras_only(tmp_path) -> None:
    """A camera worker that inherits its lost predecessor's journal must not end the alerts other workers run."""
    database = tmp_path / "vigil.db"
    store = AlertStore(database)
    open_ids = {camera: store.insert(Alert(camera, "seen", "presence", "person", 1, 0.5, Severity.INFO, T0,
                                           (1, 2, 3, 4))) for camera in ("lobby", "yard")}
    rename_table(database, "alerts", "alerts_away")
    lost = writer_for(store, tmp_path, cameras=["yard"])
    lost.start()
    lost.submit(lifecycle(0, tmp_path))
    lost.stop(timeout_s=5.0)
    assert lost.stats().pending_in_journal == 4
    rename_table(database, "alerts_away", "alerts")
    successor = writer_for(store, tmp_path, cameras=["yard"])
    successor.start()
    successor.stop()
    assert store.get(open_ids["yard"]).ended_at is not None, "its own camera's alert, left open, is closed"
    assert store.get(open_ids["lobby"]).ended_at is None, "another worker's camera keeps its open alert"
