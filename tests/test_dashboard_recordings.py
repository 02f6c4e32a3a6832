"""Recordings in the dashboard, on real segments recorded from the sample video: the day's timeline, footage
played with Range, exports (operators, logged), the checks on cameras and times, the assembly limit."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest

from alerts import Severity
from alerts.audit import AccountAction, recent_entries
from alerts.utc import utc_iso
from dashboard import recordings_views
from dashboard.footage_cache import FootageCache
from streamer.recorder import CameraRecorder, RecorderSettings, RecorderStatus
from streamer.segments import RecordedSegment
from streamer.stream_clock import StreamClock
from tests.dashboard_support import T0, build_site
from tests.camera_files import camera_like, ffprobe

CAMERA = "lobby"
SECONDS = 12
S = timedelta(seconds=1)
DAY = T0.date().isoformat()
LATE_START = 60
"""The last segment is indexed as if recorded from T0 + 60 s: a gap after the first 8 s."""


def iso(offset_s: float) -> str:
    return (T0 + offset_s * S).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def segments(sample_video: Path, tmp_path_factory: pytest.TempPathFactory) -> list[RecordedSegment]:
    """12 s of the sample scene as a camera sends it (H.264, 10 fps, a keyframe a second) in three 4 s segments."""
    folder = tmp_path_factory.mktemp("camera")
    camera_file = folder / "lobby.mp4"
    camera_like(sample_video, camera_file, seconds=SECONDS)
    made: list[RecordedSegment] = []
    clock = StreamClock()
    recorder = CameraRecorder(CAMERA, RecorderSettings(str(camera_file), folder / "recordings", segment_s=4),
                              made.append, file_clock=clock)
    recorder.start()
    clock.advance(SECONDS)  # the reader has read the whole file, then ends
    clock.close()
    recorder.join(timeout=60)
    assert len(made) == 3, made
    return made


def place(segments: list[RecordedSegment], root: Path) -> list[RecordedSegment]:
    """The segments' files linked under `root`, timed from T0 (the first two back to back, the last at 60 s)."""
    placed = []
    for number, segment in enumerate(segments):
        start = T0 + (segment.start - segments[0].start) + (LATE_START - 8 if number == 2 else 0) * S
        path = root / CAMERA / DAY / f"{number}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        os.link(segment.path, path)
        placed.append(dataclasses.replace(segment, path=path, start=start, end=start + segment.duration_s * S))
    return placed


@pytest.fixture
def recorded_site(tmp_path: Path, users_db: Path, segments: list[RecordedSegment]):
    """A dashboard whose index holds the placed segments of `lobby`; `gate` is configured but never recorded."""
    status = RecorderStatus(CAMERA, False, 3, 2_500_000, True, "camera unreachable: timed out", T0 + 64 * S)
    site = build_site(tmp_path, users_db, cameras=(CAMERA, "gate"), recordings_dir=tmp_path / "recordings",
                      recorder_status=lambda: {CAMERA: status})
    index = site.app.extensions["vigil.services"].recordings
    site.placed = place(segments, index.root)
    index.add(site.placed)
    yield site
    site.store.close()



