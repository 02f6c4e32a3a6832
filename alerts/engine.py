"""Runs every rule that applies to a camera over each frame's tracked detections."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import supervision as sv

from alerts.alert import RuleEvent
from alerts.rule_base import Rule
from streamer import Frame


class AlertEngine:
    """Feeds frames to the rules; called from the batcher thread only.

    Example:
        >>> from alerts.presence import PresenceRule
        >>> from alerts.rule_base import RuleSettings
        >>> engine = AlertEngine([PresenceRule(RuleSettings("p", ["person"]), min_duration_s=1.0)])
        >>> engine.close_all(datetime.now())
        []
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)

    def process(self, frame: Frame, detections: sv.Detections) -> list[RuleEvent]:
        events: list[RuleEvent] = []
        for rule in self.rules:
            if rule.applies_to(frame.camera):
                events.extend(rule.update(frame, detections))
        return events

    def close_all(self, ended_at: datetime) -> list[RuleEvent]:
        return [event for rule in self.rules for event in rule.close_all(ended_at)]
