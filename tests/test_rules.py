"""Every rule kind on synthetic track sequences (no model): fires exactly when it should."""

from __future__ import annotations

from datetime import UTC, datetime
from weakref import WeakKeyDictionary

import numpy as np
import supervision as sv

from alerts import AlertEnded, AlertEngine, AlertStarted, AlertUpdated, Severity
from alerts.line_crossing import LineCrossingRule
from alerts.occupancy import OccupancyRule
from alerts.presence import DwellRule, PresenceRule
from alerts.rule_base import Rule, RuleSettings
from alerts.schedule import Schedule
from alerts.site_shapes import CameraShapes, SiteShapes
from streamer import Frame

SIZE = 100
IMAGE = np.zeros((SIZE, SIZE, 3), np.uint8)
EPOCH = datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp()  # a Monday, 12:00 UTC


def frame(t: float, camera: str = "cam", epoch: float = EPOCH) -> Frame:
    return Frame(camera, int(t * 10), t, epoch + t, t, IMAGE)


def box_at(x: float, y: float, w: float = 6, h: float = 10) -> list[float]:
    """A box whose bottom centre is at (x, y) pixels."""
    return [x - w / 2, y - h, x + w / 2, y]


def objects(*items: tuple[int, str, float, list[float]]) -> sv.Detections:
    """Tracked detections from (track id, class name, score, xyxy)."""
    if not items:
        empty = sv.Detections.empty()
        empty.tracker_id = np.array([], int)
        empty.data["class_name"] = np.array([], str)
        return empty
    ids, names, scores, boxes = zip(*items, strict=True)
    return sv.Detections(
        xyxy=np.array(boxes, float),
        confidence=np.array(scores, float),
        class_id=np.zeros(len(items), int),
        tracker_id=np.array(ids),
        data={"class_name": np.array(names)},
    )


_ENGINES: WeakKeyDictionary[Rule, AlertEngine] = WeakKeyDictionary()


def engine_of(rule: Rule) -> AlertEngine:
    """The engine that runs `rule` alone in these tests, kept from call to call as the pipeline keeps its own."""
    engine = _ENGINES.get(rule)
    if engine is None:
        engine = _ENGINES[rule] = AlertEngine([rule], SiteShapes())
    return engine


def with_shapes(rule: Rule, **cameras: CameraShapes) -> Rule:
    """`rule`, which its test engine runs over these cameras' zones and lines."""
    _ENGINES[rule] = AlertEngine([rule], SiteShapes(cameras))
    return rule


def update(rule: Rule, at: Frame, detections: sv.Detections) -> list:
    return engine_of(rule).process(at, detections)


def run(rule, timeline, camera: str = "cam", epoch: float = EPOCH) -> list:
    events = []
    for t, detections in timeline:
        events += update(rule, frame(t, camera, epoch), detections)
    return events


def started(events) -> list:
    return [e.alert for e in events if isinstance(e, AlertStarted)]


def ended(events) -> list[str]:
    return [e.key for e in events if isinstance(e, AlertEnded)]


def settings(name: str = "r", **overrides) -> RuleSettings:
    return RuleSettings(name=name, classes=overrides.pop("classes", ["person"]), **overrides)