def test_the_timeline_shows_recorded_spans_gaps_and_alerts(recorded_site) -> None:
    warning = recorded_site.alert(CAMERA, T0 + 5 * S, severity=Severity.WARNING, ended_at=T0 + 7 * S)
    critical = recorded_site.alert(CAMERA, T0 + 61 * S, severity=Severity.CRITICAL)
    recorded_site.alert("gate", T0 + 5 * S)
    recorded_site.alert(CAMERA, T0 + 86400 * S)  # the next day
    client = recorded_site.client("viewer")

    body = client.get(f"/api/cameras/{CAMERA}/timeline?day={DAY}").json
    end = utc_iso(recorded_site.placed[-1].end)
    assert body["spans"] == [{"start": iso(0), "end": iso(8)}, {"start": iso(60), "end": end}]
    assert body["gaps"] == [{"start": f"{DAY}T00:00:00Z", "end": iso(0)}, {"start": iso(8), "end": iso(60)},
                            {"start": end, "end": "2026-11-29T00:00:00Z"}]
    assert [(a["id"], a["severity"], a["url"]) for a in body["alerts"]] == [
        (warning, "warning", f"/alerts/{warning}"), (critical, "critical", f"/alerts/{critical}")]
    assert body["footage_url"] == f"/api/cameras/{CAMERA}/footage.mp4" and body["export_url"] is None

    page = client.get(f"/cameras/{CAMERA}/recordings?day={DAY}")
    assert page.status_code == 200
    html = page.text
    assert html.count('class="recorded"') == 2
    assert f'href="/alerts/{warning}"' in html and 'class="marker-warning"' in html
    assert f'href="/alerts/{critical}"' in html and 'class="marker-critical"' in html
    assert "day=2026-11-27" in html and "day=2026-11-29" in html
    assert "recordings.js" in html and "<script>" not in html
    assert 'action="/cameras/lobby/export.mp4"' not in html, "viewers get no export form"
    assert "paused" in html and "camera unreachable: timed out" in html and "re-encoded" in html
    assert "3 segments (2.5 MB)" in html
    assert f'data-day-start="{DAY}T00:00:00Z" data-day-seconds="86400"' in html and ">23</text>" in html

    hour = client.get(f"/cameras/{CAMERA}/recordings?day={DAY}&hour=9").text
    assert f'data-day-start="{DAY}T09:00:00Z" data-day-seconds="3600"' in hour
    assert hour.count('class="recorded"') == 2 and ">09:05</text>" in hour and ">09:55</text>" in hour
    bars = [float(x) for x in re.findall(r'class="recorded" x="([\d.]+)" y="\d+" width="([\d.]+)"', hour)[0]]
    assert bars == [0.0, pytest.approx(960 * 8 / 3600, abs=0.01)], "the first 8 s drawn at the hour's scale"
    assert client.get(f"/cameras/{CAMERA}/recordings?day={DAY}&hour=24").status_code == 400
    assert 'action="/cameras/lobby/export.mp4"' in recorded_site.client("operator").get(
        f"/cameras/{CAMERA}/recordings?day={DAY}").text


def test_the_alert_page_and_cameras_page_link_to_the_recording(recorded_site) -> None:
    alert_id = recorded_site.alert(CAMERA, T0 + 5 * S, clip=True, ended_at=T0 + 7 * S,
                                   details={"clip_from": (T0 + 3 * S).isoformat(), "clip_to": (T0 + 9 * S).isoformat()})
    client = recorded_site.client("viewer")
    html = client.get(f"/alerts/{alert_id}").text
    assert "The clip runs from 2026-11-28T09:00:03Z to 2026-11-28T09:00:09Z (it starts on a keyframe)." in html
    assert f'href="/cameras/lobby/recordings?day={DAY}&amp;at=2026-11-28T08:59:55Z"' in html
    page = client.get(f"/cameras/lobby/recordings?day={DAY}&at=2026-11-28T08:59:55Z").text
    assert 'data-at="2026-11-28T08:59:55Z"' in page
    assert 'data-day-start="2026-11-28T08:29:55Z" data-day-seconds="3600"' in page, "the hour around the alert"
    assert ">08:30</text>" in page and ">09:25</text>" in page and ">08:25</text>" not in page
    assert 'data-hour="9"' in page and "<strong>whole day</strong>" not in page
    cameras = client.get("/cameras").text  # the pipeline is not running: configured cameras are listed
    assert 'href="/cameras/lobby/recordings"' in cameras and 'href="/cameras/gate/recordings"' in cameras


