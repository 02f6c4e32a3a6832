"""The batcher thread: latest frames of its cameras → one inference call → detections handed on per frame."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import replace

import numpy as np
import supervision as sv
from prometheus_client import Histogram

from detector.model import YoloDetector
from streamer import Frame, HealthMonitor, LatestFrameBoard

log = logging.getLogger(__name__)

DetectionSink = Callable[[Frame, sv.Detections], None]


def on_full_image(frame: Frame, detections: sv.Detections) -> sv.Detections:
    """Boxes found on `frame.model_input` moved to `frame.image` pixels, which rules, snapshots and clips use."""
    scale = frame.model_input_scale
    return detections if scale == 1 or len(detections) == 0 else replace(detections, xyxy=detections.xyxy * scale)


INFERENCE_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
FRAME_AGE_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class BatchStats:
    """Batch sizes, inference times and frame latencies (decode → detections), thread-safe; the times also as
    Prometheus histograms (not registered anywhere: whoever exposes them labels them)."""

    def __init__(self, latency_window: int = 5000) -> None:
        self._lock = threading.Lock()
        self.batches = 0
        self.frames = 0
        self._interval_batches = 0
        self._interval_frames = 0
        self._latencies_ms: deque[float] = deque(maxlen=latency_window)
        self.inference_ms: deque[float] = deque(maxlen=latency_window)
        self.inference_seconds = Histogram("vigil_detector_inference_seconds", "Seconds of one inference call.",
                                           registry=None, buckets=INFERENCE_BUCKETS_S)
        self.frame_age_seconds = Histogram(
            "vigil_detector_frame_age_seconds", "Seconds from a frame's decoding to its detections.", registry=None,
            buckets=FRAME_AGE_BUCKETS_S)

    def record(self, batch_size: int, inference_ms: float, latencies_ms: list[float]) -> None:
        with self._lock:
            self.batches += 1
            self.frames += batch_size
            self._interval_batches += 1
            self._interval_frames += batch_size
            self.inference_ms.append(inference_ms)
            self._latencies_ms.extend(latencies_ms)
        self.inference_seconds.observe(inference_ms / 1000)
        for latency_ms in latencies_ms:
            self.frame_age_seconds.observe(latency_ms / 1000)

    @property
    def mean_batch(self) -> float:
        with self._lock:
            return self.frames / self.batches if self.batches else 0.0

    def take_interval_mean_batch(self) -> float:
        """Mean batch size since the previous call."""
        with self._lock:
            mean = self._interval_frames / self._interval_batches if self._interval_batches else 0.0
            self._interval_batches = self._interval_frames = 0
            return mean

    def inference_median_ms(self) -> float:
        """The median time of the recent inference calls (NaN before the first)."""
        with self._lock:
            return float(np.median(self.inference_ms)) if self.inference_ms else float("nan")

    def latency_samples_ms(self) -> list[float]:
        """The most recent frame latencies, oldest first."""
        with self._lock:
            return list(self._latencies_ms)

    def latency_percentiles_ms(self, *percentiles: float) -> list[float]:
        samples = self.latency_samples_ms()
        if not samples:
            return [float("nan")] * len(percentiles)
        return [float(v) for v in np.percentile(samples, percentiles)]


class Batcher(threading.Thread):
    """Serves the cameras of one board with one detector: stacks their frames, infers once, hands each frame on.

    It does nothing else: `sink` gets each frame's detections in `frame.image` pixels, and tracking, rules
    and publishing are its business; it must not block (the pipeline's sink queues to per-camera workers).
    Runs until the board is closed and drained.
    """

    def __init__(
        self,
        board: LatestFrameBoard,
        detector: YoloDetector,
        sink: DetectionSink,
        health: HealthMonitor,
        *,
        max_batch: int = 16,
        max_wait_s: float = 0.025,
        cameras: Collection[str] | None = None,
    ) -> None:
        super().__init__(name=f"batcher-{detector.device}", daemon=True)
        self._board = board
        self.detector = detector
        self._sink = sink
        self._health = health
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._cameras = cameras
        """The cameras whose frames this batcher waits for (all when None)."""
        self.stats = BatchStats()
        self.swaps = 0
        """Detectors swapped in while running."""
        self._next_detector: YoloDetector | None = None
        self._swap_lock = threading.Lock()

    def swap_detector(self, detector: YoloDetector) -> None:
        """Use `detector` from the next batch on; the current batch finishes with the old one, no frame is lost."""
        with self._swap_lock:
            self._next_detector = detector

    def run(self) -> None:
        while True:
            expected = self._health.streaming_count(self._cameras)
            frames = self._board.take_batch(self.max_batch, self.max_wait_s, expected=expected)
            if frames:
                self.process(frames)
            elif self._board.closed:
                return

    def process(self, frames: list[Frame]) -> None:
        """Detect and hand on one batch; a batch the model fails on is logged and skipped."""
        with self._swap_lock:
            if self._next_detector is not None:
                self.detector, self._next_detector = self._next_detector, None
                self.swaps += 1
                log.info("detector swapped: now %s, classes %s", self.detector.weights, self.detector.class_names)
        started = time.monotonic()
        try:
            detections = self.detector.detect([frame.model_input for frame in frames])
        except Exception:
            log.exception("inference failed on a batch of %d frame(s) from %s", len(frames), sorted({f.camera for f in frames}))
            return
        inference_ms = (time.monotonic() - started) * 1000
        latencies_ms = []
        for frame, frame_detections in zip(frames, detections, strict=True):
            self._health.frame_out(frame.camera)
            latencies_ms.append((time.monotonic() - frame.read_clock) * 1000)
            try:
                self._sink(frame, on_full_image(frame, frame_detections))
            except Exception:
                log.exception("camera %s: handling detections failed", frame.camera)
        self.stats.record(len(frames), inference_ms, latencies_ms)
