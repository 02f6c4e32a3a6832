"""A small pool of threads that does everything after inference, each thread owning a fixed set of cameras."""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Collection, Sequence

import supervision as sv

from streamer import Frame

log = logging.getLogger(__name__)

FrameHandler = Callable[[Frame, sv.Detections], None]


class _Shard(threading.Thread):
    """One worker thread and its bounded queue; the oldest waiting frame is dropped when the queue is full."""

    def __init__(
        self, index: int, handle: FrameHandler, capacity: int, overflowed: Callable[[str], None],
        lossless: Collection[str],
    ) -> None:
        super().__init__(name=f"camera-worker-{index}", daemon=True)
        self._handle = handle
        self._waiting: deque[tuple[Frame, sv.Detections]] = deque()
        self._capacity = capacity
        self._overflowed = overflowed
        self._lossless = lossless
        self._changed = threading.Condition()
        self._closed = False

    def offer(self, frame: Frame, detections: sv.Detections) -> None:
        with self._changed:
            if frame.camera in self._lossless:
                self._changed.wait_for(lambda: len(self._waiting) < self._capacity or self._closed)
            if len(self._waiting) >= self._capacity:
                dropped, _ = self._waiting.popleft()
                self._overflowed(dropped.camera)
            self._waiting.append((frame, detections))
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._waiting or self._closed)
                if not self._waiting:
                    return
                frame, detections = self._waiting.popleft()
                self._changed.notify_all()  # a lossless camera's offer may wait for this room
            try:
                self._handle(frame, detections)
            except Exception:
                log.exception("camera %s: handling detections failed", frame.camera)


class CameraWorkers:
    """Runs `handle(frame, detections)` for every detected frame, off the inference thread.

    Each camera is served by one thread of the pool, always the same, so its tracker, scene state and rules are
    only ever touched by that thread and its frames are handled in order. `submit` never blocks: when a
    thread's queue of `capacity` frames is full, its oldest frame is dropped and counted in `overflowed`,
    except for `lossless` cameras (files read as fast as they can be detected), whose frames wait for room:
    their reader already waits for the detector, and now the detector waits for the worker.

    Example:
        >>> import numpy as np
        >>> seen = []
        >>> workers = CameraWorkers(["lobby", "yard"], lambda f, d: seen.append(f.camera), threads=2)
        >>> workers.start()
        >>> workers.submit(Frame("yard", 0, 0.0, 0.0, 0.0, np.zeros((2, 2, 3), np.uint8)), sv.Detections.empty())
        >>> workers.stop()
        >>> seen, workers.overflowed["yard"]
        (['yard'], 0)
    """

    def __init__(
        self, cameras: Sequence[str], handle: FrameHandler, threads: int = 2, capacity: int = 64,
        lossless: Collection[str] = (),
    ) -> None:
        self.overflowed: Counter[str] = Counter()
        """Frames dropped per camera because its worker fell `capacity` frames behind."""
        self._lock = threading.Lock()
        count = max(1, min(threads, len(cameras)))
        self._shards = [_Shard(i, handle, capacity, self._count_overflow, frozenset(lossless)) for i in range(count)]
        self._shard_of = {camera: self._shards[i % len(self._shards)] for i, camera in enumerate(sorted(cameras))}

    def _count_overflow(self, camera: str) -> None:
        with self._lock:
            self.overflowed[camera] += 1

    def start(self) -> None:
        for shard in self._shards:
            shard.start()

    def submit(self, frame: Frame, detections: sv.Detections) -> None:
        self._shard_of[frame.camera].offer(frame, detections)

    def stop(self) -> None:
        """Handle what is queued, then end the threads."""
        for shard in self._shards:
            shard.close()
        for shard in self._shards:
            shard.join()
