"""Builds the notification sinks of `notify:` and tells them of the cameras' health."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from alerts.alert import Severity
from alerts.arming import RuleArming
from alerts.notify.apprise_sink import AppriseSink
from alerts.notify.commands import CommandHandler
from alerts.notify.delivery import Sink
from alerts.notify.discovery import SiteEntities
from alerts.notify.events import CameraStatus, EventKind
from alerts.notify.filters import EventFilter, Throttle
from alerts.notify.mqtt import CameraLive, MqttSettings, MqttSink
from alerts.notify.notifier import Notifier
from alerts.notify.outbox import Outbox
from alerts.notify.webhook import WebhookSink
from alerts.occupancy import OccupancyRule
from alerts.rule_base import Rule
from alerts.site_shapes import SiteShapes
from alerts.store import AlertStore
from alerts.store_writes import CameraStatusChanged
from streamer import CameraHealth, CameraState
from streamer.redaction import redact_text, redact_url
from vigil.config import VigilConfig
from vigil.notify_config import DEFAULT_EVENTS, AppriseConfig, MqttConfig, WebhookConfig, SinkFilters

log = logging.getLogger(__name__)

_STATUS = {CameraState.STREAMING: CameraStatus.ONLINE, CameraState.RECONNECTING: CameraStatus.OFFLINE,
           CameraState.FAILED: CameraStatus.OFFLINE, CameraState.ENDED: CameraStatus.STOPPED,
           CameraState.STOPPED: CameraStatus.STOPPED}
"""A reader's states as notifications tell of them; connecting (at start) says nothing yet."""


def camera_status(state: CameraState) -> CameraStatus | None:
    return _STATUS.get(state)


class CameraStatusEvents:
    """Turns health changes into one event per change of a camera's status (online, offline, stopped), not one per
    reconnect attempt; `submit` hands them to the store writer."""

    def __init__(self, submit: Callable[[list[CameraStatusChanged]], None]) -> None:
        self._submit = submit
        self._last: dict[str, CameraStatus] = {}

    def state_changed(self, camera: str, state: CameraState, error: str | None) -> None:
        status = camera_status(state)
        if status is None or self._last.get(camera) is status:
            return
        self._last[camera] = status
        error = None if status is CameraStatus.ONLINE or error is None else redact_text(error)[:500]
        self._submit([CameraStatusChanged(camera, status, datetime.now(UTC), error)])


def site_entities(config: VigilConfig, rules: Sequence[Rule], shapes: SiteShapes) -> SiteEntities:
    """The cameras, the rules that may alert on each, and the zones occupancy rules count."""
    cameras = tuple(config.cameras)
    pairs = tuple((camera, rule.settings.name) for camera in cameras for rule in rules
                  if rule.applies_to(camera, shapes.of(camera)))
    counted = tuple(sorted({(camera, rule.zone) for camera in cameras for rule in rules
                            if isinstance(rule, OccupancyRule) and rule.applies_to(camera, shapes.of(camera))}))
    return SiteEntities(cameras, pairs, counted)


def dashboard_address(config: VigilConfig) -> str:
    """Where links in messages point: `notify.dashboard_url`, or else the dashboard's own address."""
    if config.notify.dashboard_url:
        return config.notify.dashboard_url
    host = config.dashboard.host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"http://{host}:{config.dashboard.port}"


def build_notifier(config: VigilConfig, store: AlertStore, arming: RuleArming, site: SiteEntities, *,
                   health: Callable[[], Mapping[str, CameraHealth]],
                   zone_counts: Callable[[], Mapping[str, Mapping[str, int]]]) -> Notifier:
    """The notifier of every sink in `notify:` (none configured: a notifier with no workers)."""
    link = dashboard_address(config)
    sinks: list[Sink] = []
    targets: dict[str, str] = {}
    for _, name, sink_config in config.notify.sinks():
        events = event_filter(sink_config)
        match sink_config:
            case MqttConfig():
                sink = _mqtt_sink(name, sink_config, events, config, store, arming, site, health, zone_counts)
                targets[name] = redact_url(sink_config.url)
            case WebhookConfig():
                sink = WebhookSink(name, sink_config.url, sink_config.secret, events, timeout_s=sink_config.timeout_s,
                                   snapshot=sink_config.snapshot, dashboard_url=link)
                targets[name] = sink.origin
            case AppriseConfig():
                sink = AppriseSink(name, sink_config.url, events, _throttle(sink_config), dashboard_url=link)
                targets[name] = sink_config.url.split("://", 1)[0] + "://…"
        sinks.append(sink)
    return Notifier(Outbox(store.engine, store.media), sinks, targets, keep_days=config.notify.keep_days)


def event_filter(sink: SinkFilters) -> EventFilter:
    kinds = DEFAULT_EVENTS[type(sink)] if sink.events is None else frozenset(EventKind(e) for e in sink.events)
    return EventFilter(kinds=kinds, cameras=None if sink.cameras is None else frozenset(sink.cameras),
                       rules=None if sink.rules is None else frozenset(sink.rules),
                       min_severity=Severity(sink.min_severity))


def _throttle(service: AppriseConfig) -> Throttle:
    quiet = None if service.quiet_hours is None else service.quiet_hours.to_schedule()
    return Throttle(per_min=service.rate_limit_per_min, quiet=quiet)


def _mqtt_sink(name: str, mqtt: MqttConfig, events: EventFilter, config: VigilConfig, store: AlertStore,
               arming: RuleArming, site: SiteEntities, health: Callable[[], Mapping[str, CameraHealth]],
               zone_counts: Callable[[], Mapping[str, Mapping[str, int]]]) -> MqttSink:
    host, port, tls, username, password = mqtt.broker()
    settings = MqttSettings(
        host=host, port=port, username=username, password=password, tls=tls or mqtt.tls is not None,
        ca_file=mqtt.tls and mqtt.tls.ca_file, cert_file=mqtt.tls and mqtt.tls.cert_file,
        key_file=mqtt.tls and mqtt.tls.key_file, protocol=mqtt.protocol,
        client_id=mqtt.client_id or f"vigil-{mqtt.topic_prefix.replace('/', '-')}", topic_prefix=mqtt.topic_prefix,
        qos=mqtt.qos, discovery=mqtt.discovery, discovery_prefix=mqtt.discovery_prefix, commands=mqtt.commands,
        command_acl=tuple(mqtt.command_acl), state_interval_s=mqtt.state_interval_s,
    )
    commands = (CommandHandler(mqtt.topic_prefix, mqtt.command_acl, arming, store, site.rules)
                if mqtt.commands else None)
    counted: dict[str, list[str]] = {}
    for camera, zone in site.counted_zones:
        counted.setdefault(camera, []).append(zone)

    def live() -> dict[str, CameraLive]:
        counts = zone_counts()
        return {camera: CameraLive(str(camera_status(h.state) or "connecting"), h.fps_in, h.fps_out,
                                   {zone: counts.get(camera, {}).get(zone, 0) for zone in counted.get(camera, [])})
                for camera, h in health().items()}

    return MqttSink(name, settings, events, site, live=live, arming=arming, commands=commands)
