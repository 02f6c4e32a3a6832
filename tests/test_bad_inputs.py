"""Broken video files fail their own camera with a clear error; the other cameras go on."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from streamer import CameraReader, CameraState, HealthMonitor, LatestFrameBoard, ReaderSettings

pytestmark = pytest.mark.slow


def drain(board: LatestFrameBoard, stop: threading.Event, taken: list) -> None:
    while not stop.is_set():
        taken.extend(board.take_batch(max_batch=8, max_wait_s=0, expected=1, idle_timeout_s=0.1))


@pytest.fixture
def broken_files(sample_video: Path, tmp_path: Path) -> dict[str, Path]:
    data = sample_video.read_bytes()
    files = {
        "truncated": tmp_path / "truncated.avi",
        "garbage": tmp_path / "garbage.avi",
        "text": tmp_path / "notes.mp4",
        "empty": tmp_path / "empty.avi",
        "folder": tmp_path / "a-folder.mp4",
    }
    files["truncated"].write_bytes(data[: len(data) // 4])
    files["garbage"].write_bytes(bytes(range(256)) * 400)
    files["text"].write_text("this is not a video\n")
    files["empty"].write_bytes(b"")
    files["folder"].mkdir()
    return files


def test_each_broken_file_fails_alone_with_a_specific_error(broken_files, sample_video, tmp_path) -> None:
    health = HealthMonitor()
    board = LatestFrameBoard()
    good = tmp_path / "good.avi"
    shutil.copy(sample_video, good)
    cameras = {"good": good, **broken_files, "missing": tmp_path / "absent.avi"}
    readers = [
        CameraReader(name, ReaderSettings(url=str(path), detect_fps=5, realtime=False, loop=name == "good"), board, health)
        for name, path in cameras.items()
    ]
    stop, taken = threading.Event(), []
    consumer = threading.Thread(target=drain, args=(board, stop, taken))
    consumer.start()
    for reader in readers:
        reader.start()
    try:
        for name in ("garbage", "text", "empty", "folder", "missing"):
            health.wait_until(name, lambda h: h.state is CameraState.FAILED, timeout_s=30)
        truncated = health.wait_until("truncated", lambda h: h.state is CameraState.ENDED, timeout_s=60)
        good_now = health.snapshot()["good"].frames_in
        looping = health.wait_until("good", lambda h: h.frames_in > max(good_now, 795) + 50, timeout_s=120)
    finally:
        for reader in readers:
            reader.stop()
        board.close()
        stop.set()
        for reader in readers:
            reader.join(timeout=10)
        consumer.join(timeout=10)

    errors = {name: h.last_error for name, h in health.snapshot().items()}
    assert errors["garbage"] == f"{broken_files['garbage']}: cannot open: Invalid data found when processing input"
    assert errors["text"] == f"{broken_files['text']}: cannot open: Invalid data found when processing input"
    assert errors["empty"].startswith(f"{broken_files['empty']}: cannot open:")
    assert errors["folder"] == f"{broken_files['folder']}: no such file"
    assert errors["missing"] == f"{tmp_path / 'absent.avi'}: no such file"
    assert truncated.frames_in > 0, "what could be decoded was used"
    assert "ended after" in truncated.last_error and "of 795 frames (truncated file?)" in truncated.last_error

    assert looping.state is CameraState.STREAMING and looping.last_error is None
    good_frames = [f for f in taken if f.camera == "good"]
    stream_times = [f.pts for f in good_frames]
    assert all(a < b for a, b in zip(stream_times, stream_times[1:])), "stream time keeps increasing across loops"
    assert stream_times[-1] > 79.5, "the looping file went past its end"
