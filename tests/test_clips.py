"""Alert clips on real files: H.264 MP4s a browser plays, cut from the ring, encoded off the caller's thread."""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import pytest

from alerts.clips import ClipRecorder

FPS = 10.0
STARTED_AT = datetime(2026, 11, 28, 9, 30, 5, tzinfo=UTC)
WAIT_S = 10.0


def picture(i: int, width: int = 160, height: int = 120) -> np.ndarray:
    """Dark frame with a bright rectangle that moves, so every frame differs."""
    image = np.full((height, width, 3), 30, np.uint8)
    x = (i * 7) % (width - 20)
    image[40:70, x : x + 20] = (0, 200, 255)
    return image


def feed(
    recorder: ClipRecorder, camera: str, first_s: float, last_s: float, width: int = 160, height: int = 120
) -> None:
    """Frames of `camera` every 1/FPS s of stream time, from first_s to last_s included."""
    for i in range(round(first_s * FPS), round(last_s * FPS) + 1):
        recorder.add_frame(camera, i / FPS, 1.78e9 + i / FPS, picture(i, width, height))


def probe(path: Path) -> dict:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_entries",
         "format=duration:format_tags=creation_time:stream=codec_name,profile,pix_fmt,width,height", str(path)],
        capture_output=True, text=True, check=True,
    )
    info = json.loads(result.stdout)
    return {**info["streams"][0], "duration": float(info["format"]["duration"]), "tags": info["format"].get("tags", {})}


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


class Clips:
    """A recorder on a temp media folder whose finished clips arrive on a queue."""

    def __init__(self, media_dir: Path, **options: float) -> None:
        self.done: queue.Queue[tuple[str, Path]] = queue.Queue()
        options = {"pre_s": 1.0, "post_s": 1.0, "fps": FPS, "min_free_mb": 0.0, **options}
        self.recorder = ClipRecorder(media_dir, on_clip=lambda key, path: self.done.put((key, path)), **options)
        self.recorder.start()

    def next(self) -> tuple[str, Path]:
        return self.done.get(timeout=WAIT_S)


@pytest.fixture
def clips(tmp_path: Path):
    made: list[Clips] = []

    def make(**options: float) -> Clips:
        made.append(Clips(tmp_path / "media", **options))
        return made[-1]

    yield make
    for each in made:
        if each.recorder.is_alive():
            each.recorder.stop()


def assert_duration(path: Path, expected_s: float) -> None:
    assert probe(path)["duration"] == pytest.approx(expected_s, abs=1 / FPS)


def test_clip_runs_from_pre_s_before_start_to_post_s_after_end_and_plays_in_a_browser(clips, tmp_path) -> None:
    c = clips()
    feed(c.recorder, "lobby", 0.0, 2.0)
    c.recorder.start_clip("a1b2c3d4e5f6", "lobby", 2.0, STARTED_AT)
    feed(c.recorder, "lobby", 2.1, 3.0)
    c.recorder.end_clip("a1b2c3d4e5f6", 3.0)
    feed(c.recorder, "lobby", 3.1, 5.9)

    key, path = c.next()
    assert key == "a1b2c3d4e5f6"
    assert path == tmp_path / "media" / "lobby" / "2026-11-28" / "093005-a1b2c3d4.mp4"
    info = probe(path)
    assert (info["codec_name"], info["pix_fmt"], info["width"], info["height"]) == ("h264", "yuv420p", 160, 120)
    assert info["profile"] in {"High", "Main", "Constrained Baseline", "Baseline"}
    assert info["tags"]["creation_time"].startswith("2026-05-28T20:26:41")  # wall time of its first frame, 1.78e9 + 1
    assert_duration(path, 1.0 + 1.0 + 1.0)
    assert len(decoded(path)) == 30  # stream time 1.0 up to 4.0
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "faststart: the index comes first so browsers play at once"
    assert not list(path.parent.glob("*.part"))


def test_instant_alert_gets_pre_s_and_post_s(clips) -> None:
    c = clips(pre_s=1.5, post_s=0.5)
    feed(c.recorder, "lobby", 0.0, 3.0)
    c.recorder.start_clip("instant", "lobby", 3.0, STARTED_AT)
    c.recorder.end_clip("instant", 3.0)
    feed(c.recorder, "lobby", 3.1, 4.9)

    _, path = c.next()
    assert_duration(path, 2.0)
    assert len(decoded(path)) == 20


def test_overlapping_clips_of_one_camera_each_get_their_span(clips) -> None:
    c = clips()
    feed(c.recorder, "lobby", 0.0, 1.5)
    c.recorder.start_clip("first", "lobby", 1.5, STARTED_AT)
    feed(c.recorder, "lobby", 1.6, 2.0)
    c.recorder.start_clip("second", "lobby", 2.0, STARTED_AT)
    feed(c.recorder, "lobby", 2.1, 2.5)
    c.recorder.end_clip("first", 2.5)
    feed(c.recorder, "lobby", 2.6, 3.5)
    c.recorder.end_clip("second", 3.5)
    feed(c.recorder, "lobby", 3.6, 5.9)

    written = dict([c.next(), c.next()])
    assert written["first"] != written["second"]
    assert len(decoded(written["first"])) == 30  # 0.5 up to 3.5
    assert len(decoded(written["second"])) == 35  # 1.0 up to 4.5
    assert_duration(written["second"], 3.5)


def test_frames_of_another_camera_stay_out(clips) -> None:
    c = clips()
    white = np.full((90, 200, 3), 255, np.uint8)
    for i in range(50):
        c.recorder.add_frame("lobby", i / FPS, 0.0, picture(i))
        c.recorder.add_frame("gate", i / FPS + 0.05, 0.0, white)
        if i == 20:
            c.recorder.start_clip("lobby-alert", "lobby", 2.0, STARTED_AT)
            c.recorder.end_clip("lobby-alert", 2.0)

    _, path = c.next()
    frames = decoded(path)
    assert len(frames) == 20
    assert all(frame.shape == (120, 160, 3) and frame.mean() < 100 for frame in frames)
    assert not (path.parents[2] / "gate").exists()


