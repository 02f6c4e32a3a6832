"""/metrics for a whole cluster: each worker's lines labelled with its worker and node, and the replicas' series."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vigil.cluster.replica import ReplicaStatus


def merged_metric_lines(
    parts: Sequence[tuple[Mapping[str, str], Sequence[str]]], replicas: Sequence[ReplicaStatus],
    node_address: Mapping[str, str],
) -> list[str]:
    """One exposition of every part's lines, each sample given the part's labels, a metric's TYPE line once.

    Example:
        >>> merged_metric_lines([({"worker": "worker-0"}, ["# TYPE up gauge", "up 1", 'fps{camera="a"} 5'])], [], {})
        ['# TYPE up gauge', 'up{worker="worker-0"} 1', 'fps{worker="worker-0",camera="a"} 5']
    """
    types: dict[str, str] = {}
    samples: dict[str, list[str]] = {}
    order: list[str] = []
    for labels, lines in parts:
        prefix = ",".join(f'{key}="{value}"' for key, value in labels.items())
        for line in lines:
            if line.startswith("# TYPE "):
                name = line.split()[2]
                types.setdefault(name, line)
                if name not in order:
                    order.append(name)
                continue
            if not line or line.startswith("#"):
                continue
            series, value = line.rsplit(" ", 1)
            name, _, rest = series.partition("{")
            inside = rest.rstrip("}")
            labelled = f"{name}{{{prefix}{',' if prefix and inside else ''}{inside}}} {value}"
            samples.setdefault(name, []).append(labelled)
            if name not in order:
                order.append(name)
    merged = []
    for name in order:
        if name in types:
            merged.append(types[name])
        merged += samples.get(name, [])
    return merged + _replica_lines(replicas, node_address)


def _replica_lines(replicas: Sequence[ReplicaStatus], node_address: Mapping[str, str]) -> list[str]:
    if not replicas:
        return []

    def labels(replica: ReplicaStatus) -> str:
        return (f'replica="{replica.name}",node="{node_address.get(replica.node_id, replica.node_id[:12])}",'
                f'device="{replica.device}"')

    return [
        "# TYPE vigil_replica_frames_total counter",
        *(f"vigil_replica_frames_total{{{labels(r)}}} {r.frames}" for r in replicas),
        "# TYPE vigil_replica_batch_size_mean gauge",
        *(f"vigil_replica_batch_size_mean{{{labels(r)}}} {r.mean_batch:.3f}" for r in replicas),
        "# TYPE vigil_replica_backlog gauge",
        *(f"vigil_replica_backlog{{{labels(r)}}} {r.backlog}" for r in replicas),
        "# TYPE vigil_detector_model_info gauge",
        *(f'vigil_detector_model_info{{{labels(r)},version="{r.model}"}} 1' for r in replicas),
    ]
