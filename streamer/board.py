"""The latest-frame slots of all cameras, shared by the readers and the batcher."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from streamer.frame import Frame


STILL_FRAME_YIELD_S = 1.0
"""A frame without motion (a re-check of a still scene) ranks as if it had waited this much less."""


class BoardClosed(Exception):
    """The board was closed while a reader waited to hand over a frame."""


class LatestFrameBoard:
    """One slot per camera holding its newest unread frame; nothing queues behind it.

    A newer frame replaces an unread one, which is dropped and counted (live
    sources). A reader of a file that runs as fast as the detector instead
    waits for its slot to be free before it makes the next frame. The
    batcher takes the pending frames of several cameras at once, those with
    motion ahead of re-checks of still scenes that came less than
    `STILL_FRAME_YIELD_S` before them, so a walk-in is not queued behind
    the periodic checks of many still cameras, and no check starves.

    Example:
        >>> import numpy as np
        >>> drops = []
        >>> board = LatestFrameBoard(on_drop=drops.append)
        >>> img = np.zeros((2, 2, 3), np.uint8)
        >>> board.put(Frame("a", 0, 0.0, 0.0, 0.0, img))
        >>> board.put(Frame("a", 1, 0.1, 0.0, 0.0, img))
        >>> [f.index for f in board.take_batch(max_batch=4, max_wait_s=0, expected=1)]
        [1]
        >>> drops
        ['a']
    """

    def __init__(self, on_drop: Callable[[str], None] | None = None) -> None:
        self._pending: dict[str, Frame] = {}
        self._waiting_since: dict[str, float] = {}
        """When each pending camera's slot filled: a replaced frame keeps its camera's place in line."""
        self._changed = threading.Condition()
        self._closed = False
        self._on_drop = on_drop

    def wait_until_free(self, camera: str) -> None:
        """Block while `camera` has an unread frame; raises BoardClosed on close."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or camera not in self._pending)
            if self._closed:
                raise BoardClosed(camera)

    def put(self, frame: Frame) -> None:
        """Offer the newest frame of its camera, replacing (and counting) an unread one."""
        with self._changed:
            if frame.camera in self._pending and self._on_drop is not None:
                self._on_drop(frame.camera)
            self._waiting_since.setdefault(frame.camera, frame.read_clock)
            self._pending[frame.camera] = frame
            self._changed.notify_all()

    def take_batch(self, max_batch: int, max_wait_s: float, expected: int, idle_timeout_s: float = 0.5) -> list[Frame]:
        """Take up to `max_batch` pending frames, the cameras that have waited longest first.

        A camera whose frame was replaced while it waited keeps its place: a busy camera is not starved by
        cameras that send a frame now and then. A frame without motion yields `STILL_FRAME_YIELD_S` of its wait.

        Waits up to `idle_timeout_s` for a first frame, then up to
        `max_wait_s` more for `expected` cameras (capped by `max_batch`) to
        have one. Returns an empty list when nothing arrived in time; after
        close it still hands out what is pending, so the batcher can drain.
        """
        want = max(1, min(max_batch, expected))
        with self._changed:
            if not self._changed.wait_for(lambda: self._pending or self._closed, timeout=idle_timeout_s):
                return []
            deadline = time.monotonic() + max_wait_s
            while len(self._pending) < want and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            frames = sorted(self._pending.values(), key=self._rank)[:max_batch]
            for frame in frames:
                del self._pending[frame.camera], self._waiting_since[frame.camera]
            self._changed.notify_all()
            return frames

    def _rank(self, frame: Frame) -> float:
        return self._waiting_since[frame.camera] + (0.0 if frame.motion else STILL_FRAME_YIELD_S)

    def close(self) -> None:
        """Wake every waiter; readers waiting to hand over a frame get BoardClosed."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def pending_count(self) -> int:
        with self._changed:
            return len(self._pending)
