"""Where a cluster's cameras run: cameras grouped into workers, workers spread over nodes, with few moves."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass


REPLICA_GPU_SHARE = 0.51
"""What a detector replica asks Ray for of a GPU: more than half, so no two replicas share one."""
TRAINING_GPU_SHARE = 1 - REPLICA_GPU_SHARE
"""What a fine-tuning task asks for: the rest of a GPU, beside its replica."""


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """One camera worker: its name (stable across moves, so its journal follows it) and the cameras it owns."""

    name: str
    cameras: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A Ray node as placement sees it."""

    node_id: str
    address: str
    cpus: float
    gpus: int

    def detector_replicas(self, cpus_per_detector: float) -> int:
        """One replica per GPU; on a node without one, one per `cpus_per_detector` CPUs (at least one)."""
        return self.gpus if self.gpus else max(1, math.floor(self.cpus / cpus_per_detector))


def plan_workers(cameras: Sequence[str], max_cameras_per_worker: int) -> list[WorkerPlan]:
    """As few workers as hold every camera, the cameras dealt evenly among them in name order.

    Example:
        >>> [w.cameras for w in plan_workers(["a", "b", "c", "d", "e"], 2)]
        [('a', 'd'), ('b', 'e'), ('c',)]
    """
    count = max(1, math.ceil(len(cameras) / max_cameras_per_worker))
    ordered = sorted(cameras)
    return [WorkerPlan(f"worker-{i}", tuple(ordered[i::count])) for i in range(count)]


def place(
    workers: Sequence[WorkerPlan], nodes: Collection[str], current: Mapping[str, str], weights: Mapping[str, float]
) -> dict[str, str]:
    """Worker name → node: workers on a node still in `nodes` stay, the others go where the load is lowest, then
    workers move off the busiest node while that evens the load out (a node just added takes its share).

    The load of a node is its workers' cameras over its weight (its detector replicas).

    Example:
        >>> plans = plan_workers(["a", "b", "c", "d", "e", "f"], 2)
        >>> place(plans, ["n1", "n2"], {}, {"n1": 1, "n2": 1})
        {'worker-0': 'n1', 'worker-1': 'n2', 'worker-2': 'n1'}
        >>> place(plans, ["n2"], {"worker-0": "n1", "worker-1": "n2", "worker-2": "n1"}, {"n2": 1})
        {'worker-0': 'n2', 'worker-1': 'n2', 'worker-2': 'n2'}
        >>> place(plans, ["n1", "n2", "n3"], {"worker-0": "n2", "worker-1": "n2", "worker-2": "n2"},
        ...       {"n1": 1, "n2": 1, "n3": 1})
        {'worker-0': 'n1', 'worker-1': 'n3', 'worker-2': 'n2'}
    """
    if not nodes:
        return {}
    ordered_nodes = sorted(nodes)
    size = {worker.name: len(worker.cameras) for worker in workers}
    cameras_on: Counter[str] = Counter({node: 0 for node in ordered_nodes})
    placed: dict[str, str] = {}

    def load(node: str, extra: int = 0) -> float:
        return (cameras_on[node] + extra) / max(weights.get(node, 1.0), 1e-9)

    for worker in workers:
        if current.get(worker.name) in cameras_on:
            placed[worker.name] = current[worker.name]
            cameras_on[current[worker.name]] += size[worker.name]
    for worker in workers:
        if worker.name not in placed:
            node = min(ordered_nodes, key=lambda n: (load(n, size[worker.name]), n))
            placed[worker.name] = node
            cameras_on[node] += size[worker.name]
    while True:
        busiest = max(ordered_nodes, key=lambda n: (load(n), n))
        lightest = min(ordered_nodes, key=lambda n: (load(n), n))
        movable = sorted((name for name, node in placed.items() if node == busiest), key=lambda n: (size[n], n))
        move = next((name for name in movable
                     if max(load(busiest, -size[name]), load(lightest, size[name])) < load(busiest)), None)
        if move is None:
            return dict(sorted(placed.items()))
        placed[move] = lightest
        cameras_on[busiest] -= size[move]
        cameras_on[lightest] += size[move]