def test_footage_plays_the_asked_range_from_a_keyframe_and_honours_range(recorded_site, tmp_path: Path) -> None:
    client = recorded_site.client("viewer")
    url = f"/cameras/{CAMERA}/footage.mp4?from={iso(1.5)}&to={iso(7)}"
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "video/mp4"
    assert "attachment" not in response.headers.get("Content-Disposition", "")
    whole = response.data
    (tmp_path / "played.mp4").write_bytes(whole)
    info = ffprobe(tmp_path / "played.mp4")
    assert (info["codec_name"], info["width"], info["height"], info["r_frame_rate"]) == ("h264", 768, 576, "10/1")
    assert info["duration"] == pytest.approx(6.0, abs=0.15), "from the keyframe at 1 s to 7 s"

    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == whole[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert part.headers["ETag"] == response.headers["ETag"], "the second request is served from the cache"
    assert len(list((recorded_site.app.extensions["vigil.footage"].folder).iterdir())) == 1


def test_export_is_an_attachment_for_operators_and_is_logged(recorded_site, tmp_path: Path, caplog) -> None:
    url = f"/cameras/{CAMERA}/export.mp4?from=2026-11-28T09:00:00&to=2026-11-28T10:01:05%2B01:00"
    with caplog.at_level(logging.INFO, logger="vigil.audit"):
        response = recorded_site.client("operator").get(url)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Disposition"] == 'attachment; filename=lobby-20261128T090000Z.mp4'
    (tmp_path / "export.mp4").write_bytes(response.data)
    assert ffprobe(tmp_path / "export.mp4")["duration"] == pytest.approx(64.0, abs=0.15), "the gap stays a gap"
    assert [r.getMessage() for r in caplog.records if r.name == "vigil.audit"] == [
        "operator: export camera lobby (2026-11-28T09:00:00Z to 2026-11-28T09:01:05Z)"]
    exports = [e for e in recent_entries(recorded_site.store.engine, 100) if e.action is AccountAction.EXPORT]
    assert [(e.actor, e.target) for e in exports] == [("operator", CAMERA)], "and in the audit table"

    assert recorded_site.client("viewer").get(url).status_code == 403
    assert recorded_site.client("viewer").get(f"/api/cameras/{CAMERA}/export.mp4?from={iso(0)}&to={iso(5)}").json \
        == {"error": "this needs the operator role; you are viewer"}


def test_anonymous_visitors_are_sent_to_the_login_page_or_refused(recorded_site) -> None:
    client = recorded_site.client()
    rules = [rule for rule in recorded_site.app.url_map.iter_rules() if rule.endpoint.startswith("recordings.")]
    assert len(rules) == 7
    for rule in rules:
        url = rule.build({"camera": CAMERA})[1] + f"?from={iso(0)}&to={iso(5)}&since={iso(0)}&until={iso(5)}"
        response = client.get(url)
        if url.startswith("/api/"):
            assert (response.status_code, response.json) == (401, {"error": "login required"}), url
        else:
            assert response.status_code == 302 and response.headers["Location"].startswith("/login"), url


@pytest.mark.parametrize(("query", "message"), [
    (f"to={iso(5)}", "from: missing"),
    (f"from=yesterday&to={iso(5)}", "from: 'yesterday' is not an ISO 8601 time"),
    (f"from={iso(5)}&to={iso(5)}", "to (2026-11-28T09:00:05Z) must be after from (2026-11-28T09:00:05Z)"),
    (f"from={iso(5)}&to={iso(0)}", "must be after from"),
    (f"from={iso(0)}&to={iso(601)}", "from to to is 10.02 min, longer than the 10 min allowed"),
    (f"from=0001-01-01T00:00:00Z&to={iso(5)}", "from: year 1 is out of range (2000 to 2100)"),
    (f"from={iso(0)}&to=9999-12-31T23:59:59-23:00", "to: year 9999 is out of range (2000 to 2100)"),
    (f"from={iso(0)}&to=2100-12-31T23:00:00-02:00", "to: year 2101 is out of range (2000 to 2100)"),
])
def test_footage_times_are_checked_strictly(recorded_site, query: str, message: str) -> None:
    response = recorded_site.client("viewer").get(f"/api/cameras/{CAMERA}/footage.mp4?{query}")
    assert response.status_code == 400 and message in response.json["error"], response.json


def test_exports_may_be_longer_than_footage_but_not_past_an_hour(recorded_site) -> None:
    client = recorded_site.client("operator")
    response = client.get(f"/api/cameras/{CAMERA}/export.mp4?from={iso(0)}&to={iso(3601)}")
    assert (response.status_code, response.json["error"]) == (400, "from to to is 60.02 min, longer than the 60 min "
                                                                   "allowed")
    assert client.get(f"/cameras/{CAMERA}/export.mp4?from={iso(0)}&to={iso(3600)}").status_code == 200


@pytest.mark.parametrize("camera", ["nowhere", "..%2Fetc", "..", "lobby.mp4", "a" * 65])
def test_unknown_cameras_are_not_found(recorded_site, camera: str) -> None:
    client = recorded_site.client("operator")
    for path in ("recordings", "footage.mp4", "export.mp4"):
        response = client.get(f"/cameras/{camera}/{path}?from={iso(0)}&to={iso(5)}&day={DAY}")
        assert response.status_code == 404, (camera, path)
    assert client.get(f"/api/cameras/{camera}/timeline").status_code == 404


def test_nothing_recorded_is_not_found_and_a_configured_camera_without_recordings_has_an_empty_day(
        recorded_site) -> None:
    client = recorded_site.client("viewer")
    response = client.get(f"/api/cameras/{CAMERA}/footage.mp4?from={iso(20)}&to={iso(50)}")
    assert (response.status_code, response.json["error"]) == (
        404, f"nothing recorded between {iso(20)} and {iso(50)} on camera lobby")
    assert client.get(f"/cameras/gate/footage.mp4?from={iso(0)}&to={iso(5)}").status_code == 404
    timeline = client.get(f"/api/cameras/gate/timeline?day={DAY}").json
    assert timeline["spans"] == [] and timeline["gaps"] == [{"start": f"{DAY}T00:00:00Z",
                                                            "end": "2026-11-29T00:00:00Z"}]
    assert "Nothing recorded on this day." in client.get(f"/cameras/gate/recordings?day={DAY}").text
    assert client.get("/cameras/gate/recordings?day=2026-13-01").status_code == 400


def test_assemblies_are_one_per_user_and_two_in_all_but_kept_footage_is_still_served(recorded_site) -> None:
    client = recorded_site.client("viewer")
    kept = f"/cameras/{CAMERA}/footage.mp4?from={iso(0)}&to={iso(4)}"
    assert client.get(kept).status_code == 200
    cache: FootageCache = recorded_site.app.extensions["vigil.footage"]
    with cache.slot("viewer"):
        own = client.get(f"/api/cameras/{CAMERA}/footage.mp4?from={iso(0)}&to={iso(5)}")
        assert own.status_code == 503 and "viewer is already having footage assembled" in own.json["error"]
        assert recorded_site.client("operator").get(f"/cameras/{CAMERA}/footage.mp4?from={iso(0)}&to={iso(6)}") \
            .status_code == 200, "one user's assembly keeps nobody else waiting"
    with cache.slot("a"), cache.slot("b"):
        busy = client.get(f"/api/cameras/{CAMERA}/footage.mp4?from={iso(0)}&to={iso(5)}")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
        assert "2 footage assemblies are already running" in busy.json["error"]
        assert client.get(kept).status_code == 200
    assert client.get(f"/api/cameras/{CAMERA}/footage.mp4?from={iso(0)}&to={iso(5)}").status_code == 200


def test_the_recordings_api_lists_segments_and_says_when_it_cut_the_list(recorded_site, monkeypatch) -> None:
    client = recorded_site.client("viewer")
    url = f"/api/cameras/{CAMERA}/recordings?since={iso(0)}&until={iso(120)}"
    body = client.get(url).json
    assert [r["path"] for r in body["recordings"]] == [f"lobby/{DAY}/{n}.mp4" for n in range(3)]
    assert body["truncated"] is False and body["recordings"][0]["width"] == 768
    monkeypatch.setattr(recordings_views, "RECORDINGS_MAX", 2)
    body = client.get(url).json
    assert len(body["recordings"]) == 2 and body["truncated"] is True
    assert client.get(f"/api/cameras/{CAMERA}/recordings?since={iso(0)}").json == {"error": "until: missing; give an "
                                                                                   "ISO 8601 time such as "
                                                                                   "2026-11-28T09:00:00Z"}


def test_the_footage_cache_drops_old_files_then_the_oldest_past_its_size(tmp_path: Path) -> None:
    cache = FootageCache(tmp_path, max_bytes=250)
    now = time.time()
    for name, age_s in (("stale.mp4", 3700), ("left.tmp.part", 3700), ("a.mp4", 30), ("b.mp4", 20), ("c.mp4", 10)):
        (tmp_path / name).write_bytes(b"x" * 100)
        os.utime(tmp_path / name, (now - age_s, now - age_s))
    (tmp_path / "running.tmp.part").write_bytes(b"x" * 1000)
    cache.evict()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.mp4", "c.mp4", "running.tmp.part"]
