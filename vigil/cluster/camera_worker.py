"""A camera worker: the Ray actor that runs some cameras of the cluster as `vigil run` runs them, detection aside."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from prometheus_client.metrics_core import Metric

from alerts.site_shapes import CameraShapes
from streamer import CameraHealth
from vigil.cluster.logs import log_like_vigil
from vigil.cluster.placement import WorkerPlan
from vigil.cluster.remote_detector import RemoteDetector
from vigil.config import VigilConfig
from vigil.pipeline import Pipeline, ShardRole

@dataclass(frozen=True, slots=True)
class WorkerReport:
    """What a worker tells the coordinator at each check: its cameras' health and zone counts, its batches."""

    health: dict[str, CameraHealth]
    zone_counts: dict[str, dict[str, int]]
    frames: int
    batches: int
    overflowed: int
    """Detected frames dropped because tracking and rules fell behind."""
    writer_queued: int
    journal_pending: int


def shard_config(config: VigilConfig, plan: WorkerPlan) -> VigilConfig:
    """The config a worker runs: its cameras only, no notification sinks (the driver delivers the outbox), and its
    own state folder under the cluster's, so its journal survives it on the shared disk for its successor."""
    storage = config.storage.model_copy(update={"state_dir": str(Path(config.storage.state) / "workers" / plan.name)})
    notify = config.notify.model_copy(update={"mqtt": None, "webhooks": [], "apprise": []})
    cameras = {name: config.cameras[name] for name in plan.cameras}
    return config.model_copy(update={"cameras": cameras, "storage": storage, "notify": notify})


class CameraWorker:
    """Readers, recorders, tracking, rules, live view and the alert writer of one plan's cameras, on one node.

    Made empty (a spare, its process started and Vigil imported, which takes most of a start), it gets its
    cameras from `run`. Its batches of small detector inputs go to a detector replica. Runs with several threads,
    so a live viewer's wait holds nothing else up.
    """

    def __init__(self, node_id: str, secrets: tuple[str, ...]) -> None:
        log_like_vigil(secrets)
        self.node_id = node_id
        self.pipeline: Pipeline | None = None

    def run(
        self, plan: WorkerPlan, config: VigilConfig, shapes: Mapping[str, CameraShapes], start_note: str,
        replica: Any, description: dict[str, Any], coordinator: Any,
    ) -> str:
        """Start `plan`'s cameras, closing the alerts they left open (a lost node's) with `start_note`; `shapes`
        are zones edited since the config was read. Returns the node it runs on."""
        detector = RemoteDetector(
            replica, description,
            find_replica=lambda: ray.get(coordinator.replica_for.remote(self.node_id, plan.name), timeout=10),
        )
        self.plan = plan
        self.pipeline = Pipeline(shard_config(config, plan), detector=detector, shard=ShardRole(start_note))
        for camera, edited in shapes.items():
            if camera in plan.cameras:
                self.pipeline.shapes.replace(camera, edited)
        self.pipeline.start()
        return self.node_id

    @property
    def _running(self) -> Pipeline:
        if self.pipeline is None:
            raise RuntimeError("this worker has no cameras yet")
        return self.pipeline

    def report(self) -> WorkerReport:
        writer = self._running.writer.stats()
        stats = [batcher.stats for batcher in self._running.detection.batchers]
        return WorkerReport(
            self._running.health.snapshot(), self._running.rule_engine.zone_counts(),
            sum(s.frames for s in stats), sum(s.batches for s in stats), sum(self._running.workers.overflowed.values()),
            writer.queued, writer.pending_in_journal,
        )

    def next_jpeg(self, camera: str, after: int, timeout_s: float) -> tuple[int, bytes] | None:
        return self._running.live.next_jpeg(camera, after, timeout_s)

    def replace_shapes(self, camera: str, shapes: CameraShapes) -> None:
        self._running.shapes.replace(camera, shapes)

    def shapes_of(self, camera: str) -> CameraShapes:
        """The zones and lines the camera's rules use now."""
        return self._running.shapes.of(camera)

    def catch_up(self, shapes: Mapping[str, CameraShapes]) -> None:
        """Take what changed while this worker started: zone edits, and arming as the database has it now."""
        for camera, edited in shapes.items():
            self._running.shapes.replace(camera, edited)
        self._running.arming.reload()

    def set_armed(self, camera: str, rule: str, armed: bool) -> None:
        """A rule armed or disarmed over MQTT at the driver (already stored): disarming ends its open alert here."""
        self._running.arming.changed_elsewhere(camera, rule, armed)

    def metric_families(self) -> list[Metric]:
        return list(self._running.metrics.collect())

    def save_scores(self) -> None:
        self._running.save_scores()

    def stop(self) -> None:
        """Stop the cameras, end their open alerts and flush the writer: a hand-over loses nothing."""
        if self.pipeline is not None:
            self.pipeline.stop()
