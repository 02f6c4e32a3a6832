"""Turns the `rules:` section into rule objects, and the cameras' zones and lines into the site's shapes."""

from __future__ import annotations

from alerts import DwellRule, LineCrossingRule, OccupancyRule, PresenceRule, Rule, RuleSettings
from alerts.site_shapes import CameraShapes, SiteShapes
from detector.score_profile import RuleThreshold
from vigil.config import VigilConfig
from vigil.rule_config import DwellRuleConfig, LineCrossingRuleConfig, OccupancyRuleConfig, PresenceRuleConfig, RuleConfig


def site_shapes(config: VigilConfig) -> SiteShapes:
    """Every camera's zones and lines as the config has them: the one copy the running pipeline reads and edits."""
    return SiteShapes({name: CameraShapes(camera.zones, camera.lines) for name, camera in config.cameras.items()})


def _settings(rule: RuleConfig, config: VigilConfig) -> RuleSettings:
    detector = config.detector
    return RuleSettings(
        name=rule.name,
        classes=rule.classes,
        min_score=detector.conf if rule.min_score is None else rule.min_score,
        class_min_score={} if rule.min_score is not None else {c: detector.rule_score(c) for c in rule.classes},
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
    match rule:
        case PresenceRuleConfig():
            return PresenceRule(
                _settings(rule, config), min_duration_s=rule.min_duration_s, zone=rule.zone,
                inertia_frames=rule.inertia_frames,
            )
        case DwellRuleConfig():
            return DwellRule(
                _settings(rule, config), min_duration_s=rule.min_dwell_s, zone=rule.zone,
                inertia_frames=rule.inertia_frames,
            )
        case LineCrossingRuleConfig():
            return LineCrossingRule(
                _settings(rule, config), line=rule.line, direction=rule.direction,
                min_crossing_frames=rule.min_crossing_frames,
            )
        case OccupancyRuleConfig():
            return OccupancyRule(
                _settings(rule, config), zone=rule.zone, min_count=rule.min_count,
                min_duration_s=rule.min_duration_s, inertia_frames=rule.inertia_frames,
            )
    raise TypeError(f"unknown rule config {type(rule).__name__}")


def build_rules(config: VigilConfig) -> list[Rule]:
    """The enabled rules, in config order."""
    return [build_rule(rule, config) for rule in config.rules if rule.enabled]


def class_thresholds(config: VigilConfig) -> dict[str, list[RuleThreshold]]:
    """Per class, each enabled rule on it with the score it asks for."""
    thresholds: dict[str, list[RuleThreshold]] = {}
    for rule in config.rules:
        if rule.enabled:
            for name in rule.classes:
                if rule.min_score is not None:
                    threshold = RuleThreshold(rule.name, rule.min_score)
                else:
                    threshold = RuleThreshold(rule.name, config.detector.rule_score(name),
                                              deliberate=name in config.detector.class_conf)
                thresholds.setdefault(name, []).append(threshold)
    return thresholds
