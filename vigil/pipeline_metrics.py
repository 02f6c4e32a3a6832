"""/metrics of a running pipeline: detection, the live model, the alert writer, camera workers, recording and
notification sinks, as prometheus_client families read from the stages at each scrape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from vigil.pipeline import Pipeline


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _per(kind: type[Metric], name: str, documentation: str, label: str, values: dict[str, float]) -> Metric:
    """One family with a sample per `label` value."""
    family = kind(name, documentation, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)
    return family


class PipelineMetrics(Collector):
    """What `pipeline` measures, collected when /metrics is scraped (nothing is copied between scrapes)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    def collect(self) -> Iterator[Metric]:
        pipeline = self._pipeline
        yield from pipeline.detection.metric_families()
        if pipeline.model_watcher is not None:
            info = GaugeMetricFamily("vigil_detector_model_info", "The model version serving.", labels=["version"])
            info.add_metric([pipeline.model_watcher.serving], 1)
            yield info
        writer = pipeline.writer.stats()
        yield _gauge("vigil_alert_writer_queued", "Alert events waiting for the store.", writer.queued)
        yield _gauge("vigil_alert_writer_journal_pending", "Events in the journal, not yet stored.",
                     writer.pending_in_journal)
        yield CounterMetricFamily("vigil_alert_writer_journaled", "Events journaled while the store failed.",
                                  value=writer.journaled)
        yield _gauge("vigil_alert_writer_store_failing", "1 while the store fails writes.", int(writer.store_failing))
        yield _per(CounterMetricFamily, "vigil_camera_worker_overflow", "Frames a camera's worker queue refused.",
                   "camera", {camera: pipeline.workers.overflowed[camera] for camera in pipeline.config.cameras})
        recorders = [recorder.status() for recorder in pipeline.recorders]
        yield _per(GaugeMetricFamily, "vigil_recording_active", "1 while the camera is being recorded.", "camera",
                   {r.camera: int(r.recording) for r in recorders})
        yield _per(CounterMetricFamily, "vigil_recording_segments", "Segments recorded.", "camera",
                   {r.camera: r.segments for r in recorders})
        yield _per(CounterMetricFamily, "vigil_recording_bytes", "Bytes recorded.", "camera",
                   {r.camera: r.bytes for r in recorders})
        yield CounterMetricFamily("vigil_recording_unindexed", "Segments the index could not take in.",
                                  value=pipeline.keeper.overflowed)
        sinks = pipeline.notifier.states()
        backlog = GaugeMetricFamily("vigil_notify_backlog", "Events a sink has still to deliver.",
                                    labels=["sink", "kind"])
        for sink in sinks:
            backlog.add_metric([sink.name, sink.kind], sink.backlog)
        yield backlog
        for name, documentation, value in (
            ("vigil_notify_delivered", "Events delivered.", lambda s: s.delivered),
            ("vigil_notify_skipped", "Events a sink's filters, quiet hours or rate limit skipped.", lambda s: s.skipped),
            ("vigil_notify_failed", "Events given up on.", lambda s: s.failed),
            ("vigil_notify_attempts_failed", "Delivery attempts that failed.", lambda s: s.attempts_failed),
        ):
            yield _per(CounterMetricFamily, name, documentation, "sink", {s.name: value(s) for s in sinks})
        yield _per(GaugeMetricFamily, "vigil_notify_failing", "1 while a sink's deliveries fail.", "sink",
                   {s.name: int(s.failing) for s in sinks})
