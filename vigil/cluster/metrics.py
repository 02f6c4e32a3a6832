"""/metrics for a whole cluster: each worker's families labelled with its worker and node, and the replicas'."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from vigil.cluster.replica import ReplicaStatus
from vigil.metric_families import labelled, merged


def cluster_families(
    parts: Sequence[tuple[Mapping[str, str], Sequence[Metric]]], replicas: Sequence[ReplicaStatus],
    node_address: Mapping[str, str],
) -> list[Metric]:
    """Every part's families, each sample given the part's labels, one family per name; then the replicas'.

    Example:
        >>> from prometheus_client.core import GaugeMetricFamily
        >>> parts = [({"worker": f"worker-{i}"}, [GaugeMetricFamily("up", "Up.", value=1)]) for i in range(2)]
        >>> [(s.labels, s.value) for s in cluster_families(parts, [], {})[0].samples]
        [({'worker': 'worker-0'}, 1), ({'worker': 'worker-1'}, 1)]
    """
    families = [family for labels, part in parts for family in labelled(part, labels)]
    return merged([*families, *_replica_families(replicas, node_address)])


def _replica_families(replicas: Sequence[ReplicaStatus], node_address: Mapping[str, str]) -> Iterator[Metric]:
    if not replicas:
        return
    labels = ["replica", "node", "device"]

    def where(replica: ReplicaStatus) -> list[str]:
        return [replica.name, node_address.get(replica.node_id, replica.node_id[:12]), replica.device]

    frames = CounterMetricFamily("vigil_replica_frames", "Frames a detector replica detected.", labels=labels)
    mean_batch = GaugeMetricFamily("vigil_replica_batch_size_mean", "Frames per inference call of a replica.",
                                   labels=labels)
    backlog = GaugeMetricFamily("vigil_replica_backlog", "Images waiting for a replica's inference.", labels=labels)
    model = GaugeMetricFamily("vigil_detector_model_info", "The model version serving.", labels=[*labels, "version"])
    for replica in replicas:
        frames.add_metric(where(replica), replica.frames)
        mean_batch.add_metric(where(replica), round(replica.mean_batch, 3))
        backlog.add_metric(where(replica), replica.backlog)
        model.add_metric([*where(replica), replica.model], 1)
    yield from (frames, mean_batch, backlog, model)
