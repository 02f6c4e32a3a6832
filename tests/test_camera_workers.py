"""Camera workers: a lagging worker drops live cameras' oldest frames, never a file read as fast as possible."""

from __future__ import annotations

import threading

import numpy as np
import supervision as sv

from streamer import Frame
from vigil.camera_workers import CameraWorkers

IMAGE = np.zeros((2, 2, 3), np.uint8)


def run_with_a_stuck_worker(lossless: list[str]) -> tuple[list[int], CameraWorkers]:
    """Ten frames of one camera offered while its worker is stuck on the first; returns the indices handled."""
    handled: list[int] = []
    release, started = threading.Event(), threading.Event()

    def handle(frame: Frame, detections: sv.Detections) -> None:
        started.set()
        release.wait(timeout=30)
        handled.append(frame.index)

    workers = CameraWorkers(["yard"], handle, threads=1, capacity=3, lossless=lossless)
    workers.start()
    workers.submit(Frame("yard", 0, 0.0, 0.0, 0.0, IMAGE), sv.Detections.empty())
    assert started.wait(timeout=10)
    offering = threading.Thread(target=lambda: [
        workers.submit(Frame("yard", i, i / 10, 0.0, 0.0, IMAGE), sv.Detections.empty()) for i in range(1, 10)
    ])
    offering.start()
    if lossless:
        offering.join(timeout=0.5)
        assert offering.is_alive(), "a lossless camera's frames wait for room instead of dropping"
    else:
        offering.join(timeout=10)
        assert not offering.is_alive(), "submit never waits for a live camera"
    release.set()
    offering.join(timeout=10)
    workers.stop()
    return handled, workers


def test_a_live_camera_loses_its_oldest_frames_and_they_are_counted() -> None:
    handled, workers = run_with_a_stuck_worker(lossless=[])
    assert handled == [0, 7, 8, 9], "the newest three waited; the others were dropped"
    assert workers.overflowed["yard"] == 6


def test_a_file_read_at_detector_speed_loses_no_frame() -> None:
    handled, workers = run_with_a_stuck_worker(lossless=["yard"])
    assert handled == list(range(10)) and workers.overflowed["yard"] == 0
