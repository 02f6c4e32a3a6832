"""The `notify:` section: MQTT, webhooks and Apprise services, each with its own filters."""

from __future__ import annotations

import logging
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator, model_validator

from alerts.notify.events import EventKind
from vigil.rule_config import Name, ScheduleConfig

EventName = Literal["alert.started", "alert.updated", "alert.ended", "alert.status", "camera.health"]
_TOPIC_PREFIX = r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$"
MIN_SECRET_CHARS = 16


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SinkFilters(_Section):
    """What every sink may filter on; each filter left out lets everything through."""

    name: Name | None = None
    """Shown on the dashboard and in /metrics; defaults to mqtt, webhook-1, apprise-1, …"""
    events: list[EventName] | None = None
    rules: list[Name] | None = None
    cameras: list[Name] | None = None
    min_severity: Literal["info", "warning", "critical"] = "info"


class MqttTlsConfig(_Section):
    ca_file: str | None = None
    """The broker's CA; the system's CAs when left out."""
    cert_file: str | None = None
    key_file: str | None = None


class MqttConfig(SinkFilters):
    url: str
    """mqtt://[user:password@]host[:1883] or mqtts://… (TLS, port 8883); put the password in ${ENV}."""
    topic_prefix: str = Field("vigil", pattern=_TOPIC_PREFIX)
    discovery: bool = True
    """Publish Home Assistant discovery configs (retained)."""
    discovery_prefix: str = Field("homeassistant", pattern=_TOPIC_PREFIX)
    commands: bool = False
    """Obey commands (arm/disarm a rule, acknowledge an alert) on the topics `command_acl` allows."""
    command_acl: list[str] = Field(default_factory=list)
    """MQTT topic filters (+ and # allowed) of the commands obeyed, e.g. vigil/lobby/+/armed/set."""
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    client_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    """Defaults to vigil-<topic prefix>."""
    qos: Literal[1, 2] = 1
    tls: MqttTlsConfig | None = None
    """Certificates for mqtts:// (a client certificate is optional)."""
    state_interval_s: PositiveFloat = 5.0
    """How often each camera's retained state (status, fps, zone counts) is published."""

    @field_validator("url")
    @classmethod
    def _mqtt_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"unsupported scheme {parts.scheme!r}; use mqtt:// or mqtts://")
        try:
            parts.port
        except ValueError:
            raise ValueError("the port is not a number from 1 to 65535") from None
        if not parts.hostname:
            raise ValueError("no broker host")
        return url

    @field_validator("command_acl")
    @classmethod
    def _topic_filters(cls, filters: list[str]) -> list[str]:
        for entry in filters:
            levels = entry.split("/")
            if not entry or any(("+" in level or "#" in level) and level not in ("+", "#") for level in levels) \
                    or "#" in levels[:-1]:
                raise ValueError(f"{entry!r} is not an MQTT topic filter (+ stands for a whole level, # for the "
                                 "last ones)")
        return filters

    @model_validator(mode="after")
    def _commands_need_acl(self) -> MqttConfig:
        if self.commands and not self.command_acl:
            raise ValueError("command_acl: required when commands is true (the topics whose commands are obeyed)")
        outside = [f for f in self.command_acl if not (f.startswith(f"{self.topic_prefix}/") or f == "#")]
        if outside:
            raise ValueError(f"command_acl: {outside[0]!r} is outside the topic prefix {self.topic_prefix!r}")
        if self.tls is not None and urlsplit(self.url).scheme != "mqtts":
            raise ValueError("tls: certificates are for an mqtts:// url (TLS, port 8883 unless given)")
        return self

    def broker(self) -> tuple[str, int, bool, str | None, str | None]:
        """Host, port, TLS, user and password (percent-decoded: `p%40ss` is `p@ss`), from the URL."""
        parts = urlsplit(self.url)
        tls = parts.scheme == "mqtts"
        user, password = (None if v is None else unquote(v) for v in (parts.username, parts.password))
        return parts.hostname or "", parts.port or (8883 if tls else 1883), tls, user, password


