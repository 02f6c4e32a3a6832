"""A stalled store never slows detection: the real pipeline while another connection holds SQLite locked."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from alerts import AlertStarted
from tests.conftest import TEST_IMGSZ
from vigil.config import VigilConfig
from vigil.pipeline import Pipeline

pytestmark = pytest.mark.slow

LOCK_S = 10.0
DETECT_FPS = 5.0


def test_a_database_locked_for_ten_seconds_neither_slows_detection_nor_loses_an_alert(
    sample_video, small_detector, tmp_path
) -> None:
    config = VigilConfig.model_validate({
        "cameras": {"lobby": {"url": str(sample_video), "detect_fps": DETECT_FPS, "loop": True, "realtime": True}},
        "detector": {"model": "default", "imgsz": TEST_IMGSZ, "device": "cpu"},
        "motion": {"enabled": False},
        "record": {"enabled": False},  # re-encoding the sample's MPEG-4 would take the CPU detection is timed on
        "rules": [{"name": "seen", "kind": "presence", "classes": ["person"], "min_score": 0.35,
                   "min_duration_s": 0.4, "cooldown_s": 0, "clear_after_s": 0.5}],
        "storage": {"database": str(tmp_path / "vigil.db"), "media_dir": str(tmp_path / "media"),
                    "recordings_dir": str(tmp_path / "recordings")},
        "finetune": {"models_dir": str(tmp_path / "models")},
    })
    pipeline = Pipeline(config, detector=small_detector)
    started: list[AlertStarted] = []
    raised = threading.Condition()
    process = pipeline.rule_engine.process

    def recording(frame, detections):
        events = process(frame, detections)
        with raised:
            started.extend(event for event in events if isinstance(event, AlertStarted))
            raised.notify_all()
        return events

    pipeline.rule_engine.process = recording
    pipeline.start()
    try:
        with raised:
            assert raised.wait_for(lambda: len(started) >= 1, timeout=60), "the scene raises alerts"
        locker = sqlite3.connect(config.storage.database, timeout=30, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            before = pipeline.health.snapshot()["lobby"].frames_out
            alerts_before = len(started)
            threading.Event().wait(LOCK_S)  # the stall itself: the store stays locked this long
            detected = pipeline.health.snapshot()["lobby"].frames_out - before
            during = len(started) - alerts_before
            assert pipeline.writer.stats().store_failing or pipeline.writer.stats().journaled, \
                "the writer met the lock and journaled"
        finally:
            locker.rollback()
            locker.close()
        assert detected >= 0.9 * DETECT_FPS * LOCK_S, f"{detected} frames detected in {LOCK_S:g} s of stall"
        assert during >= 2, "alerts were raised while the store was locked"
    finally:
        pipeline.stop()
    stats = pipeline.writer.stats()
    assert stats.pending_in_journal == 0 and stats.dropped == 0, stats
    stored = {alert.key for alert in pipeline.store.list_alerts(limit=None)}
    assert {event.alert.key for event in started} <= stored, "every alert raised is in the database"
