"""Pure geometry of boxes, zones and lines in a frame's pixels (x right, y down); shapes come in relative 0–1."""

from __future__ import annotations

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


def line_sides(xyxy: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(N,) side of each (N, 4) xyxy box relative to the directed line `start` → `end`.

    +1 when all four corners are on the positive side, -1 when all are on the
    negative side, 0 when the box straddles or touches the line. The sign is
    that of cross(end - start, corner - start); with y pointing down, +1 is the
    right-hand side when walking from `start` to `end` as drawn on screen.

    Example:
        >>> boxes = np.array([[10, 60, 20, 80], [10, 10, 20, 30], [10, 40, 20, 60]])
        >>> line_sides(boxes, np.array([0, 50]), np.array([100, 50]))  # below, above, across
        array([ 1, -1,  0])
    """
    boxes = np.asarray(xyxy, dtype=float).reshape(-1, 4)
    sx, sy = np.asarray(start, dtype=float)
    dx, dy = np.asarray(end, dtype=float) - (sx, sy)
    corners_x = boxes[:, [0, 2, 0, 2]]
    corners_y = boxes[:, [1, 1, 3, 3]]
    cross = dx * (corners_y - sy) - dy * (corners_x - sx)
    return np.where((cross > 0).all(axis=1), 1, np.where((cross < 0).all(axis=1), -1, 0))


def within_segment_band(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(N,) mask of the (N, 2) points alongside the segment `start`–`end`, not beyond its ends.

    A point qualifies when its projection on the segment's line falls between
    the two ends (inclusive), however far it is from the line.

    Example:
        >>> points = np.array([[50, 90], [-1, 50], [100, 0]])
        >>> within_segment_band(points, np.array([0, 50]), np.array([100, 50]))
        array([ True, False,  True])
    """
    s = np.asarray(start, dtype=float)
    d = np.asarray(end, dtype=float) - s
    length_sq = float(d @ d)
    if length_sq == 0:
        raise ValueError(f"segment has zero length: start and end are both {s.tolist()}")
    t = (np.asarray(points, dtype=float).reshape(-1, 2) - s) @ d / length_sq
    return (t >= 0) & (t <= 1)
