"""What every rule kind shares: object filters, median scores, cooldown, schedule, alert bookkeeping."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar

import numpy as np
import supervision as sv

from alerts.alert import Alert, AlertEnded, AlertStarted, AlertUpdated, RuleEvent, Severity
from alerts.geometry import Anchor, anchor_points
from alerts.schedule import Schedule
from alerts.track_state import ScoreHistory
from streamer import Frame

SNAPSHOT_UPDATE_INTERVAL_S = 1.0
"""A running alert's snapshot is replaced by a better-scoring frame at most this often."""
_TIME_TOLERANCE_S = 1e-6
"""Stream times are sums of float frame durations: 0.6 - 0.2 must count as 0.4."""


def lasted(since: float, now: float, seconds: float) -> bool:
    """True when the time from `since` to `now` reaches `seconds`, up to float rounding."""
    return now - since >= seconds - _TIME_TOLERANCE_S


@dataclass(frozen=True)
class RuleSettings:
    """The options every rule kind has; see the `rules:` section of the config."""

    name: str
    classes: list[str]
    min_score: float = 0.5
    score_window: int = 5
    min_area: float = 0.0
    max_area: float = 1.0
    cooldown_s: float = 30.0
    clear_after_s: float = 2.0
    severity: Severity = Severity.WARNING
    cameras: list[str] | None = None
    schedule: Schedule | None = None
    anchor: Anchor = "bottom_center"


@dataclass
class OpenAlert:
    alert: Alert
    last_update_pts: float


@dataclass
class CameraState:
    """One camera's memory of one rule; subclasses add their own."""

    scores: ScoreHistory
    last_seen: dict[int, float] = field(default_factory=dict)
    last_alert_pts: float | None = None
    open: dict[str, OpenAlert] = field(default_factory=dict)
    last_pts: float = 0.0
    last_wall_time: float = 0.0


Points = Sequence[Sequence[float]]


def with_geometry(geometry: Mapping[str, Points], camera: str, points: Points | None) -> dict[str, Points]:
    """A copy of a camera → points mapping with `camera` set to `points`, or left out when None.

    Rules swap in the copy whole, so the detection thread sees the old or the new mapping, never a half-edited one.
    """
    copy = {name: value for name, value in geometry.items() if name != camera}
    if points is not None:
        copy[camera] = list(points)
    return copy


def wall_datetime(frame: Frame) -> datetime:
    return datetime.fromtimestamp(frame.wall_time, UTC)