def test_a_long_alert_is_cut_at_max_clip_s(clips, caplog) -> None:
    c = clips(max_clip_s=1.5)
    with caplog.at_level(logging.WARNING, logger="alerts.clips"):
        feed(c.recorder, "lobby", 0.0, 1.0)
        c.recorder.start_clip("long", "lobby", 1.0, STARTED_AT)
        feed(c.recorder, "lobby", 1.1, 3.9)
        _, path = c.next()
    assert len(decoded(path)) == 15  # 0.0 up to 1.5
    assert_duration(path, 1.5)
    assert "max_clip_s" in caplog.text
    c.recorder.end_clip("long", 4.0)  # the end of a clip already cut changes nothing
    c.recorder.stop()
    assert c.done.empty()


def test_clips_are_skipped_when_disk_space_is_low(clips, tmp_path) -> None:
    c = clips(min_free_mb=1e12)
    feed(c.recorder, "lobby", 0.0, 1.0)
    c.recorder.start_clip("no-room", "lobby", 1.0, STARTED_AT)
    c.recorder.end_clip("no-room", 1.0)
    feed(c.recorder, "lobby", 1.1, 2.9)
    c.recorder.stop()
    assert c.recorder.skipped_clips == 1
    assert c.done.empty()
    assert not list((tmp_path / "media").rglob("*.mp4*"))


def test_add_frame_never_blocks_on_a_full_queue(tmp_path) -> None:
    recorder = ClipRecorder(tmp_path, max_pending=4)  # never started: nothing drains the queue
    image = picture(0)
    began = time.monotonic()
    for i in range(10):
        recorder.add_frame("lobby", i / FPS, 0.0, image)
    assert time.monotonic() - began < 0.5
    assert recorder.dropped_frames == 6


def test_stop_closes_open_clips_with_what_they_have(clips) -> None:
    c = clips()
    feed(c.recorder, "lobby", 0.0, 2.0)
    c.recorder.start_clip("still-open", "lobby", 2.0, STARTED_AT)
    feed(c.recorder, "lobby", 2.1, 3.0)
    c.recorder.stop()

    key, path = c.done.get_nowait()  # on_clip ran before stop() returned
    assert key == "still-open"
    assert len(decoded(path)) == 21  # 1.0 to 3.0
    assert_duration(path, 2.1)


def test_odd_frame_sizes_are_cropped_to_even(clips) -> None:
    c = clips()
    feed(c.recorder, "lobby", 0.0, 1.0, width=161, height=121)
    c.recorder.start_clip("odd", "lobby", 1.0, STARTED_AT)
    c.recorder.end_clip("odd", 1.0)
    feed(c.recorder, "lobby", 1.1, 2.4, width=161, height=121)

    _, path = c.next()
    info = probe(path)
    assert (info["width"], info["height"], info["pix_fmt"]) == (160, 120, "yuv420p")
    assert len(decoded(path)) == 20


def test_a_clip_without_frames_is_not_written(clips, tmp_path) -> None:
    c = clips()
    c.recorder.start_clip("empty", "lobby", 1.0, STARTED_AT)
    c.recorder.end_clip("empty", 1.0)
    c.recorder.stop()
    assert c.done.empty()
    assert not list((tmp_path / "media").rglob("*.mp4*"))


def test_a_clip_that_fails_to_encode_is_dropped_and_the_next_one_is_written(clips, tmp_path, caplog) -> None:
    c = clips()
    with caplog.at_level(logging.ERROR, logger="alerts.clips"):
        feed(c.recorder, "lobby", 0.0, 1.0)
        c.recorder.start_clip("broken", "lobby", 1.0, STARTED_AT)
        c.recorder.add_frame("lobby", 1.1, 0.0, np.zeros((120, 160), np.uint8))  # grey, not BGR
        c.recorder.end_clip("broken", 1.1)
        feed(c.recorder, "lobby", 1.2, 2.5)
        c.recorder.start_clip("fine", "lobby", 2.5, STARTED_AT)  # its pre_s no longer reaches the grey frame
        c.recorder.end_clip("fine", 2.5)
        feed(c.recorder, "lobby", 2.6, 4.0)
        key, path = c.next()
    assert key == "fine"
    assert "broken" in caplog.text
    assert [p.name for p in (tmp_path / "media").rglob("*.mp4*")] == [path.name]


def test_frames_are_drawn_in_the_recorder_only_when_they_go_into_a_clip(clips) -> None:
    import supervision as sv

    rendered: list[float] = []

    def render(camera: str, image: np.ndarray, detections: sv.Detections) -> np.ndarray:
        rendered.append(float(detections.xyxy[0, 0]))
        drawn = image.copy()
        drawn[:10, :10] = 255
        return drawn

    c = clips(pre_s=0.5, post_s=0.5, render=render)
    for i in range(40):
        box = sv.Detections(xyxy=np.array([[i, 0, i + 5, 5]], float))
        c.recorder.add_frame("lobby", i / FPS, 1.78e9 + i / FPS, picture(i), box)
        if i == 30:
            c.recorder.start_clip("k", "lobby", 3.0, STARTED_AT)
            c.recorder.end_clip("k", 3.0)
    _, path = c.next()
    assert rendered == [float(i) for i in range(25, 35)], "the pre-roll and the clip's frames, each drawn once"
    assert all(frame[:8, :8].mean() > 200 for frame in decoded(path)), "the clip shows the drawing"
