"""Presence and dwell: one track in view, or inside a zone, for long enough."""

from __future__ import annotations

from dataclasses import dataclass, field

from alerts.alert import RuleEvent
from alerts.rule_base import Rule, RuleSettings, RuleState, lasted, wall_datetime
from alerts.scene import Scene
from alerts.site_shapes import CameraShapes
from alerts.watches import SceneShapes, ZoneWatch
from streamer import Frame


@dataclass
class _DurationState(RuleState):
    alert_of: dict[int, str] = field(default_factory=dict)
    """The open alert of each track that has one."""


class TrackDurationRule(Rule):
    """One alert per track that qualifies for `min_duration_s` of stream time.

    Without a zone a track counts from when the scene first saw it; with
    one, from when the scene confirmed its anchor inside the zone (entering
    and leaving debounced by `inertia_frames`), so every rule on that zone
    agrees on it. An alert starts on a frame where the track also passes the
    rule's filters. Leaving ends it, and so does being unseen for
    `clear_after_s`.

    Example:
        >>> rule = PresenceRule(RuleSettings("seen", ["person"]), min_duration_s=1.0)
        >>> rule.kind, rule.applies_to("lobby", CameraShapes())
        ('presence', True)
    """

    def __init__(
        self,
        settings: RuleSettings,
        *,
        min_duration_s: float,
        zone: str | None = None,
        inertia_frames: int = 3,
    ) -> None:
        super().__init__(settings)
        self.min_duration_s = min_duration_s
        self.zone = zone
        self._watch = ZoneWatch(zone, settings.anchor, inertia_frames) if zone is not None else None

    def applies_to(self, camera: str, shapes: CameraShapes) -> bool:
        return super().applies_to(camera, shapes) and (self.zone is None or self.zone in shapes.zones)

    def watched(self, shapes: CameraShapes) -> SceneShapes:
        if self._watch is None or self._watch.zone not in shapes.zones:
            return SceneShapes()
        return SceneShapes(zones={self._watch: shapes.zones[self._watch.zone]})

    def new_state(self) -> _DurationState:
        return _DurationState()

    def update(self, state: _DurationState, frame: Frame, scene: Scene) -> list[RuleEvent]:
        since = scene.first_seen if self._watch is None else scene.zones[self._watch].inside
        events: list[RuleEvent] = []
        for track_id in [t for t in state.alert_of if t not in since or self._gone(scene, t)]:
            events += self._close(state, state.alert_of.pop(track_id), wall_datetime(frame), frame.pts)
        objects = self._objects(scene)
        for index, track_id in enumerate(objects.tracker_id.tolist()):
            if track_id not in since:
                continue
            duration = frame.pts - since[track_id]
            key = state.alert_of.get(track_id)
            if key is not None:
                box = tuple(float(v) for v in objects.xyxy[index])
                events += self._improve(state, key, frame, float(objects.confidence[index]), box, self._details(duration))
            elif lasted(since[track_id], frame.pts, self.min_duration_s) and not self._cooling_down(state, frame.pts):
                started = self._open(state, frame, objects, index, zone=self.zone, details=self._details(duration))
                state.alert_of[track_id] = started.alert.key
                events.append(started)
        return events

    def _details(self, duration_s: float) -> dict:
        return {"duration_s": round(duration_s, 2)}


class PresenceRule(TrackDurationRule):
    """A tracked object of the rule's classes in view (or in `zone`) for `min_duration_s`."""

    kind = "presence"


class DwellRule(TrackDurationRule):
    """Loitering: a track inside `zone` for `min_duration_s` (the config's `min_dwell_s`)."""

    kind = "dwell"

    def _details(self, duration_s: float) -> dict:
        return {"dwell_s": round(duration_s, 2)}