class Rule(ABC):
    """A rule watches tracked detections of its cameras and says when alerts start, improve and end.

    Pure: no I/O and no clock; time is the frames' stream time (`pts`) and wall time.
    Subclasses implement `_evaluate` on the objects that passed the common filters.
    """

    kind: ClassVar[str]

    def __init__(self, settings: RuleSettings) -> None:
        self.settings = settings
        self.name = settings.name
        self._states: dict[str, CameraState] = {}

    def applies_to(self, camera: str) -> bool:
        return self.settings.cameras is None or camera in self.settings.cameras

    def set_shapes(self, camera: str, zones: Mapping[str, Points], lines: Mapping[str, Points]) -> None:
        """Take `camera`'s edited zones and lines (name → points); rules without a zone or line ignore them."""

    def update(self, frame: Frame, detections: sv.Detections) -> list[RuleEvent]:
        """Advance the rule by one frame of `frame.camera`."""
        state = self._states.get(frame.camera)
        if state is None:
            state = self._states[frame.camera] = self._new_state(frame.camera)
        state.last_pts, state.last_wall_time = frame.pts, frame.wall_time
        schedule = self.settings.schedule
        if schedule is not None and not schedule.is_armed(wall_datetime(frame)):
            events = self._close_camera(state, wall_datetime(frame), frame.pts)
            self._states[frame.camera] = self._new_state(frame.camera)
            return events
        objects = self._objects(state, frame, detections)
        events = self._evaluate(state, frame, objects)
        return events + self._drop_lost_tracks(state, frame)

    def close_all(self, ended_at: datetime) -> list[RuleEvent]:
        """End every open alert, e.g. at shutdown."""
        events = [e for state in self._states.values() for e in self._close_camera(state, ended_at, state.last_pts)]
        self._states.clear()
        return events

    @abstractmethod
    def _new_state(self, camera: str) -> CameraState: ...

    @abstractmethod
    def _evaluate(self, state: CameraState, frame: Frame, objects: sv.Detections) -> list[RuleEvent]: ...

    def _forget_track(self, state: CameraState, track_id: int, frame: Frame) -> list[RuleEvent]:
        """A track is gone: drop its state and end what it kept open. Subclasses extend."""
        state.scores.forget(track_id)
        return []

    def _objects(self, state: CameraState, frame: Frame, detections: sv.Detections) -> sv.Detections:
        """Confirmed tracks of the rule's classes and sizes whose median recent score is high enough."""
        if len(detections) == 0 or detections.tracker_id is None:
            detections = sv.Detections.empty()
            detections.tracker_id = np.array([], dtype=int)
            detections.data["class_name"] = np.array([], dtype=str)
        s = self.settings
        height, width = frame.image.shape[:2]
        area = detections.box_area / float(width * height)
        keep = (
            (detections.tracker_id >= 0)
            & np.isin(detections.data["class_name"], s.classes)
            & (area >= s.min_area)
            & (area <= s.max_area)
        )
        objects = detections[keep]
        state.scores.add(objects.tracker_id, objects.confidence)
        for track_id in objects.tracker_id:
            state.last_seen[int(track_id)] = frame.pts
        medians = np.array([state.scores.median(int(t)) for t in objects.tracker_id], dtype=float)
        return objects[medians >= s.min_score]

    def _drop_lost_tracks(self, state: CameraState, frame: Frame) -> list[RuleEvent]:
        events: list[RuleEvent] = []
        for track_id, seen in list(state.last_seen.items()):
            if frame.pts - seen > self.settings.clear_after_s:
                del state.last_seen[track_id]
                events += self._forget_track(state, track_id, frame)
        return events

    def _cooling_down(self, state: CameraState, pts: float) -> bool:
        return state.last_alert_pts is not None and not lasted(state.last_alert_pts, pts, self.settings.cooldown_s)

    def _open(
        self,
        state: CameraState,
        frame: Frame,
        objects: sv.Detections,
        index: int,
        *,
        box: tuple[float, float, float, float] | None = None,
        instant: bool = False,
        **fields,
    ) -> AlertStarted:
        started_at = wall_datetime(frame)
        alert = Alert(
            camera=frame.camera,
            rule=self.name,
            kind=self.kind,
            label=str(objects.data["class_name"][index]),
            track_id=int(objects.tracker_id[index]),
            score=float(objects.confidence[index]),
            severity=self.settings.severity,
            started_at=started_at,
            box=box or tuple(float(v) for v in objects.xyxy[index]),
            ended_at=started_at if instant else None,
            **fields,
        )
        state.last_alert_pts = frame.pts
        if not instant:
            state.open[alert.key] = OpenAlert(alert, frame.pts)
        return AlertStarted(alert, frame)

    def _improve(
        self, state: CameraState, key: str, frame: Frame, score: float, box: tuple[float, ...], details: dict
    ) -> list[RuleEvent]:
        """An AlertUpdated when this moment scores better than the alert's best, at most once a second."""
        running = state.open[key]
        if score <= running.alert.score or not lasted(running.last_update_pts, frame.pts, SNAPSHOT_UPDATE_INTERVAL_S):
            return []
        running.alert.score, running.alert.box, running.last_update_pts = score, tuple(box), frame.pts
        return [AlertUpdated(key, score, tuple(box), frame, details)]

    def _close(self, state: CameraState, key: str, ended_at: datetime, pts: float) -> list[RuleEvent]:
        if state.open.pop(key, None) is None:
            return []
        return [AlertEnded(key, ended_at, pts)]

    def _close_camera(self, state: CameraState, ended_at: datetime, pts: float) -> list[RuleEvent]:
        return [event for key in list(state.open) for event in self._close(state, key, ended_at, pts)]

    def _anchors(self, objects: sv.Detections) -> np.ndarray:
        return anchor_points(objects.xyxy, self.settings.anchor)
