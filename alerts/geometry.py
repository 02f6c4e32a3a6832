"""Pure geometry of boxes, zones and lines in a frame's pixels (x right, y down); shapes come in relative 0–1."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal

import numpy as np
import supervision as sv

Anchor = Literal["bottom_center", "center"]


def anchor_position(anchor: Anchor) -> sv.Position:
    """The point of a box that stands for the object, as supervision names it.

    `bottom_center` is where a standing object touches the ground.

    Example:
        >>> boxes = sv.Detections(xyxy=np.array([[0, 0, 10, 20]]))
        >>> boxes.get_anchors_coordinates(anchor_position("bottom_center")).tolist()
        [[5.0, 20.0]]
        >>> boxes.get_anchors_coordinates(anchor_position("center")).tolist()
        [[5.0, 10.0]]
    """
    if anchor not in ("bottom_center", "center"):
        raise ValueError(f"unknown anchor {anchor!r}, expected 'bottom_center' or 'center'")
    return sv.Position[anchor.upper()]


def scale_points(points: Sequence[Sequence[float]], width: int, height: int) -> np.ndarray:
    """Relative 0–1 (M, 2) points to pixel (M, 2) points of a `width` x `height` frame.

    Example:
        >>> scale_points([[0.5, 0.25], [1, 1]], 640, 480).tolist()
        [[320.0, 120.0], [640.0, 480.0]]
    """
    return np.asarray(points, dtype=float).reshape(-1, 2) * np.array([width, height], dtype=float)


def polygon_zone(points: Sequence[Sequence[float]], width: int, height: int, anchor: Anchor) -> sv.PolygonZone:
    """The zone of relative 0–1 `points` on a `width` x `height` frame, testing each box's `anchor`.

    Concave polygons work; boxes whose anchor lies on an edge count as inside.

    Example:
        >>> u_shape = [[0, 0], [0.3, 0], [0.3, 0.3], [0.2, 0.3], [0.2, 0.1], [0.1, 0.1], [0.1, 0.3], [0, 0.3]]
        >>> zone = polygon_zone(u_shape, 100, 100, "bottom_center")
        >>> zone.trigger(sv.Detections(xyxy=np.array([[3, 10, 7, 20], [13, 10, 17, 20]], dtype=float)))
        array([ True, False])
    """
    return sv.PolygonZone(scale_points(points, width, height), triggering_anchors=(anchor_position(anchor),))


_CORNERS = (sv.Position.TOP_LEFT, sv.Position.TOP_RIGHT, sv.Position.BOTTOM_LEFT, sv.Position.BOTTOM_RIGHT)


def _line_zone(start: np.ndarray, end: np.ndarray, anchors: tuple[sv.Position, ...]) -> sv.LineZone:
    """supervision's zone of the directed segment `start` → `end`, testing each box's `anchors`."""
    (sx, sy), (ex, ey) = np.asarray(start, dtype=float).tolist(), np.asarray(end, dtype=float).tolist()
    return _cached_line_zone(sx, sy, ex, ey, anchors)


@functools.lru_cache(maxsize=1024)
def _cached_line_zone(sx: float, sy: float, ex: float, ey: float, anchors: tuple[sv.Position, ...]) -> sv.LineZone:
    """Made once per segment: only its stateless side test is used, never its counting."""
    try:
        return sv.LineZone(sv.Point(sx, sy), sv.Point(ex, ey), triggering_anchors=anchors)
    except ValueError as error:  # supervision: "The magnitude of the vector cannot be zero."
        raise ValueError(f"segment has zero length: start and end are both {[sx, sy]}") from error


def line_sides(tracks: sv.Detections, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(N,) side of each tracked box relative to the directed line `start` → `end`, by supervision's `LineZone`.

    +1 when all four corners are on the positive side, -1 when all are on the
    negative side, 0 when the box straddles or touches the line. The sign is
    that of cross(end - start, corner - start); with y pointing down, +1 is the
    right-hand side when walking from `start` to `end` as drawn on screen.
    `LineZone` puts a corner on the line on its positive side, so the line is
    also asked reversed: a box is on a side only when no corner is on the line.

    Example:
        >>> boxes = sv.Detections(xyxy=np.array([[10, 60, 20, 80], [10, 10, 20, 30], [10, 40, 20, 60]], dtype=float),
        ...                       tracker_id=np.array([1, 2, 3]))
        >>> line_sides(boxes, np.array([0, 50]), np.array([100, 50]))  # below, above, across
        array([ 1, -1,  0])
    """
    if len(tracks) == 0:
        return np.zeros(0, dtype=int)
    _, _, not_all_negative = _line_zone(start, end, _CORNERS)._compute_anchor_sides(tracks)
    _, _, not_all_positive = _line_zone(end, start, _CORNERS)._compute_anchor_sides(tracks)
    return np.where(~not_all_positive, 1, np.where(~not_all_negative, -1, 0))


def within_segment_band(tracks: sv.Detections, start: np.ndarray, end: np.ndarray, anchor: Anchor) -> np.ndarray:
    """(N,) mask of the tracked boxes whose `anchor` is alongside the segment `start`–`end`, not beyond its ends.

    An anchor qualifies when its projection on the segment's line falls between
    the two ends (inclusive), however far it is from the line: `LineZone`'s limits.
    On a slanted segment, float rounding may put an anchor exactly level with an end
    on either side of it.

    Example:
        >>> boxes = sv.Detections(xyxy=np.array([[48, 80, 52, 90], [-3, 40, 1, 50], [98, -10, 102, 0]], dtype=float),
        ...                       tracker_id=np.array([1, 2, 3]))
        >>> within_segment_band(boxes, np.array([0, 50]), np.array([100, 50]), "bottom_center")
        array([ True, False,  True])
    """
    zone = _line_zone(start, end, (anchor_position(anchor),))
    if len(tracks) == 0:
        return np.zeros(0, dtype=bool)
    in_limits, _, _ = zone._compute_anchor_sides(tracks)
    return in_limits
