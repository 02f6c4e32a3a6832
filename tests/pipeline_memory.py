"""How much a pipeline's RSS grows over a run of a clip: `python -m tests.pipeline_memory CLIP FOLDER PRE_S EXPORTS`
prints the growth in bytes (the peak while it runs, less the RSS once the model is loaded). A process of its own
per run, so one run's allocations cannot hide or inflate another's; EXPORTS is the session's export cache."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import psutil

from tests.conftest import TEST_IMGSZ, share_exports
from vigil.config import VigilConfig
from vigil.pipeline import Pipeline

SAMPLE_EVERY_S = 0.02


def grown_bytes(clip: Path, folder: Path, pre_s: float, exports: Path) -> int:
    share_exports(folder, exports)
    config = VigilConfig.model_validate({
        "cameras": {"lobby": {"url": str(clip), "detect_fps": 5, "realtime": False}},
        "motion": {"enabled": False},
        "detector": {"model": "default", "imgsz": TEST_IMGSZ, "device": "cpu"},
        "rules": [{"name": "seen", "kind": "presence", "classes": ["person"], "min_score": 0.25,
                   "min_duration_s": 0, "cooldown_s": 1, "clear_after_s": 600}],
        "storage": {"database": str(folder / "vigil.db"), "media_dir": str(folder / "media"),
                    "recordings_dir": str(folder / "recordings"), "clips": {"pre_s": pre_s, "post_s": 1}},
        "finetune": {"models_dir": str(folder / "data" / "models")},
    })
    process = psutil.Process()
    pipeline = Pipeline(config)
    before = peak = process.memory_info().rss
    done = threading.Event()

    def sample() -> None:  # a measurement, taken while the run goes on
        nonlocal peak
        while not done.wait(SAMPLE_EVERY_S):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    pipeline.start()
    try:
        pipeline.health.wait_until("lobby", lambda h: h.state == "ended", timeout_s=180)
    finally:
        pipeline.stop()
        done.set()
        sampler.join()
    if not pipeline.store.list_alerts():
        sys.exit("no alert was raised, so no pre-roll was wanted: the measurement says nothing")
    return peak - before


if __name__ == "__main__":
    print(grown_bytes(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4])))
