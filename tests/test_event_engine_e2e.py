"""The event engine end to end on the sample scene: every rule kind, clips, schedules, and surviving kill -9."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.notify.signature import HEADER, verify
from tests.camera_files import ffprobe
from tests.conftest import TEST_IMGSZ
from tests.notify_servers import HttpReceiver, Mosquitto, Subscriber

pytestmark = pytest.mark.slow

PERSON = {"classes": ["person"], "min_score": 0.35}
HOOK_SECRET = "e2e-webhook-secret-0123456789"


def scene_config(video: Path, tmp_path: Path, realtime: bool) -> dict:
    """Zones and a line drawn where people walk in the sample scene, and one rule of each kind."""
    now = datetime.now(UTC)
    not_now = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "timezone": "UTC",
               "start": (now + timedelta(hours=2)).strftime("%H:%M"), "end": (now + timedelta(hours=3)).strftime("%H:%M")}
    return {
        "cameras": {"lobby": {
            "url": str(video), "detect_fps": 5, "realtime": realtime, "loop": True,
            "zones": {"walkway": [[0.0, 0.28], [0.75, 0.28], [0.95, 0.42], [0.95, 0.62], [0.55, 0.58], [0.0, 0.45]]},
            "lines": {"midline": [[0.5, 0.2], [0.5, 0.7]]},
        }},
        "detector": {"model": "default", "imgsz": TEST_IMGSZ, "device": "cpu"},
        "rules": [
            {"name": "seen", "kind": "presence", "zone": "walkway", "min_duration_s": 1, "cooldown_s": 5, **PERSON},
            {"name": "loitering", "kind": "dwell", "zone": "walkway", "min_dwell_s": 4, "cooldown_s": 5, **PERSON},
            {"name": "crossing", "kind": "line_crossing", "line": "midline", "direction": "both", **PERSON},
            {"name": "crowd", "kind": "occupancy", "zone": "walkway", "min_count": 2, "min_duration_s": 1,
             "cooldown_s": 5, **PERSON},
            {"name": "night-watch", "kind": "presence", "min_duration_s": 0, "schedule": not_now, **PERSON},
            # "2 people on the walkway for 2 s": left to the defaults, and at the old default min_score of 0.5.
            {"name": "pair-by-default", "kind": "occupancy", "zone": "walkway", "classes": ["person"], "min_count": 2,
             "min_duration_s": 2, "cooldown_s": 5},
            {"name": "pair-at-old-default", "kind": "occupancy", "zone": "walkway", "classes": ["person"],
             "min_count": 2, "min_duration_s": 2, "cooldown_s": 5, "min_score": 0.5},
        ],
        "storage": {"database": str(tmp_path / "vigil.db"), "media_dir": str(tmp_path / "media"),
                    "recordings_dir": str(tmp_path / "recordings"), "clips": {"pre_s": 2, "post_s": 1}},
        "log_interval_s": 5,
    }


def rows(database: Path, query: str = "SELECT * FROM alerts ORDER BY id") -> list[dict]:
    """Rows as stored; media paths (kept relative to the media folder beside the database) made whole."""
    with sqlite3.connect(database) as db:
        db.row_factory = sqlite3.Row
        found = [dict(row) for row in db.execute(query)]
    for row in found:
        for field in ("snapshot_path", "clip_path"):
            if row.get(field):
                assert not Path(row[field]).is_absolute(), "rows keep paths relative to the media folder"
                row[field] = str(database.parent / "media" / row[field])
    return found


def vigil_run(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "vigil", "run", "-c", str(config), "--no-dashboard", *args]



def test_every_rule_kind_raises_alerts_with_snapshot_and_playable_clip(camera_video, write_config, tmp_path) -> None:
    config = write_config(scene_config(camera_video, tmp_path, realtime=False))
    result = subprocess.run(vigil_run(config, "--duration", "25"), capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    alerts = rows(tmp_path / "vigil.db")
    by_rule = {rule: [a for a in alerts if a["rule"] == rule] for rule in ("seen", "loitering", "crossing", "crowd")}
    assert all(by_rule.values()), ({rule: len(found) for rule, found in by_rule.items()}, result.stderr[-3000:])
    assert not [a for a in alerts if a["rule"] == "night-watch"], "a rule outside its schedule raises nothing"
    by_default = [a for a in alerts if a["rule"] == "pair-by-default"]
    at_old_default = [a for a in alerts if a["rule"] == "pair-at-old-default"]
    assert by_default and len(by_default) > len(at_old_default), (len(by_default), len(at_old_default))

    with_post = 0
    for alert in alerts:
        assert Path(alert["snapshot_path"]).stat().st_size > 10_000
        assert alert["ended_at"] is not None
        assert alert["clip_path"], f"alert {alert['id']} ({alert['rule']}) has no clip"
        covered = json.loads(alert["details"])
        clip_from, clip_to = (datetime.fromisoformat(covered[k]) for k in ("clip_from", "clip_to"))
        started, ended = (datetime.fromisoformat(alert[k]).replace(tzinfo=UTC) for k in ("started_at", "ended_at"))
        assert clip_from <= started - timedelta(seconds=2), "pre_s before the start (from the keyframe before)"
        with_post += clip_to >= ended + timedelta(seconds=1)
        if alert in by_rule.get(alert["rule"], [])[:2]:  # every alert's clip is probed by the recording tests
            clip = ffprobe(alert["clip_path"])
            assert (clip["codec_name"], clip["pix_fmt"], clip["width"], clip["height"]) == (
                "h264", "yuv420p", 768, 576)
            assert clip["r_frame_rate"] == "10/1", "the camera's own 10 fps, not the detect rate's 5"
            seconds = (clip_to - clip_from).total_seconds()
            assert abs(int(clip["nb_read_packets"]) - 10 * seconds) <= 1, "every frame it covers"
    assert with_post, "the alerts that ended during the run have post_s after their end"
    for crossing in by_rule["crossing"]:
        assert crossing["started_at"] == crossing["ended_at"], "a crossing is instantaneous"
        assert crossing["line"] == "midline" and json.loads(crossing["details"])["direction"] in ("in", "out")
    assert all(a["zone"] == "walkway" for rule in ("seen", "loitering", "crowd") for a in by_rule[rule])
    assert all(json.loads(a["details"])["dwell_s"] >= 4 for a in by_rule["loitering"])
    assert all(a["count"] >= 2 for a in by_rule["crowd"])


def test_kill_9_loses_no_written_alert_nor_notification_and_the_next_start_closes_open_ones(
        sample_video, write_config, tmp_path) -> None:
    """Killed while the webhook is down (an outbox backlog) and after alerts reached MQTT: the restart sends what
    is left, so every alert reaches MQTT, the webhook and the phone, each event once per idempotency key."""
    broker = Mosquitto(tmp_path).start()
    hook, phone = HttpReceiver(fail_first=10**6), HttpReceiver()
    settings = scene_config(sample_video, tmp_path, realtime=True)
    settings["rules"] = [{**settings["rules"][0], "clear_after_s": 600}]  # alerts stay open until the kill
    settings["notify"] = {
        "mqtt": {"url": broker.url},
        "webhooks": [{"url": f"{hook.url}/hook", "secret": "${HOOK_SECRET}", "events": ["alert.started",
                                                                                         "alert.ended"]}],
        "apprise": [{"url": f"json://127.0.0.1:{phone.url.rsplit(':', 1)[1]}/phone"}],
        "dashboard_url": "https://vigil.example",
    }
    config = write_config(settings)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HOOK_SECRET": HOOK_SECRET}
    watcher = Subscriber(broker.port, ("vigil/events",))
    process = subprocess.Popen(vigil_run(config), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                               env=env)
    written: list[int] = []
    try:
        for line in process.stderr:
            if match := re.search(r"alert (\d+): seen", line):
                written.append(int(match.group(1)))
                if len(written) == 2:
                    break
        else:
            pytest.fail("vigil run ended before raising two alerts")
        watcher.wait_for(lambda messages: len(messages) >= 2)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.stderr.close()
    assert hook.answered and all(status == 503 for status, _ in hook.answered), "the webhook was down at the kill"

    database = tmp_path / "vigil.db"
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    after_kill = rows(database)
    assert set(written) <= {a["id"] for a in after_kill}, "every alert logged as written is in the database"
    assert all(Path(a["snapshot_path"]).is_file() for a in after_kill), "no row without its snapshot"
    left_open = [a["id"] for a in after_kill if a["ended_at"] is None]
    assert left_open

    hook.fail_first = 0
    try:
        restart = subprocess.run(vigil_run(config, "--duration", "1"), capture_output=True, text=True, timeout=120,
                                 env=env)
    finally:
        broker.kill()
        hook.close()
        phone.close()
    assert restart.returncode == 0, restart.stderr[-3000:]
    assert f"closed {len(left_open)} alert(s) left open by an earlier run" in restart.stderr
    closed = {a["id"]: a for a in rows(database)}
    assert all(closed[i]["ended_at"] is not None for i in left_open)
    # The segment being written at the kill is salvaged: every recorded file is indexed and whole, none half-written.
    recordings = tmp_path / "recordings"
    indexed = {recordings / r["path"] for r in rows(database, "SELECT path FROM recordings")}
    assert indexed and indexed == set(recordings.rglob("*.mp4"))
    assert not list(recordings.rglob("*.part"))
    assert all(ffprobe(str(path))["duration"] > 0 for path in indexed)
    notes = rows(database, "SELECT alert_id, actor, action, note FROM alert_actions WHERE action = 'closed'")
    assert {n["alert_id"] for n in notes} >= set(left_open)
    assert all(n["actor"] == "system" and "Vigil stopped without ending it" in n["note"] for n in notes)

    alerts = rows(database)
    outbox = [r["key"] for r in rows(database, "SELECT key FROM outbox ORDER BY id")]
    copies: dict[str, set[bytes]] = {}
    for message in watcher.messages:
        copies.setdefault(json.loads(message.payload)["id"], set()).add(message.payload)
    assert {f"{a['alert_key']}.started" for a in alerts} <= set(copies), "every alert in the database reached MQTT"
    assert all(len(payloads) == 1 for payloads in copies.values()), "a message sent twice is the same message"
    delivered = [request for status, request in hook.answered if status == 200]
    for request in delivered:
        verify(HOOK_SECRET, request.headers[HEADER], request.body)
    keys = [json.loads(request.body)["id"] for request in delivered]
    assert keys == [key for key in outbox if key.endswith((".started", ".ended"))], (
        "every start and end, in the outbox's order, each once")
    assert {f"{a['alert_key']}.ended" for a in alerts} <= set(keys), "those the kill left open were closed, and told of"
    messages = [json.loads(request.body) for _, request in phone.answered]
    assert [m["message"].rsplit("/alerts/", 1)[1] for m in messages] == [str(a["id"]) for a in alerts], (
        "one message per alert on the phone, with its link")
    assert all(m["attachments"] for m in messages), "each with its snapshot"
