"""The MQTT sink: events, per-camera retained state, snapshots, Home Assistant discovery and commands, over one
paho-mqtt connection that reconnects by itself."""

from __future__ import annotations

import json
import logging
import queue
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import paho.mqtt.client as paho

from alerts.arming import RuleArming
from alerts.notify.commands import CommandHandler
from alerts.notify.delivery import PermanentFailure
from alerts.notify.discovery import SiteEntities, Topics, discovery_configs
from alerts.notify.events import EventKind, OutboxEvent, snapshot_of
from alerts.notify.filters import EventFilter

log = logging.getLogger(__name__)

_REFUSED_FOR_GOOD = frozenset({0x87, 0x90, 0x99})
"""MQTT 5 PUBACK reasons no retry can change: not authorised, topic name invalid, payload format invalid."""


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    protocol: str = "3.1.1"
    """"3.1.1" or "5"."""
    client_id: str = "vigil"
    topic_prefix: str = "vigil"
    qos: int = 1
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    commands: bool = False
    command_acl: tuple[str, ...] = ()
    state_interval_s: float = 5.0
    publish_timeout_s: float = 10.0
    keepalive_s: int = 30


@dataclass(frozen=True, slots=True)
class CameraLive:
    """A camera's live state, as its retained `state` topic carries it."""

    status: str
    fps_in: float
    fps_out: float
    zone_counts: Mapping[str, int] = field(default_factory=dict)


