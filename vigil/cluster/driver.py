"""`vigil run` on a Ray cluster: the driver starts the coordinator, serves the one dashboard, delivers notifications."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import ray
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from ray.exceptions import RayError

from alerts import AlertWriter
from alerts.arming import RuleArming
from alerts.recordings import RecordingIndex
from alerts.site_shapes import CameraShapes
from alerts.users import UserStore
from dashboard import DashboardServices
from dashboard.live import mjpeg_parts, notice_part
from streamer import CameraHealth
from streamer.redaction import known_secrets
from vigil.cluster.coordinator import CALL_TIMEOUT_S, COORDINATOR, ClusterStatus, Coordinator
from vigil.cluster.training import RayJobLauncher
from vigil.config import ConfigError, VigilConfig
from vigil.notifications import build_notifier, site_entities
from vigil.pipeline import NOTIFY_DRAIN_S, all_done, expired_purge, health_text
from vigil.rule_factory import build_rules, class_thresholds, site_shapes
from vigil.stores import open_store

log = logging.getLogger(__name__)

HEAD_NODE = "node:__internal_head__"
"""The resource only Ray's head node has."""


class ClusterShapes:
    """The pipeline's `shapes` as the zone editor sees it: an edit goes to the coordinator, which hands it on."""

    def __init__(self, coordinator: Any) -> None:
        self._coordinator = coordinator

    def replace(self, camera: str, shapes: CameraShapes) -> None:
        ray.get(self._coordinator.replace_shapes.remote(camera, shapes), timeout=CALL_TIMEOUT_S)


class ClusterMetrics(Collector):
    """/metrics of every worker and replica, gathered by the coordinator at each scrape."""

    def __init__(self, coordinator: Any) -> None:
        self._coordinator = coordinator

    def collect(self) -> Iterator[Metric]:
        try:
            yield from ray.get(self._coordinator.metric_families.remote(), timeout=3 * CALL_TIMEOUT_S)
        except RayError as error:
            log.warning("/metrics without the cluster's series: the coordinator did not answer: %s", error)


class RemoteLive:
    """The live view of a cluster: each camera's JPEGs from the worker that runs it, found through the coordinator."""

    def __init__(self, coordinator: Any) -> None:
        self._coordinator = coordinator
        self._owners: dict[str, Any] = {}

    def next_jpeg(self, camera: str, after: int, timeout_s: float) -> tuple[int, bytes] | None:
        """As `LiveHub.next_jpeg`; while the camera has no worker (being placed), None after `timeout_s`."""
        owner = self._owners.get(camera)
        try:
            if owner is None:
                owner = ray.get(self._coordinator.owner_of.remote(camera), timeout=CALL_TIMEOUT_S)
            if owner is not None:
                self._owners[camera] = owner
                return ray.get(owner.next_jpeg.remote(camera, after, timeout_s), timeout=timeout_s + CALL_TIMEOUT_S)
        except RayError:
            self._owners.pop(camera, None)  # moved: ask the coordinator again next time
        time.sleep(timeout_s)  # a viewer's loop asks again after this, not at once
        return None

    def sequence_now(self, camera: str) -> int:
        latest = self.next_jpeg(camera, 0, 0.0)
        return 0 if latest is None else latest[0]

    def mjpeg(self, camera: str, max_fps: float, gone: Callable[[], bool] = lambda: False, check_s: float = 1.0,
              keepalive_s: float = 10.0) -> Iterator[bytes]:
        return mjpeg_parts(self, camera, max_fps, gone, check_s, keepalive_s)

    def notice_part(self, text: str) -> bytes:
        return notice_part(text)


