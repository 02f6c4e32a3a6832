"""Drawing detections, zones and lines on frames, shared by alert snapshots, clips and live views."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import supervision as sv

from alerts.geometry import scale_points
from alerts.site_shapes import CameraShapes, SiteShapes

_BOXES = sv.BoxAnnotator(thickness=2)
_LABELS = sv.LabelAnnotator(text_scale=0.5, text_padding=4)
_ZONE_COLOR = sv.Color.from_hex("#00c2ff")
_LINE_COLOR = sv.Color.from_hex("#ffb000")
_MOTION_COLOR = sv.Color.from_hex("#ff4fd8")


def detection_labels(detections: sv.Detections) -> list[str]:
    """`#track label score` per detection, e.g. `#7 person 0.81`."""
    names = detections.data.get("class_name", [""] * len(detections))
    tracks = detections.tracker_id if detections.tracker_id is not None else [-1] * len(detections)
    confidences = detections.confidence if detections.confidence is not None else [float("nan")] * len(detections)
    return [
        f"{'#' + str(t) + ' ' if t >= 0 else ''}{n} {c:.2f}"
        for t, n, c in zip(tracks, names, confidences, strict=True)
    ]


def draw_shapes(canvas: np.ndarray, shapes: CameraShapes) -> np.ndarray:
    """Zones as outlined polygons and lines as arrows from start to end, each with its name; in place."""
    height, width = canvas.shape[:2]
    for name, points in shapes.zones.items():
        polygon = scale_points(points, width, height).round().astype(np.int64)
        sv.draw_polygon(canvas, polygon, color=_ZONE_COLOR, thickness=2)
        _name(canvas, name, polygon[0], _ZONE_COLOR)
    for name, points in shapes.lines.items():
        start, end = scale_points(points, width, height).round().astype(int)
        cv2.arrowedLine(canvas, tuple(int(v) for v in start), tuple(int(v) for v in end), _LINE_COLOR.as_bgr(), 2,
                        tipLength=min(0.5, 20 / max(1.0, float(np.hypot(*(end - start))))))
        _name(canvas, name, start, _LINE_COLOR)
    return canvas


def draw_motion(canvas: np.ndarray, boxes: Sequence[Sequence[float]]) -> np.ndarray:
    """Motion regions (relative xyxy boxes) as thin magenta rectangles; in place.

    Example:
        >>> draw_motion(np.zeros((10, 10, 3), np.uint8), [(0.2, 0.2, 0.6, 0.6)])[2, 4].tolist()
        [216, 79, 255]
    """
    height, width = canvas.shape[:2]
    for x1, y1, x2, y2 in boxes:
        corner = sv.Point(round(x1 * width), round(y1 * height))
        size = (round((x2 - x1) * width), round((y2 - y1) * height))
        sv.draw_rectangle(canvas, sv.Rect(corner.x, corner.y, *size), color=_MOTION_COLOR, thickness=1)
    return canvas


def _name(canvas: np.ndarray, text: str, at: np.ndarray, color: sv.Color) -> None:
    sv.draw_text(canvas, text, sv.Point(int(at[0]) + 30, int(at[1]) + 12), text_color=sv.Color.BLACK,
                 text_scale=0.45, text_padding=3, background_color=color)


def annotate(image: np.ndarray, detections: sv.Detections, shapes: CameraShapes | None = None) -> np.ndarray:
    """A copy of the BGR `image` with zones, lines, boxes and labels drawn."""
    canvas = image.copy()
    if shapes is not None:
        draw_shapes(canvas, shapes)
    if len(detections) == 0:
        return canvas
    canvas = _BOXES.annotate(canvas, detections)
    return _LABELS.annotate(canvas, detections, labels=detection_labels(detections))


class OperatorView:
    """Draws a camera's frame as operators see it, in snapshots, clips and the live view alike: the camera's zones
    and lines as `shapes` holds them when it draws, then boxes and labels.

    Example:
        >>> site = SiteShapes({"lobby": CameraShapes(zones={"desk": [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8]]})})
        >>> view = OperatorView(site)
        >>> site.replace("lobby", CameraShapes())
        >>> int(view("lobby", np.zeros((50, 50, 3), np.uint8), sv.Detections.empty()).max())
        0
    """

    def __init__(self, shapes: SiteShapes) -> None:
        self._shapes = shapes

    def __call__(self, camera: str, image: np.ndarray, detections: sv.Detections) -> np.ndarray:
        return annotate(image, detections, self._shapes.of(camera))
