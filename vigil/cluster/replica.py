"""A detector replica: the Ray actor that holds one device's model and batches every camera worker that uses it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ray
import supervision as sv

from detector.request_batching import RequestBatcher
from vigil.cluster.logs import log_like_vigil
from vigil.cluster.remote_detector import DETECT_TIMEOUT_S
from vigil.config import VigilConfig, check_rule_classes
from vigil.detection import build_detector
from vigil.model_watch import LiveModelWatcher
from vigil.stores import open_store, site_registry


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """What `vigil cluster status` shows of a replica."""

    name: str
    node_id: str
    device: str
    backend: str
    precision: str
    model: str
    """The live version it serves."""
    frames: int
    batches: int
    mean_batch: float
    backlog: int
    """Images waiting for inference now."""
    inference_p50_ms: float


class DetectorReplica:
    """One detector on `device`, built as `vigil run` builds it, serving concurrent `detect` calls in shared batches.

    It follows the registry's live pointer in the database (the versions are in the shared models folder), so a
    promotion swaps the model on every replica between two of its batches, with no restart.
    """

    def __init__(self, name: str, config: VigilConfig, device: str, node_id: str, secrets: tuple[str, ...]) -> None:
        log_like_vigil(secrets)
        self.name, self.node_id = name, node_id
        self._store = open_store(config)
        registry = site_registry(config, self._store)
        live = registry.live()
        detector = build_detector(config, registry, live, device)  # warmed up
        self._batcher = RequestBatcher(detector, max_batch=config.detector.batch_limit(device),
                                       max_wait_s=config.detector.max_wait_ms / 1000)
        self._batcher.start()
        self._watcher = LiveModelWatcher(
            registry, live, load=lambda version: [build_detector(config, registry, version, device)],
            swap=lambda detectors: self._batcher.swap_detector(detectors[0]),
            check=lambda candidate: check_rule_classes(config, candidate.class_names),
        )
        self._watcher.start()

    @ray.method(concurrency_group="control")
    def describe(self) -> dict[str, object]:
        """What a camera worker needs to know of the model: its classes and how it runs."""
        detector = self._batcher.detector
        return {"class_names": list(detector.class_names), "backend": detector.backend,
                "precision": detector.precision, "weights": str(detector.weights), "device": detector.device}

    def detect(self, images: list[np.ndarray]) -> list[sv.Detections]:
        return self._batcher.detect(images, timeout_s=DETECT_TIMEOUT_S)

    @ray.method(concurrency_group="control")
    def status(self) -> ReplicaStatus:
        detector, stats = self._batcher.detector, self._batcher.stats
        return ReplicaStatus(
            self.name, self.node_id, detector.device, detector.backend, detector.precision, self._watcher.serving,
            stats.frames, stats.batches, stats.mean_batch, self._batcher.backlog, stats.inference_median_ms(),
        )

    def stop(self) -> None:
        self._watcher.stop()
        self._batcher.close()
        self._batcher.join(timeout=30)
        self._store.close()
