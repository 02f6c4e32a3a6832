"""Pure geometry on boxes and points in pixel coordinates (x right, y down)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Anchor = Literal["bottom_center", "center"]


def anchor_points(xyxy: np.ndarray, anchor: Anchor) -> np.ndarray:
    """The (N, 2) point of each (N, 4) xyxy box that stands for the object.

    `bottom_center` is where a standing object touches the ground.

    Example:
        >>> anchor_points(np.array([[0, 0, 10, 20]]), "bottom_center").tolist()
        [[5.0, 20.0]]
        >>> anchor_points(np.array([[0, 0, 10, 20]]), "center").tolist()
        [[5.0, 10.0]]
    """
    boxes = np.asarray(xyxy, dtype=float).reshape(-1, 4)
    x = (boxes[:, 0] + boxes[:, 2]) / 2
    if anchor == "bottom_center":
        return np.column_stack([x, boxes[:, 3]])
    if anchor == "center":
        return np.column_stack([x, (boxes[:, 1] + boxes[:, 3]) / 2])
    raise ValueError(f"unknown anchor {anchor!r}, expected 'bottom_center' or 'center'")


def scale_points(points: Sequence[Sequence[float]], width: int, height: int) -> np.ndarray:
    """Relative 0–1 (M, 2) points to pixel (M, 2) points of a `width` x `height` frame.

    Example:
        >>> scale_points([[0.5, 0.25], [1, 1]], 640, 480).tolist()
        [[320.0, 120.0], [640.0, 480.0]]
    """
    return np.asarray(points, dtype=float).reshape(-1, 2) * np.array([width, height], dtype=float)


def in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N,) mask of the (N, 2) points inside the (M, 2) polygon, by the even-odd rule.

    Works for concave polygons. A point exactly on an edge gets a fixed
    answer (the same every time) but which one depends on the edge.

    Example:
        >>> u_shape = np.array([[0, 0], [3, 0], [3, 3], [2, 3], [2, 1], [1, 1], [1, 3], [0, 3]])
        >>> in_polygon(np.array([[0.5, 2], [1.5, 2], [1.5, 0.5]]), u_shape)
        array([ True, False,  True])
    """
    px, py = np.asarray(points, dtype=float).reshape(-1, 2).T
    vertices = np.asarray(polygon, dtype=float).reshape(-1, 2)
    inside = np.zeros(len(px), dtype=bool)
    for (x1, y1), (x2, y2) in zip(vertices, np.roll(vertices, -1, axis=0)):
        spans = (y1 > py) != (y2 > py)
        if y1 == y2 or not spans.any():
            continue
        x_at_py = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        inside ^= spans & (px < x_at_py)
    return inside


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
