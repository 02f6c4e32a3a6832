"""Small per-track state machines fed one observation at a time: zone presence, line crossings, score history."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

Direction = Literal["in", "out"]


@dataclass(slots=True)
class _Debounced:
    """A value that changes only after `frames` consecutive observations of a new value."""

    value: object
    _candidate: object = None
    _count: int = 0

    def observe(self, value: object, frames: int) -> bool:
        """Record one observation; True when it confirms a change of `value`."""
        if value == self.value:
            self._count = 0
            return False
        if value != self._candidate:
            self._candidate, self._count = value, 0
        self._count += 1
        if self._count < frames:
            return False
        self.value, self._count = value, 0
        return True


def _check_frames(name: str, frames: int) -> None:
    if frames < 1:
        raise ValueError(f"{name} must be at least 1, got {frames!r}")


class ZonePresence:
    """Which tracks are in a zone, debounced: a change needs `inertia_frames` consecutive observations.

    A track not in an update keeps its state and counters: occlusion is not
    leaving. `forget` drops a track without reporting it as having left.

    Example:
        >>> zone = ZonePresence(inertia_frames=2)
        >>> zone.update(np.array([7]), np.array([True]))
        (set(), set())
        >>> zone.update(np.array([7]), np.array([True]))
        ({7}, set())
        >>> zone.inside
        frozenset({7})
    """

    def __init__(self, inertia_frames: int = 3) -> None:
        _check_frames("inertia_frames", inertia_frames)
        self.inertia_frames = inertia_frames
        self._tracks: dict[int, _Debounced] = {}

    @property
    def inside(self) -> frozenset[int]:
        """Ids of the tracks currently inside."""
        return frozenset(track_id for track_id, state in self._tracks.items() if state.value)

    def update(self, track_ids: np.ndarray, inside: np.ndarray) -> tuple[set[int], set[int]]:
        """Observe each track once; return the ids that (entered, left) on this observation."""
        entered: set[int] = set()
        left: set[int] = set()
        for track_id, is_inside in zip(np.asarray(track_ids).tolist(), np.asarray(inside, dtype=bool).tolist()):
            state = self._tracks.setdefault(track_id, _Debounced(False))
            if state.observe(is_inside, self.inertia_frames):
                (entered if is_inside else left).add(track_id)
        return entered, left

    def forget(self, track_id: int) -> None:
        """Drop a track's state, e.g. when its track ended."""
        self._tracks.pop(track_id, None)


class LineCrossings:
    """Confirmed crossings of a directed line, one report per physical crossing.

    Each track has a confirmed side (+1 or -1, as from `line_sides`); a side
    is confirmed after `min_crossing_frames` consecutive observations on it.
    Confirming the side opposite the previous one is a crossing: -1 → +1 is
    "in", +1 → -1 is "out". The first confirmed side is not a crossing.
    Observations straddling the line (side 0) or outside the segment's band
    are ignored: they neither confirm nor reset.

    Example:
        >>> line = LineCrossings()
        >>> ids, in_band = np.array([3]), np.array([True])
        >>> line.update(ids, np.array([-1]), in_band), line.update(ids, np.array([0]), in_band)
        ([], [])
        >>> line.update(ids, np.array([1]), in_band)
        [(3, 'in')]
    """

    def __init__(self, min_crossing_frames: int = 1) -> None:
        _check_frames("min_crossing_frames", min_crossing_frames)
        self.min_crossing_frames = min_crossing_frames
        self._tracks: dict[int, _Debounced] = {}

    def update(self, track_ids: np.ndarray, sides: np.ndarray, in_band: np.ndarray) -> list[tuple[int, Direction]]:
        """Observe each track once; return the (track_id, direction) crossings confirmed now."""
        counted = (np.asarray(sides) != 0) & np.asarray(in_band, dtype=bool)
        crossings: list[tuple[int, Direction]] = []
        for track_id, side in zip(np.asarray(track_ids)[counted].tolist(), np.asarray(sides)[counted].tolist()):
            state = self._tracks.setdefault(track_id, _Debounced(None))
            previous = state.value
            if state.observe(side, self.min_crossing_frames) and previous is not None:
                crossings.append((track_id, "in" if side > 0 else "out"))
        return crossings

    def forget(self, track_id: int) -> None:
        """Drop a track's state, e.g. when its track ended."""
        self._tracks.pop(track_id, None)


class ScoreHistory:
    """The last `window` scores of each track, whose median ignores single-frame flicker.

    Example:
        >>> history = ScoreHistory(window=3)
        >>> for score in (0.4, 0.95, 0.5):
        ...     history.add(np.array([1]), np.array([score]))
        >>> history.median(1), history.median(1, last=2), history.median(2)
        (0.5, 0.725, 0.0)
    """

    def __init__(self, window: int = 5) -> None:
        _check_frames("window", window)
        self.window = window
        self._scores: dict[int, deque[float]] = {}

    def add(self, track_ids: np.ndarray, scores: np.ndarray) -> None:
        """Append one score per track."""
        for track_id, score in zip(np.asarray(track_ids).tolist(), np.asarray(scores, dtype=float).tolist()):
            self._scores.setdefault(track_id, deque(maxlen=self.window)).append(score)

    def median(self, track_id: int, last: int | None = None) -> float:
        """Median of the track's `last` scores (None: all kept); 0.0 for an unknown track, so it passes no threshold."""
        scores = self._scores.get(track_id)
        if not scores:
            return 0.0
        recent = list(scores)[-last:] if last is not None else scores
        return float(np.median(recent))

    def forget(self, track_id: int) -> None:
        """Drop a track's scores, e.g. when its track ended."""
        self._scores.pop(track_id, None)