class MqttSink:
    """Publishes each event to `<prefix>/events` (QoS `qos`) and, for alerts, the retained per-rule topics (`state`
    ON/OFF, OFF once no alert of the rule is open on the camera; `attributes`; `snapshot`) and the camera's
    `snapshot`; camera health goes to `<camera>/status`.

    An event counts as delivered once the broker acknowledged every message of it. While connected it also
    publishes, retained: `<prefix>/availability` (online; the last will says offline), Home Assistant's discovery
    configs, each rule's `armed` state, and every `state_interval_s` each camera's `state` JSON and zone counts.
    With `commands` on, commands are read on their topics and handed to `commands`.
    """

    kind = "mqtt"
    retry_cap_s = 2.0
    """While disconnected a send fails at once, costing nothing: retry often, to resume soon after a reconnect."""

    def __init__(self, name: str, settings: MqttSettings, events: EventFilter, site: SiteEntities, *,
                 live: Callable[[], Mapping[str, CameraLive]], arming: RuleArming,
                 commands: CommandHandler | None = None) -> None:
        self.name = name
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self._filter = events
        self._site = site
        self._live = live
        self._armed = arming.armed
        self._commands = commands
        self._orders: queue.SimpleQueue[paho.MQTTMessage | None] = queue.SimpleQueue()
        """Commands received, obeyed by a thread of their own: they write to the database, which may be slow, and
        paho's network thread must keep answering the broker."""
        self._acks: dict[int, paho.ReasonCode] = {}
        self._acks_lock = threading.Lock()
        self._connected = threading.Event()
        self._refusal: str | None = None
        """Why the last connection failed (the broker refused it: bad password, not authorised; or it could not be
        reached), until one succeeds."""
        self._stopping = threading.Event()
        self._client = self._new_client()
        self._client.connect_async(settings.host, settings.port, keepalive=settings.keepalive_s)
        self._client.loop_start()
        self._state_thread = threading.Thread(target=self._publish_state_every_interval, name=f"{name}-state",
                                              daemon=True)
        self._state_thread.start()
        self._command_thread = threading.Thread(target=self._obey_commands, name=f"{name}-commands", daemon=True)
        self._command_thread.start()
        arming.listen(self.armed_changed)

    def skip_reason(self, event: OutboxEvent) -> str | None:
        return self._filter.reason(event)

    def send(self, event: OutboxEvent) -> None:
        if not self._connected.is_set():
            why = f": {self._refusal}" if self._refusal else ""
            raise ConnectionError(f"not connected to the broker {self.settings.host}:{self.settings.port}{why}")
        body = json.dumps(event.payload, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        messages: list[tuple[str, bytes | str, bool]] = [(self.topics.events, body, False)]
        if event.camera is not None and event.rule is not None:
            messages += self._alert_topics(event)
        elif event.kind is EventKind.CAMERA_HEALTH:
            messages.append((self.topics.camera_status(event.camera), event.payload["camera"]["status"], True))
        self._publish_all(messages)

    def armed_changed(self, camera: str, rule: str, armed: bool) -> None:
        """Publish a rule's new armed state (a command, or another change), when connected."""
        if self._connected.is_set():
            self._client.publish(self.topics.rule_armed(camera, rule), "ON" if armed else "OFF", qos=1, retain=True)

    def close(self) -> None:
        self._stopping.set()
        if self._connected.is_set():
            info = self._client.publish(self.topics.availability, "offline", qos=1, retain=True)
            info.wait_for_publish(timeout=2.0)
        self._client.disconnect()
        self._client.loop_stop()
        self._orders.put(None)
        self._state_thread.join(timeout=2.0)
        self._command_thread.join(timeout=2.0)

    def _alert_topics(self, event: OutboxEvent) -> list[tuple[str, bytes | str, bool]]:
        camera, rule = event.camera, event.rule
        alert = event.payload["alert"]
        messages: list[tuple[str, bytes | str, bool]] = []
        if event.kind is EventKind.ALERT_STARTED:
            messages.append((self.topics.rule_state(camera, rule), "ON", True))
        elif event.kind is EventKind.ALERT_ENDED and not event.payload.get("rule_open"):
            messages.append((self.topics.rule_state(camera, rule), "OFF", True))
        messages.append((self.topics.rule_attributes(camera, rule), json.dumps(alert, separators=(",", ":")), True))
        if (image := snapshot_of(event)) is not None:
            messages += [(self.topics.rule_snapshot(camera, rule), image, True),
                         (self.topics.camera_snapshot(camera), image, True)]
        return messages

    def _publish_all(self, messages: list[tuple[str, bytes | str, bool]]) -> None:
        """Publish, then wait for the broker's acknowledgement of each (QoS 1 and 2)."""
        infos = [self._client.publish(topic, payload, qos=self.settings.qos, retain=retain)
                 for topic, payload, retain in messages]
        for (topic, _, _), info in zip(messages, infos, strict=True):
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise ConnectionError(f"publishing to {topic}: {paho.error_string(info.rc)}")
            try:
                info.wait_for_publish(timeout=self.settings.publish_timeout_s)
            except (RuntimeError, ValueError) as error:
                raise ConnectionError(f"publishing to {topic}: {error}") from None
            if not info.is_published():
                raise TimeoutError(f"the broker did not acknowledge {topic} within "
                                   f"{self.settings.publish_timeout_s:g} s")
            with self._acks_lock:
                reason = self._acks.pop(info.mid, None)
            if reason is not None and reason.is_failure:  # MQTT 5: acknowledged, and refused
                if reason.value in _REFUSED_FOR_GOOD:
                    raise PermanentFailure(f"the broker refused {topic}: {reason}")
                raise ConnectionError(f"the broker refused {topic} for now: {reason}")

    def _new_client(self) -> paho.Client:
        settings = self.settings
        protocol = paho.MQTTv5 if settings.protocol == "5" else paho.MQTTv311
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=settings.client_id, protocol=protocol)
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            client.tls_set(ca_certs=settings.ca_file, certfile=settings.cert_file, keyfile=settings.key_file,
                           cert_reqs=ssl.CERT_REQUIRED)
        client.will_set(self.topics.availability, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_connect_fail = self._on_connect_fail
        return client

    def _on_connect_fail(self, _client, _userdata) -> None:
        if self._refusal is None:
            log.warning("MQTT broker %s:%d cannot be reached: retrying", self.settings.host, self.settings.port)
        self._refusal = "it cannot be reached (refused, unresolvable or silent)"

    def _on_publish(self, _client, _userdata, mid: int, reason_code: paho.ReasonCode, _properties) -> None:
        if reason_code.is_failure:
            with self._acks_lock:
                self._acks[mid] = reason_code

    def _on_connect(self, client: paho.Client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            refusal = f"it refused the connection ({reason_code})"
            if refusal != self._refusal:
                log.warning("MQTT broker %s:%d: %s", self.settings.host, self.settings.port, refusal)
            self._refusal = refusal
            return
        self._refusal = None
        client.publish(self.topics.availability, "online", qos=1, retain=True)
        if self.settings.discovery:
            for topic, config in discovery_configs(self._site, self.topics, self.settings.discovery_prefix,
                                                   with_switches=self._commands is not None).items():
                client.publish(topic, config, qos=1, retain=True)
        for camera, rule in self._site.rules:
            client.publish(self.topics.rule_armed(camera, rule), "ON" if self._armed(camera, rule) else "OFF",
                           qos=1, retain=True)
        if self._commands is not None:
            for topic in self._commands.subscriptions:
                client.subscribe(topic, qos=1)
        self._connected.set()
        log.info("MQTT connected to %s:%d", self.settings.host, self.settings.port)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._stopping.is_set():
            log.warning("MQTT disconnected from %s:%d (%s): reconnecting", self.settings.host, self.settings.port,
                        reason_code)

    def _on_message(self, _client, _userdata, message: paho.MQTTMessage) -> None:
        if self._commands is not None and not message.retain:  # a retained command is an old one, not an order
            self._orders.put(message)

    def _obey_commands(self) -> None:
        while (message := self._orders.get()) is not None:
            try:
                self._commands.handle(message.topic, message.payload)
            except Exception:
                log.exception("MQTT command on %s failed", message.topic[:200])

    def _publish_state_every_interval(self) -> None:
        while not self._stopping.wait(self.settings.state_interval_s):
            if not self._connected.is_set():
                continue
            try:
                cameras = self._live()
            except Exception:
                log.exception("MQTT: reading the cameras' state failed")
                continue
            for camera, live in cameras.items():
                state = {"status": live.status, "fps_in": round(live.fps_in, 2), "fps_out": round(live.fps_out, 2),
                         "zones": dict(live.zone_counts)}
                self._client.publish(self.topics.camera_state(camera), json.dumps(state), qos=0, retain=True)
                self._client.publish(self.topics.camera_status(camera), live.status, qos=0, retain=True)
                for zone, count in live.zone_counts.items():
                    self._client.publish(self.topics.zone_count(camera, zone), str(count), qos=0, retain=True)
