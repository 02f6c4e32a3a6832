"""Line crossing: a track's box passes from one side of a directed segment to the other."""

from __future__ import annotations

from collections.abc import Mapping

from alerts.alert import RuleEvent
from alerts.rule_base import Points, Rule, RuleSettings, RuleState, copy_geometry, with_geometry
from alerts.scene import Scene
from alerts.watches import LineWatch, SceneShapes
from streamer import Frame


class LineCrossingRule(Rule):
    """An instantaneous alert each time a track crosses `line` in `direction`.

    The scene confirms crossings for every track: the whole box has moved to
    the other side, while the anchor is alongside the segment, on
    `min_crossing_frames` observations; boxes straddling the line are
    skipped. Rules with other directions or filters on the same line share
    those crossings. `in` is the move from the left-hand to the right-hand
    side of the line, seen from its start looking to its end on screen.

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
        self._lines = copy_geometry(lines)
        self._watch = LineWatch(line, settings.anchor, min_crossing_frames)

    def applies_to(self, camera: str) -> bool:
        return super().applies_to(camera) and camera in self._lines

    def set_shapes(self, camera: str, zones: Mapping[str, Points], lines: Mapping[str, Points]) -> None:
        self._lines = with_geometry(self._lines, camera, lines.get(self.line))

    def watched(self, camera: str) -> SceneShapes:
        points = self._lines.get(camera)
        return SceneShapes() if points is None else SceneShapes(lines={self._watch: tuple(points)})

    def update(self, state: RuleState, frame: Frame, scene: Scene) -> list[RuleEvent]:
        crossings = scene.crossings.get(self._watch)
        if crossings is None:  # the line was removed from this camera since `applies_to` was asked
            return []
        objects = self._objects(scene)
        index_of = {track_id: i for i, track_id in enumerate(objects.tracker_id.tolist())}
        events: list[RuleEvent] = []
        for crossing in crossings:
            index = index_of.get(crossing.track_id)
            wanted = index is not None and self.direction in ("both", crossing.direction)
            if not wanted or self._cooling_down(state, frame.pts):
                continue
            events.append(
                self._open(
                    state, frame, objects, index, instant=True, line=self.line,
                    details={"direction": crossing.direction},
                )
            )
        return events
