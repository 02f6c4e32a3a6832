"""Line crossing: a track's box passes from one side of a directed segment to the other."""

from __future__ import annotations

from alerts.alert import RuleEvent
from alerts.rule_base import Rule, RuleSettings, RuleState
from alerts.scene import Scene
from alerts.site_shapes import CameraShapes
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
        >>> rule = LineCrossingRule(RuleSettings("door", ["person"]), line="door")
        >>> rule.applies_to("gate", CameraShapes(lines={"door": [[0.5, 0], [0.5, 1]]}))
        True
        >>> rule.applies_to("lobby", CameraShapes(zones={"door": [[0, 0], [1, 0], [1, 1]]}))
        False
    """

    kind = "line_crossing"

    def __init__(
        self,
        settings: RuleSettings,
        *,
        line: str,
        direction: str = "both",
        min_crossing_frames: int = 2,
    ) -> None:
        super().__init__(settings)
        self.line = line
        self.direction = direction
        self._watch = LineWatch(line, settings.anchor, min_crossing_frames)

    def applies_to(self, camera: str, shapes: CameraShapes) -> bool:
        return super().applies_to(camera, shapes) and self.line in shapes.lines

    def watched(self, shapes: CameraShapes) -> SceneShapes:
        points = shapes.lines.get(self.line)
        return SceneShapes() if points is None else SceneShapes(lines={self._watch: points})

    def update(self, state: RuleState, frame: Frame, scene: Scene) -> list[RuleEvent]:
        objects = self._objects(scene)
        index_of = {track_id: i for i, track_id in enumerate(objects.tracker_id.tolist())}
        events: list[RuleEvent] = []
        for crossing in scene.crossings[self._watch]:
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
