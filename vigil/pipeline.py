"""Wires cameras, the batched detector, the rules and the store, and starts/stops them in order."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import supervision as sv

from alerts import AlertEngine, AlertStarted, AlertEnded, AlertWriter
from alerts.annotation import OperatorView
from alerts.arming import RuleArming
from alerts.clip_cutter import ClipCutter
from alerts.footage import Footage
from alerts.recording_keeper import RecordingKeeper
from alerts.recording_retention import CameraRetention, Retention, RetentionPolicy
from alerts.recordings import RecordingIndex
from alerts.writer import ClipSaved, PurgeExpired
from alerts.users import UserStore
from dashboard import DashboardServices
from dashboard.live import LiveHub
from detector import CameraTrackers, YoloDetector
from detector.placement import detection_devices
from detector.score_profile import ScoreProfile
from finetune.jobs import ChildProcessLauncher
from finetune.registry import BASE_VERSION, ModelVersion
from streamer import CameraHealth, CameraReader, CameraState, Frame, HealthMonitor, ReaderSettings
from streamer.recorder import CameraRecorder, RecorderSettings
from streamer.stream_clock import StreamClock
from streamer.source import is_network_url
from vigil.camera_workers import CameraWorkers
from vigil.config import CameraConfig, ConfigError, RecordConfig, VigilConfig, check_rule_classes
from vigil.detection import DetectionStage, build_detector
from vigil.model_watch import LiveModelWatcher
from vigil.notifications import CameraStatusEvents, build_notifier, site_entities
from vigil.pipeline_metrics import PipelineMetrics
from vigil.stores import open_store, site_registry
from vigil.rule_factory import build_rules, class_thresholds, site_shapes
from vigil.track_activity import TrackActivity

log = logging.getLogger(__name__)

NOTIFY_DRAIN_S = 3.0
"""At a stop, how long the sinks may take to deliver what is left; the rest waits in the outbox for the next start."""


def reader_settings(camera: CameraConfig, config: VigilConfig) -> ReaderSettings:
    """How `camera` is read: its detect stream, `config.motion` with its overrides, frames shrunk to the model size."""
    return ReaderSettings(
        url=camera.detect_url or camera.url,
        motion=config.motion.overridden_by(camera.motion).settings(),
        detect_size=config.detector.imgsz,
        detect_fps=camera.detect_fps,
        loop=camera.loop,
        realtime=camera.realtime,
        open_timeout_s=camera.open_timeout_s,
        read_timeout_s=camera.read_timeout_s,
        reconnect=camera.reconnect,
    )


def recorder_settings(camera: CameraConfig, record: RecordConfig, config: VigilConfig) -> RecorderSettings:
    """How `camera` is recorded: its main stream, in segments under `storage.recordings_dir`."""
    return RecorderSettings(
        url=camera.url,
        root=Path(config.storage.recordings_dir),
        segment_s=record.segment_s,
        loop=camera.loop,
        open_timeout_s=camera.open_timeout_s,
        read_timeout_s=camera.read_timeout_s,
        reconnect=camera.reconnect,
    )


def health_text(health: CameraHealth) -> str:
    """A camera's state, rates and counts as its status line shows them."""
    return (f"{health.state} fps in {health.fps_in:.1f} out {health.fps_out:.1f} dropped {health.dropped} "
            f"motion-skipped {health.skipped} reconnects {health.reconnects}")


def expired_purge(config: VigilConfig) -> list[PurgeExpired]:
    """The writer's purge of alerts past `storage.retention_days` (none when no period is set)."""
    days = config.storage.retention_days
    return [] if days is None else [PurgeExpired(datetime.now(UTC) - timedelta(days=days))]


def all_done(health: Mapping[str, CameraHealth]) -> bool:
    """True when no camera can deliver frames any more (files ended, unreadable files)."""
    return all(h.state in (CameraState.ENDED, CameraState.FAILED) for h in health.values())


