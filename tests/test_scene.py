"""The per-camera scene: computed once a frame for all rules, shared zones and crossings, lost tracks, frozen events."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, datetime

import numpy as np
import pytest
import supervision as sv

import alerts.scene
from alerts import AlertEngine, AlertUpdated
from alerts.line_crossing import LineCrossingRule
from alerts.occupancy import OccupancyRule
from alerts.presence import DwellRule, PresenceRule
from alerts.scene import Crossing, SceneState
from alerts.site_shapes import CameraShapes, SiteShapes
from alerts.watches import LineWatch, SceneShapes, ZoneWatch
from tests.test_rules import U_SHAPES, U_ZONE, box_at, ended, frame, objects, settings, started, walk

INSIDE, OUTSIDE = (20, 50), (95, 95)
U_POLYGON = tuple(tuple(point) for point in U_ZONE)


def spy_on_scenes(monkeypatch: pytest.MonkeyPatch, rule) -> list:
    """The scenes `rule` is given, in order."""
    seen = []
    update = rule.update

    def recording(state, at, scene):
        seen.append(scene)
        return update(state, at, scene)

    monkeypatch.setattr(rule, "update", recording)
    return seen


def count_calls(monkeypatch: pytest.MonkeyPatch, owner, name: str) -> list:
    calls = []
    original = getattr(owner, name)

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


def test_two_rules_on_one_zone_agree_on_who_is_inside_and_since_when(monkeypatch) -> None:
    # Track 1 is a person whose median score (0.5) passes the dwell rule's 0.4 but not the crowd rule's 0.6;
    # track 2 is a bicycle, which only the crowd rule looks at. Before, each rule debounced only what passed
    # its own filters, so the two disagreed about who was in the zone.
    dwell = DwellRule(settings("loiter", min_score=0.4, cooldown_s=0), min_duration_s=0.4, zone="u",
                      inertia_frames=2)
    crowd = OccupancyRule(settings("bikes", classes=["bicycle"], min_score=0.6, cooldown_s=0), zone="u",
                          min_count=1, min_duration_s=0.0, inertia_frames=2)
    engine = AlertEngine([dwell, crowd], SiteShapes({"cam": U_SHAPES}))
    dwell_scenes, crowd_scenes = spy_on_scenes(monkeypatch, dwell), spy_on_scenes(monkeypatch, crowd)
    triggers = count_calls(monkeypatch, sv.PolygonZone, "trigger")
    built = count_calls(monkeypatch, alerts.scene, "polygon_zone")
    person, bike = (1, "person", 0.5, box_at(*INSIDE)), (2, "bicycle", 0.9, box_at(30, 60))
    timeline = [(0.0, objects(person)), (0.2, objects(person, bike)), (0.4, objects(person, bike)),
                (0.6, objects(person, bike))]
    events = [e for t, detections in timeline for e in engine.process(frame(t), detections)]

    watch = ZoneWatch("u", "bottom_center", 2)
    assert [dict(s.zones[watch].inside) for s in dwell_scenes] == [{}, {1: 0.2}, {1: 0.2, 2: 0.4}, {1: 0.2, 2: 0.4}]
    assert [s.zones[watch] for s in dwell_scenes] == [s.zones[watch] for s in crowd_scenes]
    assert len(triggers) == len(timeline) and len(built) == 1, "one polygon test a frame, one mask for the run"
    by_rule = {a.rule: a for a in started(events)}
    assert by_rule["loiter"].track_id == 1 and by_rule["loiter"].details["dwell_s"] == 0.4
    assert (by_rule["bikes"].track_id, by_rule["bikes"].count) == (2, 1), "the person is inside, but not a bicycle"


def test_rules_with_other_inertia_read_their_own_consistent_membership() -> None:
    quick, slow = ZoneWatch("u", inertia_frames=1), ZoneWatch("u", inertia_frames=3)
    scene = SceneState(horizon_s=5.0)
    shapes = SceneShapes(zones={quick: U_POLYGON, slow: U_POLYGON})
    scenes = [scene.update(frame(t), d, shapes) for t, d in walk(1, [INSIDE] * 3 + [OUTSIDE] * 3)]
    assert [set(s.zones[quick].entered) for s in scenes] == [{1}, set(), set(), set(), set(), set()]
    assert [set(s.zones[slow].entered) for s in scenes] == [set(), set(), {1}, set(), set(), set()]
    assert [set(s.zones[quick].left) for s in scenes] == [set(), set(), set(), {1}, set(), set()]
    assert [set(s.zones[slow].left) for s in scenes] == [set(), set(), set(), set(), set(), {1}]
    assert (dict(scenes[2].zones[quick].inside), dict(scenes[2].zones[slow].inside)) == ({1: 0.0}, {1: 0.4})


def test_scores_of_every_confirmed_track_whatever_the_rules_look_at() -> None:
    scene = SceneState(score_windows=[1, 3])
    for t, score in [(0.0, 0.2), (0.2, 0.9), (0.4, 0.8)]:
        tracked = objects((5, "car", score, box_at(*INSIDE)), (-1, "person", 0.9, box_at(*INSIDE)))
        latest = scene.update(frame(t), tracked, SceneShapes())
    assert latest.tracks.tracker_id.tolist() == [5], "an unconfirmed track is ignored"
    assert latest.medians[1].tolist() == [0.8] and latest.medians[3].tolist() == [0.8]
    assert latest.areas.tolist() == [pytest.approx(60 / 100**2)]


def test_tracks_unseen_past_the_horizon_are_reported_lost_and_forgotten() -> None:
    door = ZoneWatch("u", inertia_frames=1)
    scene = SceneState(horizon_s=1.0)
    shapes = SceneShapes(zones={door: U_POLYGON})
    scene.update(frame(0.0), objects((7, "person", 0.9, box_at(*INSIDE)), (8, "person", 0.9, box_at(*INSIDE))), shapes)
    kept = scene.update(frame(1.0), objects((8, "person", 0.9, box_at(*INSIDE))), shapes)
    assert kept.lost == frozenset() and set(kept.zones[door].inside) == {7, 8}, "1 s unseen is not more than 1 s"
    gone = scene.update(frame(1.2), objects(), shapes)
    assert gone.lost == {7} and set(gone.last_seen) == {8} and set(gone.first_seen) == {8}
    assert set(gone.zones[door].inside) == {8} and gone.zones[door].left == frozenset(), "lost is not leaving"
    assert scene.update(frame(2.2), objects(), shapes).lost == {8}
    back = scene.update(frame(2.4), objects((7, "person", 0.9, box_at(*INSIDE))), shapes)
    assert (back.first_seen, dict(back.zones[door].inside)) == ({7: 2.4}, {7: 2.4}), "back: a new track to the scene"


def test_each_rule_ends_alerts_after_its_own_clear_after_within_the_scene_horizon() -> None:
    brief = PresenceRule(settings("brief", clear_after_s=0.5), min_duration_s=0.0)
    patient = PresenceRule(settings("patient", clear_after_s=2.0), min_duration_s=0.0)
    engine = AlertEngine([brief, patient], SiteShapes())
    opened = {a.rule: a.key for a in started(engine.process(frame(0.0), objects((1, "person", 0.9, box_at(*INSIDE)))))}
    ends = {t: ended(engine.process(frame(t), objects())) for t in (0.4, 0.6, 2.0, 2.2)}
    assert ends == {0.4: [], 0.6: [opened["brief"]], 2.0: [], 2.2: [opened["patient"]]}


def test_two_line_rules_with_other_directions_share_one_set_of_crossings(monkeypatch) -> None:
    going_in = LineCrossingRule(settings("in", cooldown_s=0), line="door", direction="in")
    going_out = LineCrossingRule(settings("out", cooldown_s=0), line="door", direction="out")
    cars = LineCrossingRule(settings("cars", classes=["car"], cooldown_s=0), line="door")
    door = CameraShapes(lines={"door": [[0.5, 0.0], [0.5, 1.0]]})
    engine = AlertEngine([going_in, going_out, cars], SiteShapes({"cam": door}))
    scenes = spy_on_scenes(monkeypatch, going_in)
    sides = count_calls(monkeypatch, alerts.scene, "line_sides")
    left_to_right = [(20, 50), (30, 50), (70, 50), (80, 50)]
    timeline = walk(1, left_to_right) + [(t + 1, d) for t, d in walk(1, left_to_right[::-1])]
    events = [e for t, detections in timeline for e in engine.process(frame(t), detections)]
    assert len(sides) == len(timeline), "one side test a frame for the three rules"
    confirmed = [c for s in scenes for c in s.crossings[LineWatch("door", "bottom_center", 2)]]
    assert confirmed == [Crossing(1, "out"), Crossing(1, "in")]
    assert [(a.rule, a.details["direction"]) for a in started(events)] == [("out", "out"), ("in", "in")]


def test_a_zone_edit_keeps_who_is_inside() -> None:
    site = SiteShapes({"cam": U_SHAPES})
    engine = AlertEngine([DwellRule(settings(cooldown_s=0), min_duration_s=0.4, zone="u", inertia_frames=2)], site)
    events = [e for t, d in walk(1, [INSIDE] * 4) for e in engine.process(frame(t), d)]
    site.replace("cam", CameraShapes(zones={"u": [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]}))
    events += [e for t, d in walk(1, [INSIDE] * 2) for e in engine.process(frame(1.0 + t), d)]
    assert len(started(events)) == 1 and ended(events) == [], "still inside the edited zone: the alert runs on"


def test_an_event_keeps_its_alert_as_sent_when_a_better_frame_follows() -> None:
    engine = AlertEngine([PresenceRule(settings(score_window=1), min_duration_s=0.0)], SiteShapes())
    first = engine.process(frame(0.0), objects((1, "person", 0.6, box_at(*INSIDE))))
    later = [e for t in (0.5, 1.0) for e in engine.process(frame(t), objects((1, "person", 0.9, box_at(30, 60))))]
    [start] = first
    assert (start.alert.score, start.alert.box) == (0.6, (17.0, 40.0, 23.0, 50.0))
    assert [(u.score, u.box) for u in later if isinstance(u, AlertUpdated)] == [(0.9, (27.0, 50.0, 33.0, 60.0))]
    with pytest.raises(dataclasses.FrozenInstanceError):
        start.alert.score = 1.0  # type: ignore[misc]


def test_events_and_scenes_survive_pickling() -> None:
    door = ZoneWatch("u", inertia_frames=1)
    shapes = SceneShapes(zones={door: U_POLYGON})
    scene = SceneState().update(frame(0.0), objects((1, "person", 0.9, box_at(*INSIDE))), shapes)
    copy = pickle.loads(pickle.dumps(scene))
    assert copy.zones == scene.zones and copy.tracks == scene.tracks and copy.medians[5].tolist() == [0.9]
    engine = AlertEngine([PresenceRule(settings(score_window=1), min_duration_s=0.0)], SiteShapes())
    events = engine.process(frame(0.0), objects((1, "person", 0.6, box_at(*INSIDE))))
    events += engine.process(frame(1.0), objects((1, "person", 0.9, box_at(*INSIDE))))
    events += engine.close_all(datetime(2026, 11, 30, 12, 1, tzinfo=UTC))
    started_, updated, end = (pickle.loads(pickle.dumps(event)) for event in events)
    assert started_.alert == events[0].alert and started_.frame.pts == 0.0
    assert (updated.key, updated.score, updated.box) == (events[1].key, events[1].score, events[1].box)
    np.testing.assert_array_equal(updated.frame.image, events[1].frame.image)
    assert end == events[2]
