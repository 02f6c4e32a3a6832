"""Motion gating in the whole pipeline, with the real model: timers stay right across the frames it skips.

People who stand still move nothing: after the first frames, only one frame per `tracked_check_s` reaches the
detector, and the dwell timer still counts stream time across the skipped ones.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from alerts import AlertStarted
from tests.conftest import TEST_IMGSZ
from tests.video_frames import sample_frames
from vigil.config import VigilConfig
from vigil.pipeline import Pipeline

pytestmark = pytest.mark.slow

CHECK_EVERY_S = 2.0
TRACKED_CHECK_S = 1.0
MIN_DWELL_S = 4.0


def frozen_people_clip(sample_video: Path, path: Path, seconds: int = 9) -> Path:
    """People standing still: frame 60 of the sample scene (three clear walkers), repeated with sensor noise."""
    view = sample_frames(sample_video, count=3, every=30)[-1]
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        stream.height, stream.width = view.shape[:2]
        stream.pix_fmt = "yuv420p"
        for _ in range(seconds * 10):
            noisy = np.clip(view + rng.normal(0, 3, view.shape), 0, 255).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(noisy, format="bgr24")))
        container.mux(stream.encode())
    return path


def test_a_dwell_timer_is_right_across_gated_gaps(sample_video, small_detector, tmp_path) -> None:
    clip = frozen_people_clip(sample_video, tmp_path / "still-people.mp4")
    config = VigilConfig.model_validate({
        "cameras": {"lobby": {"url": str(clip), "detect_fps": 5, "realtime": False,
                              "zones": {"all": [[0, 0], [1, 0], [1, 1], [0, 1]]}}},
        "detector": {"model": "default", "imgsz": TEST_IMGSZ, "device": "cpu"},
        "motion": {"enabled": True, "check_every_s": CHECK_EVERY_S, "tracked_check_s": TRACKED_CHECK_S},
        "rules": [{"name": "loitering", "kind": "dwell", "zone": "all", "classes": ["person"], "min_score": 0.3,
                   "min_dwell_s": MIN_DWELL_S, "inertia_frames": 1, "clear_after_s": 2.5}],
        "storage": {"database": str(tmp_path / "vigil.db"), "media_dir": str(tmp_path / "media"),
                    "recordings_dir": str(tmp_path / "recordings")},
        "finetune": {"models_dir": str(tmp_path / "models")},
    })
    pipeline = Pipeline(config, detector=small_detector)
    started: list[tuple[float, AlertStarted]] = []
    process = pipeline.rule_engine.process

    def recording(frame, detections):
        events = process(frame, detections)
        started.extend((frame.pts, event) for event in events if isinstance(event, AlertStarted))
        return events

    pipeline.rule_engine.process = recording
    pipeline.start()
    try:
        pipeline.health.wait_until("lobby", lambda h: h.state == "ended", timeout_s=120)
    finally:
        pipeline.stop()
    health = pipeline.health.snapshot()["lobby"]
    assert health.skipped > 2 * health.frames_out, f"nothing moves: the gate skipped most sampled frames: {health}"
    assert health.frames_out <= 9 / TRACKED_CHECK_S + 2, "about one frame per tracked check reached the detector"

    assert started, "people who stand still for longer than min_dwell_s are loitering, frames skipped or not"
    for pts, event in started:
        dwell = event.alert.details["dwell_s"]
        assert MIN_DWELL_S <= dwell <= MIN_DWELL_S + TRACKED_CHECK_S + 0.01, f"dwell counted in stream time: {dwell}"
        assert pts <= CHECK_EVERY_S + MIN_DWELL_S + TRACKED_CHECK_S + 0.01, "confirmed on the first re-check, 4 s on"
    assert len(pipeline.store.list_alerts(rule="loitering")) == len(started), "every alert was stored"
