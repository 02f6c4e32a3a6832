"""Prometheus metric families as `prometheus_client` builds them: labelled for where they come from, and merged by
name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from prometheus_client.metrics_core import Metric


def labelled(families: Iterable[Metric], labels: Mapping[str, str]) -> Iterator[Metric]:
    """Each family with `labels` put before every sample's own (the sample's win a clash).

    Example:
        >>> from prometheus_client.core import GaugeMetricFamily
        >>> [family] = labelled([GaugeMetricFamily("up", "Up.", value=1)], {"worker": "worker-0"})
        >>> family.samples[0].labels
        {'worker': 'worker-0'}
    """
    for family in families:
        copy = Metric(family.name, family.documentation, family.type, family.unit)
        for sample in family.samples:
            copy.add_sample(sample.name, {**labels, **sample.labels}, sample.value, sample.timestamp, sample.exemplar)
        yield copy


def merged(families: Iterable[Metric]) -> list[Metric]:
    """Families of the same name (one per device, worker, node) as one, in the order they first appear."""
    by_name: dict[str, Metric] = {}
    for family in families:
        if family.name not in by_name:
            by_name[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
        by_name[family.name].samples.extend(family.samples)
    return list(by_name.values())
