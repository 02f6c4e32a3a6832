"""Retention of recordings on a real SQLite index and real files: by days, in events mode, by size and free disk,
and alerts keep their footage."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts import Alert, AlertStatus, AlertStore, Severity
from alerts.recording_keeper import RecordingKeeper
from alerts.recording_retention import CameraRetention, Retention, RetentionPolicy
from alerts.recordings import RecordingIndex
from streamer.segments import RecordedSegment, segment_path
from tests.test_store_outage import wait_until

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SEGMENT = timedelta(seconds=10)
MB = 1_000_000


@pytest.fixture
def site(tmp_path: Path):
    store = AlertStore(tmp_path / "vigil.db")
    yield store, RecordingIndex(store.engine, tmp_path / "recordings")
    store.close()


def record(index: RecordingIndex, camera: str, start: datetime, size: int = MB) -> Path:
    """A 10 s segment file of `size` bytes at `start`, indexed."""
    path = segment_path(index.root, camera, start)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    index.add([RecordedSegment(camera, path, start, start + SEGMENT, size, (0.0,), "h264", 1280, 720)])
    return path


def alert_at(store: AlertStore, camera: str, started_at: datetime, seconds: float = 4) -> int:
    return store.insert(Alert(camera, "seen", "presence", "person", 1, 0.9, Severity.INFO, started_at, (0, 0, 9, 9),
                              ended_at=started_at + timedelta(seconds=seconds), status=AlertStatus.RESOLVED))


def remaining(index: RecordingIndex, camera: str = "gate") -> list[datetime]:
    return [r.start for r in index.between(camera, NOW - timedelta(days=30), NOW + timedelta(days=1))]


def test_segments_past_their_days_go_but_an_alerts_footage_stays_while_the_alert_does(site, caplog) -> None:
    store, index = site
    old, older, recent = NOW - timedelta(days=2), NOW - timedelta(days=3), NOW - timedelta(hours=12)
    paths = [record(index, "gate", t) for t in (older, old, old + SEGMENT, recent)]
    alert_id = alert_at(store, "gate", old + timedelta(seconds=12))  # in the segment at old + 10 s
    retention = Retention(index, RetentionPolicy({"gate": CameraRetention(days=1)}, pre_s=3, post_s=3))

    with caplog.at_level(logging.INFO, logger="alerts.recording_retention"):
        retention.apply(NOW)
    # The alert's window [old + 9 s, old + 19 s] reaches into the segment before it (pre_s) too.
    assert remaining(index) == [old, old + SEGMENT, recent]
    assert not paths[0].exists() and not paths[0].parent.exists(), "the file and its emptied folders are gone"
    assert "deleted 1 segment(s), 1.0 MB (gate: older than 1 days)" in caplog.text

    store.delete_before(NOW, statuses=(AlertStatus.RESOLVED,))
    assert not store.list_alerts() and alert_id
    retention.apply(NOW)
    assert remaining(index) == [recent], "with the alert gone, so is its footage"
    assert [p.exists() for p in paths] == [False, False, False, True]


def test_events_days_keeps_alert_footage_that_long_only(site) -> None:
    store, index = site
    for days in (5, 2):
        record(index, "gate", NOW - timedelta(days=days))
        alert_at(store, "gate", NOW - timedelta(days=days, seconds=-5))
    Retention(index, RetentionPolicy({"gate": CameraRetention(days=1, events_days=3)})).apply(NOW)
    assert remaining(index) == [NOW - timedelta(days=2)]


def test_events_mode_keeps_only_segments_near_alerts_and_the_newest(site) -> None:
    store, index = site
    hour_ago = NOW - timedelta(hours=1)
    for i in range(6):
        record(index, "gate", hour_ago + i * SEGMENT)
    for i in range(3):
        record(index, "gate", NOW - timedelta(seconds=30) + i * SEGMENT)  # within hold_s: an alert may still claim it
    alert_at(store, "gate", hour_ago + timedelta(seconds=31), seconds=2)  # [28 s, 36 s] with pre 3 and post 3
    rules = CameraRetention(mode="events", days=None, hold_s=60)
    retention = Retention(index, RetentionPolicy({"gate": rules}, pre_s=3, post_s=3))
    retention.apply(NOW)
    assert remaining(index) == [hour_ago + 2 * SEGMENT, hour_ago + 3 * SEGMENT,
                                *(NOW - timedelta(seconds=30) + i * SEGMENT for i in range(3))]
    retention.apply(NOW + timedelta(minutes=5))
    assert remaining(index) == [hour_ago + 2 * SEGMENT, hour_ago + 3 * SEGMENT], "once old enough, the rest go"


def test_past_max_bytes_the_oldest_go_first_and_alert_footage_last(site, caplog) -> None:
    store, index = site
    starts = [NOW - timedelta(hours=5 - i) for i in range(5)]
    for start in starts:
        record(index, "gate", start, size=3 * MB)
    record(index, "door", NOW - timedelta(hours=4, minutes=30), size=3 * MB)
    alert_at(store, "gate", starts[0] + timedelta(seconds=5))
    policy = RetentionPolicy({"gate": CameraRetention(days=None), "door": CameraRetention(days=None)},
                             max_bytes=10 * MB)
    Retention(index, policy).apply(NOW)
    assert index.total_bytes() <= 10 * MB
    assert remaining(index) == [starts[0], starts[3], starts[4]], "the oldest without an alert went first"
    assert remaining(index, "door") == []

    with caplog.at_level(logging.WARNING, logger="alerts.recording_retention"):
        Retention(index, RetentionPolicy(policy.cameras, max_bytes=3 * MB)).apply(NOW)
        assert remaining(index) == [starts[0]], "even newer footage goes before an alert's"
        assert not caplog.text
        Retention(index, RetentionPolicy(policy.cameras, max_bytes=1 * MB)).apply(NOW)
    assert remaining(index) == []
    assert "footage of alerts too, to free space" in caplog.text


def test_the_free_disk_guard_deletes_the_oldest_until_there_is_room(site) -> None:
    store, index = site
    starts = [NOW - timedelta(hours=3 - i) for i in range(3)]
    for start in starts:
        record(index, "gate", start, size=2 * MB)
    free = shutil.disk_usage(index.root).free
    guard = RetentionPolicy({"gate": CameraRetention(days=None)}, min_free_bytes=free - 2 * MB,
                            free_margin_bytes=2 * MB + MB // 2)
    Retention(index, guard).apply(NOW)
    # Below the floor plus the margin: freed up to twice the margin above the floor, 3 MB, oldest first.
    assert remaining(index) == [starts[2]], "4 MB freed for the 3 MB wanted"
    calm = RetentionPolicy(guard.cameras, min_free_bytes=free - 20 * MB, free_margin_bytes=10 * MB)
    Retention(index, calm).apply(NOW)
    assert remaining(index) == [starts[2]], "above the floor plus the margin nothing goes"


def test_the_recordings_of_a_camera_no_longer_configured_expire_too(site) -> None:
    _store, index = site
    record(index, "old-gate", NOW - timedelta(days=3))
    record(index, "old-gate", NOW - timedelta(hours=1))
    Retention(index, RetentionPolicy({"gate": CameraRetention(days=None)}, removed=CameraRetention(days=1))).apply(NOW)
    assert remaining(index, "old-gate") == [NOW - timedelta(hours=1)]


def test_the_keeper_holds_segments_while_the_store_is_locked_and_indexes_them_after(tmp_path: Path, caplog) -> None:
    store = AlertStore(tmp_path / "vigil.db", busy_timeout_ms=50)
    index = RecordingIndex(store.engine, tmp_path / "recordings")
    indexed = threading.Event()
    keeper = RecordingKeeper(index, Retention(index, RetentionPolicy({"gate": CameraRetention(days=None)})),
                             ["gate"], on_indexed=lambda camera, end: indexed.set())
    keeper.start()
    locker = sqlite3.connect(tmp_path / "vigil.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    path = segment_path(index.root, "gate", NOW)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\0" * 100)
    with caplog.at_level(logging.WARNING, logger="alerts.recording_keeper"):
        keeper.submit(RecordedSegment("gate", path, NOW, NOW + SEGMENT, 100, (0.0,), "h264", 1280, 720))
        wait_until(lambda: "indexing 1 segment(s) failed" in caplog.text, "the failed attempt")
    assert not indexed.is_set()
    locker.execute("ROLLBACK")
    assert indexed.wait(timeout=30), "indexed on the next try"
    keeper.stop()
    assert remaining(index) == [NOW] and keeper.is_alive() is False
    store.close()
