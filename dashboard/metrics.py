"""/metrics: each dashboard app's own prometheus_client registry, with the stored alert totals, the cameras'
health, the process's own series, and what the running pipeline and the live view add."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from flask import Flask, current_app
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from dashboard.context import DashboardServices
from dashboard.queries import totals_by_rule_and_status
from streamer import CameraHealth, CameraState

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
_CAMERA_METRICS: tuple[tuple[type[Metric], str, str, Callable[[CameraHealth], float]], ...] = (
    (GaugeMetricFamily, "vigil_camera_fps_in", "Frames decoded per second.", lambda h: h.fps_in),
    (GaugeMetricFamily, "vigil_camera_fps_out", "Frames handed to the detector per second.", lambda h: h.fps_out),
    (CounterMetricFamily, "vigil_camera_dropped", "Sampled frames replaced before detection.", lambda h: h.dropped),
    (CounterMetricFamily, "vigil_camera_motion_skipped", "Sampled frames kept from the detector: no motion, no track.",
     lambda h: h.skipped),
    (CounterMetricFamily, "vigil_camera_reconnects", "Reconnect attempts.", lambda h: h.reconnects),
    (GaugeMetricFamily, "vigil_camera_up", "1 while streaming, else 0.", lambda h: int(h.state == CameraState.STREAMING)),
)


class SiteMetrics(Collector):
    """Alerts in the store by rule and status, and each camera's health while the pipeline runs."""

    def __init__(self, services: DashboardServices) -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        alerts = CounterMetricFamily("vigil_alerts", "Stored alerts by rule and status.", labels=["rule", "status"])
        for (rule, status), count in sorted(totals_by_rule_and_status(self._services.store).items()):
            alerts.add_metric([rule, status], count)
        yield alerts
        health = self._services.camera_health()
        if health is not None:
            yield from camera_health_families(health)


def camera_health_families(health: Mapping[str, CameraHealth]) -> Iterator[Metric]:
    """Each camera's rates, counts and state, one family per measure."""
    for kind, name, documentation, value in _CAMERA_METRICS:
        family = kind(name, documentation, labels=["camera"])
        for camera, camera_health in sorted(health.items()):
            family.add_metric([camera], value(camera_health))
        yield family


def register_metrics(app: Flask, services: DashboardServices) -> CollectorRegistry:
    """The app's registry (tests and several apps in one process stay apart): the site's series, the process's,
    and the pipeline's when `services.metrics` has them."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SiteMetrics(services))
    ProcessCollector(registry=registry)
    if services.metrics is not None:
        registry.register(services.metrics)
    app.extensions["vigil.metrics"] = registry
    return registry


def add_collector(app: Flask, collector: Collector) -> None:
    app.extensions["vigil.metrics"].register(collector)


def metrics_text() -> bytes:
    """The current app's /metrics, in the Prometheus text format 0.0.4."""
    return generate_latest(current_app.extensions["vigil.metrics"])
