"""/metrics text of collectors, as a scrape would read it."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector


def exposition(*collectors: Collector) -> str:
    """The Prometheus text format (0.0.4) of what `collectors` collect now."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry).decode()
