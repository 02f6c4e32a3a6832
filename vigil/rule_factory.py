"""Turns the `rules:` section and the cameras' zones and lines into rule objects."""

from __future__ import annotations

from alerts import DwellRule, LineCrossingRule, OccupancyRule, PresenceRule, Rule, RuleSettings
from alerts.annotation import CameraShapes
from vigil.config import VigilConfig
from vigil.rule_config import DwellRuleConfig, LineCrossingRuleConfig, OccupancyRuleConfig, PresenceRuleConfig, RuleConfig


def camera_shapes(config: VigilConfig) -> dict[str, CameraShapes]:
    return {name: CameraShapes(zones=camera.zones, lines=camera.lines) for name, camera in config.cameras.items()}


def _settings(rule: RuleConfig) -> RuleSettings:
    return RuleSettings(
        name=rule.name,
        classes=rule.classes,
        min_score=rule.min_score,
        score_window=rule.score_window,
        min_area=rule.min_area,
        max_area=rule.max_area,
        cooldown_s=rule.cooldown_s,
        clear_after_s=rule.clear_after_s,
        severity=rule.severity,
        cameras=rule.cameras,
        schedule=rule.schedule.to_schedule() if rule.schedule else None,
        anchor=rule.anchor,
    )


def build_rule(rule: RuleConfig, config: VigilConfig) -> Rule:
    zones = {name: camera.zones[rule.zone] for name, camera in config.cameras.items() if rule.zone in camera.zones} \
        if getattr(rule, "zone", None) else {}
    match rule:
        case PresenceRuleConfig():
            return PresenceRule(
                _settings(rule), min_duration_s=rule.min_duration_s, zone=rule.zone, zones=zones,
                inertia_frames=rule.inertia_frames,
            )
        case DwellRuleConfig():
            return DwellRule(
                _settings(rule), min_duration_s=rule.min_dwell_s, zone=rule.zone, zones=zones,
                inertia_frames=rule.inertia_frames,
            )
        case LineCrossingRuleConfig():
            lines = {name: camera.lines[rule.line] for name, camera in config.cameras.items() if rule.line in camera.lines}
            return LineCrossingRule(
                _settings(rule), line=rule.line, lines=lines, direction=rule.direction,
                min_crossing_frames=rule.min_crossing_frames,
            )
        case OccupancyRuleConfig():
            return OccupancyRule(
                _settings(rule), zone=rule.zone, zones=zones, min_count=rule.min_count,
                min_duration_s=rule.min_duration_s, inertia_frames=rule.inertia_frames,
            )
    raise TypeError(f"unknown rule config {type(rule).__name__}")


def build_rules(config: VigilConfig) -> list[Rule]:
    """The enabled rules, in config order."""
    return [build_rule(rule, config) for rule in config.rules if rule.enabled]