def retention_policy(config: VigilConfig) -> RetentionPolicy:
    """What `record.retain` and `max_disk_gb` keep, per camera (the top-level `record` for cameras since removed);
    the newest footage an alert may still claim stays."""
    clips = config.storage.clips

    def rules(record: RecordConfig) -> CameraRetention:
        return CameraRetention(mode=record.mode, days=record.retain.days, events_days=record.retain.events_days,
                               hold_s=clips.pre_s + 2 * record.segment_s + 60)

    max_gb = config.record.max_disk_gb
    return RetentionPolicy(
        {name: rules(config.record.overridden_by(camera.record)) for name, camera in config.cameras.items()},
        rules(config.record), pre_s=clips.pre_s, post_s=clips.post_s,
        max_bytes=None if max_gb is None else int(max_gb * 1e9), min_free_bytes=int(config.storage.min_free_mb * 1e6),
    )


@dataclass(frozen=True, slots=True)
class ShardRole:
    """A pipeline that runs some of a cluster's cameras (a camera worker): it closes only their open alerts at its
    start, with `start_note`, and leaves following the live model to the cluster's detector replicas."""

    start_note: str


class Pipeline:
    """Everything `vigil run` runs: a reader per camera, a batcher per device, camera workers, one writer.

    Readers hand sampled frames to their device's board; its batcher only infers and queues each frame's
    detections to the camera's worker, which tracks, applies the rules, feeds the live view and the clips,
    and submits alert events to the writer. `detector`, when given, serves alone (tests, benchmarks).

    Example:
        >>> pipeline = Pipeline(load_config("config.yaml"))  # doctest: +SKIP
        >>> pipeline.start(); ...; pipeline.stop()  # doctest: +SKIP
    """

    def __init__(
        self, config: VigilConfig, detector: YoloDetector | None = None, shard: ShardRole | None = None
    ) -> None:
        self.config = config
        self.shard = shard
        self.store = open_store(config)
        try:
            self.registry = site_registry(config, self.store)
            live = self.registry.live()
            if live.version != BASE_VERSION:
                log.info("live model %s from %s (`vigil finetune rollback` returns to the one before)", live.version,
                         self.registry.root)
            devices = detection_devices(config.detector.device)
            detectors = [detector] if detector is not None else self._load_detectors(live, devices)
            problems = check_rule_classes(config, detectors[0].class_names)
            if problems:
                raise ConfigError("config", problems)
        except BaseException:
            self.store.close()
            raise
        self.health = HealthMonitor()
        self.shapes = site_shapes(config)
        """The cameras' zones and lines: the rules, snapshots, clips and live view read it, the zone editor swaps it."""
        draw = OperatorView(self.shapes)
        self.writer = AlertWriter(
            self.store, config.storage.media_dir, render=draw, journal_dir=config.storage.journal_dir,
            on_stored=lambda: self.notifier.wake(), cameras=None if shard is None else list(config.cameras),
        )
        self.recordings = RecordingIndex(self.store.engine, Path(config.storage.recordings_dir))
        recorded = {name: record for name in config.cameras if (record := config.recording(name)) is not None}
        clips = config.storage.clips
        self.clips = ClipCutter(
            self.recordings, config.storage.media_dir, on_clip=self._clip_cut, footage_now=self._footage_now,
            pre_s=clips.pre_s,
            post_s=clips.post_s, max_s=clips.max_s, min_free_mb=config.storage.min_free_mb,
            wait_s=max((record.segment_s for record in recorded.values()), default=10.0) + 20,
        )
        """Cuts each alert's clip from the recordings of its camera."""
        self.keeper = RecordingKeeper(self.recordings, Retention(self.recordings, retention_policy(config)),
                                      list(config.cameras), on_indexed=self.clips.footage_reached)
        self.recorded = frozenset(recorded)
        """Cameras whose main stream is recorded: only their alerts get clips."""
        self.file_clocks = {name: StreamClock() for name in recorded if not is_network_url(config.cameras[name].url)}
        """Recorded file cameras: how far each reader has read; the recorder follows, and frames are timed by it."""
        self.recorders = [
            CameraRecorder(name, recorder_settings(config.cameras[name], record, config), self.keeper.submit,
                           file_clock=self.file_clocks.get(name))
            for name, record in recorded.items()
        ]
        self.live = LiveHub(render=draw, jpeg_quality=config.dashboard.live_jpeg_quality)
        self.arming = RuleArming(self.store.engine)
        """Rules disarmed per camera by an MQTT command; kept across restarts."""
        self.rule_engine = AlertEngine(build_rules(config), self.shapes, self.arming)
        self.notifier = build_notifier(
            config, self.store, self.arming, site_entities(config, self.rule_engine.rules, self.shapes),
            health=self.health.snapshot, zone_counts=self.rule_engine.zone_counts,
        )
        """Delivers the outbox (alert and camera events) to MQTT, webhooks and Apprise services."""
        self.health.listen(CameraStatusEvents(self.writer.submit).state_changed)
        tracker = config.detector.tracker
        self.trackers = CameraTrackers(
            tracker, detect_fps={name: camera.detect_fps for name, camera in config.cameras.items()},
        )
        self.activity = TrackActivity(hold_s=tracker.lost_track_s)
        self.scores = ScoreProfile()
        """The model's recent scores per class; saved for `vigil check-config` with each status line."""
        self.workers = CameraWorkers(
            list(config.cameras), self._on_frame_detected, threads=config.workers.threads,
            capacity=config.workers.queue_frames,
            lossless=[name for name, camera in config.cameras.items()
                      if not camera.realtime and not is_network_url(camera.detect_url or camera.url)],
        )
        self.detection = DetectionStage(config, detectors, self.workers.submit, self.health)
        self.readers = [
            CameraReader(
                name, reader_settings(camera, config), self.detection.board_of(name), self.health,
                has_active_tracks=self.activity.checker(name), clock=self.file_clocks.get(name),
            )
            for name, camera in config.cameras.items()
        ]
        self.model_watcher = None if shard is not None else LiveModelWatcher(
            self.registry,
            live,
            load=lambda version: self._load_detectors(version, self.detection.devices),
            swap=self.detection.swap,
            check=lambda candidate: check_rule_classes(config, candidate.class_names),
        )
        self.metrics = PipelineMetrics(self)
        """/metrics of this pipeline, read from its stages at each scrape."""

    def _load_detectors(self, version: ModelVersion, devices: list[str]) -> list[YoloDetector]:
        return [build_detector(self.config, self.registry, version, device) for device in devices]

    def _on_frame_detected(self, frame: Frame, detections: sv.Detections) -> None:
        """A camera worker's job for one frame: track, then everything that follows from the tracks."""
        self.scores.add(detections)
        tracked = self.trackers.update(frame.camera, detections, timestamp=frame.pts)
        self.activity.saw(frame.camera, tracked)
        self._on_detections(frame, tracked)

    def _clip_cut(self, key: str, footage: Footage) -> None:
        self.writer.submit([ClipSaved(key, footage.path, footage.start, footage.end)])

    def _on_detections(self, frame: Frame, detections: sv.Detections) -> None:
        motion = frame.motion if self.config.dashboard.live_show_motion else ()
        self.live.publish(frame.camera, frame.image, detections, motion)
        events = self.rule_engine.process(frame, detections)
        for event in events if frame.camera in self.recorded else ():
            if isinstance(event, AlertStarted):
                at = datetime.fromtimestamp(frame.wall_time, UTC)  # a recorded file's frames are on its clock
                self.clips.alert_started(event.alert.key, frame.camera, at)
                if event.alert.ended_at is not None:
                    self.clips.alert_ended(event.alert.key, at)
            elif isinstance(event, AlertEnded):
                self.clips.alert_ended(event.key, event.ended_at)
        if events:
            self.writer.submit(events)

    def _footage_now(self, camera: str) -> datetime:
        """How far `camera`'s recording clock has got: where its file's reader is, or else now."""
        clock = self.file_clocks.get(camera)
        return datetime.now(UTC) if clock is None or clock.epoch is None else clock.wall_at(clock.time)

    def purge_expired(self) -> None:
        """Ask the writer to apply the retention period, when one is set."""
        self.writer.submit(expired_purge(self.config))

    def start(self) -> None:
        if self.shard is None:
            closed = self.store.close_open(datetime.now(UTC), "closed at start-up: Vigil stopped without ending it")
        else:
            closed = self.store.close_open(datetime.now(UTC), self.shard.start_note, cameras=self.config.cameras)
        if closed:
            log.warning("closed %d alert(s) left open by an earlier run that did not stop cleanly", closed)
        self.writer.start()
        self.notifier.start()
        self.keeper.start()
        self.clips.start()
        for recorder in self.recorders:
            salvaged_to = recorder.salvage()
            if (clock := self.file_clocks.get(recorder.camera)) is not None:
                ends = [end for end in (salvaged_to, self.recordings.latest_end(recorder.camera)) if end is not None]
                if ends:
                    clock.start_after(max(ends))
            recorder.start()
        self.purge_expired()
        self.workers.start()
        self.detection.start()
        if self.model_watcher is not None:
            self.model_watcher.start()
        for reader in self.readers:
            reader.start()
        described = ", ".join(f"{b.detector.backend} {b.detector.precision} on {b.detector.device}"
                              for b in self.detection.batchers)
        log.info("pipeline started: %d camera(s), detector: %s", len(self.readers), described)

    def stop(self) -> None:
        """Stop readers, drain the batchers and the workers, close open alerts, flush the store."""
        if self.model_watcher is not None:
            self.model_watcher.stop()
        for reader in self.readers:
            reader.stop()
        self.detection.close()
        for reader in self.readers:
            reader.join(timeout=reader.settings.open_timeout_s + reader.settings.read_timeout_s)
        self.detection.join()
        self.workers.stop()
        self.save_scores()
        closing = self.rule_engine.close_all(datetime.now(UTC))
        for event in closing:
            self.clips.alert_ended(event.key, event.ended_at)
        self.writer.submit(closing)
        for recorder in self.recorders:
            recorder.stop()
        for recorder in self.recorders:
            recorder.join(timeout=recorder.settings.open_timeout_s + recorder.settings.read_timeout_s)
        self.keeper.stop()
        self.clips.stop()
        self.writer.stop()
        self.notifier.drain(timeout_s=NOTIFY_DRAIN_S)
        self.notifier.stop()
        self.store.close()
        stats = [batcher.stats for batcher in self.detection.batchers]
        log.info("pipeline stopped: %d frames detected in %d batches", sum(s.frames for s in stats),
                 sum(s.batches for s in stats))

    def save_scores(self) -> None:
        """Write the recent score distribution per class where `vigil check-config` reads it."""
        try:
            self.scores.save(self.config.storage.score_profile)
        except OSError as error:
            log.warning("could not save the score profile to %s: %s", self.config.storage.score_profile, error)

    def job_launcher(self) -> ChildProcessLauncher:
        """Fine-tuning jobs run in a child process of this machine."""
        return ChildProcessLauncher(self.config.storage.database)

    def dashboard_services(self) -> DashboardServices:
        """What the dashboard reads from a running pipeline: the store, users, camera health, detector metrics,
        the recordings and each recorder's state."""
        return DashboardServices(
            self.store, UserStore(self.store.engine), self.health.snapshot, self.metrics,
            scores=self.scores.summary, rule_thresholds=class_thresholds(self.config),
            cameras=tuple(self.config.cameras), recordings=self.recordings,
            recorder_status=lambda: {recorder.camera: recorder.status() for recorder in self.recorders},
            notifier=self.notifier,
        )

    def finished(self) -> bool:
        """True when no camera can deliver frames any more (files ended, unreadable files)."""
        return all_done(self.health.snapshot())

    def status_lines(self) -> list[str]:
        """One line per camera: state, fps in/out, dropped, reconnects, and the mean batch size."""
        mean_batches = [batcher.stats.take_interval_mean_batch() for batcher in self.detection.batchers]
        lines = []
        for health in self.health.snapshot().values():
            mean_batch = mean_batches[self.detection.device_of[health.camera]]
            line = f"{health.camera}: {health_text(health)} batch mean {mean_batch:.2f}"
            if health.state != "streaming" and health.last_error:
                line += f" last error: {health.last_error}"
            lines.append(line)
        return lines
