"""A fine-tuning job's training losses and validation mAP per epoch as the geometry of two small line charts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dashboard.chart import COLOURS
from finetune.jobs import TAUGHT_AP50

WIDTH, HEIGHT = 360, 180
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 22
"""Margins around the plot, for the axis labels."""
VALIDATION = (("taught AP50", TAUGHT_AP50), ("mAP50", "metrics/mAP50(B)"), ("mAP50-95", "metrics/mAP50-95(B)"))
"""Validation curves drawn: the name shown, and the key in an epoch's `metrics` (the first selects the kept epoch)."""
_NICE = (1.0, 2.0, 2.5, 5.0, 10.0)
_MAX_X_TICKS = 10


@dataclass(frozen=True, slots=True)
class CurvePoint:
    x: float
    y: float
    epoch: int
    value: float


@dataclass(frozen=True, slots=True)
class Curve:
    name: str
    colour: str
    points: tuple[CurvePoint, ...]

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True, slots=True)
class CurvePanel:
    """Curves over epochs 1 to `epochs`, on a y axis from 0 to `top_value`."""

    title: str
    top_value: float
    curves: tuple[Curve, ...]
    x_ticks: tuple[tuple[float, int], ...]
    y_ticks: tuple[tuple[float, str], ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


@dataclass(frozen=True, slots=True)
class TrainingCurves:
    losses: CurvePanel
    validation: CurvePanel


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least `value`; 1 for nothing to show.

    Example:
        >>> [nice_ceiling(v) for v in (0.0, 0.37, 0.5, 2.6, 13)]
        [1.0, 0.5, 0.5, 5.0, 20.0]
    """
    if not value > 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    return next(round(m * scale, 12) for m in _NICE if round(m * scale, 12) >= value)


def curve_panel(title: str, series: Mapping[str, Mapping[int, float]], epochs: int) -> CurvePanel:
    """A panel of one curve per series ({epoch: value}) on an x axis from epoch 1 to `epochs`."""
    peak = max((v for values in series.values() for v in values.values()), default=0.0)
    top_value = nice_ceiling(peak)
    step = (WIDTH - RIGHT - LEFT) / max(epochs - 1, 1)

    def x(epoch: int) -> float:
        return (LEFT + WIDTH - RIGHT) / 2 if epochs == 1 else LEFT + (epoch - 1) * step

    def y(value: float) -> float:
        return HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * value / top_value

    curves = tuple(
        Curve(name, COLOURS[i % len(COLOURS)], tuple(CurvePoint(x(e), y(v), e, v) for e, v in sorted(values.items())))
        for i, (name, values) in enumerate(series.items())
    )
    every = math.ceil(epochs / _MAX_X_TICKS)
    x_ticks = tuple((x(e), e) for e in range(1, epochs + 1, every))
    y_ticks = tuple((y(v), f"{v:g}") for v in (0.0, top_value / 2, top_value))
    return CurvePanel(title, top_value, curves, x_ticks, y_ticks)


def training_curves(history: Sequence[Mapping[str, Any]], epochs: int | None = None) -> TrainingCurves:
    """Losses and validation mAP from a job's `progress.history`; the x axis runs to `epochs` (the planned
    number) so a running job's curves grow to the right. Missing and non-finite values are left out.

    Example:
        >>> history = [{"epoch": 1, "losses": {"box_loss": 1.2}, "metrics": {"metrics/mAP50(B)": 0.4}}]
        >>> curves = training_curves(history, epochs=30)
        >>> [c.name for c in curves.losses.curves], [c.name for c in curves.validation.curves]
        (['box_loss'], ['mAP50'])
    """
    last = max((int(record["epoch"]) for record in history), default=1)
    span = max(epochs or 0, last)
    losses: dict[str, dict[int, float]] = {}
    validation: dict[str, dict[int, float]] = {}
    for record in history:
        epoch = int(record["epoch"])
        for name, value in (record.get("losses") or {}).items():
            _keep(losses.setdefault(name, {}), epoch, value)
        metrics = record.get("metrics") or {}
        for name, key in VALIDATION:
            _keep(validation.setdefault(name, {}), epoch, metrics.get(key))
    return TrainingCurves(
        losses=curve_panel("Training loss per epoch", _non_empty(losses.items()), span),
        validation=curve_panel("Validation AP per epoch", _non_empty(validation.items()), span),
    )


def _keep(values: dict[int, float], epoch: int, value: Any) -> None:
    if isinstance(value, int | float) and math.isfinite(value):
        values[epoch] = float(value)


def _non_empty(series: Iterable[tuple[str, dict[int, float]]]) -> dict[str, dict[int, float]]:
    return {name: values for name, values in series if values}
