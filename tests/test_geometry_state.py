"""Geometry helpers, per-track state machines and schedules, on synthetic inputs."""

from __future__ import annotations

import datetime
import zoneinfo

import numpy as np
import pytest
import supervision as sv

from alerts.geometry import anchor_position, line_sides, polygon_zone, scale_points, within_segment_band
from alerts.scene import Crossing, SceneState
from alerts.schedule import WEEKDAYS, Schedule
from alerts.track_state import LineCrossings, ScoreHistory, ZonePresence
from alerts.watches import LineWatch, SceneShapes
from streamer import Frame

UTC = datetime.UTC
START, END = np.array([0.0, 50.0]), np.array([100.0, 50.0])
U_SHAPE = np.array([[0, 0], [30, 0], [30, 30], [20, 30], [20, 10], [10, 10], [10, 30], [0, 30]], dtype=float)


def box_at(y: float, x: float = 50.0, half: float = 5.0) -> list[float]:
    return [x - half, y - half, x + half, y + half]


# --- geometry ---------------------------------------------------------------


def anchors(boxes: np.ndarray, anchor: str) -> np.ndarray:
    return sv.Detections(xyxy=np.asarray(boxes, dtype=float).reshape(-1, 4)).get_anchors_coordinates(
        anchor_position(anchor)  # type: ignore[arg-type]
    )


def in_zone(points: np.ndarray, polygon: np.ndarray, width: int = 100, height: int = 100) -> np.ndarray:
    """Whether each pixel point is in the pixel polygon, asked of `polygon_zone` with boxes standing on the points."""
    x, y = np.asarray(points, dtype=float).reshape(-1, 2).T
    boxes = sv.Detections(xyxy=np.column_stack([x - 1, y - 4, x + 1, y]))
    return polygon_zone(np.asarray(polygon) / [width, height], width, height, "bottom_center").trigger(boxes)


def test_anchor_points_bottom_center_and_center():
    boxes = np.array([[0, 0, 10, 20], [100, 50, 140, 70]])
    np.testing.assert_array_equal(anchors(boxes, "bottom_center"), [[5, 20], [120, 70]])
    np.testing.assert_array_equal(anchors(boxes, "center"), [[5, 10], [120, 60]])


def test_anchor_points_empty_and_unknown_anchor():
    assert anchors(np.empty((0, 4)), "center").shape == (0, 2)
    with pytest.raises(ValueError, match="'top'"):
        anchor_position("top")  # type: ignore[arg-type]


def test_scale_points_relative_to_pixels():
    scaled = scale_points([[0, 0], [0.5, 0.25], [1, 1]], width=1920, height=1080)
    np.testing.assert_allclose(scaled, [[0, 0], [960, 270], [1920, 1080]])
    assert scaled.dtype == float


def test_in_polygon_concave_notch_is_outside():
    points = np.array([[5, 20], [25, 20], [15, 5], [15, 20], [15, 29], [40, 5], [-1, 5]])
    np.testing.assert_array_equal(in_zone(points, U_SHAPE), [True, True, True, False, False, False, False])


def test_in_polygon_empty_input():
    empty = in_zone(np.empty((0, 2)), U_SHAPE)
    assert empty.shape == (0,) and empty.dtype == bool


def test_in_polygon_accepts_scaled_relative_zone():
    zone = polygon_zone([[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]], 200, 100, "bottom_center")
    inside = zone.trigger(sv.Detections(xyxy=np.array([[90, 20, 110, 60], [0, 0, 10, 5]], dtype=float)))
    np.testing.assert_array_equal(inside, [True, False])


def tracked(boxes: np.ndarray) -> sv.Detections:
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    return sv.Detections(xyxy=boxes, tracker_id=np.arange(len(boxes)))


