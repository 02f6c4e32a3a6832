"""Runs every rule that applies to a camera over each frame's scene, which it updates once per frame."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

import supervision as sv

from alerts.alert import RuleEvent
from alerts.arming import RuleArming
from alerts.occupancy import OccupancyRule
from alerts.rule_base import Rule, RuleState, wall_datetime
from alerts.scene import SceneState
from alerts.site_shapes import CameraShapes, SiteShapes
from alerts.watches import SceneShapes
from streamer import Frame


class AlertEngine:
    """Feeds frames to the rules, through one `SceneState` per camera.

    Each frame is judged against its camera's zones and lines as `shapes`
    holds them then, one snapshot for every rule, so an edit reaches all of
    them on the same frame. A camera's frames come from one thread at a
    time; different cameras may come from different threads at once. Each
    camera's scene and rule states are its own, so only finding a camera's
    memory takes a lock.

    Example:
        >>> from alerts.presence import PresenceRule
        >>> from alerts.rule_base import RuleSettings
        >>> engine = AlertEngine([PresenceRule(RuleSettings("p", ["person"]), min_duration_s=1.0)], SiteShapes())
        >>> engine.close_all(datetime.now())
        []
    """

    def __init__(self, rules: Sequence[Rule], shapes: SiteShapes, arming: RuleArming | None = None) -> None:
        self.rules = list(rules)
        self._shapes = shapes
        self._arming = arming
        """Rules disarmed on a camera by a command; without it every rule is armed (its schedule permitting)."""
        self._cameras: dict[str, CameraAlerts] = {}
        self._cameras_lock = threading.Lock()

    def process(self, frame: Frame, detections: sv.Detections) -> list[RuleEvent]:
        """Update `frame.camera`'s scene with its tracked `detections`, then run the camera's rules over it."""
        with self._cameras_lock:
            camera = self._cameras.get(frame.camera)
            if camera is None:
                camera = self._cameras[frame.camera] = CameraAlerts(frame.camera, self.rules, self._arming)
        return camera.process(frame, detections, self._shapes.of(frame.camera))

    def close_all(self, ended_at: datetime) -> list[RuleEvent]:
        """End every open alert, e.g. at shutdown, and forget every camera's memory."""
        with self._cameras_lock:
            cameras, self._cameras = list(self._cameras.values()), {}
        return [event for camera in cameras for event in camera.close_all(ended_at)]

    def zone_counts(self) -> dict[str, dict[str, int]]:
        """Per camera, each occupancy rule's zone and how many of its objects are inside now."""
        with self._cameras_lock:
            cameras = list(self._cameras.values())
        return {camera.camera: camera.zone_counts() for camera in cameras}


class CameraAlerts:
    """One camera's scene and each rule's state there; used by one thread at a time."""

    def __init__(self, camera: str, rules: Sequence[Rule], arming: RuleArming | None = None) -> None:
        self.camera = camera
        self.rules = tuple(rules)
        self._arming = arming
        self.scene = SceneState(
            score_windows={rule.settings.score_window for rule in rules},
            horizon_s=max((rule.settings.clear_after_s for rule in rules), default=0.0),
        )
        self.states: dict[Rule, RuleState] = {}
        """Each armed rule's state here; a rule disarmed or no longer applying ends its alerts and starts afresh."""
        self._last_pts = 0.0
        self._last_wall: datetime | None = None

    def process(self, frame: Frame, detections: sv.Detections, shapes: CameraShapes) -> list[RuleEvent]:
        """Run the rules over `frame`, whose camera's zones and lines are `shapes`."""
        applying = [rule for rule in self.rules if rule.applies_to(self.camera, shapes)]
        scene = self.scene.update(frame, detections, SceneShapes.union(rule.watched(shapes) for rule in applying))
        self._last_pts, now = frame.pts, wall_datetime(frame)
        self._last_wall = now
        events: list[RuleEvent] = []
        for rule in self.rules:
            if rule in applying and rule.is_armed(now) and self._armed(rule):
                state = self.states.get(rule)
                if state is None:
                    state = self.states[rule] = rule.new_state()
                events += rule.update(state, frame, scene)
            elif (state := self.states.pop(rule, None)) is not None:
                events += rule.close(state, now, frame.pts)
        return events

    def zone_counts(self) -> dict[str, int]:
        return {rule.zone: state.count for rule, state in list(self.states.items()) if isinstance(rule, OccupancyRule)}

    def _armed(self, rule: Rule) -> bool:
        return self._arming is None or self._arming.armed(self.camera, rule.settings.name)

    def close_all(self, ended_at: datetime) -> list[RuleEvent]:
        """End the alerts open on this camera at its last frame: its stream time, and its wall time (on a recorded
        file's own clock, as its footage), or `ended_at` before any frame."""
        states, self.states = self.states, {}
        at = self._last_wall or ended_at
        return [event for rule, state in states.items() for event in rule.close(state, at, self._last_pts)]
