"""The pipeline's memory does not grow with the clips' pre-roll: no frames are held for clips any more."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from tests.camera_files import camera_like
from tests.conftest import TEST_IMGSZ
from vigil.config import VigilConfig
from vigil.pipeline import Pipeline

pytestmark = pytest.mark.slow

MB = 1_000_000


def run_and_measure(clip: Path, tmp_path: Path, detector, pre_s: float) -> int:
    """RSS growth, in bytes, over a whole run of the clip read at detector speed (and recorded)."""
    folder = tmp_path / f"pre-{pre_s:g}"
    config = VigilConfig.model_validate({
        "cameras": {"lobby": {"url": str(clip), "detect_fps": 10, "realtime": False}},
        "motion": {"enabled": False},
        "detector": {"model": "default", "imgsz": TEST_IMGSZ, "device": "cpu"},
        "rules": [{"name": "seen", "kind": "presence", "classes": ["person"], "min_score": 0.25,
                   "min_duration_s": 0, "cooldown_s": 1, "clear_after_s": 600}],
        "storage": {"database": str(folder / "vigil.db"), "media_dir": str(folder / "media"),
                    "recordings_dir": str(folder / "recordings"), "clips": {"pre_s": pre_s, "post_s": 1}},
        "finetune": {"models_dir": str(folder / "models")},
    })
    process = psutil.Process()
    pipeline = Pipeline(config, detector=detector)
    before = process.memory_info().rss
    pipeline.start()
    try:
        pipeline.health.wait_until("lobby", lambda h: h.state == "ended", timeout_s=180)
        grown = process.memory_info().rss - before  # before stop: an alert still open would hold its pre-roll
    finally:
        pipeline.stop()
    assert pipeline.store.list_alerts(), "an alert was open during the run, so a pre-roll was wanted"
    return grown


def test_rss_does_not_grow_with_pre_s(sample_video: Path, small_detector, tmp_path: Path) -> None:
    clip = tmp_path / "lobby-720p.mp4"
    camera_like(sample_video, clip, seconds=4, scale="960:720")
    run_and_measure(clip, tmp_path, small_detector, pre_s=1)  # warm-up: the first 720p run's own allocations
    long_pre_roll = run_and_measure(clip, tmp_path, small_detector, pre_s=60)
    short_pre_roll = run_and_measure(clip, tmp_path, small_detector, pre_s=1)
    # A ring of 60 s of frames at 10 fps would hold all 40 frames of this 4 s clip: 40 x 2.1 MB.
    assert long_pre_roll < short_pre_roll + 30 * MB, (long_pre_roll / MB, short_pre_roll / MB)
