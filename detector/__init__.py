"""Object detection: one batched model for all cameras, one tracker per camera.

The model, batcher and trackers load torch and Ultralytics (seconds), so they are imported on first use: commands
that never detect (`vigil user`, `vigil alerts`, `vigil check-config` on a config alone) start without them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from detector.weights import DEFAULT_LABELS, DEFAULT_MODEL, resolve_weights

if TYPE_CHECKING:
    from detector.batcher import Batcher, BatchStats
    from detector.model import YoloDetector, read_class_names
    from detector.tracking import CameraTrackers, TrackerSettings

_HOME = {
    "Batcher": "detector.batcher",
    "BatchStats": "detector.batcher",
    "YoloDetector": "detector.model",
    "read_class_names": "detector.model",
    "CameraTrackers": "detector.tracking",
    "TrackerSettings": "detector.tracking",
}

__all__ = ["DEFAULT_LABELS", "DEFAULT_MODEL", "resolve_weights", *_HOME]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'detector' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
