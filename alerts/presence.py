"""The presence rule: an object of some class stays in view for a minimum time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import supervision as sv

from alerts.alert import Alert, AlertEnded, AlertStarted, RuleEvent, Severity
from streamer import Frame


@dataclass(slots=True)
class _Track:
    first_seen: float
    last_seen: float
    alert_key: str | None = None
    alerted: bool = False


@dataclass(slots=True)
class _CameraState:
    tracks: dict[int, _Track] = field(default_factory=dict)
    last_alert_pts: float | None = None


@dataclass
class PresenceRule:
    """Raises one alert per track present for `min_duration_s` seconds of stream time.

    Only confirmed tracks (`tracker_id >= 0`) of `classes` scoring at least
    `min_score` count. After an alert, the same camera raises no new alert
    for `cooldown_s`. An alert ends when its track has not been seen for
    `clear_after_s`. Pure: no I/O, time comes from the frames.

    Example:
        >>> rule = PresenceRule("person-seen", classes=["person"], min_duration_s=1.0)
        >>> rule.name, rule.kind
        ('person-seen', 'presence')
    """

    name: str
    classes: list[str]
    min_score: float = 0.5
    min_duration_s: float = 1.0
    cooldown_s: float = 30.0
    clear_after_s: float = 2.0
    severity: Severity = Severity.WARNING
    cameras: list[str] | None = None
    kind: str = field(default="presence", init=False)
    _state: dict[str, _CameraState] = field(default_factory=dict, init=False, repr=False)

    def applies_to(self, camera: str) -> bool:
        return self.cameras is None or camera in self.cameras

    def update(self, frame: Frame, detections: sv.Detections) -> list[RuleEvent]:
        """Advance the rule by one frame of `frame.camera` and say what started or ended."""
        state = self._state.setdefault(frame.camera, _CameraState())
        t = frame.pts
        events: list[RuleEvent] = []
        for i in np.flatnonzero(self._matching(detections)):
            track_id = int(detections.tracker_id[i])
            track = state.tracks.get(track_id)
            if track is None:
                track = state.tracks[track_id] = _Track(first_seen=t, last_seen=t)
            track.last_seen = t
            if track.alerted or t - track.first_seen < self.min_duration_s:
                continue
            if state.last_alert_pts is not None and t - state.last_alert_pts < self.cooldown_s:
                continue
            alert = self._new_alert(frame, detections, i, track_id)
            track.alerted, track.alert_key = True, alert.key
            state.last_alert_pts = t
            events.append(AlertStarted(alert, frame))
        ended_at = datetime.fromtimestamp(frame.wall_time, UTC)
        for track_id, track in list(state.tracks.items()):
            if t - track.last_seen > self.clear_after_s:
                if track.alert_key is not None:
                    events.append(AlertEnded(track.alert_key, ended_at))
                del state.tracks[track_id]
        return events

    def close_all(self, ended_at: datetime) -> list[RuleEvent]:
        """End every open alert, e.g. at shutdown."""
        events: list[RuleEvent] = [
            AlertEnded(track.alert_key, ended_at)
            for state in self._state.values()
            for track in state.tracks.values()
            if track.alert_key is not None
        ]
        self._state.clear()
        return events

    def _matching(self, detections: sv.Detections) -> np.ndarray:
        if len(detections) == 0 or detections.tracker_id is None:
            return np.zeros(len(detections), bool)
        return (
            np.isin(detections.data["class_name"], self.classes)
            & (detections.confidence >= self.min_score)
            & (detections.tracker_id >= 0)
        )

    def _new_alert(self, frame: Frame, detections: sv.Detections, i: int, track_id: int) -> Alert:
        return Alert(
            camera=frame.camera,
            rule=self.name,
            kind=self.kind,
            label=str(detections.data["class_name"][i]),
            track_id=track_id,
            score=float(detections.confidence[i]),
            severity=self.severity,
            started_at=datetime.fromtimestamp(frame.wall_time, UTC),
            box=tuple(float(v) for v in detections.xyxy[i]),
        )
