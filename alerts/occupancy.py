"""Occupancy: at least N tracked objects inside a zone for long enough."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alerts.alert import RuleEvent
from alerts.rule_base import Rule, RuleSettings, RuleState, lasted, wall_datetime
from alerts.scene import Scene
from alerts.site_shapes import CameraShapes
from alerts.watches import SceneShapes, ZoneWatch
from streamer import Frame


@dataclass
class _OccupancyState(RuleState):
    crowded_since: float | None = None
    open_key: str | None = None
    peak: int = 0
    count: int = 0
    """Objects inside on the last frame."""


class OccupancyRule(Rule):
    """One alert while at least `min_count` tracks are inside `zone`, once that lasted `min_duration_s`.

    Counted are this frame's tracks that the scene has inside the zone
    (debounced by `inertia_frames`) and that pass the rule's filters; the
    alert ends when the count drops below `min_count`. Its box encloses the
    objects inside; `count` is the count when it started and `details.peak`
    the highest seen.

    Example:
        >>> rule = OccupancyRule(RuleSettings("crowd", ["person"]), zone="hall")
        >>> rule.min_count, rule.applies_to("lobby", CameraShapes(zones={"hall": [[0, 0], [1, 0], [1, 1]]}))
        (2, True)
    """

    kind = "occupancy"

    def __init__(
        self,
        settings: RuleSettings,
        *,
        zone: str,
        min_count: int = 2,
        min_duration_s: float = 1.0,
        inertia_frames: int = 3,
    ) -> None:
        super().__init__(settings)
        self.zone = zone
        self.min_count = min_count
        self.min_duration_s = min_duration_s
        self._watch = ZoneWatch(zone, settings.anchor, inertia_frames)

    def applies_to(self, camera: str, shapes: CameraShapes) -> bool:
        return super().applies_to(camera, shapes) and self.zone in shapes.zones

    def watched(self, shapes: CameraShapes) -> SceneShapes:
        points = shapes.zones.get(self.zone)
        return SceneShapes() if points is None else SceneShapes(zones={self._watch: points})

    def new_state(self) -> _OccupancyState:
        return _OccupancyState()

    def update(self, state: _OccupancyState, frame: Frame, scene: Scene) -> list[RuleEvent]:
        objects = self._objects(scene)
        crowd = objects[scene.zones[self._watch].contains(objects.tracker_id)]
        count = state.count = len(crowd)
        if count < self.min_count:
            state.crowded_since = None
            return self._end(state, frame)
        if state.crowded_since is None:
            state.crowded_since = frame.pts
        box = (*crowd.xyxy[:, :2].min(axis=0), *crowd.xyxy[:, 2:].max(axis=0))
        box = tuple(float(v) for v in box)
        best = int(np.argmax(crowd.confidence))
        state.peak = max(state.peak, count)
        details = {"peak": state.peak, "tracks": sorted(int(t) for t in crowd.tracker_id)}
        if state.open_key is not None:
            return self._improve(state, state.open_key, frame, float(crowd.confidence[best]), box, details)
        if not lasted(state.crowded_since, frame.pts, self.min_duration_s) or self._cooling_down(state, frame.pts):
            return []
        started = self._open(state, frame, crowd, best, box=box, zone=self.zone, count=count, details=details)
        state.open_key = started.alert.key
        return [started]

    def _end(self, state: _OccupancyState, frame: Frame) -> list[RuleEvent]:
        if state.open_key is None:
            return []
        key, state.open_key, state.peak = state.open_key, None, 0
        return self._close(state, key, wall_datetime(frame), frame.pts)
