"""The detection stage: per device a frame board, a detector and its batcher; each camera on the least-loaded device."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from detector import Batcher, YoloDetector
from detector.batcher import DetectionSink
from detector.exports import ExportCache
from detector.loading import DetectorOptions, load_detector
from detector.placement import assign_cameras
from finetune.registry import ModelRegistry, ModelVersion
from streamer import HealthMonitor, LatestFrameBoard
from vigil.config import VigilConfig
from vigil.metric_families import labelled, merged
from vigil.site_frames import collect_site_frames

log = logging.getLogger(__name__)


def build_detector(config: VigilConfig, registry: ModelRegistry, version: ModelVersion, device: str) -> YoloDetector:
    """`version`'s weights on `device` with the configured backend, exported (once) next to it in the registry."""
    detector = config.detector
    options = DetectorOptions(
        imgsz=detector.imgsz, conf=detector.conf, iou=detector.iou, device=device, labels=detector.labels,
        agnostic_nms=detector.agnostic_nms, cpu_threads=detector.cpu_threads, backend=detector.backend,
        precision=detector.precision, max_batch=detector.batch_limit(device),
        int8_min_agreement=detector.int8_min_agreement,
    )
    return load_detector(
        version.weights, options, ExportCache(registry.exports_dir(version)),
        site_frames=lambda: collect_site_frames(config, detector.calibration_frames),
    )


class DetectionStage:
    """One board, detector and batcher per device; `sink` gets every frame's detections (it must not block).

    Example:
        >>> stage = DetectionStage(config, [detector], sink=workers.submit, health=health)  # doctest: +SKIP
        >>> stage.board_of("lobby").put(frame)  # doctest: +SKIP
    """

    def __init__(
        self, config: VigilConfig, detectors: Sequence[YoloDetector], sink: DetectionSink, health: HealthMonitor
    ) -> None:
        rates = {name: camera.detect_fps for name, camera in config.cameras.items()}
        self.device_of = assign_cameras(rates, len(detectors))
        """Camera → index of the device (board, batcher) that serves it."""
        self.boards = [LatestFrameBoard(on_drop=health.frame_dropped) for _ in detectors]
        self.batchers = [
            Batcher(
                board, detector, sink, health,
                max_batch=config.detector.batch_limit(detector.device),
                max_wait_s=config.detector.max_wait_ms / 1000,
                cameras={camera for camera, device in self.device_of.items() if device == index},
            )
            for index, (board, detector) in enumerate(zip(self.boards, detectors, strict=True))
        ]

    @property
    def devices(self) -> list[str]:
        return [batcher.detector.device for batcher in self.batchers]

    def board_of(self, camera: str) -> LatestFrameBoard:
        return self.boards[self.device_of[camera]]

    def swap(self, detectors: Sequence[YoloDetector]) -> None:
        """Serve with `detectors` (one per device, same order) from each batcher's next batch on."""
        for batcher, detector in zip(self.batchers, detectors, strict=True):
            batcher.swap_detector(detector)

    def start(self) -> None:
        for batcher in self.batchers:
            batcher.start()

    def close(self) -> None:
        """Stop taking frames; the batchers drain what is on their boards and end."""
        for board in self.boards:
            board.close()

    def join(self) -> None:
        for batcher in self.batchers:
            batcher.join()

    def metric_families(self) -> list[Metric]:
        """Per device: backend, frames, batches, mean batch, swaps, latency quantiles, inference and frame-age
        histograms."""
        backend = GaugeMetricFamily("vigil_detector_backend_info", "The inference backend serving a device.",
                                    labels=["device", "backend", "precision"])
        frames = CounterMetricFamily("vigil_detector_frames", "Frames detected.", labels=["device"])
        batches = CounterMetricFamily("vigil_detector_batches", "Inference calls.", labels=["device"])
        mean_batch = GaugeMetricFamily("vigil_detector_batch_size_mean", "Frames per inference call, on average.",
                                       labels=["device"])
        swaps = CounterMetricFamily("vigil_detector_model_swaps", "Models swapped in while running.",
                                    labels=["device"])
        latency = GaugeMetricFamily("vigil_detector_latency_ms", "Recent frame latency (decode to detections).",
                                    labels=["device", "quantile"])
        histograms = []
        for batcher in self.batchers:
            detector, stats = batcher.detector, batcher.stats
            device = detector.device
            backend.add_metric([device, detector.backend, detector.precision], 1)
            frames.add_metric([device], stats.frames)
            batches.add_metric([device], stats.batches)
            mean_batch.add_metric([device], round(stats.mean_batch, 3))
            swaps.add_metric([device], batcher.swaps)
            if stats.frames:
                p50, p95 = stats.latency_percentiles_ms(50, 95)
                latency.add_metric([device, "0.5"], round(p50, 1))
                latency.add_metric([device, "0.95"], round(p95, 1))
            histograms += labelled([*stats.inference_seconds.collect(), *stats.frame_age_seconds.collect()],
                                   {"device": device})
        return [backend, frames, batches, mean_batch, swaps, latency, *merged(histograms)]
