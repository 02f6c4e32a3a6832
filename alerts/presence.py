"""Presence and dwell: one track in view, or inside a zone, for long enough."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import supervision as sv

from alerts.geometry import in_polygon, scale_points
from alerts.rule_base import CameraState, Points, Rule, RuleSettings, lasted, wall_datetime, with_geometry
from alerts.alert import RuleEvent
from alerts.track_state import ScoreHistory, ZonePresence
from streamer import Frame


@dataclass
class _DurationState(CameraState):
    zone: ZonePresence | None = None
    since: dict[int, float] = field(default_factory=dict)
    """Stream time each qualifying track started to qualify."""
    alert_of: dict[int, str] = field(default_factory=dict)


class TrackDurationRule(Rule):
    """One alert per track that qualifies for `min_duration_s` of stream time.

    Without a zone a track qualifies while it is in view; with one, while its
    anchor is inside the zone (entering and leaving debounced by
    `inertia_frames`). Leaving resets the timer and ends the alert, and so
    does being unseen for `clear_after_s`.

    Example:
        >>> rule = PresenceRule(RuleSettings("seen", ["person"]), min_duration_s=1.0)
        >>> rule.kind, rule.applies_to("lobby")
        ('presence', True)
    """

    def __init__(
        self,
        settings: RuleSettings,
        *,
        min_duration_s: float,
        zone: str | None = None,
        zones: Mapping[str, Points] | None = None,
        inertia_frames: int = 3,
    ) -> None:
        super().__init__(settings)
        self.min_duration_s = min_duration_s
        self.zone = zone
        self._zones = dict(zones or {})
        self._inertia_frames = inertia_frames

    def applies_to(self, camera: str) -> bool:
        return super().applies_to(camera) and (self.zone is None or camera in self._zones)

    def set_shapes(self, camera: str, zones: Mapping[str, Points], lines: Mapping[str, Points]) -> None:
        if self.zone is not None:
            self._zones = with_geometry(self._zones, camera, zones.get(self.zone))

    def _new_state(self, camera: str) -> _DurationState:
        zone = ZonePresence(self._inertia_frames) if self.zone is not None else None
        return _DurationState(scores=ScoreHistory(self.settings.score_window), zone=zone)

    def _evaluate(self, state: _DurationState, frame: Frame, objects: sv.Detections) -> list[RuleEvent]:
        events: list[RuleEvent] = []
        track_ids = [int(t) for t in objects.tracker_id]
        if state.zone is None:
            qualifying = set(track_ids)
            for track_id in track_ids:
                state.since.setdefault(track_id, frame.pts)
        else:
            points = self._zones.get(frame.camera)
            if points is None:  # the zone was removed from this camera since `applies_to` was asked
                return []
            height, width = frame.image.shape[:2]
            polygon = scale_points(points, width, height)
            entered, left = state.zone.update(objects.tracker_id, in_polygon(self._anchors(objects), polygon))
            for track_id in left:
                state.since.pop(track_id, None)
                events += self._end_track_alert(state, track_id, frame)
            for track_id in entered:
                state.since[track_id] = frame.pts
            qualifying = set(state.zone.inside)
        for index, track_id in enumerate(track_ids):
            if track_id not in qualifying:
                continue
            duration = frame.pts - state.since[track_id]
            key = state.alert_of.get(track_id)
            if key is not None:
                box = tuple(float(v) for v in objects.xyxy[index])
                events += self._improve(state, key, frame, float(objects.confidence[index]), box, self._details(duration))
            elif lasted(state.since[track_id], frame.pts, self.min_duration_s) and not self._cooling_down(state, frame.pts):
                started = self._open(state, frame, objects, index, zone=self.zone, details=self._details(duration))
                state.alert_of[track_id] = started.alert.key
                events.append(started)
        return events

    def _details(self, duration_s: float) -> dict:
        return {"duration_s": round(duration_s, 2)}

    def _end_track_alert(self, state: _DurationState, track_id: int, frame: Frame) -> list[RuleEvent]:
        key = state.alert_of.pop(track_id, None)
        return [] if key is None else self._close(state, key, wall_datetime(frame), frame.pts)

    def _forget_track(self, state: _DurationState, track_id: int, frame: Frame) -> list[RuleEvent]:
        if state.zone is not None:
            state.zone.forget(track_id)
        state.since.pop(track_id, None)
        return super()._forget_track(state, track_id, frame) + self._end_track_alert(state, track_id, frame)


class PresenceRule(TrackDurationRule):
    """A tracked object of the rule's classes in view (or in `zone`) for `min_duration_s`."""

    kind = "presence"


class DwellRule(TrackDurationRule):
    """Loitering: a track inside `zone` for `min_duration_s` (the config's `min_dwell_s`)."""

    kind = "dwell"

    def _details(self, duration_s: float) -> dict:
        return {"dwell_s": round(duration_s, 2)}
