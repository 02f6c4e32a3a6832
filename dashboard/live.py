"""Live view: the latest annotated frame of each camera, drawn once per frame and shared by every viewer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import supervision as sv

from alerts.annotation import draw_motion

Render = Callable[[str, np.ndarray, sv.Detections], np.ndarray]
BOUNDARY = "vigil-frame"


@dataclass
class _Latest:
    sequence: int
    image: np.ndarray
    detections: sv.Detections
    motion: tuple[tuple[float, float, float, float], ...] = ()
    jpeg: bytes | None = None


class LiveHub:
    """Holds each camera's newest detected frame; renders it to JPEG once, on first demand.

    Publishing is O(1) on the detection thread; drawing and encoding happen
    only when someone watches, once per frame however many watch.

    Example:
        >>> hub = LiveHub(render=lambda camera, image, detections: image)
        >>> hub.publish("lobby", np.zeros((4, 4, 3), np.uint8), sv.Detections.empty())
        >>> sequence, jpeg = hub.next_jpeg("lobby", after=0, timeout_s=1)
        >>> sequence, jpeg[:2], hub.renders
        (1, b'\\xff\\xd8', 1)
    """

    def __init__(self, render: Render, jpeg_quality: int = 80) -> None:
        self._render = render
        self._jpeg_quality = jpeg_quality
        self._latest: dict[str, _Latest] = {}
        self._changed = threading.Condition()
        self._render_lock = threading.Lock()
        self.renders = 0
        """Frames drawn and encoded so far (one per frame watched, not per viewer)."""
        self.viewers = 0
        """Open MJPEG streams."""

    def publish(
        self, camera: str, image: np.ndarray, detections: sv.Detections,
        motion: tuple[tuple[float, float, float, float], ...] = (),
    ) -> None:
        """The camera's newest frame, its detections and where it moved (relative boxes, drawn thin)."""
        with self._changed:
            previous = self._latest.get(camera)
            self._latest[camera] = _Latest((previous.sequence if previous else 0) + 1, image, detections, motion)
            self._changed.notify_all()

    def next_jpeg(self, camera: str, after: int, timeout_s: float) -> tuple[int, bytes] | None:
        """The newest frame of `camera` with a sequence number above `after`, waiting up to `timeout_s`."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._sequence(camera) > after, timeout=timeout_s):
                return None
            latest = self._latest[camera]
        with self._render_lock:
            if latest.jpeg is None:
                picture = draw_motion(self._render(camera, latest.image, latest.detections), latest.motion)
                ok, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, self._jpeg_quality])
                if not ok:
                    raise OSError(f"cannot encode the live frame of {camera}")
                latest.jpeg = encoded.tobytes()
                self.renders += 1
        return latest.sequence, latest.jpeg

    def mjpeg(self, camera: str, max_fps: float, idle_timeout_s: float = 5.0) -> Iterator[bytes]:
        """multipart/x-mixed-replace parts for one viewer; ends when the viewer goes away (generator closed)."""
        with self._changed:
            self.viewers += 1
        try:
            sequence, interval = 0, 1.0 / max_fps
            while True:
                sent_at = time.monotonic()
                latest = self.next_jpeg(camera, sequence, idle_timeout_s)
                if latest is None:
                    continue
                sequence, jpeg = latest
                yield (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg + b"\r\n"
                )
                time.sleep(max(0.0, interval - (time.monotonic() - sent_at)))  # cap the rate sent to this viewer
        finally:
            with self._changed:
                self.viewers -= 1

    def _sequence(self, camera: str) -> int:
        latest = self._latest.get(camera)
        return latest.sequence if latest else 0
