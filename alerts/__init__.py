"""Rules that turn tracked detections into alerts, and the store that keeps them."""

from alerts.alert import Alert, AlertEnded, AlertStarted, AlertStatus, AlertUpdated, RuleEvent, Severity
from alerts.alert_filter import AlertFilter
from alerts.engine import AlertEngine
from alerts.line_crossing import LineCrossingRule
from alerts.occupancy import OccupancyRule
from alerts.presence import DwellRule, PresenceRule
from alerts.rule_base import Rule, RuleSettings
from alerts.store import AlertAction, AlertNotFound, AlertStore, InvalidTransition
from alerts.writer import AlertWriter

__all__ = [
    "Alert",
    "AlertAction",
    "AlertNotFound",
    "AlertEnded",
    "AlertEngine",
    "AlertFilter",
    "AlertStarted",
    "AlertStatus",
    "AlertStore",
    "AlertUpdated",
    "AlertWriter",
    "DwellRule",
    "InvalidTransition",
    "LineCrossingRule",
    "OccupancyRule",
    "PresenceRule",
    "Rule",
    "RuleEvent",
    "RuleSettings",
    "Severity",
]
