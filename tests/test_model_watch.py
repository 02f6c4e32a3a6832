"""The live-model watcher refuses what it cannot serve and keeps the running model."""

from __future__ import annotations

import shutil

from alerts import AlertStore
from detector import Batcher, YoloDetector, resolve_weights
from finetune.registry import ModelRegistry
from streamer import HealthMonitor, LatestFrameBoard
from vigil.model_watch import LiveModelWatcher


def _watcher(tmp_path, small_detector, needs: set[str]) -> tuple[LiveModelWatcher, Batcher, ModelRegistry]:
    registry = ModelRegistry(tmp_path / "models", "default", AlertStore(tmp_path / "vigil.db").engine)
    health = HealthMonitor()
    batcher = Batcher(LatestFrameBoard(), small_detector, lambda *_: None, health)
    watcher = LiveModelWatcher(
        registry, registry.live(),
        load=lambda version: [YoloDetector(version.weights, imgsz=320, device="cpu")],
        swap=lambda detectors: batcher.swap_detector(detectors[0]),
        check=lambda detector: [f"no class {name}" for name in sorted(needs - set(detector.class_names))],
    )
    return watcher, batcher, registry


def test_a_model_that_cannot_load_or_lacks_a_rule_class_is_refused(tmp_path, small_detector, caplog):
    watcher, batcher, registry = _watcher(tmp_path, small_detector, needs={"Normal", "package"})
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    registry.promote(registry.add(broken).version)
    watcher.follow()
    assert watcher.serving == "base" and "failed to load; base keeps serving" in caplog.text

    weights = tmp_path / "default.pt"
    shutil.copyfile(resolve_weights("default"), weights)
    registry.promote(registry.add(weights).version)
    watcher.follow()
    assert watcher.serving == "base" and "model v0002 refused, base keeps serving: no class package" in caplog.text
    watcher.follow()
    assert caplog.text.count("refused") == 1, "a refused model is not retried every second"
    assert batcher.swaps == 0 and batcher.detector is small_detector


def test_a_loadable_model_with_the_rule_classes_is_handed_to_the_batcher(tmp_path, small_detector):
    watcher, batcher, registry = _watcher(tmp_path, small_detector, needs={"Normal"})
    weights = tmp_path / "default.pt"
    shutil.copyfile(resolve_weights("default"), weights)
    registry.promote(registry.add(weights).version)
    watcher.follow()
    assert watcher.serving == "v0001" and watcher.wait_for("v0001", timeout=0)
    shutil.rmtree(tmp_path / "models" / "v0001")
    watcher.follow()
    assert watcher.serving == "v0001", "a live pointer to a missing folder keeps the serving model"
