"""Which events a sink is sent: by kind, camera, rule and severity, then quiet hours and a per-rule rate limit."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import timedelta

from alerts.alert import Severity
from alerts.notify.events import ALERT_KINDS, EventKind, OutboxEvent
from alerts.schedule import Schedule

_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What a sink wants; None lets everything through. Rules and severity sort alert events only: a camera's
    health events pass them. A test event always passes.

    Example:
        >>> from datetime import UTC, datetime
        >>> event = OutboxEvent(1, "k", datetime.now(UTC), EventKind.ALERT_STARTED, "lobby", "loiter", "warning",
        ...                     7, {}, None, None)
        >>> EventFilter(min_severity=Severity.CRITICAL).reason(event)
        'severity warning is below critical'
        >>> EventFilter(cameras=frozenset({"lobby"})).reason(event) is None
        True
    """

    kinds: frozenset[EventKind] | None = None
    cameras: frozenset[str] | None = None
    rules: frozenset[str] | None = None
    min_severity: Severity = Severity.INFO

    def reason(self, event: OutboxEvent) -> str | None:
        """Why the sink is not sent `event`, or None when it is."""
        if event.kind is EventKind.TEST:
            return None
        if self.kinds is not None and event.kind not in self.kinds:
            return f"{event.kind} events are not sent here"
        if self.cameras is not None and event.camera not in self.cameras:
            return f"camera {event.camera} is not sent here"
        if event.kind not in ALERT_KINDS:
            return None
        if self.rules is not None and event.rule not in self.rules:
            return f"rule {event.rule} is not sent here"
        severity = Severity(event.severity)
        if _RANK[severity] < _RANK[self.min_severity]:
            return f"severity {severity} is below {self.min_severity}"
        return None


class Throttle:
    """Quiet hours, then at most `per_min` alert events of each kind per rule in any minute (so updates cannot use
    up the starts' budget), both by the events' own times (a backlog sent after an outage is judged as it
    happened). Stateful: ask once per event, in order.

    Example:
        >>> from datetime import UTC, datetime
        >>> throttle = Throttle(per_min=1)
        >>> at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
        >>> events = [OutboxEvent(i, str(i), at + timedelta(seconds=20 * i), EventKind.ALERT_STARTED, "lobby",
        ...                       "loiter", "warning", i, {}, None, None) for i in range(4)]
        >>> [throttle.reason(event) for event in events]
        [None, 'rate limit: 1 a minute for rule loiter', 'rate limit: 1 a minute for rule loiter', None]
    """

    def __init__(self, per_min: int | None = None, quiet: Schedule | None = None) -> None:
        self.per_min = per_min
        self.quiet = quiet
        self._sent: defaultdict[tuple[str | None, EventKind], deque] = defaultdict(deque)

    def reason(self, event: OutboxEvent) -> str | None:
        if event.kind is EventKind.TEST:
            return None
        if self.quiet is not None and self.quiet.is_armed(event.at):
            return "quiet hours"
        if self.per_min is None or event.kind not in ALERT_KINDS:
            return None
        sent = self._sent[event.rule, event.kind]
        while sent and sent[0] <= event.at - timedelta(minutes=1):
            sent.popleft()
        if len(sent) >= self.per_min:
            return f"rate limit: {self.per_min} a minute for rule {event.rule}"
        sent.append(event.at)
        return None
