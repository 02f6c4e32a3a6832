"""Pure parts of the streamer: sampling, backoff, the latest-frame board, health rates."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from streamer import CameraState, Frame, HealthMonitor, LatestFrameBoard
from streamer.backoff import Backoff
from streamer.board import STILL_FRAME_YIELD_S, BoardClosed
from streamer.sampling import DetectRateSampler
from streamer.redaction import redact_url

IMAGE = np.zeros((2, 2, 3), np.uint8)


def frame(camera: str, index: int, clock: float = 0.0) -> Frame:
    return Frame(camera, index, index / 10, 0.0, clock or float(index), IMAGE)


@pytest.mark.parametrize(
    ("source_fps", "detect_fps", "expected"),
    [(10, 5, 50), (25, 5, 50), (30, 7, 70), (30, 30, 300), (5, 10, 50)],
)
def test_sampler_keeps_the_detect_rate_by_timestamp(source_fps: int, detect_fps: float, expected: int) -> None:
    sampler = DetectRateSampler(detect_fps)
    taken = sum(sampler.take(i / source_fps) for i in range(source_fps * 10))
    assert abs(taken - expected) <= 1


def test_sampler_restarts_its_schedule_after_a_gap() -> None:
    sampler = DetectRateSampler(5)
    assert sampler.take(0.0)
    assert sampler.take(100.0), "a frame after a long gap is due at once"
    assert not sampler.take(100.1)
    assert sampler.take(100.2)


def test_sampler_rejects_a_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="detect_fps"):
        DetectRateSampler(0)


def test_backoff_grows_to_its_cap_and_resets() -> None:
    backoff = Backoff(initial_s=0.5, max_s=3, multiplier=2)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1, 2, 3, 3]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_board_replaces_an_unread_frame_and_counts_the_drop() -> None:
    drops: list[str] = []
    board = LatestFrameBoard(on_drop=drops.append)
    for i in range(3):
        board.put(frame("a", i))
    board.put(frame("b", 0, clock=0.5))
    batch = board.take_batch(max_batch=8, max_wait_s=0, expected=2)
    assert [(f.camera, f.index) for f in batch] == [("a", 2), ("b", 0)], "longest waiting first, newest frame each"
    assert drops == ["a", "a"]
    assert board.pending_count() == 0


def test_a_camera_whose_frame_keeps_being_replaced_keeps_its_place_in_line() -> None:
    """A busy camera replaces its frame every time; it must not be starved by cameras that wait less long."""
    board = LatestFrameBoard()
    board.put(frame("busy", 0, clock=1.0))
    for index, camera in enumerate("abc"):
        board.put(frame(camera, 0, clock=2.0 + index))
    board.put(frame("busy", 1, clock=9.0))
    batch = board.take_batch(max_batch=2, max_wait_s=0, expected=4)
    assert [(f.camera, f.index) for f in batch] == [("busy", 1), ("a", 0)], "waiting since 1.0, with its newest frame"
    board.put(frame("busy", 2, clock=10.0))
    assert [f.camera for f in board.take_batch(max_batch=2, max_wait_s=0, expected=4)] == ["b", "c"]


def test_frames_with_motion_go_ahead_of_still_rechecks_that_came_less_than_the_yield_before() -> None:
    """Many still cameras' periodic checks must not delay a walk-in, nor be starved by motion for good."""
    board = LatestFrameBoard()
    board.put(frame("still", 0, clock=10.0))
    board.put(replace(frame("walk-in", 0, clock=10.0 + STILL_FRAME_YIELD_S / 2), motion=((0.1, 0.1, 0.3, 0.6),)))
    board.put(replace(frame("late", 0, clock=10.0 + STILL_FRAME_YIELD_S * 2), motion=((0.1, 0.1, 0.3, 0.6),)))
    batch = board.take_batch(max_batch=3, max_wait_s=0, expected=3)
    assert [f.camera for f in batch] == ["walk-in", "still", "late"]


def test_board_batch_is_capped_by_max_batch() -> None:
    board = LatestFrameBoard()
    for camera in "abcd":
        board.put(frame(camera, 0))
    assert len(board.take_batch(max_batch=3, max_wait_s=0, expected=4)) == 3
    assert board.pending_count() == 1


def test_board_waits_for_the_expected_cameras_until_max_wait() -> None:
    board = LatestFrameBoard()
    board.put(frame("a", 0))
    second = threading.Timer(0.05, lambda: board.put(frame("b", 0)))
    second.start()
    batch = board.take_batch(max_batch=8, max_wait_s=5, expected=2)
    second.join()
    assert sorted(f.camera for f in batch) == ["a", "b"]


def test_board_returns_empty_when_idle() -> None:
    assert LatestFrameBoard().take_batch(max_batch=8, max_wait_s=0, expected=1, idle_timeout_s=0.01) == []


def test_a_reader_waits_for_its_free_slot_and_close_releases_it() -> None:
    board = LatestFrameBoard()
    board.put(frame("a", 0))
    slot_freed = threading.Event()
    outcome: list[str] = []

    def reader() -> None:
        try:
            board.wait_until_free("a")
            outcome.append("free")
            board.put(frame("a", 1))
            slot_freed.set()
            board.wait_until_free("a")
        except BoardClosed:
            outcome.append("closed")

    thread = threading.Thread(target=reader)
    thread.start()
    assert not slot_freed.wait(0.1), "the reader must wait while frame 0 is unread"
    assert [f.index for f in board.take_batch(8, 0, 1)] == [0]
    assert slot_freed.wait(5)
    board.close()
    thread.join(5)
    assert outcome == ["free", "closed"]
    assert [f.index for f in board.take_batch(8, 0, 1)] == [1], "pending frames are still handed out after close"


def test_health_rates_and_reconnect_count() -> None:
    now = [0.0]
    health = HealthMonitor(clock=lambda: now[0])
    health.register("cam")
    for i in range(50):
        now[0] = i * 0.1
        health.frame_in("cam", wall_time=1000.0 + i)
        if i % 2 == 0:
            health.frame_out("cam")
    snapshot = health.snapshot()["cam"]
    assert snapshot.state is CameraState.STREAMING
    assert snapshot.fps_in == pytest.approx(10, abs=0.5)
    assert snapshot.fps_out == pytest.approx(5, abs=0.5)
    assert snapshot.last_frame_time == 1049.0
    health.set_state("cam", CameraState.RECONNECTING, "refused")
    health.set_state("cam", CameraState.RECONNECTING, "refused again")
    health.frame_in("cam", 2000.0)
    health.set_state("cam", CameraState.RECONNECTING, "gone")
    after = health.snapshot()["cam"]
    assert after.reconnects == 3, "every scheduled attempt counts"
    assert after.last_error == "gone"


def test_redact_url_hides_passwords_only() -> None:
    assert redact_url("rtsp://admin:pa:ss@cam.local/s") == "rtsp://admin:***@cam.local/s"
    assert redact_url("rtsp://cam.local:554/s") == "rtsp://cam.local:554/s"
    assert redact_url("/videos/a.mp4") == "/videos/a.mp4"