def band(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Whether each pixel point is alongside the segment, asked of `within_segment_band` with boxes standing on it."""
    x, y = np.asarray(points, dtype=float).reshape(-1, 2).T
    return within_segment_band(tracked(np.column_stack([x - 1, y - 4, x + 1, y])), start, end, "bottom_center")


def test_line_sides_below_is_positive_for_left_to_right_line():
    boxes = np.array([box_at(70), box_at(30), box_at(50), box_at(55, half=5)])
    # below, above, straddling, touching the line with its top edge
    np.testing.assert_array_equal(line_sides(tracked(boxes), START, END), [1, -1, 0, 0])


def test_line_sides_flip_with_line_direction():
    boxes = np.array([box_at(70), box_at(30)])
    np.testing.assert_array_equal(line_sides(tracked(boxes), END, START), [-1, 1])
    # Vertical line drawn downwards: its right-hand side on screen is to the left (smaller x).
    vertical_start, vertical_end = np.array([50.0, 0.0]), np.array([50.0, 100.0])
    left_and_right = np.array([box_at(50, x=20), box_at(50, x=80)])
    np.testing.assert_array_equal(line_sides(tracked(left_and_right), vertical_start, vertical_end), [1, -1])


def test_line_sides_and_band_of_no_tracks():
    assert line_sides(tracked(np.empty((0, 4))), START, END).shape == (0,)
    assert band(np.empty((0, 2)), START, END).shape == (0,)


def test_within_segment_band_inclusive_ends_excludes_beyond():
    points = np.array([[0, 90], [100, 10], [50, 500], [-0.5, 50], [100.5, 50]])
    np.testing.assert_array_equal(band(points, START, END), [True, True, True, False, False])
    diagonal = band(np.array([[0, 10], [10, 0], [20, 20]]), np.array([0.0, 0.0]), np.array([10.0, 10.0]))
    np.testing.assert_array_equal(diagonal, [True, True, False])


def test_within_segment_band_rejects_zero_length_segment():
    with pytest.raises(ValueError, match="zero length"):
        band(np.array([[1, 1]]), START, START)


# --- ZonePresence -----------------------------------------------------------


def observe(zone: ZonePresence, **inside: bool) -> tuple[set[int], set[int]]:
    ids = np.array([int(name[1:]) for name in inside], dtype=int)
    return zone.update(ids, np.array(list(inside.values()), dtype=bool))


def test_zone_presence_entry_needs_consecutive_inside_observations():
    zone = ZonePresence(inertia_frames=3)
    assert observe(zone, t1=True) == (set(), set())
    assert observe(zone, t1=True) == (set(), set())
    assert observe(zone, t1=False) == (set(), set())  # jitter resets the count
    assert observe(zone, t1=True) == (set(), set())
    assert observe(zone, t1=True) == (set(), set())
    assert zone.inside == frozenset()
    assert observe(zone, t1=True) == ({1}, set())
    assert zone.inside == {1}
    assert observe(zone, t1=True) == (set(), set())  # reported once


def test_zone_presence_leaving_is_debounced_too():
    zone = ZonePresence(inertia_frames=2)
    for _ in range(2):
        observe(zone, t1=True)
    assert observe(zone, t1=False) == (set(), set())
    assert observe(zone, t1=True) == (set(), set())
    assert observe(zone, t1=False) == (set(), set())
    assert zone.inside == {1}
    assert observe(zone, t1=False) == (set(), {1})
    assert zone.inside == frozenset()


def test_zone_presence_absent_tracks_keep_state_and_counters():
    zone = ZonePresence(inertia_frames=2)
    observe(zone, t1=True, t2=True)
    assert observe(zone, t1=True) == ({1}, set())
    assert observe(zone, t2=True) == ({2}, set())  # t2's first observation still counted
    observe(zone, t2=False)
    for _ in range(5):
        observe(zone, t3=False)  # t1 occluded for a while: not leaving
    assert zone.inside == {1, 2}
    assert observe(zone, t2=False) == (set(), {2})


def test_zone_presence_inertia_one_is_immediate_and_forget_is_silent():
    zone = ZonePresence(inertia_frames=1)
    assert observe(zone, t4=True, t5=False) == ({4}, set())
    zone.forget(4)
    zone.forget(99)  # unknown ids are fine
    assert zone.inside == frozenset()
    assert observe(zone, t4=False) == (set(), set())


def test_zone_presence_rejects_zero_inertia():
    with pytest.raises(ValueError, match="inertia_frames"):
        ZonePresence(inertia_frames=0)


# --- LineCrossings ----------------------------------------------------------


def cross(line: LineCrossings, sides: list[int], in_band: list[bool] | None = None, track_id: int = 1) -> list:
    """Feed one observation per side for a single track; the crossings reported after each."""
    bands = in_band if in_band is not None else [True] * len(sides)
    return [line.update(np.array([track_id]), np.array([side]), np.array([band])) for side, band in zip(sides, bands)]


def test_line_crossings_both_directions_reported_once_each():
    line = LineCrossings()
    assert cross(line, [-1, -1, 1, 1, 1, -1, -1]) == [[], [], [(1, "in")], [], [], [(1, "out")], []]


def test_line_crossings_first_observation_never_counts():
    line = LineCrossings()
    assert cross(line, [1], track_id=7) == [[]]
    assert cross(line, [1, 1], track_id=7) == [[], []]
    assert cross(line, [-1], track_id=8) == [[]]
    assert cross(line, [1], track_id=8) == [[(8, "in")]]


def test_line_crossings_straddling_observations_are_ignored():
    line = LineCrossings()
    assert cross(line, [-1, 0, 0, 1, 0, 1]) == [[], [], [], [(1, "in")], [], []]


def test_line_crossings_out_of_band_observations_are_ignored():
    line = LineCrossings()
    # Passing round the end of the segment is not a crossing, and does not reset the confirmed side.
    assert cross(line, [-1, 1, 1, -1], in_band=[True, False, False, True]) == [[], [], [], []]
    assert cross(line, [1], in_band=[True]) == [[(1, "in")]]


def test_line_crossings_min_frames_confirmation_with_jitter():
    line = LineCrossings(min_crossing_frames=3)
    # First side needs 3 frames too; a crossing before it is confirmed is not a crossing.
    assert cross(line, [-1, -1, 1, 1, 1]) == [[]] * 5
    assert cross(line, [-1, -1, 1, -1, 0, -1, -1]) == [[], [], [], [], [], [], [(1, "out")]]
    # Jitter back to the confirmed side resets the pending count.
    assert cross(line, [1, 1, -1, 1, 1]) == [[]] * 5
    assert cross(line, [1]) == [[(1, "in")]]


def test_line_crossings_tracks_are_independent_and_forget():
    line = LineCrossings()
    ids = np.array([1, 2])
    band = np.array([True, True])
    assert line.update(ids, np.array([-1, 1]), band) == []
    assert line.update(ids, np.array([1, -1]), band) == [(1, "in"), (2, "out")]
    line.forget(1)
    assert line.update(ids, np.array([-1, 1]), band) == [(2, "in")]


# --- supervision's LineZone vectors -----------------------------------------

F, T = False, True
LINE_ZONE_VECTORS = [
    # supervision's test_line_zone_one_detection_default_anchors (test/detection/test_line_counter.py): the line,
    # one track's box on each frame, and the frames on which `LineZone.trigger` reports it crossed in and out.
    pytest.param(((0, 0), (0, 10)), [[4, 4, 6, 6], [-6, 4, -4, 6]] * 2, [F, F, T, F], [F, T, F, T], id="vertical"),
    pytest.param(((0, 10), (0, 0)), [[4, 4, 6, 6], [-6, 4, -4, 6]] * 2, [F, T, F, T], [F, F, T, F], id="vertical-rev"),
    pytest.param(((0, 0), (10, 0)), [[4, 4, 6, 6], [4, -6, 6, -4]] * 2, [F, T, F, T], [F, F, T, F], id="horizontal"),
    pytest.param(
        ((10, 0), (0, 0)), [[4, 4, 6, 6], [4, -6, 6, -4]] * 2, [F, F, T, F], [F, T, F, T], id="horizontal-rev"
    ),
    pytest.param(((5, 0), (0, 5)), [[0, 0, 2, 2], [10, 10, 12, 12]] * 2, [F, T, F, T], [F, F, T, F], id="diagonal"),
    pytest.param(((0, 0), (10, 0)), [[20, 4, 24, 6], [20, -6, 24, -4]] * 2, [F] * 4, [F] * 4, id="beside-right"),
    pytest.param(
        ((0, 0), (10, 0)), [[4, 1e32, 6, 1e32 + 2], [4, -1e32, 6, -1e32 + 2]] * 2, [F, T, F, T], [F, F, T, F],
        id="far-away",
    ),
    pytest.param(((0, 0), (10, 0)), [[-20, 4, -24, 6], [-20, -6, -24, -4]] * 2, [F] * 4, [F] * 4, id="beside-left"),
    pytest.param(((0, 0), (10, 0)), [[-4, 4, -2, 6], [16, 4, 18, 6]] * 2, [F] * 4, [F] * 4, id="move-above"),
    pytest.param(((0, 0), (10, 0)), [[-4, -6, -2, -4], [16, -6, 18, -4]] * 2, [F] * 4, [F] * 4, id="move-below"),
    pytest.param(((0, 0), (10, 0)), [[4, 4, 6, 6], [9, 4, 11, 6]] * 2, [F] * 4, [F] * 4, id="into-line-partway"),
    pytest.param(((0, 0), (10, 0)), [[-3, 6, -1, 8], [4, -6, 6, -4], [11, 6, 13, 8]], [F] * 3, [F] * 3, id="v-shape"),
    pytest.param(((0, 0), (10, 0)), [[4, 1, 6, 3], [11, -19, 13, -17]], [F] * 2, [F] * 2, id="within-to-outside"),
    pytest.param(((0, 0), (10, 0)), [[11, 21, 13, 23], [4, -3, 6, -1]], [F] * 2, [F] * 2, id="outside-to-within"),
    pytest.param(((0, 0), (10, 0)), [[-4, 4, -2, 8], [12, -4, 14, -6]] * 2, [F] * 4, [F] * 4, id="outside-to-outside"),
]


@pytest.mark.parametrize("anchor", ["bottom_center", "center"])
@pytest.mark.parametrize(("line", "boxes", "crossed_in", "crossed_out"), LINE_ZONE_VECTORS)
def test_scene_agrees_with_supervision_line_zone_vectors(anchor, line, boxes, crossed_in, crossed_out) -> None:
    """Replayed through the scene on 1x1 frames, so that the vectors' pixels are the shapes' relative coordinates."""
    door = LineWatch("door", anchor, min_crossing_frames=1)
    shapes, scene = SceneShapes(lines={door: line}), SceneState()
    zone = sv.LineZone(sv.Point(*line[0]), sv.Point(*line[1]))
    found, by_supervision = [], []
    for index, box in enumerate(boxes):
        track = sv.Detections(
            xyxy=np.array([box], dtype=float), confidence=np.array([0.9]), class_id=np.array([0]),
            tracker_id=np.array([0]), data={"class_name": np.array(["person"])},
        )
        at = Frame("cam", index, index * 0.1, 0.0, 0.0, np.zeros((1, 1, 3), np.uint8))
        found.append(scene.update(at, track, shapes).crossings[door])
        by_supervision.append(tuple(flags[0] for flags in zone.trigger(track)))
    assert by_supervision == list(zip(crossed_in, crossed_out)), "the vectors as supervision has them"
    # supervision's "in" is onto the side where cross(end - start, corner - start) < 0, the left-hand side on
    # screen; Vigil's "in" is onto the right-hand side (LineCrossingRule), so the names swap.
    expected = [(Crossing(0, "out"),) if sv_in else (Crossing(0, "in"),) if sv_out else () for sv_in, sv_out in
                zip(crossed_in, crossed_out)]
    assert found == expected


# --- ScoreHistory -----------------------------------------------------------


def test_score_history_median_kills_single_frame_spike():
    history = ScoreHistory(window=5)
    for score in (0.3, 0.35, 0.99, 0.3, 0.32):
        history.add(np.array([1, 2]), np.array([score, 0.9]))
    assert history.median(1) == pytest.approx(0.32)
    assert history.median(2) == pytest.approx(0.9)


def test_score_history_window_unknown_and_forget():
    history = ScoreHistory(window=3)
    for score in (0.9, 0.9, 0.9, 0.1, 0.1):
        history.add(np.array([1]), np.array([score]))
    assert history.median(1) == pytest.approx(0.1)  # only the last 3 count
    assert history.median(42) == 0.0
    history.forget(1)
    assert history.median(1) == 0.0


# --- Schedule ---------------------------------------------------------------


def paris(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime.datetime:
    return datetime.datetime(y, mo, d, h, mi, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))


def utc(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime.datetime:
    return datetime.datetime(y, mo, d, h, mi, tzinfo=UTC)


# 2024-01-01 and 2024-07-01 are Mondays.


def test_schedule_same_day_window():
    office = Schedule.parse(["mon", "tue", "wed", "thu", "fri"], "08:00", "18:00", "UTC")
    assert office.is_armed(utc(2024, 1, 1, 8, 0))
    assert office.is_armed(utc(2024, 1, 5, 17, 59))
    assert not office.is_armed(utc(2024, 1, 1, 18, 0))  # end is exclusive
    assert not office.is_armed(utc(2024, 1, 1, 7, 59))
    assert not office.is_armed(utc(2024, 1, 6, 12, 0))  # Saturday


def test_schedule_window_crossing_midnight_belongs_to_start_day():
    night = Schedule.parse(["mon"], "22:00", "06:00", "UTC")
    assert night.is_armed(utc(2024, 1, 1, 22, 0))  # Monday night
    assert night.is_armed(utc(2024, 1, 2, 3, 0))  # Tuesday early morning
    assert not night.is_armed(utc(2024, 1, 2, 6, 0))
    assert not night.is_armed(utc(2024, 1, 1, 3, 0))  # Monday early morning needs Sunday listed
    assert not night.is_armed(utc(2024, 1, 2, 22, 0))  # Tuesday night
    assert not night.is_armed(utc(2024, 1, 1, 12, 0))
    sunday_night = Schedule.parse(["sun"], "22:00", "06:00", "UTC")
    assert sunday_night.is_armed(utc(2024, 1, 1, 3, 0))  # wraps from Sunday to Monday


def test_schedule_equal_start_and_end_arms_whole_days():
    weekend = Schedule.parse(["sat", "sun"], "00:00", "00:00", "UTC")
    assert weekend.is_armed(utc(2024, 1, 6, 0, 0))
    assert weekend.is_armed(utc(2024, 1, 7, 23, 59))
    assert not weekend.is_armed(utc(2024, 1, 8, 0, 0))
    assert not weekend.is_armed(utc(2024, 1, 5, 23, 59))


def test_schedule_uses_local_wall_time_across_dst():
    night = Schedule.parse(["mon"], "22:00", "06:00", "Europe/Paris")
    # Winter: Paris is UTC+1, so Monday 22:00 local is 21:00 UTC.
    assert night.is_armed(utc(2024, 1, 1, 21, 0))
    assert not night.is_armed(utc(2024, 1, 1, 20, 59))
    assert night.is_armed(utc(2024, 1, 2, 4, 59))
    assert not night.is_armed(utc(2024, 1, 2, 5, 0))
    # Summer: UTC+2, so the same local window is 20:00–04:00 UTC.
    assert night.is_armed(utc(2024, 7, 1, 20, 0))
    assert not night.is_armed(utc(2024, 7, 1, 19, 59))
    assert not night.is_armed(utc(2024, 7, 2, 4, 0))
    # The weekday is the local one: Sunday 23:30 UTC is already Monday in Paris.
    assert Schedule.parse(["mon"], "00:00", "01:00", "Europe/Paris").is_armed(utc(2023, 12, 31, 23, 30))
    assert night.is_armed(paris(2024, 1, 1, 23, 0))


def test_schedule_on_the_night_clocks_go_forward():
    # Paris jumps from 02:00 CET to 03:00 CEST on Sunday 2024-03-31 (01:00 UTC): the window shrinks by an hour.
    early = Schedule.parse(["sun"], "01:00", "04:00", "Europe/Paris")
    assert early.is_armed(utc(2024, 3, 31, 0, 30))  # 01:30 CET
    assert early.is_armed(utc(2024, 3, 31, 1, 30))  # 03:30 CEST
    assert not early.is_armed(utc(2024, 3, 31, 2, 0))  # 04:00 CEST


def test_schedule_rejects_naive_datetime():
    with pytest.raises(ValueError, match="naive"):
        Schedule.parse(["mon"], "08:00", "09:00", "UTC").is_armed(datetime.datetime(2024, 1, 1, 8, 30))


@pytest.mark.parametrize(
    ("days", "start", "end", "timezone", "bad"),
    [
        (["mon", "funday"], "08:00", "18:00", "UTC", "'funday'"),
        ([], "08:00", "18:00", "UTC", "at least one day"),
        (["mon"], "8h", "18:00", "UTC", "'8h'"),
        (["mon"], "08:00", "24:00", "UTC", "'24:00'"),
        (["mon"], "08:00", "18:00", "Mars/Olympus", "'Mars/Olympus'"),
        (["mon"], "08:00", "18:00", "../etc/passwd", "'../etc/passwd'"),
    ],
)
def test_schedule_parse_errors_name_the_bad_value(days, start, end, timezone, bad):
    with pytest.raises(ValueError, match=bad.replace(".", r"\.")):
        Schedule.parse(days, start, end, timezone)


def test_weekdays_follow_python_weekday_order():
    assert [WEEKDAYS[datetime.date(2024, 1, 1 + i).weekday()] for i in range(7)] == list(WEEKDAYS)
    assert WEEKDAYS[datetime.date(2024, 1, 1).weekday()] == "mon"


def test_schedule_parse_accepts_any_case_and_builds_typed_fields():
    schedule = Schedule.parse(["Mon", "SAT"], "07:30", "19:05", "Europe/Paris")
    assert schedule.days == frozenset({"mon", "sat"})
    assert (schedule.start, schedule.end) == (datetime.time(7, 30), datetime.time(19, 5))
    assert schedule.timezone == zoneinfo.ZoneInfo("Europe/Paris")
