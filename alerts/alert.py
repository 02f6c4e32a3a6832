"""The alert type and the events rules emit about alerts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from collections.abc import Callable
from typing import Any

from streamer import Frame


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertStatus(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    FALSE_POSITIVE = "false_positive"


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a rule found worth an operator's attention; a value: changes are copies (`dataclasses.replace`).

    Example:
        >>> from dataclasses import replace
        >>> from datetime import UTC
        >>> seen = Alert("lobby", "seen", "presence", "person", 7, 0.8, Severity.INFO, datetime.now(UTC), (1, 2, 3, 4))
        >>> replace(seen, snapshot_path="a.jpg").snapshot_path, seen.snapshot_path
        ('a.jpg', None)
    """

    camera: str
    rule: str
    kind: str
    label: str
    track_id: int
    score: float
    severity: Severity
    started_at: datetime
    """Timezone-aware UTC."""
    box: tuple[float, float, float, float]
    """xyxy pixels of the object when the alert started."""
    ended_at: datetime | None = None
    status: AlertStatus = AlertStatus.NEW
    snapshot_path: str | None = None
    clip_path: str | None = None
    zone: str | None = None
    line: str | None = None
    count: int | None = None
    """Objects counted (occupancy rules)."""
    details: dict[str, Any] = field(default_factory=dict)
    """Rule-specific facts (dwell seconds, crossing direction, …), stored as JSON."""
    id: int | None = None
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Identifies the alert between rule and store before it has a database id."""

    def record(self, time_text: Callable[[datetime], str | None] = datetime.isoformat) -> dict[str, Any]:
        """The alert as JSON-ready values, the base of every form it takes (API, CLI, events, journal): its stored
        fields with details, times written by `time_text`; callers add media (as paths, URLs or flags) and the key."""
        return {
            "id": self.id,
            "camera": self.camera,
            "rule": self.rule,
            "kind": self.kind,
            "label": self.label,
            "track_id": self.track_id,
            "score": self.score,
            "severity": str(self.severity),
            "status": str(self.status),
            "started_at": time_text(self.started_at),
            "ended_at": None if self.ended_at is None else time_text(self.ended_at),
            "box": list(self.box),
            "zone": self.zone,
            "line": self.line,
            "count": self.count,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class AlertStarted:
    alert: Alert
    frame: Frame
    """The frame that triggered the alert, for its snapshot."""


@dataclass(frozen=True, slots=True)
class AlertUpdated:
    """A running alert saw a better-scoring moment; its snapshot should show this frame."""

    key: str
    score: float
    box: tuple[float, float, float, float]
    frame: Frame
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AlertEnded:
    key: str
    ended_at: datetime
    pts: float
    """Stream time of the end, for the clip's tail."""


RuleEvent = AlertStarted | AlertUpdated | AlertEnded
