"""Wires cameras, the batched detector, the rules and the store, and starts/stops them in order."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import numpy as np
import supervision as sv

from alerts import AlertEngine, AlertStarted, AlertEnded, AlertStore, AlertWriter
from alerts.annotation import annotate
from alerts.clips import ClipRecorder
from alerts.writer import ClipSaved, PurgeExpired
from alerts.users import UserStore
from dashboard import DashboardServices
from dashboard.live import LiveHub
from detector import Batcher, CameraTrackers, TrackerSettings, YoloDetector
from streamer import CameraReader, CameraState, Frame, HealthMonitor, LatestFrameBoard, ReaderSettings
from vigil.config import CameraConfig, ConfigError, DetectorConfig, VigilConfig, check_rule_classes
from finetune.registry import BASE_VERSION, ModelRegistry
from vigil.model_watch import LiveModelWatcher
from vigil.rule_factory import build_rules, camera_shapes

log = logging.getLogger(__name__)


def build_detector(config: DetectorConfig, weights: str | None = None) -> YoloDetector:
    """The configured detector, warmed up; `weights` (a registry version's) replaces `config.model`."""
    detector = YoloDetector(
        weights or config.model,
        imgsz=config.imgsz,
        conf=config.conf,
        iou=config.iou,
        device=config.device,
        labels=config.labels,
        agnostic_nms=config.agnostic_nms,
        cpu_threads=config.cpu_threads,
    )
    detector.warm_up()
    return detector


def reader_settings(camera: CameraConfig) -> ReaderSettings:
    return ReaderSettings(
        url=camera.url,
        detect_fps=camera.detect_fps,
        loop=camera.loop,
        realtime=camera.realtime,
        open_timeout_s=camera.open_timeout_s,
        read_timeout_s=camera.read_timeout_s,
        reconnect_initial_s=camera.reconnect.initial_s,
        reconnect_max_s=camera.reconnect.max_s,
        reconnect_multiplier=camera.reconnect.multiplier,
    )


class Pipeline:
    """Everything `vigil run` runs: a reader per camera, one batcher, the rules, one writer.

    Example:
        >>> pipeline = Pipeline(load_config("config.yaml"))  # doctest: +SKIP
        >>> pipeline.start(); ...; pipeline.stop()  # doctest: +SKIP
    """

    def __init__(self, config: VigilConfig, detector: YoloDetector | None = None) -> None:
        self.config = config
        self.registry = ModelRegistry(config.finetune.models_dir, config.detector.model)
        live = self.registry.live()
        if live.version != BASE_VERSION:
            log.info("live model %s from %s (`vigil finetune rollback` returns to the one before)", live.version,
                     self.registry.root)
        self.detector = detector or build_detector(config.detector, live.weights)
        problems = check_rule_classes(config, self.detector.class_names)
        if problems:
            raise ConfigError("config", problems)
        self.health = HealthMonitor()
        self.board = LatestFrameBoard(on_drop=self.health.frame_dropped)
        self.store = AlertStore(config.storage.database)
        self.shapes = camera_shapes(config)
        self.writer = AlertWriter(self.store, config.storage.media_dir, self.shapes)
        clips = config.storage.clips
        self.clips = ClipRecorder(
            config.storage.media_dir,
            pre_s=clips.pre_s,
            post_s=clips.post_s,
            max_clip_s=clips.max_s,
            fps=max(camera.detect_fps for camera in config.cameras.values()),
            min_free_mb=config.storage.min_free_mb,
            on_clip=lambda key, path: self.writer.submit([ClipSaved(key, path)]),
            render=self._draw,
        )
        self.live = LiveHub(render=self._draw, jpeg_quality=config.dashboard.live_jpeg_quality)
        self.engine = AlertEngine(build_rules(config))
        self.readers = [
            CameraReader(name, reader_settings(camera), self.board, self.health)
            for name, camera in config.cameras.items()
        ]
        tracker = config.detector.tracker
        trackers = CameraTrackers(
            TrackerSettings(
                activation_threshold=tracker.activation_threshold,
                high_conf_threshold=tracker.high_conf_threshold,
                lost_track_s=tracker.lost_track_s,
                min_consecutive_frames=tracker.min_consecutive_frames,
            ),
            detect_fps={name: camera.detect_fps for name, camera in config.cameras.items()},
        )
        self.batcher = Batcher(
            self.board,
            self.detector,
            trackers,
            self._on_detections,
            self.health,
            max_batch=config.detector.max_batch,
            max_wait_s=config.detector.max_wait_ms / 1000,
        )
        self.model_watcher = LiveModelWatcher(
            self.registry,
            live,
            self.batcher,
            load=lambda version: build_detector(config.detector, version.weights),
            check=lambda detector: check_rule_classes(config, detector.class_names),
        )

    def _draw(self, camera: str, image: np.ndarray, detections: sv.Detections) -> np.ndarray:
        """A frame as operators see it: boxes, labels, track ids, the camera's zones and lines."""
        return annotate(image, detections, self.shapes[camera])

    def _on_detections(self, frame: Frame, detections: sv.Detections) -> None:
        self.clips.add_frame(frame.camera, frame.pts, frame.wall_time, frame.image, detections)
        self.live.publish(frame.camera, frame.image, detections)
        events = self.engine.process(frame, detections)
        for event in events:
            if isinstance(event, AlertStarted):
                self.clips.start_clip(event.alert.key, frame.camera, frame.pts, event.alert.started_at)
                if event.alert.ended_at is not None:
                    self.clips.end_clip(event.alert.key, frame.pts)
            elif isinstance(event, AlertEnded):
                self.clips.end_clip(event.key, event.pts)
        if events:
            self.writer.submit(events)

    def purge_expired(self) -> None:
        """Ask the writer to apply the retention period, when one is set."""
        if self.config.storage.retention_days is not None:
            self.writer.submit([PurgeExpired(datetime.now(UTC) - timedelta(days=self.config.storage.retention_days))])

    def start(self) -> None:
        closed = self.store.close_open(datetime.now(UTC), "closed at start-up: Vigil stopped without ending it")
        if closed:
            log.warning("closed %d alert(s) left open by an earlier run that did not stop cleanly", closed)
        self.writer.start()
        self.clips.start()
        self.purge_expired()
        self.batcher.start()
        self.model_watcher.start()
        for reader in self.readers:
            reader.start()
        log.info("pipeline started: %d camera(s), detector on %s", len(self.readers), self.detector.device)

    def stop(self) -> None:
        """Stop readers, drain the batcher, close open alerts, flush the store."""
        self.model_watcher.stop()
        for reader in self.readers:
            reader.stop()
        self.board.close()
        for reader in self.readers:
            reader.join(timeout=reader.settings.open_timeout_s + reader.settings.read_timeout_s)
        self.batcher.join()
        closing = self.engine.close_all(datetime.now(UTC))
        for event in closing:
            self.clips.end_clip(event.key, event.pts)
        self.writer.submit(closing)
        self.clips.stop()
        self.writer.stop()
        self.store.close()
        log.info("pipeline stopped: %d frames detected in %d batches", self.batcher.stats.frames, self.batcher.stats.batches)

    def dashboard_services(self) -> DashboardServices:
        """What the dashboard reads from a running pipeline: the store, users, camera health, detector metrics."""
        return DashboardServices(self.store, UserStore(self.store.engine), self.health.snapshot, self._metric_lines)

    def _metric_lines(self) -> list[str]:
        stats = self.batcher.stats
        lines = [
            "# TYPE vigil_detector_frames_total counter",
            f"vigil_detector_frames_total {stats.frames}",
            "# TYPE vigil_detector_batches_total counter",
            f"vigil_detector_batches_total {stats.batches}",
            "# TYPE vigil_detector_batch_size_mean gauge",
            f"vigil_detector_batch_size_mean {stats.mean_batch:.3f}",
            "# TYPE vigil_detector_model_swaps_total counter",
            f"vigil_detector_model_swaps_total {self.batcher.swaps}",
            "# TYPE vigil_detector_model_info gauge",
            f'vigil_detector_model_info{{version="{self.model_watcher.serving}"}} 1',
        ]
        if stats.frames:
            p50, p95 = stats.latency_percentiles_ms(50, 95)
            lines += [
                "# TYPE vigil_detector_latency_ms gauge",
                f'vigil_detector_latency_ms{{quantile="0.5"}} {p50:.1f}',
                f'vigil_detector_latency_ms{{quantile="0.95"}} {p95:.1f}',
            ]
        return lines

    def finished(self) -> bool:
        """True when no camera can deliver frames any more (files ended, unreadable files)."""
        return all(h.state in (CameraState.ENDED, CameraState.FAILED) for h in self.health.snapshot().values())

    def status_lines(self) -> list[str]:
        """One line per camera: state, fps in/out, dropped, reconnects, and the mean batch size."""
        mean_batch = self.batcher.stats.take_interval_mean_batch()
        lines = []
        for health in self.health.snapshot().values():
            line = (
                f"{health.camera}: {health.state} fps in {health.fps_in:.1f} out {health.fps_out:.1f} "
                f"dropped {health.dropped} reconnects {health.reconnects} batch mean {mean_batch:.2f}"
            )
            if health.state != "streaming" and health.last_error:
                line += f" last error: {health.last_error}"
            lines.append(line)
        return lines
