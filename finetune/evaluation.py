"""Evaluation of a model on held-out site frames: per-class AP, precision, recall, false positives per frame."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import supervision as sv
from supervision.metrics import AveragingMethod, MeanAveragePrecision, Precision, Recall

from detector import YoloDetector

_BATCH = 8


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    instances: int
    """Held-out boxes of the class."""
    ap50: float | None
    ap50_95: float | None
    precision: float | None
    """At the detector's operating confidence; None when it predicted nothing of the class."""
    recall: float | None
    fp_per_negative_frame: float | None
    """Boxes of the class predicted on held-out frames that have none, per such frame."""
    negative_frames: int
    pseudo_labelled: bool = False
    """Every held-out box of the class is the live model's (at the operating confidence; nobody drew one)."""


@dataclass(frozen=True, slots=True)
class ModelEvaluation:
    model: str
    frames: int
    map50_95: float | None
    """Mean over the classes with held-out instances."""
    classes: dict[str, ClassMetrics]

    def value(self, name: str, metric: str) -> float | None:
        """`metric` (ap50, ap50_95, precision, recall) of one class; None when it cannot be measured."""
        metrics = self.classes.get(name)
        if metrics is None or metrics.instances == 0:
            return None
        value = getattr(metrics, metric)
        return 0.0 if value is None else value

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelEvaluation:
        classes = {name: ClassMetrics(**metrics) for name, metrics in data["classes"].items()}
        return cls(data["model"], data["frames"], data["map50_95"], classes)


@dataclass(frozen=True, slots=True)
class HeldOutFrame:
    image: Path
    boxes: list[tuple[str, tuple[float, float, float, float]]]
    """Class name and YOLO box (cx, cy, w, h as fractions of the image), as the dataset stores them."""
    pseudo: int = 0
    """How many of `boxes`, the last ones, are pseudo-labels."""


def _as_detections(frame: HeldOutFrame, classes: list[str], width: int, height: int) -> sv.Detections:
    kept = [(classes.index(name), box) for name, box in frame.boxes if name in classes]
    if not kept:
        return sv.Detections.empty()
    cxcywh = np.array([box for _, box in kept], dtype=float) * [width, height, width, height]
    return sv.Detections(xyxy=sv.xcycwh_to_xyxy(cxcywh), class_id=np.array([c for c, _ in kept]))


def _named(detections: sv.Detections, classes: list[str]) -> sv.Detections:
    """Detections re-numbered by `classes`; classes the list lacks are dropped."""
    names = detections.data.get("class_name", np.array([], dtype=str))
    keep = np.isin(names, classes)
    kept = detections[keep]
    kept.class_id = np.array([classes.index(n) for n in names[keep]], dtype=int)
    return kept


def evaluate(
    detector: YoloDetector,
    model_name: str,
    frames: Sequence[HeldOutFrame],
    classes: list[str],
    operating_conf: float,
    progress: Callable[[int, int], None] | None = None,
) -> ModelEvaluation:
    """Measure `detector` on `frames` for `classes`; run it with a low confidence so AP sees the whole curve.

    AP, precision and recall (at IoU 0.5) are supervision's metrics; precision, recall and false positives per
    frame are taken at `operating_conf`, the confidence the pipeline runs with. A class the model does not have
    scores 0 AP and recall.
    """
    average_precision = MeanAveragePrecision()
    precision, recall = (metric(averaging_method=AveragingMethod.MACRO) for metric in (Precision, Recall))
    drawn = np.zeros(len(classes), dtype=int)
    predicted = np.zeros(len(classes), dtype=int)
    instances = np.zeros(len(classes), dtype=int)
    negative_frames = np.zeros(len(classes), dtype=int)
    negative_predictions = np.zeros(len(classes), dtype=int)
    for start in range(0, len(frames), _BATCH):
        chunk = frames[start : start + _BATCH]
        images = [cv2.imread(str(frame.image)) for frame in chunk]
        predictions = [_named(d, classes) for d in detector.detect(images)]
        targets = [_as_detections(f, classes, i.shape[1], i.shape[0]) for f, i in zip(chunk, images)]
        average_precision.update(predictions, targets)
        confident = [prediction[prediction.confidence >= operating_conf] for prediction in predictions]
        precision.update(confident, targets)
        recall.update(confident, targets)
        for frame in chunk:
            for name, _ in frame.boxes[: len(frame.boxes) - frame.pseudo]:
                if name in classes:
                    drawn[classes.index(name)] += 1
        for prediction, target in zip(confident, targets):
            for class_id in range(len(classes)):
                mine = int(np.sum(prediction.class_id == class_id))
                truth = int(np.sum(target.class_id == class_id)) if len(target) else 0
                instances[class_id] += truth
                predicted[class_id] += mine
                if truth == 0:
                    negative_frames[class_id] += 1
                    negative_predictions[class_id] += mine
        if progress:
            progress(min(start + _BATCH, len(frames)), len(frames))
    result = average_precision.compute()
    ap_by_class = {int(c): row for c, row in zip(result.matched_classes, result.ap_per_class)}
    precisions, recalls = precision.compute(), recall.compute()
    precision_by_class = dict(zip(precisions.matched_classes.tolist(), precisions.precision_per_class[:, 0].tolist()))
    recall_by_class = dict(zip(recalls.matched_classes.tolist(), recalls.recall_per_class[:, 0].tolist()))
    metrics = {}
    for class_id, name in enumerate(classes):
        ap = ap_by_class.get(class_id)
        metrics[name] = ClassMetrics(
            instances=int(instances[class_id]),
            ap50=None if ap is None else float(ap[0]),
            ap50_95=None if ap is None else float(ap.mean()),
            precision=precision_by_class.get(class_id, 0.0) if predicted[class_id] else None,
            recall=recall_by_class.get(class_id, 0.0) if instances[class_id] else None,
            fp_per_negative_frame=(
                float(negative_predictions[class_id] / negative_frames[class_id]) if negative_frames[class_id] else None
            ),
            negative_frames=int(negative_frames[class_id]),
            pseudo_labelled=bool(instances[class_id]) and not drawn[class_id],
        )
    measured = [m.ap50_95 for m in metrics.values() if m.ap50_95 is not None]
    return ModelEvaluation(model_name, len(frames), float(np.mean(measured)) if measured else None, metrics)


def comparison_table(evaluations: Sequence[ModelEvaluation]) -> str:
    """A plain-text table: one row per model and class, the columns the gate and operators look at."""
    header = f"{'model':<12} {'class':<16} {'n':>5} {'AP50':>6} {'AP50-95':>8} {'P':>6} {'R':>6} {'FP/neg':>7}"
    lines = [header, "-" * len(header)]

    def cell(value: float | None, width: int) -> str:
        return f"{'—':>{width}}" if value is None else f"{value:>{width}.3f}"

    for evaluation in evaluations:
        for name, m in evaluation.classes.items():
            lines.append(
                f"{evaluation.model:<12} {name:<16} {m.instances:>5} {cell(m.ap50, 6)} {cell(m.ap50_95, 8)} "
                f"{cell(m.precision, 6)} {cell(m.recall, 6)} {cell(m.fp_per_negative_frame, 7)}"
                + (" (live model's boxes)" if m.pseudo_labelled else "")
            )
        lines.append(f"{evaluation.model:<12} {'mAP50-95':<16} {'':>5} {'':>6} {cell(evaluation.map50_95, 8)}")
    return "\n".join(lines)
