"""More than one device: one batcher each, cameras on the least-loaded one, all detected."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from detector.placement import assign_cameras, detection_devices
from tests.metrics_text import exposition
from vigil.config import VigilConfig
from vigil.pipeline import Pipeline


def test_devices_auto_is_the_cpu_without_a_gpu_and_lists_stay_as_given() -> None:
    assert detection_devices("auto") == ["cpu"]
    assert detection_devices(["cuda:0", "cuda:1"]) == ["cuda:0", "cuda:1"]


def test_busier_cameras_are_spread_first_and_the_load_evens_out() -> None:
    rates = {"gate": 10.0, "lobby": 5.0, "yard": 5.0, "dock": 2.0, "roof": 2.0}
    assignment = assign_cameras(rates, devices=2)
    load = [sum(rates[c] for c, d in assignment.items() if d == device) for device in (0, 1)]
    assert sorted(load) == [12.0, 12.0], assignment
    assert assign_cameras(rates, devices=1) == dict.fromkeys(rates, 0)


@pytest.mark.slow
def test_two_devices_each_batch_their_own_cameras(sample_video, tmp_path) -> None:
    camera = {"url": str(sample_video), "detect_fps": 5, "realtime": False}
    config = VigilConfig.model_validate({
        "cameras": {"a": camera, "b": camera, "c": {**camera, "detect_fps": 10}},
        "detector": {"model": "default", "imgsz": 320, "device": ["cpu", "cpu"], "backend": "pytorch"},
        "motion": {"enabled": False},
        "record": {"enabled": False},
        "storage": {"database": str(tmp_path / "vigil.db"), "media_dir": str(tmp_path / "media"),
                    "recordings_dir": str(tmp_path / "recordings")},
        "finetune": {"models_dir": str(tmp_path / "models")},
    })
    pipeline = Pipeline(config)
    first, second = pipeline.detection.batchers
    assert first.detector is not second.detector, "each device has its own model"
    assert pipeline.detection.device_of == {"c": 0, "a": 1, "b": 1}, "the 10 fps camera alone, the two 5 fps together"
    pipeline.start()
    try:
        for name in config.cameras:
            pipeline.health.wait_until(name, lambda h: h.frames_out >= 10, timeout_s=120)
    finally:
        pipeline.stop()
    assert first.stats.frames >= 10 and second.stats.frames >= 20
    assert second.stats.mean_batch > 1.0, "cameras on one device share its batches"
    metrics = exposition(pipeline.metrics)
    assert 'vigil_detector_frames_total{device="cpu"}' in metrics
    # The histograms count every frame and every inference call of their device.
    counts = [(s.name, s.value) for f in text_string_to_metric_families(metrics) for s in f.samples]
    assert sum(v for name, v in counts if name == "vigil_detector_frame_age_seconds_count") == \
        first.stats.frames + second.stats.frames
    assert sum(v for name, v in counts if name == "vigil_detector_inference_seconds_count") == \
        first.stats.batches + second.stats.batches
