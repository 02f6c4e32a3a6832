"""The coordinator: the named Ray actor that places detector replicas and camera workers, and re-places them."""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import ray
from prometheus_client.metrics_core import Metric
from ray.exceptions import ActorDiedError, RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from alerts.site_shapes import CameraShapes
from streamer import CameraHealth, CameraState
from vigil.cluster.camera_worker import CameraWorker, WorkerReport
from vigil.cluster.logs import log_like_vigil
from vigil.cluster.metrics import cluster_families
from vigil.cluster.placement import REPLICA_GPU_SHARE, NodeInfo, WorkerPlan, place, plan_workers
from vigil.cluster.replica import DetectorReplica, ReplicaStatus
from vigil.config import VigilConfig, check_rule_classes

log = logging.getLogger(__name__)

COORDINATOR = "coordinator"
"""The coordinator's actor name in the cluster's namespace (`vigil cluster status` looks it up)."""
START_TIMEOUT_S = 180.0
"""How long a worker or replica may take to start (a replica may export the model first)."""
CALL_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class PlacementChange:
    """One worker placed: at start, after a node was lost, to rebalance, or off a draining node."""

    at: datetime
    worker: str
    cameras: tuple[str, ...]
    from_address: str | None
    """The node it ran on before (None at start)."""
    to_address: str
    reason: str
    took_s: float
    """From the moment the coordinator saw the need to the worker streaming again on its new node."""


@dataclass(frozen=True, slots=True)
class NodeStatus:
    node_id: str
    address: str
    cpus: float
    gpus: int
    draining: bool
    workers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    name: str
    node_id: str | None
    """None while it is being placed."""
    cameras: tuple[str, ...]
    report: WorkerReport | None


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """What `vigil cluster status` prints."""

    nodes: tuple[NodeStatus, ...]
    workers: tuple[WorkerStatus, ...]
    replicas: tuple[ReplicaStatus, ...]
    history: tuple[PlacementChange, ...]


@dataclass(frozen=True, slots=True)
class _Unplaced:
    """A worker waiting to be placed: where it ran, since when and why it must move (kept across failed starts)."""

    origin: str | None
    since: float
    reason: str


@dataclass(slots=True)
class _Placed:
    plan: WorkerPlan
    node_id: str
    handle: Any
    report: WorkerReport | None = None
    reported_at: float = 0.0
    """`time.monotonic()` of the report."""