class WebhookConfig(SinkFilters):
    url: str
    secret: str = Field(min_length=MIN_SECRET_CHARS)
    """The HMAC-SHA256 key receivers verify signatures with; put it in ${ENV}."""
    timeout_s: PositiveFloat = 5.0
    snapshot: bool = False
    """Send the alert's snapshot too, as multipart/form-data."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return url


class AppriseConfig(SinkFilters):
    url: str
    """An Apprise URL: mailtos://…, tgram://…, slack://…, matrix://…, ntfy://…, json://…"""
    rate_limit_per_min: PositiveInt | None = None
    """At most this many alert events per rule in any minute; the rest are skipped."""
    quiet_hours: ScheduleConfig | None = None
    """When nothing is sent here (events are skipped, not held): `{start: "23:00", end: "07:00", timezone: …}`, and
    optionally `days`; a window that crosses midnight belongs to the day it starts on."""

    @field_validator("quiet_hours")
    @classmethod
    def _window_given(cls, quiet: ScheduleConfig | None) -> ScheduleConfig | None:
        if quiet is not None and not {"start", "end"} <= quiet.model_fields_set:
            raise ValueError("give the window's start and end (HH:MM)")
        return quiet

    @field_validator("url")
    @classmethod
    def _known_service(cls, url: str) -> str:
        if "://" not in url:
            raise ValueError("must be an Apprise URL such as tgram://… or mailtos://…")
        import apprise  # only for configs that use it: it takes a fifth of a second to import

        apprise_log = logging.getLogger("apprise")
        apprise_log.disabled = True  # it would log the URL it cannot parse, token and all
        try:
            known = apprise.Apprise().add(url)
        finally:
            apprise_log.disabled = False
        if not known:
            scheme = url.split("://", 1)[0]
            raise ValueError(f"Apprise cannot use this URL (scheme {scheme[:20]!r}): unknown service, or a part of it "
                             "is missing or malformed")
        return url


class NotifyConfig(_Section):
    mqtt: MqttConfig | None = None
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    apprise: list[AppriseConfig] = Field(default_factory=list)
    dashboard_url: str | None = None
    """The dashboard's address as people reach it (https://vigil.example.org): links in messages go there."""
    keep_days: PositiveFloat = 7.0
    """Delivered events are kept this long (the alert pages show where each went)."""

    def sinks(self) -> list[tuple[str, str, SinkFilters]]:
        """(field path, sink name, config) of every sink."""
        found: list[tuple[str, str, SinkFilters]] = []
        if self.mqtt is not None:
            found.append(("notify.mqtt", self.mqtt.name or "mqtt", self.mqtt))
        found += [(f"notify.webhooks.{i}", hook.name or f"webhook-{i + 1}", hook)
                  for i, hook in enumerate(self.webhooks)]
        found += [(f"notify.apprise.{i}", service.name or f"apprise-{i + 1}", service)
                  for i, service in enumerate(self.apprise)]
        return found


DEFAULT_EVENTS: dict[type, frozenset[EventKind] | None] = {
    MqttConfig: None,
    WebhookConfig: None,
    AppriseConfig: frozenset({EventKind.ALERT_STARTED}),
}
"""What a sink is sent when its `events` is left out: everything, but only new alerts to people's phones."""


def notify_problems(notify: NotifyConfig, cameras: set[str], rules: set[str]) -> list[str]:
    """Filters naming cameras or rules the config lacks, and sink names used twice."""
    problems = []
    seen: set[str] = set()
    for where, name, sink in notify.sinks():
        problems += [f"{where}.cameras.{i}: unknown camera {c!r}" for i, c in enumerate(sink.cameras or [])
                     if c not in cameras]
        problems += [f"{where}.rules.{i}: unknown rule {r!r}" for i, r in enumerate(sink.rules or []) if r not in rules]
        if name in seen:
            problems.append(f"{where}.name: duplicate sink name {name!r}")
        seen.add(name)
    return problems
