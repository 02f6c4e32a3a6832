"""Object detection: one batched model for all cameras, one tracker per camera."""

from detector.batcher import Batcher, BatchStats
from detector.model import YoloDetector, read_class_names
from detector.tracking import CameraTrackers, TrackerSettings
from detector.weights import DEFAULT_LABELS, DEFAULT_MODEL, resolve_weights

__all__ = [
    "DEFAULT_LABELS",
    "DEFAULT_MODEL",
    "BatchStats",
    "Batcher",
    "CameraTrackers",
    "TrackerSettings",
    "YoloDetector",
    "read_class_names",
    "resolve_weights",
]
