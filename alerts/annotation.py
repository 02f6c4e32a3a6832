"""Drawing detections on frames, shared by alert snapshots and live views."""

from __future__ import annotations

import numpy as np
import supervision as sv

_BOXES = sv.BoxAnnotator(thickness=2)
_LABELS = sv.LabelAnnotator(text_scale=0.5, text_padding=4)


def detection_labels(detections: sv.Detections) -> list[str]:
    """`#track label score` per detection, e.g. `#7 person 0.81`."""
    names = detections.data.get("class_name", [""] * len(detections))
    tracks = detections.tracker_id if detections.tracker_id is not None else [-1] * len(detections)
    confidences = detections.confidence if detections.confidence is not None else [float("nan")] * len(detections)
    return [
        f"{'#' + str(t) + ' ' if t >= 0 else ''}{n} {c:.2f}"
        for t, n, c in zip(tracks, names, confidences, strict=True)
    ]


def annotate(image: np.ndarray, detections: sv.Detections) -> np.ndarray:
    """A copy of the BGR `image` with boxes and labels drawn."""
    canvas = image.copy()
    if len(detections) == 0:
        return canvas
    canvas = _BOXES.annotate(canvas, detections)
    return _LABELS.annotate(canvas, detections, labels=detection_labels(detections))
