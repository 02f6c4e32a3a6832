"""One detector shared by many callers: their concurrent requests are merged into batches (a cluster's replica)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import supervision as sv

from detector.batcher import BatchStats
from detector.model import YoloDetector

log = logging.getLogger(__name__)


class DetectorClosed(RuntimeError):
    """The batcher was closed before the request was served."""


@dataclass(eq=False)
class _Request:
    images: list[np.ndarray]
    done: threading.Event = field(default_factory=threading.Event)
    result: list[sv.Detections] | None = None
    error: BaseException | None = None


class RequestBatcher(threading.Thread):
    """Serves `detect` calls from many threads with one detector, several requests to one inference call.

    Each request (one camera worker's batch) is kept whole. The thread takes the oldest request, waits up to
    `max_wait_s` for others to fill `max_batch` images, infers once and hands each caller its own detections.
    A request larger than `max_batch` is inferred alone. `swap_detector` takes effect between batches.

    Example:
        >>> batcher = RequestBatcher(detector, max_batch=8, max_wait_s=0.01)  # doctest: +SKIP
        >>> batcher.start(); batcher.detect([image_a, image_b])  # from any number of threads  # doctest: +SKIP
        [Detections(...), Detections(...)]
    """

    def __init__(self, detector: YoloDetector, max_batch: int = 16, max_wait_s: float = 0.01) -> None:
        super().__init__(name=f"request-batcher-{detector.device}", daemon=True)
        self.detector = detector
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.stats = BatchStats()
        self.swaps = 0
        self._waiting: deque[_Request] = deque()
        self._changed = threading.Condition()
        self._closed = False
        self._next_detector: YoloDetector | None = None

    def detect(self, images: list[np.ndarray], timeout_s: float | None = None) -> list[sv.Detections]:
        """Detections for each of `images`, in order; raises what the model raised, DetectorClosed, or TimeoutError
        when not served within `timeout_s` (the request is then withdrawn if it still waits)."""
        request = _Request(list(images))
        with self._changed:
            if self._closed:
                raise DetectorClosed("the detector is stopping")
            self._waiting.append(request)
            self._changed.notify_all()
        if not request.done.wait(timeout_s):
            with self._changed:
                if request in self._waiting:
                    self._waiting.remove(request)
                    raise TimeoutError(f"no inference within {timeout_s:g} s")
            request.done.wait()  # being inferred now
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    @property
    def backlog(self) -> int:
        """Images waiting for inference."""
        with self._changed:
            return sum(len(request.images) for request in self._waiting)

    def swap_detector(self, detector: YoloDetector) -> None:
        """Infer with `detector` from the next batch on."""
        with self._changed:
            self._next_detector = detector

    def close(self) -> None:
        """Serve what is waiting, then end."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def run(self) -> None:
        try:
            while (requests := self._take()) is not None:
                self._serve(requests)
        finally:  # whatever ended the thread, no caller is left waiting
            with self._changed:
                self._closed = True
                left, self._waiting = list(self._waiting), deque()
            for request in left:
                request.error = DetectorClosed("the detector stopped")
                request.done.set()

    def _take(self) -> list[_Request] | None:
        """The next batch of whole requests, or None once closed and drained."""
        with self._changed:
            self._changed.wait_for(lambda: self._waiting or self._closed)
            if not self._waiting:
                return None
            deadline = time.monotonic() + self.max_wait_s
            while sum(len(r.images) for r in self._waiting) < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0 or not self._changed.wait(left):
                    break
            taken = [self._waiting.popleft()]
            size = len(taken[0].images)
            while self._waiting and size + len(self._waiting[0].images) <= self.max_batch:
                size += len(self._waiting[0].images)
                taken.append(self._waiting.popleft())
            if self._next_detector is not None:
                self.detector, self._next_detector = self._next_detector, None
                self.swaps += 1
                log.info("detector swapped: now %s", self.detector.weights)
            return taken

    def _serve(self, requests: list[_Request]) -> None:
        images = [image for request in requests for image in request.images]
        started = time.monotonic()
        try:
            detections = self.detector.detect(images)
        except Exception as error:  # every caller hears of it; the batcher goes on with the next batch
            log.exception("inference failed on a batch of %d image(s)", len(images))
            for request in requests:
                request.error = error
                request.done.set()
            return
        inference_ms = (time.monotonic() - started) * 1000
        self.stats.record(len(images), inference_ms, [])
        start = 0
        for request in requests:
            request.result = detections[start:start + len(request.images)]
            start += len(request.images)
            request.done.set()
