"""Prometheus metric families as `prometheus_client` builds them: labelled for where they come from, merged by name,
and exposed as text."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector


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


class Families(Collector):
    """A collector of families already built."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def exposition(*collectors: Collector) -> str:
    """The Prometheus text format (0.0.4) of what `collectors` collect now."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry).decode()
