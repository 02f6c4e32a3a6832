"""`vigil run` as a user runs it: the real model on the sample video, alerts with snapshots in SQLite."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import TEST_IMGSZ

pytestmark = pytest.mark.slow


def demo_config(video: Path, tmp_path: Path) -> dict:
    return {
        "cameras": {"lobby": {"url": str(video), "detect_fps": 5, "loop": True, "realtime": True}},
        "detector": {"model": "default", "imgsz": TEST_IMGSZ, "device": "cpu"},
        "rules": [
            {"name": "person-seen", "kind": "presence", "classes": ["person"], "min_score": 0.4,
             "min_duration_s": 1, "cooldown_s": 3, "severity": "info"},
            {"name": "person-down", "kind": "presence", "classes": ["fallen_person"], "min_score": 0.7,
             "min_duration_s": 1, "cooldown_s": 30, "severity": "critical"},
        ],
        "storage": {"database": str(tmp_path / "vigil.db"), "media_dir": str(tmp_path / "media")},
        "log_interval_s": 2,
    }


def alert_rows(database: Path) -> list[dict]:
    """The alerts as stored, their media paths (kept relative to the media folder beside the database) made whole."""
    with sqlite3.connect(database) as db:
        db.row_factory = sqlite3.Row
        found = [dict(row) for row in db.execute("SELECT * FROM alerts ORDER BY id")]
    for row in found:
        assert not Path(row["snapshot_path"]).is_absolute(), "rows keep paths relative to the media folder"
        row["snapshot_path"] = str(database.parent / "media" / row["snapshot_path"])
    return found


def vigil_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "vigil", "run", "-c", str(config), "--no-dashboard", *args]


def test_a_run_raises_person_alerts_with_snapshots_and_sigterm_stops_it_cleanly(sample_video, write_config,
                                                                             tmp_path) -> None:
    config = demo_config(sample_video, tmp_path)
    config["rules"][0]["clear_after_s"] = 600  # keep alerts open until the stop
    path = write_config(config)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        vigil_command(path), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env
    )
    seen: list[str] = []
    try:
        for line in process.stderr:
            seen.append(line)
            if "alert 3:" in line:
                break
        else:
            pytest.fail("vigil run ended before raising three alerts")
        process.send_signal(signal.SIGTERM)
        _, remaining = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, remaining[-3000:]
    assert "lobby: streaming fps in" in "".join(seen), "a periodic status line per camera"
    assert "received SIGTERM, stopping" in remaining
    assert "pipeline stopped" in remaining
    rows = alert_rows(tmp_path / "vigil.db")
    assert len(rows) >= 3
    assert {row["rule"] for row in rows} == {"person-seen"}, "walkers must not raise the fall rule"
    for row in rows:
        assert (row["camera"], row["kind"], row["label"], row["severity"], row["status"]) == (
            "lobby", "presence", "person", "info", "new"
        )
        assert row["track_id"] >= 0 and row["score"] >= 0.4
        assert Path(row["snapshot_path"]).is_file() and Path(row["snapshot_path"]).stat().st_size > 10_000
        assert row["ended_at"] is not None, "open alerts are closed at the stop"
        assert datetime.fromisoformat(row["ended_at"]) >= datetime.fromisoformat(row["started_at"])
    with sqlite3.connect(tmp_path / "vigil.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_bad_config_exits_2_with_the_field(write_config, tmp_path) -> None:
    path = write_config({"cameras": {"lobby": {"url": "gopher://x"}}})
    result = subprocess.run(vigil_command(path, "--duration", "1"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "cameras.lobby.url: unsupported URL scheme 'gopher'" in result.stderr


def test_broken_files_fail_their_camera_and_the_run_ends_by_itself(sample_video, write_config, tmp_path) -> None:
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(sample_video.read_bytes()[: 2_500_000])
    not_video = tmp_path / "report.mp4"
    not_video.write_text("quarterly report\n")
    config = demo_config(sample_video, tmp_path)
    config["cameras"] = {
        "cut": {"url": str(truncated), "detect_fps": 1, "realtime": False},
        "text": {"url": str(not_video), "realtime": False},
    }
    result = subprocess.run(vigil_command(write_config(config)), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"camera text: {not_video}: cannot open: Invalid data found when processing input" in result.stderr
    assert f"camera cut: {truncated}: video ended after" in result.stderr
    assert "every camera has ended or failed; stopping" in result.stderr
    assert "Traceback" not in result.stderr