class ClusterPipeline:
    """What `vigil run` runs with `cluster:` set, as `Pipeline` is to one process: start, stop, status, dashboard.

    The cameras run on the cluster's nodes (placed by the coordinator, a named actor this driver owns, so it ends
    with the run); this process keeps what there is one of: the notification sinks reading the outbox, the retention
    purge, and the dashboard, which reads alerts, recordings and models from the database and shared folders.

    Example:
        >>> pipeline = ClusterPipeline(load_config("config.yaml"))  # doctest: +SKIP
        >>> pipeline.start(); print(pipeline.status()); pipeline.stop()  # doctest: +SKIP
    """

    def __init__(self, config: VigilConfig) -> None:
        assert config.cluster is not None
        self.config = config
        self._joined = not ray.is_initialized()
        if self._joined:
            ray.init(address=config.cluster.ray_address, namespace=config.cluster.namespace, log_to_driver=True)
        self.store = open_store(config)
        self.shapes_config = site_shapes(config)
        self.arming = RuleArming(self.store.engine)
        self.writer = AlertWriter(self.store, config.storage.media_dir,
                                  journal_dir=Path(config.storage.state) / "driver" / "journal")
        """Applies the retention purge (the workers write alerts, each with its own writer)."""
        self.coordinator = ray.remote(Coordinator).options(
            name=COORDINATOR, namespace=config.cluster.namespace, num_cpus=0, max_concurrency=32,
            resources={HEAD_NODE: 0.001},  # on the head, which the cluster cannot lose and go on
        ).remote(config, known_secrets())
        # An MQTT command arms or disarms here, in the database: the camera's worker applies it.
        self.arming.listen(lambda camera, rule, armed: self.coordinator.set_armed.remote(camera, rule, armed))
        self.shapes = ClusterShapes(self.coordinator)
        self.live = RemoteLive(self.coordinator)
        self.notifier = build_notifier(
            config, self.store, self.arming, site_entities(config, build_rules(config), self.shapes_config),
            health=self.health, zone_counts=self.zone_counts,
        )

    def start(self) -> None:
        problems = ray.get(self.coordinator.start.remote())
        if problems:
            raise ConfigError("config", problems)
        self.writer.start()
        self.notifier.start()
        status = self.status()
        log.info("cluster pipeline started: %d camera(s) in %d worker(s) on %d node(s), %d detector replica(s)",
                 len(self.config.cameras), len(status.workers), len(status.nodes), len(status.replicas))

    def stop(self) -> None:
        """Stop the workers (each ends its alerts, flushes its writer), then deliver what is left and leave."""
        try:
            ray.get(self.coordinator.stop.remote())
        finally:
            ray.kill(self.coordinator)
            self.writer.stop()
            self.notifier.drain(timeout_s=NOTIFY_DRAIN_S)
            self.notifier.stop()
            self.store.close()
            if self._joined:
                ray.shutdown()

    def health(self) -> Mapping[str, CameraHealth]:
        try:
            return ray.get(self.coordinator.health.remote(), timeout=CALL_TIMEOUT_S)
        except RayError:
            return {}

    def zone_counts(self) -> Mapping[str, Mapping[str, int]]:
        try:
            return ray.get(self.coordinator.zone_counts.remote(), timeout=CALL_TIMEOUT_S)
        except RayError:
            return {}

    def status(self) -> ClusterStatus:
        return ray.get(self.coordinator.status.remote(), timeout=CALL_TIMEOUT_S)

    def purge_expired(self) -> None:
        self.writer.submit(expired_purge(self.config))

    def save_scores(self) -> None:
        """Each worker saves its cameras' score profile in its own state folder."""
        self.coordinator.save_scores.remote()

    def finished(self) -> bool:
        health = self.health()  # empty when the coordinator does not answer: not finished
        return bool(health) and all_done(health)

    def status_lines(self) -> list[str]:
        """One line per camera, with the worker and node it runs on."""
        try:
            status = self.status()
        except RayError as error:
            return [f"cluster: the coordinator gave no status: {error}"]
        addresses = {node.node_id: node.address for node in status.nodes}
        lines = []
        for worker in status.workers:
            where = addresses.get(worker.node_id or "", "being placed")
            for camera in worker.cameras:
                health = worker.report.health.get(camera) if worker.report is not None else None
                shown = "" if health is None else f" {health_text(health)}"
                lines.append(f"{camera}: {worker.name} on {where}{shown}")
        return lines

    def job_launcher(self) -> RayJobLauncher:
        """Fine-tuning jobs run as Ray tasks, on a GPU when the cluster has one."""
        return RayJobLauncher(self.config.storage.database)

    def dashboard_services(self) -> DashboardServices:
        """The dashboard of the whole cluster: the database, the shared recordings, every camera's health."""
        return DashboardServices(
            self.store, UserStore(self.store.engine), self.health, ClusterMetrics(self.coordinator),
            rule_thresholds=class_thresholds(self.config), cameras=tuple(self.config.cameras),
            recordings=RecordingIndex(self.store.engine, Path(self.config.storage.recordings_dir)),
            notifier=self.notifier,
        )
