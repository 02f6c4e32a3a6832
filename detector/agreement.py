"""How far two detectors agree on the same frames: boxes matched one to one at an IoU, per class."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import supervision as sv


@dataclass(frozen=True, slots=True)
class ClassAgreement:
    """One class's boxes: the reference's, the candidate's, and those matched between them."""

    name: str
    reference: int
    candidate: int
    matched: int

    @property
    def agreement(self) -> float:
        """Matched boxes over the mean box count (1.0 when both found nothing): symmetric, 1.0 is identical."""
        total = self.reference + self.candidate
        return 2 * self.matched / total if total else 1.0


@dataclass(frozen=True, slots=True)
class Agreement:
    """Per-class agreement of a candidate detector with a reference over `frames` frames.

    Example:
        >>> box = sv.Detections(xyxy=np.array([[0, 0, 10, 10.]]), class_id=np.array([0]), confidence=np.array([.9]))
        >>> result = compare_detections([box, box], [box, sv.Detections.empty()], ["person"])
        >>> result.classes[0].agreement, result.failing(0.9)[0].name
        (0.6666666666666666, 'person')
    """

    classes: tuple[ClassAgreement, ...]
    frames: int
    iou: float

    @property
    def overall(self) -> float:
        total = sum(c.reference + c.candidate for c in self.classes)
        return 2 * sum(c.matched for c in self.classes) / total if total else 1.0

    def failing(self, min_agreement: float) -> list[ClassAgreement]:
        """Classes whose agreement is below `min_agreement`."""
        return [c for c in self.classes if c.agreement < min_agreement]

    def summary(self) -> str:
        """One line, e.g. `person 0.97 (412 vs 405 boxes); overall 0.97 on 40 frames at IoU 0.5`."""
        parts = [f"{c.name} {c.agreement:.3f} ({c.reference} vs {c.candidate} boxes)" for c in self.classes]
        return "; ".join(parts + [f"overall {self.overall:.3f} on {self.frames} frames at IoU {self.iou:g}"])

    def to_dict(self) -> dict:
        return {
            "frames": self.frames,
            "iou": self.iou,
            "overall": self.overall,
            "classes": {c.name: {"reference": c.reference, "candidate": c.candidate, "matched": c.matched,
                                 "agreement": c.agreement} for c in self.classes},
        }


def matched_boxes(reference: np.ndarray, candidate: np.ndarray, iou: float) -> int:
    """How many (N, 4) reference boxes pair one to one with (M, 4) candidate boxes at `iou` or more, best first."""
    if len(reference) == 0 or len(candidate) == 0:
        return 0
    overlaps = sv.box_iou_batch(reference, candidate)
    matched = 0
    while True:
        row, column = np.unravel_index(np.argmax(overlaps), overlaps.shape)
        if overlaps[row, column] < iou:
            return matched
        matched += 1
        overlaps[row, :] = -1
        overlaps[:, column] = -1


def compare_detections(
    reference: Sequence[sv.Detections], candidate: Sequence[sv.Detections], class_names: Sequence[str], iou: float = 0.5
) -> Agreement:
    """Agreement of `candidate` with `reference`, frame by frame (same order), for each class either one found."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference frames but {len(candidate)} candidate frames")
    counts = np.zeros((len(class_names), 3), dtype=int)
    for ref, cand in zip(reference, candidate):
        for class_id in range(len(class_names)):
            ref_boxes = ref.xyxy[ref.class_id == class_id]
            cand_boxes = cand.xyxy[cand.class_id == class_id]
            counts[class_id] += (len(ref_boxes), len(cand_boxes), matched_boxes(ref_boxes, cand_boxes, iou))
    classes = tuple(
        ClassAgreement(name, *map(int, counts[i])) for i, name in enumerate(class_names) if counts[i, :2].any()
    )
    return Agreement(classes, len(reference), iou)
