"""Occupancy: at least N tracked objects inside a zone for long enough."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import supervision as sv

from alerts.alert import RuleEvent
from alerts.geometry import in_polygon, scale_points
from alerts.rule_base import CameraState, Points, Rule, RuleSettings, lasted, wall_datetime, with_geometry
from alerts.track_state import ScoreHistory, ZonePresence
from streamer import Frame


@dataclass
class _OccupancyState(CameraState):
    zone: ZonePresence | None = None
    crowded_since: float | None = None
    open_key: str | None = None
    peak: int = 0


class OccupancyRule(Rule):
    """One alert while at least `min_count` tracks are inside `zone`, once that lasted `min_duration_s`.

    Membership is debounced by `inertia_frames`; the alert ends when the count
    drops below `min_count`. Its box encloses the objects inside; `count` is
    the count when it started and `details.peak` the highest seen.

    Example:
        >>> rule = OccupancyRule(RuleSettings("crowd", ["person"]), zone="hall", zones={"lobby": [[0, 0], [1, 0], [1, 1]]})
        >>> rule.min_count
        2
    """

    kind = "occupancy"

    def __init__(
        self,
        settings: RuleSettings,
        *,
        zone: str,
        zones: Mapping[str, Points],
        min_count: int = 2,
        min_duration_s: float = 1.0,
        inertia_frames: int = 3,
    ) -> None:
        super().__init__(settings)
        self.zone = zone
        self.min_count = min_count
        self.min_duration_s = min_duration_s
        self._zones = dict(zones)
        self._inertia_frames = inertia_frames

    def applies_to(self, camera: str) -> bool:
        return super().applies_to(camera) and camera in self._zones

    def set_shapes(self, camera: str, zones: Mapping[str, Points], lines: Mapping[str, Points]) -> None:
        self._zones = with_geometry(self._zones, camera, zones.get(self.zone))

    def _new_state(self, camera: str) -> _OccupancyState:
        return _OccupancyState(scores=ScoreHistory(self.settings.score_window), zone=ZonePresence(self._inertia_frames))

    def _evaluate(self, state: _OccupancyState, frame: Frame, objects: sv.Detections) -> list[RuleEvent]:
        points = self._zones.get(frame.camera)
        if points is None:  # the zone was removed from this camera since `applies_to` was asked
            return []
        height, width = frame.image.shape[:2]
        polygon = scale_points(points, width, height)
        state.zone.update(objects.tracker_id, in_polygon(self._anchors(objects), polygon))
        inside = np.isin(objects.tracker_id, list(state.zone.inside))
        count = int(inside.sum())
        if count < self.min_count:
            state.crowded_since = None
            return self._end(state, frame)
        if state.crowded_since is None:
            state.crowded_since = frame.pts
        crowd = objects[inside]
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

    def _forget_track(self, state: _OccupancyState, track_id: int, frame: Frame) -> list[RuleEvent]:
        state.zone.forget(track_id)
        return super()._forget_track(state, track_id, frame)
