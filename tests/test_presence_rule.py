"""The presence rule on synthetic track sequences (no model)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import supervision as sv

from alerts import AlertEnded, AlertEngine, AlertStarted, PresenceRule, Severity
from streamer import Frame

IMAGE = np.zeros((100, 100, 3), np.uint8)


def frame(t: float, camera: str = "cam") -> Frame:
    return Frame(camera, int(t * 10), t, 1_800_000_000.0 + t, t, IMAGE)


def tracks(*objects: tuple[int, str, float]) -> sv.Detections:
    """Detections of (track id, class name, score) at fixed boxes."""
    if not objects:
        empty = sv.Detections.empty()
        empty.tracker_id = np.array([], int)
        empty.data["class_name"] = np.array([], str)
        return empty
    ids, names, scores = zip(*objects, strict=True)
    return sv.Detections(
        xyxy=np.array([[10.0 * i, 10, 10.0 * i + 5, 20] for i in range(len(objects))]),
        confidence=np.array(scores, float),
        class_id=np.zeros(len(objects), int),
        tracker_id=np.array(ids),
        data={"class_name": np.array(names)},
    )


def run(rule: PresenceRule, timeline: list[tuple[float, sv.Detections]], camera: str = "cam"):
    events = []
    for t, detections in timeline:
        events += rule.update(frame(t, camera), detections)
    return events


def started(events) -> list[AlertStarted]:
    return [e for e in events if isinstance(e, AlertStarted)]


def test_alert_starts_once_the_track_has_been_present_for_min_duration() -> None:
    rule = PresenceRule("p", classes=["person"], min_score=0.5, min_duration_s=1.0, severity=Severity.INFO)
    events = run(rule, [(i * 0.2, tracks((7, "person", 0.8))) for i in range(11)])
    alerts = started(events)
    assert len(alerts) == 1, "one alert per track, not one per frame"
    alert = alerts[0].alert
    assert alerts[0].frame.pts == 1.0
    assert (alert.track_id, alert.label, alert.rule, alert.kind, alert.severity) == (7, "person", "p", "presence", "info")
    assert alert.started_at == datetime.fromtimestamp(1_800_000_001.0, UTC)
    assert alert.started_at.tzinfo is UTC


def test_short_visits_raise_nothing() -> None:
    rule = PresenceRule("p", classes=["person"], min_duration_s=1.0, clear_after_s=0.5)
    timeline = [(0.0, tracks((1, "person", 0.9))), (0.8, tracks((1, "person", 0.9))), (2.0, tracks())]
    timeline += [(2.2, tracks((1, "person", 0.9)))]
    assert started(run(rule, timeline)) == [], "the track left (cleared) before 1 s, its timer restarts"


def test_class_score_and_unconfirmed_tracks_are_filtered() -> None:
    rule = PresenceRule("p", classes=["fallen_person"], min_score=0.7, min_duration_s=0.0)
    timeline = [
        (0.0, tracks((1, "person", 0.95))),
        (0.2, tracks((2, "fallen_person", 0.58))),
        (0.4, tracks((-1, "fallen_person", 0.9))),
    ]
    assert started(run(rule, timeline)) == []
    assert len(started(rule.update(frame(0.6), tracks((3, "fallen_person", 0.75))))) == 1


def test_cooldown_holds_back_other_tracks_of_the_same_camera_only() -> None:
    rule = PresenceRule("p", classes=["person"], min_duration_s=0.0, cooldown_s=10.0)
    events = run(rule, [(0.0, tracks((1, "person", 0.9))), (1.0, tracks((1, "person", 0.9), (2, "person", 0.9)))])
    assert [e.alert.track_id for e in started(events)] == [1]
    other_camera = started(run(rule, [(1.0, tracks((5, "person", 0.9)))], camera="yard"))
    assert [e.alert.camera for e in other_camera] == ["yard"]
    later = started(rule.update(frame(10.5), tracks((1, "person", 0.9), (2, "person", 0.9))))
    assert [e.alert.track_id for e in later] == [2], "after the cooldown the waiting track alerts; track 1 never again"


def test_alert_ends_when_the_track_is_gone_for_clear_after() -> None:
    rule = PresenceRule("p", classes=["person"], min_duration_s=0.0, clear_after_s=1.0)
    events = run(rule, [(0.0, tracks((1, "person", 0.9))), (0.5, tracks()), (0.9, tracks())])
    assert not [e for e in events if isinstance(e, AlertEnded)], "not gone long enough yet"
    ended = [e for e in rule.update(frame(1.5), tracks()) if isinstance(e, AlertEnded)]
    assert [e.key for e in ended] == [started(events)[0].alert.key]
    assert ended[0].ended_at == datetime.fromtimestamp(1_800_000_001.5, UTC)


def test_close_all_ends_open_alerts_for_shutdown() -> None:
    rule = PresenceRule("p", classes=["person"], min_duration_s=0.0)
    engine = AlertEngine([rule])
    opened = started(engine.process(frame(0.0), tracks((1, "person", 0.9), (2, "person", 0.9))))
    closing = engine.close_all(datetime(2026, 1, 1, tzinfo=UTC))
    assert sorted(e.key for e in closing) == sorted(e.alert.key for e in opened)
    assert engine.close_all(datetime(2026, 1, 1, tzinfo=UTC)) == []


def test_engine_applies_a_rule_only_to_its_cameras() -> None:
    engine = AlertEngine([PresenceRule("p", classes=["person"], min_duration_s=0.0, cameras=["gate"])])
    assert engine.process(frame(0.0, "lobby"), tracks((1, "person", 0.9))) == []
    assert len(engine.process(frame(0.0, "gate"), tracks((1, "person", 0.9)))) == 1
