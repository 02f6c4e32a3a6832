"""What rules ask a camera's scene to watch: zones and lines, keyed so that rules defined alike share one state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from alerts.geometry import Anchor

Point = tuple[float, float]
Polygon = tuple[Point, ...]
"""A zone's vertices, relative 0–1 coordinates of the frame."""
Segment = tuple[Point, ...]
"""A line's start and end, relative 0–1 coordinates of the frame."""


@dataclass(frozen=True, slots=True)
class ZoneWatch:
    """Who is inside `zone`, judged at each box's `anchor`, entering and leaving debounced by `inertia_frames`.

    Rules with equal watches read one membership. The zone's points are not part of the key, so an edited zone
    keeps who is inside and those outside the new shape leave as usual.
    """

    zone: str
    anchor: Anchor = "bottom_center"
    inertia_frames: int = 3


@dataclass(frozen=True, slots=True)
class LineWatch:
    """Crossings of `line` by each box's whole extent, its `anchor` alongside the segment, confirmed on
    `min_crossing_frames` observations."""

    line: str
    anchor: Anchor = "bottom_center"
    min_crossing_frames: int = 2


@dataclass(frozen=True, slots=True)
class SceneShapes:
    """The zones and lines a camera's rules watch on one frame, with their points.

    Example:
        >>> door = LineWatch("door")
        >>> both = SceneShapes.union([SceneShapes(lines={door: ((0.5, 0.0), (0.5, 1.0))}), SceneShapes()])
        >>> both.lines[door]
        ((0.5, 0.0), (0.5, 1.0))
    """

    zones: Mapping[ZoneWatch, Polygon] = field(default_factory=dict)
    lines: Mapping[LineWatch, Segment] = field(default_factory=dict)

    @classmethod
    def union(cls, shapes: Iterable[SceneShapes]) -> SceneShapes:
        """All of `shapes` in one; rules that ask for one watch read it from one camera's shapes, with one set of
        points."""
        zones: dict[ZoneWatch, Polygon] = {}
        lines: dict[LineWatch, Segment] = {}
        for each in shapes:
            zones.update(each.zones)
            lines.update(each.lines)
        return cls(zones, lines)
