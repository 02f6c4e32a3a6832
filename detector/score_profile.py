"""What scores the model gives each class on a site's recent frames: for thresholds that fit the model."""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import supervision as sv

HISTOGRAM_BINS = 20
"""Bins of width 0.05 over scores 0–1."""


@dataclass(frozen=True, slots=True)
class ClassScores:
    """The distribution of one class's recent detection scores."""

    count: int
    percentiles: tuple[float, ...]
    """The 0th to 100th percentile, one per point."""
    histogram: tuple[int, ...]
    """Scores per bin of width 1 / HISTOGRAM_BINS, for the chart."""

    @classmethod
    def of(cls, scores: np.ndarray) -> ClassScores:
        percentiles = tuple(float(v) for v in np.percentile(scores, np.arange(101)))
        histogram, _ = np.histogram(scores, bins=HISTOGRAM_BINS, range=(0.0, 1.0))
        return cls(len(scores), percentiles, tuple(int(n) for n in histogram))

    @property
    def quartiles(self) -> tuple[float, float, float]:
        return self.percentiles[25], self.percentiles[50], self.percentiles[75]

    def share_below(self, threshold: float) -> float:
        """The share of the scores under `threshold`, to the percent."""
        return float(np.searchsorted(self.percentiles, threshold, side="left")) / 101

    def to_dict(self) -> dict:
        return {"count": self.count, "percentiles": list(self.percentiles), "histogram": list(self.histogram)}

    @classmethod
    def from_dict(cls, data: Mapping) -> ClassScores:
        return cls(int(data["count"]), tuple(float(v) for v in data["percentiles"]), tuple(int(n) for n in data["histogram"]))


@dataclass(frozen=True, slots=True)
class RuleThreshold:
    """The score one rule asks of a class."""

    rule: str
    score: float
    deliberate: bool = False
    """Set for the class on purpose (`detector.class_conf`), e.g. above a class the model over-scores."""


class ScoreProfile:
    """The last `window` detection scores of each class, from every camera; thread-safe.

    Example:
        >>> profile = ScoreProfile(window=100)
        >>> profile.add(sv.Detections(xyxy=np.zeros((2, 4)), confidence=np.array([0.4, 0.5]),
        ...                           data={"class_name": np.array(["person", "person"])}))
        >>> [round(q, 3) for q in profile.summary()["person"].quartiles]
        [0.425, 0.45, 0.475]
    """

    def __init__(self, window: int = 2000) -> None:
        self._scores: dict[str, deque[float]] = {}
        self._window = window
        self._lock = threading.Lock()

    def add(self, detections: sv.Detections) -> None:
        if not len(detections) or detections.confidence is None:
            return
        with self._lock:
            for name, score in zip(detections.data["class_name"], detections.confidence):
                self._scores.setdefault(str(name), deque(maxlen=self._window)).append(float(score))

    def summary(self) -> dict[str, ClassScores]:
        with self._lock:
            snapshot = {name: np.fromiter(scores, float) for name, scores in self._scores.items()}
        return {name: ClassScores.of(scores) for name, scores in sorted(snapshot.items())}

    def save(self, path: Path) -> None:
        """Write the summary as JSON, atomically: `vigil check-config` reads it."""
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps({name: s.to_dict() for name, s in self.summary().items()}))
        os.replace(temporary, path)


def load_score_summary(path: Path) -> dict[str, ClassScores]:
    """A summary `ScoreProfile.save` wrote; empty when there is none or it cannot be read."""
    try:
        data = json.loads(path.read_text())
        return {name: ClassScores.from_dict(scores) for name, scores in data.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
