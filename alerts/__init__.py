"""Rules that turn tracked detections into alerts, and the store that keeps them."""

from alerts.alert import Alert, AlertEnded, AlertStarted, AlertStatus, RuleEvent, Severity
from alerts.engine import AlertEngine
from alerts.presence import PresenceRule
from alerts.store import AlertStore
from alerts.writer import AlertWriter

__all__ = [
    "Alert",
    "AlertEnded",
    "AlertEngine",
    "AlertStarted",
    "AlertStatus",
    "AlertStore",
    "AlertWriter",
    "PresenceRule",
    "RuleEvent",
    "Severity",
]
