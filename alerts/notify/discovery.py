"""Home Assistant MQTT discovery: the retained `config` of every entity Vigil publishes state for."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SiteEntities:
    """What Home Assistant is told of: cameras, the rules on each, and the zones occupancy rules count."""

    cameras: tuple[str, ...]
    rules: tuple[tuple[str, str], ...]
    """(camera, rule) for every rule that may alert on the camera."""
    counted_zones: tuple[tuple[str, str], ...]
    """(camera, zone) for every zone an occupancy rule counts."""


@dataclass(frozen=True, slots=True)
class Topics:
    """Where Vigil publishes under `prefix` (every name is config-checked to `[A-Za-z0-9_-]`)."""

    prefix: str

    @property
    def availability(self) -> str:
        return f"{self.prefix}/availability"

    @property
    def events(self) -> str:
        return f"{self.prefix}/events"

    def camera_status(self, camera: str) -> str:
        return f"{self.prefix}/{camera}/status"

    def camera_state(self, camera: str) -> str:
        return f"{self.prefix}/{camera}/state"

    def camera_snapshot(self, camera: str) -> str:
        return f"{self.prefix}/{camera}/snapshot"

    def zone_count(self, camera: str, zone: str) -> str:
        return f"{self.prefix}/{camera}/zones/{zone}/count"

    def rule_state(self, camera: str, rule: str) -> str:
        return f"{self.prefix}/{camera}/{rule}/state"

    def rule_attributes(self, camera: str, rule: str) -> str:
        return f"{self.prefix}/{camera}/{rule}/attributes"

    def rule_snapshot(self, camera: str, rule: str) -> str:
        return f"{self.prefix}/{camera}/{rule}/snapshot"

    def rule_armed(self, camera: str, rule: str) -> str:
        return f"{self.prefix}/{camera}/{rule}/armed"

    def rule_arm_command(self, camera: str, rule: str) -> str:
        return f"{self.prefix}/{camera}/{rule}/armed/set"

    def acknowledge_command(self, alert_id: int | str) -> str:
        return f"{self.prefix}/alerts/{alert_id}/acknowledge"


def discovery_configs(site: SiteEntities, topics: Topics, discovery_prefix: str,
                      with_switches: bool) -> dict[str, str]:
    """Topic → retained JSON config of each entity: a binary sensor per camera and rule, a count sensor per counted
    zone, an image of each camera's latest alert, a connectivity sensor per camera and one for Vigil itself, and a
    switch per camera and rule to arm it when commands are on.

    Example:
        >>> configs = discovery_configs(SiteEntities(("lobby",), (("lobby", "loiter"),), ()), Topics("vigil"),
        ...                             "homeassistant", with_switches=False)
        >>> sorted(configs)[:2]
        ['homeassistant/binary_sensor/vigil/running/config', 'homeassistant/binary_sensor/vigil_lobby/online/config']
        >>> loiter = json.loads(configs["homeassistant/binary_sensor/vigil_lobby/rule_loiter/config"])
        >>> loiter["state_topic"], loiter["unique_id"], loiter["default_entity_id"]
        ('vigil/lobby/loiter/state', 'vigil:lobby:rule:loiter', 'binary_sensor.vigil_lobby_loiter')
    """
    node = topics.prefix.replace("/", "_")
    available = {"availability_topic": topics.availability, "payload_available": "online",
                 "payload_not_available": "offline"}

    def device(camera: str | None) -> dict:
        if camera is None:
            return {"identifiers": [node], "name": "Vigil", "manufacturer": "Vigil", "model": "video analytics"}
        return {"identifiers": [f"{node}:{camera}"], "name": f"Vigil {camera}", "manufacturer": "Vigil",
                "model": "camera", "via_device": node}

    def entity(component: str, camera: str | None, kind: str, name: str | None, entity_id: str,
               fields: dict) -> tuple[str, str]:
        """One entity: in the topic, the camera is a level of its own (node) and `kind` prefixes the rule or zone
        name, so no two names can meet on one topic; the unique id is free text and keeps them apart too."""
        object_id = kind if name is None else f"{kind}_{name}"
        unique_id = ":".join(part for part in (node, camera, kind, name) if part is not None)
        config = {"unique_id": unique_id, "object_id": entity_id, "default_entity_id": f"{component}.{entity_id}",
                  "device": device(camera), **(available if camera is not None else {}), **fields}
        node_id = node if camera is None else f"{node}_{camera}"
        return (f"{discovery_prefix}/{component}/{node_id}/{object_id}/config",
                json.dumps(config, separators=(",", ":")))

    configs = [entity("binary_sensor", None, "running", None, node, {
        "name": "Running", "state_topic": topics.availability, "payload_on": "online", "payload_off": "offline",
        "device_class": "connectivity",
    })]
    for camera in site.cameras:
        configs += [
            entity("binary_sensor", camera, "online", None, f"{node}_{camera}_online", {
                "name": "Camera online", "state_topic": topics.camera_status(camera), "device_class": "connectivity",
                "value_template": "{{ 'ON' if value == 'online' else 'OFF' }}",
                "json_attributes_topic": topics.camera_state(camera),
            }),
            entity("image", camera, "last_alert", None, f"{node}_{camera}_last_alert", {
                "name": "Last alert", "image_topic": topics.camera_snapshot(camera), "content_type": "image/jpeg",
            }),
        ]
    for camera, rule in site.rules:
        configs.append(entity("binary_sensor", camera, "rule", rule, f"{node}_{camera}_{rule}", {
            "name": rule, "state_topic": topics.rule_state(camera, rule), "payload_on": "ON", "payload_off": "OFF",
            "json_attributes_topic": topics.rule_attributes(camera, rule),
        }))
        if with_switches:
            configs.append(entity("switch", camera, "armed", rule, f"{node}_{camera}_{rule}_armed", {
                "name": f"{rule} armed", "state_topic": topics.rule_armed(camera, rule),
                "command_topic": topics.rule_arm_command(camera, rule), "payload_on": "ON", "payload_off": "OFF",
            }))
    for camera, zone in site.counted_zones:
        configs.append(entity("sensor", camera, "zone", zone, f"{node}_{camera}_{zone}_count", {
            "name": f"{zone} count", "state_topic": topics.zone_count(camera, zone), "state_class": "measurement",
            "unit_of_measurement": "objects",
        }))
    return dict(configs)
