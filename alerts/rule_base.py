"""What every rule kind shares: object filters on the scene, cooldown, schedule, alert bookkeeping."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar

import numpy as np
import supervision as sv

from alerts.alert import Alert, AlertEnded, AlertStarted, AlertUpdated, RuleEvent, Severity
from alerts.geometry import Anchor
from alerts.scene import Scene
from alerts.schedule import Schedule
from alerts.site_shapes import CameraShapes
from alerts.watches import SceneShapes
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
    min_score: float = 0.35
    class_min_score: Mapping[str, float] = field(default_factory=dict)
    """Per class, a threshold that replaces `min_score`."""
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
class RunningAlert:
    """What a rule remembers of an alert it started and has not ended; the event's `Alert` stays as it was sent."""

    score: float
    """The best score sent so far, in the start or an update."""
    last_update_pts: float


@dataclass
class RuleState:
    """One camera's memory of one rule; subclasses add their own."""

    last_alert_pts: float | None = None
    open: dict[str, RunningAlert] = field(default_factory=dict)


def wall_datetime(frame: Frame) -> datetime:
    return datetime.fromtimestamp(frame.wall_time, UTC)


class Rule(ABC):
    """A rule reads each frame's scene of its cameras and says when alerts start, improve and end.

    Pure: no I/O and no clock; time is the frames' stream time (`pts`) and wall time. The rule holds its
    definition only: its zone or line by name, whose points are in the camera's shapes the engine passes in
    each frame; its memory of each camera is a `RuleState` the engine keeps and passes in. Subclasses
    implement `update` on the scene's tracks that pass the common filters (`_objects`).
    """

    kind: ClassVar[str]

    def __init__(self, settings: RuleSettings) -> None:
        self.settings = settings
        self.name = settings.name

    def applies_to(self, camera: str, shapes: CameraShapes) -> bool:
        """Whether the rule runs on `camera`, whose zones and lines are now `shapes`."""
        return self.settings.cameras is None or camera in self.settings.cameras

    def is_armed(self, when: datetime) -> bool:
        """Whether the rule's schedule arms it at the timezone-aware `when`."""
        return self.settings.schedule is None or self.settings.schedule.is_armed(when)

    def watched(self, shapes: CameraShapes) -> SceneShapes:
        """The zones and lines the rule reads among a camera's `shapes`, with their points."""
        return SceneShapes()

    def new_state(self) -> RuleState:
        return RuleState()

    @abstractmethod
    def update(self, state: RuleState, frame: Frame, scene: Scene) -> list[RuleEvent]:
        """Advance the rule by one armed frame of `frame.camera`, whose scene is `scene`."""

    def close(self, state: RuleState, ended_at: datetime, pts: float) -> list[RuleEvent]:
        """End every alert open in `state`, e.g. when the schedule disarms the rule or at shutdown."""
        return [event for key in list(state.open) for event in self._close(state, key, ended_at, pts)]

    def _objects(self, scene: Scene) -> sv.Detections:
        """The scene's tracks of the rule's classes and sizes whose median recent score is high enough."""
        s = self.settings
        tracks = scene.tracks
        keep = (
            np.isin(tracks.data["class_name"], s.classes)
            & (scene.areas >= s.min_area)
            & (scene.areas <= s.max_area)
            & (scene.medians[s.score_window] >= self._thresholds(tracks.data["class_name"]))
        )
        return tracks[keep]

    def _thresholds(self, class_names: np.ndarray) -> np.ndarray | float:
        s = self.settings
        if not s.class_min_score:
            return s.min_score
        return np.array([s.class_min_score.get(name, s.min_score) for name in class_names], dtype=float)

    def _gone(self, scene: Scene, track_id: int) -> bool:
        """The track has been unseen for longer than `clear_after_s` (or the scene has forgotten it)."""
        seen = scene.last_seen.get(track_id)
        return seen is None or scene.pts - seen > self.settings.clear_after_s

    def _cooling_down(self, state: RuleState, pts: float) -> bool:
        return state.last_alert_pts is not None and not lasted(state.last_alert_pts, pts, self.settings.cooldown_s)

    def _open(
        self,
        state: RuleState,
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
            state.open[alert.key] = RunningAlert(alert.score, frame.pts)
        return AlertStarted(alert, frame)

    def _improve(
        self, state: RuleState, key: str, frame: Frame, score: float, box: tuple[float, ...], details: dict
    ) -> list[RuleEvent]:
        """An AlertUpdated when this moment scores better than the alert's best, at most once a second."""
        running = state.open[key]
        if score <= running.score or not lasted(running.last_update_pts, frame.pts, SNAPSHOT_UPDATE_INTERVAL_S):
            return []
        running.score, running.last_update_pts = score, frame.pts
        return [AlertUpdated(key, score, tuple(box), frame, details)]

    def _close(self, state: RuleState, key: str, ended_at: datetime, pts: float) -> list[RuleEvent]:
        if state.open.pop(key, None) is None:
            return []
        return [AlertEnded(key, ended_at, pts)]