# A U-shaped (concave) zone: the notch x 0.4–0.6, y 0–0.6 is outside it.
U_ZONE = [[0.1, 0.1], [0.4, 0.1], [0.4, 0.6], [0.6, 0.6], [0.6, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
U_SHAPES = CameraShapes(zones={"u": U_ZONE})


def walk(track: int, points: list[tuple[float, float]], step: float = 0.2, score: float = 0.9, label: str = "person"):
    """A timeline of one track at the given bottom-centre pixel positions, one per `step` seconds."""
    return [(i * step, objects((track, label, score, box_at(x, y)))) for i, (x, y) in enumerate(points)]


def test_presence_without_zone_alerts_once_per_track_after_min_duration() -> None:
    rule = PresenceRule(settings(severity=Severity.CRITICAL), min_duration_s=1.0)
    events = run(rule, walk(7, [(50, 50)] * 11))
    [alert] = started(events)
    assert (alert.track_id, alert.kind, alert.severity, alert.zone) == (7, "presence", Severity.CRITICAL, None)
    assert alert.started_at == datetime.fromtimestamp(EPOCH + 1.0, UTC)


def test_presence_in_a_concave_zone_ignores_the_notch() -> None:
    rule = with_shapes(PresenceRule(settings(), min_duration_s=0.0, zone="u", inertia_frames=1), cam=U_SHAPES)
    in_notch = run(rule, walk(1, [(50, 30)] * 5))
    assert started(in_notch) == [], "the notch of the U is outside the zone"
    in_arm = run(rule, walk(2, [(20, 30)] * 2))
    assert [a.zone for a in started(in_arm)] == ["u"]


def test_zone_entry_and_exit_are_debounced_by_inertia() -> None:
    rule = with_shapes(PresenceRule(settings(cooldown_s=0), min_duration_s=0.0, zone="u", inertia_frames=3),
                       cam=U_SHAPES)
    inside, outside = (20, 50), (95, 95)
    flicker = run(rule, walk(1, [inside, inside, outside, inside, inside]))
    assert started(flicker) == [], "two frames inside, one out, two in: never 3 in a row"
    rule = with_shapes(PresenceRule(settings(cooldown_s=0), min_duration_s=0.0, zone="u", inertia_frames=3),
                       cam=U_SHAPES)
    events = run(rule, walk(1, [inside] * 3 + [outside, outside, inside] + [outside] * 3))
    assert len(started(events)) == 1
    [end] = [e for e in events if isinstance(e, AlertEnded)]
    assert end.pts == 8 * 0.2, "ends on the third frame outside in a row, not on the first"


def test_dwell_needs_continuous_time_in_the_zone_and_resets_on_exit() -> None:
    rule = with_shapes(DwellRule(settings(cooldown_s=0), min_duration_s=1.0, zone="u", inertia_frames=1), cam=U_SHAPES)
    inside, outside = (20, 50), (95, 95)
    short_visits = [inside] * 4 + [outside] + [inside] * 4 + [outside]
    assert started(run(rule, walk(3, short_visits))) == [], "0.6 s + 0.6 s is not 1 s in a row"
    rule = with_shapes(DwellRule(settings(cooldown_s=0), min_duration_s=1.0, zone="u", inertia_frames=1), cam=U_SHAPES)
    events = run(rule, walk(3, [inside] * 7 + [outside]))
    [alert] = started(events)
    assert (alert.kind, alert.details["dwell_s"]) == ("dwell", 1.0)
    assert ended(events) == [alert.key]


def test_track_state_is_pruned_when_the_track_is_gone() -> None:
    rule = with_shapes(DwellRule(settings(clear_after_s=1.0), min_duration_s=5.0, zone="u", inertia_frames=1),
                       cam=U_SHAPES)
    run(rule, walk(4, [(20, 50)] * 3))
    events = run(rule, [(5.0, objects())])
    camera = engine_of(rule)._cameras["cam"]
    assert camera.states[rule].alert_of == {} and camera.scene._last_seen == {} and camera.scene._first_seen == {}
    assert started(events) == []
    back = run(rule, [(5.2, objects((4, "person", 0.9, box_at(20, 50))))])
    assert started(back) == [], "back after the gap: a new entry at 5.2 s, not the one at 0 s"


def test_unconfirmed_tracks_other_classes_and_sizes_never_count() -> None:
    rule = PresenceRule(settings(max_area=0.05), min_duration_s=0.0)
    timeline = [
        (0.0, objects((-1, "person", 0.9, box_at(50, 50)))),
        (0.2, objects((2, "fallen_person", 0.9, box_at(50, 50)))),
        (0.4, objects((3, "person", 0.9, box_at(50, 90, w=40, h=40)))),
    ]
    assert started(run(rule, timeline)) == []
    assert len(started(update(rule, frame(0.6), objects((4, "person", 0.9, box_at(50, 50)))))) == 1


def test_the_median_score_filter_kills_a_one_frame_spike() -> None:
    rule = PresenceRule(settings(classes=["fallen_person"], min_score=0.7, score_window=5), min_duration_s=0.0)
    scores = [0.5, 0.55, 0.95, 0.5, 0.58, 0.52]
    timeline = [(i * 0.2, objects((1, "fallen_person", s, box_at(50, 50)))) for i, s in enumerate(scores)]
    assert started(run(rule, timeline)) == [], "one frame at 0.95 among ~0.5 is flicker"
    steady = [(2 + i * 0.2, objects((2, "fallen_person", 0.8, box_at(20, 50)))) for i in range(3)]
    assert len(started(run(rule, steady))) == 1


def test_a_class_threshold_replaces_min_score_for_that_class_only() -> None:
    rule = PresenceRule(settings(classes=["person", "fallen_person"], min_score=0.35,
                                 class_min_score={"fallen_person": 0.7}, score_window=1), min_duration_s=0.0)
    timeline = [(0.0, objects((1, "person", 0.41, box_at(20, 50)), (2, "fallen_person", 0.55, box_at(70, 50))))]
    assert [a.track_id for a in started(run(rule, timeline))] == [1], "a walker at 0.41 counts, a 0.55 fall does not"


def test_cooldown_is_per_rule_and_camera() -> None:
    rule = PresenceRule(settings(cooldown_s=10), min_duration_s=0.0)
    first = run(rule, [(0.0, objects((1, "person", 0.9, box_at(20, 50)))),
                       (1.0, objects((1, "person", 0.9, box_at(20, 50)), (2, "person", 0.9, box_at(70, 50))))])
    assert [a.track_id for a in started(first)] == [1]
    assert len(started(run(rule, [(1.0, objects((9, "person", 0.9, box_at(20, 50))))], camera="yard"))) == 1
    later = update(rule, frame(10.5), objects((1, "person", 0.9, box_at(20, 50)), (2, "person", 0.9, box_at(70, 50))))
    assert [a.track_id for a in started(later)] == [2]


def test_a_better_score_updates_the_snapshot_at_most_once_a_second() -> None:
    rule = PresenceRule(settings(score_window=1), min_duration_s=0.0)
    scores = [0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99]
    events = run(rule, [(i * 0.2, objects((1, "person", s, box_at(50, 50)))) for i, s in enumerate(scores)])
    updates = [e for e in events if isinstance(e, AlertUpdated)]
    assert [round(u.score, 2) for u in updates] == [0.97], "0.2 s steps: only the frame 1 s after the start qualifies"
    assert updates[0].frame.pts == 1.0


def vertical_line_rule(**kwargs) -> LineCrossingRule:
    rule = LineCrossingRule(settings(cooldown_s=0), line="door", **kwargs)
    return with_shapes(rule, cam=CameraShapes(lines={"door": [[0.5, 0.0], [0.5, 1.0]]}))


def test_line_crossing_both_directions_and_direction_filter() -> None:
    # The line runs top → bottom; its right-hand side (walking down the screen) is the left of the image.
    left_to_right = [(20, 50), (30, 50), (70, 50), (80, 50)]
    rule = vertical_line_rule(direction="both", min_crossing_frames=2)
    events = run(rule, walk(1, left_to_right) + [(t + 1, d) for t, d in walk(1, left_to_right[::-1])])
    crossings = started(events)
    assert [a.details["direction"] for a in crossings] == ["out", "in"]
    assert all(a.ended_at == a.started_at and a.line == "door" for a in crossings), "crossings are instantaneous"
    only_in = vertical_line_rule(direction="in", min_crossing_frames=2)
    events = run(only_in, walk(1, left_to_right) + [(t + 1, d) for t, d in walk(1, left_to_right[::-1])])
    assert [a.details["direction"] for a in started(events)] == ["in"]


def test_line_crossing_skips_straddling_boxes_and_needs_confirmation() -> None:
    rule = vertical_line_rule(min_crossing_frames=2)
    straddling = [(30, 50), (30, 50), (50, 50), (50, 50), (50, 50), (30, 50)]
    assert started(run(rule, walk(1, straddling))) == [], "a box on the line is on neither side"
    rule = vertical_line_rule(min_crossing_frames=2)
    jitter = [(30, 50), (30, 50), (70, 50), (30, 50), (70, 50), (30, 50)]
    assert started(run(rule, walk(2, jitter))) == [], "never two frames in a row on the far side"


def test_line_crossing_beyond_the_segment_end_does_not_count() -> None:
    rule = with_shapes(LineCrossingRule(settings(cooldown_s=0), line="gate", min_crossing_frames=1),
                       cam=CameraShapes(lines={"gate": [[0.5, 0.0], [0.5, 0.4]]}))
    below_the_segment = [(30, 80), (70, 80)]
    assert started(run(rule, walk(1, below_the_segment))) == []


def test_occupancy_needs_the_count_for_the_duration_and_ends_below_it() -> None:
    rule = with_shapes(OccupancyRule(settings(cooldown_s=0), zone="u", min_count=2, min_duration_s=0.4,
                                     inertia_frames=1), cam=U_SHAPES)
    two = objects((1, "person", 0.9, box_at(20, 50)), (2, "person", 0.8, box_at(80, 50)))
    one = objects((1, "person", 0.9, box_at(20, 50)))
    events = run(rule, [(0.0, one), (0.2, two), (0.4, two), (0.6, two), (0.8, one)])
    [alert] = started(events)
    assert (alert.kind, alert.count, alert.zone, alert.track_id) == ("occupancy", 2, "u", 1)
    assert alert.box == (17.0, 40.0, 83.0, 50.0), "the box encloses the crowd"
    assert alert.started_at == datetime.fromtimestamp(EPOCH + 0.6, UTC)
    assert ended(events) == [alert.key]


def test_schedule_outside_the_window_raises_nothing_and_ends_running_alerts() -> None:
    night = Schedule.parse(["sun"], "22:00", "06:00", "Europe/Paris")  # Sunday 22:00 to Monday 06:00, Paris time
    rule = PresenceRule(settings(schedule=night), min_duration_s=0.0)
    monday_noon = run(rule, walk(1, [(50, 50)] * 3))
    assert started(monday_noon) == []
    monday_0430_utc = datetime(2026, 11, 30, 4, 30, tzinfo=UTC).timestamp()  # 05:30 in Paris: inside the window
    events = run(rule, walk(2, [(50, 50)] * 2), epoch=monday_0430_utc)
    assert len(started(events)) == 1
    monday_0530_utc = datetime(2026, 11, 30, 5, 30, tzinfo=UTC).timestamp()  # 06:30 in Paris: disarmed
    after = update(rule, frame(9.0, epoch=monday_0530_utc - 9.0), objects((2, "person", 0.9, box_at(50, 50))))
    assert ended(after) == [started(events)[0].key] and started(after) == []


def test_engine_runs_only_the_rules_of_each_camera() -> None:
    zone_rule = PresenceRule(settings("z"), min_duration_s=0.0, zone="u", inertia_frames=1)
    engine = AlertEngine([zone_rule, PresenceRule(settings("all", cameras=["lobby"]), min_duration_s=0.0)],
                         SiteShapes({"gate": U_SHAPES}))
    assert [a.rule for a in started(engine.process(frame(0, "lobby"), objects((1, "person", 0.9, box_at(20, 50)))))] == ["all"]
    assert [a.rule for a in started(engine.process(frame(0, "gate"), objects((1, "person", 0.9, box_at(20, 50)))))] == ["z"]
    assert len(engine.close_all(datetime(2026, 1, 1, tzinfo=UTC))) == 2


def test_an_alert_ends_when_its_track_is_unseen_for_clear_after() -> None:
    rule = PresenceRule(settings(clear_after_s=1.0), min_duration_s=0.0)
    events = run(rule, [(0.0, objects((1, "person", 0.9, box_at(50, 50)))), (0.5, objects()), (0.9, objects())])
    assert ended(events) == [], "not gone long enough yet"
    [end] = [e for e in update(rule, frame(1.5), objects()) if isinstance(e, AlertEnded)]
    assert (end.key, end.pts) == (started(events)[0].key, 1.5)
    assert end.ended_at == datetime.fromtimestamp(EPOCH + 1.5, UTC)


def test_close_all_ends_open_alerts_at_their_camera_time() -> None:
    rule = PresenceRule(settings(cooldown_s=0), min_duration_s=0.0)
    opened = started(run(rule, [(2.0, objects((1, "person", 0.9, box_at(20, 50)), (2, "person", 0.9, box_at(70, 50))))]))
    closing = engine_of(rule).close_all(datetime(2026, 1, 1, tzinfo=UTC))
    assert sorted(e.key for e in closing) == sorted(a.key for a in opened)
    assert {(e.pts, e.ended_at) for e in closing} == {(2.0, datetime.fromtimestamp(EPOCH + 2.0, UTC))}, (
        "the camera's last frame, not the time of the shutdown")
    assert engine_of(rule).close_all(datetime(2026, 1, 1, tzinfo=UTC)) == []
