"""The model's recent scores of one class as a small bar chart, with the score each rule asks for marked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from detector.score_profile import HISTOGRAM_BINS, ClassScores, RuleThreshold

WIDTH, HEIGHT, AXIS = 240, 60, 14
"""Plot width and height in pixels, and the room under it for the 0 / 0.5 / 1 labels."""


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True, slots=True)
class Marker:
    x: float
    label: str
    """The rule and its threshold, with the share of recent scores under it."""
    misses_most: bool


@dataclass(frozen=True, slots=True)
class ScoreChart:
    class_name: str
    scores: ClassScores
    bars: tuple[Bar, ...]
    markers: tuple[Marker, ...]
    width: int = WIDTH
    height: int = HEIGHT
    axis: int = AXIS


def score_chart(class_name: str, scores: ClassScores, thresholds: Sequence[RuleThreshold]) -> ScoreChart:
    """Bars of the score histogram scaled to the tallest, and one marker per rule threshold."""
    tallest = max(scores.histogram) or 1
    step = WIDTH / HISTOGRAM_BINS
    bars = tuple(
        Bar(i * step, HEIGHT - HEIGHT * n / tallest, step - 1, HEIGHT * n / tallest,
            f"{i / HISTOGRAM_BINS:.2f}–{(i + 1) / HISTOGRAM_BINS:.2f}: {n} scores")
        for i, n in enumerate(scores.histogram)
    )
    return ScoreChart(class_name, scores, bars, tuple(_marker(t, scores.share_below(t.score)) for t in thresholds))


def _marker(threshold: RuleThreshold, below: float) -> Marker:
    source = " (detector.class_conf)" if threshold.deliberate else ""
    return Marker(WIDTH * threshold.score, f"{threshold.rule}: {threshold.score:.2f}{source}, above {below:.0%} of the scores",
                  below > 0.5 and not threshold.deliberate)
