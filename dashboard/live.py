"""Live view: the latest annotated frame of each camera, drawn once per frame and shared by every viewer."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import supervision as sv

from alerts.annotation import draw_motion

Render = Callable[[str, np.ndarray, sv.Detections], np.ndarray]
BOUNDARY = "vigil-frame"
NOTICE_SIZE = (640, 360)
"""Width and height of the pictures that stand in for video ("no video yet", "signed out")."""


@dataclass
class _Latest:
    sequence: int
    image: np.ndarray
    detections: sv.Detections
    motion: tuple[tuple[float, float, float, float], ...] = ()
    jpeg: bytes | None = None


class LiveHub:
    """Holds each camera's newest detected frame; renders it to JPEG once, on first demand.

    Publishing is O(1) on the detection thread and wakes only that camera's
    viewers; drawing and encoding happen only when someone watches, once per
    frame however many watch.

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
        self._lock = threading.Lock()
        self._changed: dict[str, threading.Condition] = {}
        self._render_lock = threading.Lock()
        self.renders = 0
        """Frames drawn and encoded so far (one per frame watched, not per viewer)."""

    def publish(
        self, camera: str, image: np.ndarray, detections: sv.Detections,
        motion: tuple[tuple[float, float, float, float], ...] = (),
    ) -> None:
        """The camera's newest frame, its detections and where it moved (relative boxes, drawn thin)."""
        with self._lock:
            previous = self._latest.get(camera)
            self._latest[camera] = _Latest((previous.sequence if previous else 0) + 1, image, detections, motion)
            self._condition(camera).notify_all()

    def next_jpeg(self, camera: str, after: int, timeout_s: float) -> tuple[int, bytes] | None:
        """The newest frame of `camera` with a sequence number above `after`, waiting up to `timeout_s`."""
        with self._lock:
            if not self._condition(camera).wait_for(lambda: self._sequence(camera) > after, timeout=timeout_s):
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

    def mjpeg(
        self, camera: str, max_fps: float, gone: Callable[[], bool] = lambda: False, check_s: float = 1.0,
        keepalive_s: float = 10.0,
    ) -> Iterator[bytes]:
        """multipart/x-mixed-replace parts for one viewer (see `mjpeg_parts`)."""
        return mjpeg_parts(self, camera, max_fps, gone, check_s, keepalive_s)

    def sequence_now(self, camera: str) -> int:
        """The camera's newest frame number, 0 before its first."""
        with self._lock:
            return self._sequence(camera)

    def notice_part(self, text: str) -> bytes:
        return notice_part(text)

    def _condition(self, camera: str) -> threading.Condition:
        """Called with `_lock` held."""
        if camera not in self._changed:
            self._changed[camera] = threading.Condition(self._lock)
        return self._changed[camera]

    def _sequence(self, camera: str) -> int:
        latest = self._latest.get(camera)
        return latest.sequence if latest else 0


class LiveFrames(Protocol):
    """Where the live view's JPEGs come from: this process's hub, or the cluster node that runs the camera."""

    def next_jpeg(self, camera: str, after: int, timeout_s: float) -> tuple[int, bytes] | None: ...

    def sequence_now(self, camera: str) -> int: ...

    def mjpeg(self, camera: str, max_fps: float, gone: Callable[[], bool] = ..., check_s: float = ...,
              keepalive_s: float = ...) -> Iterator[bytes]: ...

    def notice_part(self, text: str) -> bytes: ...


def mjpeg_parts(
    frames: LiveFrames, camera: str, max_fps: float, gone: Callable[[], bool] = lambda: False, check_s: float = 1.0,
    keepalive_s: float = 10.0,
) -> Iterator[bytes]:
    """multipart/x-mixed-replace parts for one viewer, at most `max_fps` a second.

    A camera without a frame yet gets a "waiting" picture first (the server sends the headers only with the
    first bytes). Ends when `gone()` says the viewer left, checked at least every `check_s` even while the
    camera sends nothing, so the server frees the viewer's thread and slot; a silent camera's last picture is
    sent again every `keepalive_s`, so that proxies keep the stream and a vanished client fails a write.
    """
    sequence, interval = 0, 1.0 / max_fps
    part, sent_at = notice_part(f"{camera}: no video yet"), 0.0
    if frames.sequence_now(camera) == 0:
        yield part
        sent_at = time.monotonic()
    while not gone():
        latest = frames.next_jpeg(camera, sequence, check_s)
        if latest is not None:
            sequence, part = latest[0], _part(latest[1])
        elif time.monotonic() - sent_at < keepalive_s:
            continue
        started = time.monotonic()
        yield part
        sent_at = time.monotonic()
        time.sleep(max(0.0, interval - (sent_at - started)))  # cap the rate sent to this viewer


@functools.cache
def notice_part(text: str) -> bytes:
    """A multipart part with a dark picture saying `text` (drawn once per text), for when there is no video."""
    picture = np.full((NOTICE_SIZE[1], NOTICE_SIZE[0], 3), 32, np.uint8)
    cv2.putText(picture, text, (20, NOTICE_SIZE[1] // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (200, 200, 200), 2,
                cv2.LINE_AA)
    return _part(cv2.imencode(".jpg", picture)[1].tobytes())


def _part(jpeg: bytes) -> bytes:
    return f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n"
