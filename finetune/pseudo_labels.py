"""Pseudo-labels: the current model's confident boxes for the classes an import did not label."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import supervision as sv

from detector import YoloDetector
from finetune.dataset import LabelBox

_SAME_OBJECT_IOU = 0.5


class PseudoLabeler:
    """Labels old classes on site frames so fine-tuning does not learn that people are background.

    The model runs with class-aware NMS; boxes under their class's minimum
    score are dropped, then one box per object is kept (class-agnostic NMS),
    so a walker scored `fallen_person` 0.55 and `person` 0.8 stays a person.

    Example:
        >>> labeler = PseudoLabeler(detector, min_score=0.5, class_min_score={"fallen_person": 0.7})  # doctest: +SKIP
        >>> labeler.label([image], classes={"person", "fallen_person"})  # doctest: +SKIP
        [[LabelBox(label='person', xyxy=(...), pseudo=True)]]
    """

    def __init__(self, detector: YoloDetector, min_score: float, class_min_score: Mapping[str, float] | None = None) -> None:
        self.detector = detector
        self.min_score = min_score
        self.class_min_score = dict(class_min_score or {})

    @classmethod
    def from_weights(
        cls,
        weights: str,
        *,
        imgsz: int,
        device: str,
        labels: Mapping[str, str],
        min_score: float,
        class_min_score: Mapping[str, float] | None = None,
    ) -> PseudoLabeler:
        """A labeller running `weights` (class-aware NMS, down to the lowest minimum score), warmed up."""
        lowest = min([min_score, *(class_min_score or {}).values()])
        detector = YoloDetector(weights, imgsz=imgsz, conf=lowest, device=device, labels=labels, agnostic_nms=False)
        detector.warm_up()
        return cls(detector, min_score, class_min_score)

    def detect(self, images: Sequence[np.ndarray], classes: Collection[str]) -> list[sv.Detections]:
        """Confident detections of `classes` per image, one box per object."""
        if not classes:
            return [sv.Detections.empty() for _ in images]
        results = []
        for detections in self.detector.detect(images):
            names = detections.data.get("class_name", np.array([], dtype=str))
            thresholds = np.array([self.class_min_score.get(n, self.min_score) for n in names], dtype=float)
            keep = np.isin(names, list(classes)) & (detections.confidence >= thresholds)
            results.append(detections[keep].with_nms(threshold=_SAME_OBJECT_IOU, class_agnostic=True))
        return results

    def label(self, images: Sequence[np.ndarray], classes: Collection[str]) -> list[list[LabelBox]]:
        """Pseudo-label boxes of `classes` for each image."""
        return [to_label_boxes(d, pseudo=True) for d in self.detect(images, classes)]


def to_label_boxes(detections: sv.Detections, *, pseudo: bool, label: str | None = None) -> list[LabelBox]:
    """Detections as label boxes, each named by its class (or all named `label`)."""
    names = detections.data.get("class_name", [])
    return [
        LabelBox(label or str(name), tuple(float(v) for v in box), pseudo)
        for box, name in zip(detections.xyxy, names)
        if box[2] > box[0] and box[3] > box[1]  # a model can emit an empty box; as a label it would be refused
    ]


def without_overlaps(boxes: list[LabelBox], taken: Sequence[LabelBox], iou: float = _SAME_OBJECT_IOU) -> list[LabelBox]:
    """`boxes` minus those that cover an object already in `taken` (IoU ≥ `iou`)."""
    if not boxes or not taken:
        return boxes
    overlap = sv.box_iou_batch(np.array([b.xyxy for b in boxes]), np.array([t.xyxy for t in taken]))
    return [box for box, row in zip(boxes, overlap) if row.max() < iou]
