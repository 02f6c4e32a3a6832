"""Line crossing: a track's box passes from one side of a directed segment to the other."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import supervision as sv

from alerts.alert import RuleEvent
from alerts.geometry import line_sides, scale_points, within_segment_band
from alerts.rule_base import CameraState, Points, Rule, RuleSettings, with_geometry
from alerts.track_state import LineCrossings, ScoreHistory
from streamer import Frame


@dataclass
class _CrossingState(CameraState):
    crossings: LineCrossings | None = None


class LineCrossingRule(Rule):
    """An instantaneous alert each time a track crosses `line` in `direction`.

    A crossing counts when the whole box has moved to the other side, while
    the anchor is alongside the segment, confirmed on `min_crossing_frames`
    observations; boxes straddling the line are skipped. `in` is the move from
    the left-hand to the right-hand side of the line, seen from its start
    looking to its end on screen.

    Example:
        >>> rule = LineCrossingRule(RuleSettings("door", ["person"]), line="door", lines={"gate": [[0.5, 0], [0.5, 1]]})
        >>> rule.applies_to("gate"), rule.applies_to("lobby")
        (True, False)
    """

    kind = "line_crossing"

    def __init__(
        self,
        settings: RuleSettings,
        *,
        line: str,
        lines: Mapping[str, Points],
        direction: str = "both",
        min_crossing_frames: int = 2,
    ) -> None:
        super().__init__(settings)
        self.line = line
        self.direction = direction
        self._lines = dict(lines)
        self._min_crossing_frames = min_crossing_frames

    def applies_to(self, camera: str) -> bool:
        return super().applies_to(camera) and camera in self._lines

    def set_shapes(self, camera: str, zones: Mapping[str, Points], lines: Mapping[str, Points]) -> None:
        self._lines = with_geometry(self._lines, camera, lines.get(self.line))

    def _new_state(self, camera: str) -> _CrossingState:
        return _CrossingState(
            scores=ScoreHistory(self.settings.score_window), crossings=LineCrossings(self._min_crossing_frames)
        )

    def _evaluate(self, state: _CrossingState, frame: Frame, objects: sv.Detections) -> list[RuleEvent]:
        points = self._lines.get(frame.camera)
        if points is None:  # the line was removed from this camera since `applies_to` was asked
            return []
        height, width = frame.image.shape[:2]
        start, end = scale_points(points, width, height)
        sides = line_sides(objects.xyxy, start, end)
        in_band = within_segment_band(self._anchors(objects), start, end)
        index_of = {int(t): i for i, t in enumerate(objects.tracker_id)}
        events: list[RuleEvent] = []
        for track_id, direction in state.crossings.update(objects.tracker_id, sides, in_band):
            if self.direction not in ("both", direction) or self._cooling_down(state, frame.pts):
                continue
            events.append(
                self._open(
                    state, frame, objects, index_of[track_id], instant=True, line=self.line,
                    details={"direction": direction},
                )
            )
        return events

    def _forget_track(self, state: _CrossingState, track_id: int, frame: Frame) -> list[RuleEvent]:
        state.crossings.forget(track_id)
        return super()._forget_track(state, track_id, frame)