class Coordinator:
    """Owns where everything runs. It starts detector replicas on every usable node (one per GPU, or per
    `cluster.cpus_per_detector` CPUs) and groups the cameras into workers of at most `max_cameras_per_worker`,
    spread by load.

    Every `check_interval_s` it asks each worker for its report and each replica for its status. A worker whose
    node is gone, or that died, is started again on a surviving node: its readers reconnect, tracking starts
    over, and the alerts it left open are closed with a note. A replica that is gone is restarted on its node.
    A node that joins takes its share of workers, and a draining node hands its workers over; a worker that moves
    while its node is up is stopped first, so it ends its alerts and flushes its writer.

    Zone edits are kept here, and reach the camera's worker now and any worker that owns it later.
    """

    def __init__(self, config: VigilConfig, secrets: tuple[str, ...]) -> None:
        log_like_vigil(secrets)
        self._config = config
        self._secrets = secrets
        cluster = config.cluster
        assert cluster is not None
        self._settings = cluster
        self._plans = plan_workers(list(config.cameras), cluster.max_cameras_per_worker)
        self._nodes: dict[str, NodeInfo] = {}
        """The nodes workers may be placed on: alive, not draining, their replicas started."""
        self._seen: dict[str, NodeInfo] = {}
        """Every node met, lost ones too, for the addresses in notes and history."""
        self._draining: set[str] = set()
        self._replicas: dict[str, list[tuple[str, Any]]] = {}
        self._replica_status: dict[str, ReplicaStatus] = {}
        self._description: dict[str, Any] = {}
        self._placed: dict[str, _Placed] = {}
        self._shapes: dict[str, CameraShapes] = {}
        self._history: deque[PlacementChange] = deque(maxlen=500)
        self._placing = threading.Lock()
        """Held by whoever changes placement (the check loop, a drain): one change at a time. The methods that only
        read (health, status, owner_of) take copies instead, and are answered while a change runs."""
        self._stopping = threading.Event()
        self._checker = threading.Thread(target=self._check_loop, name="cluster-check", daemon=True)
        self._replica_count = 0
        self._spares: dict[str, list[Any]] = {}
        """Per node, empty workers ready to take cameras."""
        self._self: Any = None
        """This actor's own handle, which workers use to ask for a replica (set at start)."""
        self._unplaced: dict[str, _Unplaced] = {}

    # placement

    def start(self) -> list[str]:
        """Start replicas and workers; returns the rule problems of the model (then nothing is started)."""
        self._self = ray.get_runtime_context().current_actor
        with self._placing:
            nodes = self._usable_nodes()
            if not nodes:
                return ["cluster: no node with CPUs or GPUs has joined the cluster"]
            self._start_replicas(list(nodes.values()))
            self._nodes = nodes
            if not self._description:
                return ["detector: no replica could load the model (see the log)"]
            problems = check_rule_classes(self._config, self._description["class_names"])
            if problems:
                return problems
            self._move(place(self._plans, self._nodes, {}, self._weights()), "start", time.monotonic())
            self._check_replicas()
        self._checker.start()
        return []

    def _usable_nodes(self) -> dict[str, NodeInfo]:
        found = {}
        for node in ray.nodes():
            resources = node.get("Resources", {})
            cpus, gpus = float(resources.get("CPU", 0)), int(resources.get("GPU", 0))
            if node.get("Alive") and (cpus or gpus) and node["NodeID"] not in self._draining:
                found[node["NodeID"]] = NodeInfo(node["NodeID"], node.get("NodeManagerAddress", "?"), cpus, gpus)
        self._seen.update(found)
        return found

    def _weights(self) -> dict[str, float]:
        """Each node's share of cameras: its replicas as configured (not as alive now, which would move workers)."""
        return {node: info.detector_replicas(self._settings.cpus_per_detector) for node, info in self._nodes.items()}

    def _start_replicas(self, nodes: list[NodeInfo]) -> None:
        """Start the replicas each node lacks, all at once, and wait until they serve (one that fails to start is
        logged, and started again at a later check)."""
        started = []
        for node in nodes:
            gpu = node.gpus > 0
            running = len(self._replicas.get(node.node_id, []))
            for _ in range(node.detector_replicas(self._settings.cpus_per_detector) - running):
                self._replica_count += 1
                name = f"detector-{self._replica_count}"
                handle = ray.remote(concurrency_groups={"control": 2})(DetectorReplica).options(
                    num_cpus=0, num_gpus=REPLICA_GPU_SHARE if gpu else 0, max_concurrency=64,
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
                ).remote(name, self._replica_config(gpu), "cuda:0" if gpu else "cpu", node.node_id, self._secrets)
                started.append((node, name, handle, handle.describe.remote()))
        ready = {node.node_id: list(self._replicas.get(node.node_id, [])) for node in nodes}
        for node, name, handle, described in started:
            try:
                self._description = ray.get(described, timeout=START_TIMEOUT_S)
                ready[node.node_id].append((name, handle))
            except RayError as error:
                log.error("detector %s on node %s did not start: %s", name, self._address(node.node_id), error)
                ray.kill(handle, no_restart=True)
        self._replicas.update(ready)
        for node in nodes:
            log.info("node %s: %d detector replica(s) on %s", self._address(node.node_id),
                     len(ready[node.node_id]), "GPU" if node.gpus else "CPU")

    def _replica_config(self, gpu: bool) -> VigilConfig:
        """A CPU replica's torch threads are its share of the node's CPUs."""
        detector = self._config.detector
        if gpu or detector.cpu_threads is not None:
            return self._config
        threads = max(1, int(self._settings.cpus_per_detector))
        return self._config.model_copy(update={"detector": detector.model_copy(update={"cpu_threads": threads})})

    def replica_for(self, node_id: str, worker: str) -> Any:
        """The replica `worker` uses: one on its node (workers dealt among them by name), else one on any node."""
        replicas = dict(self._replicas)
        candidates = replicas.get(node_id) or [r for rs in replicas.values() for r in rs]
        if not candidates:
            raise RuntimeError("no detector replica is running in the cluster")
        return candidates[zlib.crc32(worker.encode()) % len(candidates)][1]

    def _move(self, wanted: dict[str, str], reason: str, since: float, unreachable: frozenset[str] = frozenset()
              ) -> None:
        """Put each worker where `wanted` says: stop those that move (but the `unreachable`, which are only
        killed, so that no second copy of one can come back), then start them anew."""
        moving = [plan for plan in self._plans
                  if plan.name not in self._placed or plan.name in unreachable
                  or self._placed[plan.name].node_id != wanted.get(plan.name)]
        for plan in moving:
            old = self._placed.pop(plan.name, None)
            if plan.name not in self._unplaced:
                self._unplaced[plan.name] = _Unplaced(None if old is None else old.node_id, since, reason)
            if old is None:
                continue
            if plan.name not in unreachable:  # a hand-over: end its alerts, flush its writer
                try:
                    ray.get(old.handle.stop.remote(), timeout=START_TIMEOUT_S)
                except RayError as error:
                    log.warning("%s did not stop cleanly before moving: %s", plan.name, error)
            ray.kill(old.handle, no_restart=True)
        starting = []
        for plan in moving:
            node = wanted.get(plan.name)
            if node is None:
                log.error("%s (%s): no node to run it on", plan.name, ", ".join(plan.cameras))
                continue
            spares = self._spares.get(node, [])
            handle = spares.pop() if spares else self._spawn(node)
            waiting = self._unplaced[plan.name]
            lost_with_its_node = waiting.reason == "worker died" and waiting.origin not in self._nodes
            why = "node lost" if lost_with_its_node else waiting.reason
            shapes = {c: self._shapes[c] for c in plan.cameras if c in self._shapes}
            started = handle.run.remote(plan, self._config, shapes, self._start_note(why, waiting.origin, node),
                                        self.replica_for(node, plan.name), self._description, self._self)
            starting.append((plan, node, handle, shapes, why, started))
        for plan, node, handle, shapes, why, started in starting:
            try:
                ray.get(started, timeout=START_TIMEOUT_S)
            except RayError as error:  # placed again at the next check
                log.error("%s did not start on node %s: %s", plan.name, self._address(node), error)
                ray.kill(handle, no_restart=True)
                continue
            self._placed[plan.name] = _Placed(plan, node, handle)
            self._catch_up(plan, handle, shapes)
            waiting = self._unplaced.pop(plan.name)
            change = PlacementChange(datetime.now(UTC), plan.name, plan.cameras,
                                     None if waiting.origin is None else self._address(waiting.origin),
                                     self._address(node), why, time.monotonic() - waiting.since)
            self._history.append(change)
            log.info("%s (%s) placed on node %s (%s) in %.1f s", plan.name, ", ".join(plan.cameras),
                     self._address(node), why, change.took_s)
        self._keep_spares()

    def _catch_up(self, plan: WorkerPlan, handle: Any, given: dict[str, CameraShapes]) -> None:
        """Hand a worker that just started what changed meanwhile: zone edits made since its shapes were taken, and
        arming (stored in the database, which it read before a change could reach it)."""
        edited = {c: self._shapes[c] for c in plan.cameras if c in self._shapes and self._shapes[c] is not given.get(c)}
        try:
            ray.get(handle.catch_up.remote(edited), timeout=CALL_TIMEOUT_S)
        except RayError as error:
            log.warning("%s could not take the edits made while it started: %s", plan.name, error)

    def _spawn(self, node: str) -> Any:
        """An empty camera worker on `node`: its process starts and imports Vigil while nothing waits for it."""
        return ray.remote(CameraWorker).options(
            num_cpus=0, max_concurrency=16, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
        ).remote(node, self._secrets)

    def _keep_spares(self) -> None:
        """`spare_workers` per node, so a lost node's cameras start in seconds, not in a process's start-up."""
        for node in list(self._spares):
            if node not in self._nodes:
                for spare in self._spares.pop(node):
                    ray.kill(spare, no_restart=True)
        for node in self._nodes:
            spares = self._spares.setdefault(node, [])
            spares += [self._spawn(node) for _ in range(self._settings.spare_workers - len(spares))]

    def _start_note(self, reason: str, origin: str | None, node: str) -> str:
        if reason == "node lost":
            return f"closed: node {self._address(origin)} was lost; the camera moved to node {self._address(node)}"
        if reason == "worker died":
            return f"closed: the camera's worker died; it restarted on node {self._address(node)}"
        return "closed at start-up: Vigil stopped without ending it"

    def _address(self, node: str | None) -> str:
        """The node's address and the start of its id (nodes of one machine share an address)."""
        info = self._seen.get(node or "")
        return f"{info.address if info is not None else '?'} ({(node or '?')[:6]})"

    # the check loop

    def _check_loop(self) -> None:
        while not self._stopping.wait(self._settings.check_interval_s):
            try:
                self.check()
            except Exception:
                log.exception("cluster check failed; trying again")

    def check(self) -> None:
        """One look at nodes, workers and replicas: re-place what was lost first, then start replicas on nodes that
        joined and give them their share of workers."""
        seen = time.monotonic()
        with self._placing:
            if self._stopping.is_set():
                return
            usable = self._usable_nodes()
            lost = {n for n in self._nodes if n not in usable}
            joined = [info for n, info in usable.items() if n not in self._nodes]
            for node in lost:
                log.warning("node %s is gone: placing its workers again", self._address(node))
                for name, _ in self._replicas.pop(node, []):
                    self._replica_status.pop(name, None)
                self._spares.pop(node, None)
            self._nodes = {n: info for n, info in self._nodes.items() if n not in lost}
            dead = self._collect_reports()
            self._check_replicas()
            unreachable = frozenset(dead | {n for n, p in self._placed.items() if p.node_id in lost})
            if unreachable:
                current = {n: p.node_id for n, p in self._placed.items() if n not in unreachable}
                wanted = place(self._plans, self._nodes, current, self._weights())
                self._move(wanted, "node lost" if lost else "worker died", seen, unreachable)
            if joined:
                log.info("node(s) joined: %s", ", ".join(self._address(info.node_id) for info in joined))
                self._start_replicas(joined)
                self._nodes.update({info.node_id: info for info in joined})
            current = {n: p.node_id for n, p in self._placed.items()}
            wanted = place(self._plans, self._nodes, current, self._weights())
            if wanted != current:
                self._move(wanted, "rebalance", time.monotonic())

    def _collect_reports(self) -> set[str]:
        """Ask every worker for its report; returns the workers that died."""
        asked = {name: placed.handle.report.remote() for name, placed in self._placed.items()}
        ready, _ = ray.wait(list(asked.values()), num_returns=len(asked), timeout=self._settings.check_interval_s)
        ready_ids = set(ready)
        dead = set()
        for name, reference in asked.items():
            if reference not in ready_ids:
                continue  # slow, not gone: asked again at the next check
            try:
                self._placed[name].report = ray.get(reference)
                self._placed[name].reported_at = time.monotonic()
            except ActorDiedError:
                dead.add(name)
                log.warning("%s (%s) is gone", name, ", ".join(self._placed[name].plan.cameras))
            except RayError as error:  # unreachable for now, or its report failed: not replaced for that
                log.warning("%s gave no report: %s", name, error)
        return dead

    def _check_replicas(self) -> None:
        """Each replica's status (it answers on threads of its own, busy or not); one that died is restarted."""
        for node_id, replicas in list(self._replicas.items()):
            alive = []
            for name, handle in replicas:
                try:
                    self._replica_status[name] = ray.get(handle.status.remote(), timeout=CALL_TIMEOUT_S)
                    alive.append((name, handle))
                except ActorDiedError:
                    log.warning("detector %s on node %s is gone", name, self._address(node_id))
                    self._replica_status.pop(name, None)
                except RayError as error:
                    log.warning("detector %s on node %s gave no status: %s", name, self._address(node_id), error)
                    alive.append((name, handle))
            self._replicas[node_id] = alive
            info = self._nodes.get(node_id)
            if info is not None and len(alive) < info.detector_replicas(self._settings.cpus_per_detector):
                self._start_replicas([info])

    # what the driver, the dashboard and `vigil cluster status` ask

    def drain(self, node_id: str) -> list[str]:
        """Move every worker off `node_id` (each ends its alerts first); returns the workers moved."""
        with self._placing:
            self._draining.add(node_id)
            on_node = [name for name, placed in self._placed.items() if placed.node_id == node_id]
            self._nodes.pop(node_id, None)
            replicas = self._replicas.pop(node_id, [])
            current = {name: placed.node_id for name, placed in self._placed.items() if name not in on_node}
            self._move(place(self._plans, self._nodes, current, self._weights()), "drain", time.monotonic())
            for name, handle in replicas:
                self._replica_status.pop(name, None)
                ray.kill(handle, no_restart=True)
            for spare in self._spares.pop(node_id, []):
                ray.kill(spare, no_restart=True)
            return on_node


    def health(self) -> dict[str, CameraHealth]:
        """Each camera's health as its worker last reported; a camera whose worker is being placed, or has not
        reported for three checks, says so."""
        found: dict[str, CameraHealth] = {}
        stale_s = 3 * self._settings.check_interval_s
        for plan in self._plans:
            placed = self._placed.get(plan.name)
            silent_s = None if placed is None else time.monotonic() - placed.reported_at
            for camera in plan.cameras:
                if placed is None or placed.report is None or camera not in placed.report.health:
                    found[camera] = CameraHealth(camera, CameraState.RECONNECTING,
                                                 last_error="its worker is being placed on a node")
                elif silent_s is not None and silent_s > stale_s:
                    found[camera] = replace(placed.report.health[camera], state=CameraState.RECONNECTING,
                                            last_error=f"no word from {plan.name} for {silent_s:.0f} s")
                else:
                    found[camera] = placed.report.health[camera]
        return found

    def zone_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for placed in list(self._placed.values()):
            if placed.report is not None:
                counts.update(placed.report.zone_counts)
        return counts

    def owner_of(self, camera: str) -> Any | None:
        """The worker that runs `camera` now, or None while it is being placed."""
        return next((p.handle for p in list(self._placed.values()) if camera in p.plan.cameras), None)

    def replace_shapes(self, camera: str, shapes: CameraShapes) -> None:
        """A zone edit: kept for the workers that own the camera later, and handed to the one that owns it now."""
        self._shapes[camera] = shapes
        owner = self.owner_of(camera)
        if owner is not None:
            try:
                ray.get(owner.replace_shapes.remote(camera, shapes), timeout=CALL_TIMEOUT_S)
            except RayError as error:  # kept: its next worker gets it
                log.warning("the zone edit of %s reaches it when its worker next starts: %s", camera, error)

    def set_armed(self, camera: str, rule: str, armed: bool) -> None:
        """Hand an arming change to the camera's worker (a worker started later reads it from the database)."""
        owner = self.owner_of(camera)
        if owner is not None:
            try:
                ray.get(owner.set_armed.remote(camera, rule, armed), timeout=CALL_TIMEOUT_S)
            except RayError as error:  # stored: its next worker reads it
                log.warning("arming %s/%s reaches the camera when its worker next starts: %s", camera, rule, error)

    def metric_families(self) -> list[Metric]:
        """Every worker's /metrics families, labelled by worker and node, and each replica's."""
        placed = list(self._placed.values())
        asked = [(p.plan.name, p.node_id, p.handle.metric_families.remote()) for p in placed]
        parts = []
        for name, node, reference in asked:
            try:
                families = ray.get(reference, timeout=CALL_TIMEOUT_S)
                parts.append(({"worker": name, "node": self._address(node)}, families))
            except RayError:
                continue
        return cluster_families(parts, list(self._replica_status.values()),
                                {n: self._address(n) for n in list(self._replicas)})

    def save_scores(self) -> None:
        for placed in list(self._placed.values()):
            placed.handle.save_scores.remote()

    def status(self) -> ClusterStatus:
        placed = dict(self._placed)
        nodes = tuple(
            NodeStatus(info.node_id, info.address, info.cpus, info.gpus, info.node_id in self._draining,
                       tuple(sorted(n for n, p in placed.items() if p.node_id == info.node_id)))
            for info in sorted(self._nodes.values(), key=lambda i: i.address + i.node_id)
        )
        workers = tuple(
            WorkerStatus(plan.name, placed[plan.name].node_id if plan.name in placed else None, plan.cameras,
                         placed[plan.name].report if plan.name in placed else None)
            for plan in self._plans
        )
        return ClusterStatus(nodes, workers, tuple(self._replica_status.values()), tuple(self._history))

    def stop(self) -> None:
        """Stop every worker (each ends its alerts and flushes its writer), then the replicas."""
        self._stopping.set()
        with self._placing:
            stopping = [(p.plan.name, p.handle, p.handle.stop.remote()) for p in self._placed.values()]
            for name, handle, reference in stopping:
                try:
                    ray.get(reference, timeout=START_TIMEOUT_S)
                except RayError as error:
                    log.warning("%s did not stop cleanly: %s", name, error)
                ray.kill(handle, no_restart=True)
            self._placed.clear()
            for spares in self._spares.values():
                for spare in spares:
                    ray.kill(spare, no_restart=True)
            self._spares.clear()
            for replicas in self._replicas.values():
                for _, handle in replicas:
                    ray.kill(handle, no_restart=True)
            self._replicas.clear()
