"""One camera's scene, updated once a frame before any rule runs: median scores, zones, crossings, lost tracks."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import supervision as sv

from alerts.geometry import Anchor, line_sides, polygon_zone, scale_points, within_segment_band
from alerts.track_state import Direction, LineCrossings, ScoreHistory, ZonePresence
from alerts.watches import LineWatch, Polygon, SceneShapes, Segment, ZoneWatch
from streamer import Frame


@dataclass(frozen=True, slots=True)
class ZoneMembership:
    """Who is inside one watched zone after a frame."""

    inside: Mapping[int, float]
    """Track id → stream time its entry was confirmed."""
    entered: frozenset[int]
    """Entries confirmed on this frame."""
    left: frozenset[int]
    """Exits confirmed on this frame (a lost track is not said to leave)."""

    def contains(self, track_ids: np.ndarray) -> np.ndarray:
        """(N,) mask of the ids that are inside."""
        return np.isin(track_ids, np.fromiter(self.inside, dtype=int, count=len(self.inside)))


@dataclass(frozen=True, slots=True)
class Crossing:
    track_id: int
    direction: Direction


@dataclass(frozen=True, slots=True)
class Scene:
    """A camera's scene after one frame, the same for every rule: rules read it and apply their own filters."""

    pts: float
    tracks: sv.Detections
    """This frame's confirmed tracks (tracker_id >= 0), whatever their class, score or size."""
    areas: np.ndarray
    """(N,) each track's box area as a fraction of the frame's."""
    medians: Mapping[int, np.ndarray]
    """Score window → (N,) median of each track's last that many scores."""
    zones: Mapping[ZoneWatch, ZoneMembership]
    crossings: Mapping[LineWatch, tuple[Crossing, ...]]
    """Crossings confirmed on this frame, per watched line."""
    first_seen: Mapping[int, float]
    """Stream time each known track was first seen."""
    last_seen: Mapping[int, float]
    """Stream time each known track was last seen."""
    lost: frozenset[int]
    """Tracks unseen for longer than the horizon, forgotten on this frame."""


class SceneState:
    """One camera's memory of its tracks, fed every confirmed track once a frame, whatever the rules' filters.

    It keeps each track's last `max(score_windows)` scores, the debounced
    membership of each watched zone, the confirmed side of each watched line,
    and when each track was seen. A track unseen for more than `horizon_s`
    of stream time is forgotten and reported in `Scene.lost`. Pure: no I/O,
    no clock; time is the frames' `pts`.

    Example:
        >>> import numpy as np
        >>> door = ZoneWatch("door", inertia_frames=1)
        >>> shapes = SceneShapes(zones={door: ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0))})
        >>> state = SceneState(score_windows=[3], horizon_s=2.0)
        >>> person = sv.Detections(xyxy=np.array([[10.0, 10, 20, 40]]), confidence=np.array([0.8]),
        ...                        tracker_id=np.array([7]), data={"class_name": np.array(["person"])})
        >>> scene = state.update(Frame("lobby", 0, 1.0, 0.0, 0.0, np.zeros((100, 100, 3), np.uint8)), person, shapes)
        >>> dict(scene.zones[door].inside), scene.medians[3].tolist()
        ({7: 1.0}, [0.8])
    """

    def __init__(self, score_windows: Collection[int] = (5,), horizon_s: float = 2.0) -> None:
        self._windows = sorted(set(score_windows))
        self._scores = ScoreHistory(max(self._windows, default=1))
        self._horizon_s = horizon_s
        self._first_seen: dict[int, float] = {}
        self._last_seen: dict[int, float] = {}
        self._zones: dict[ZoneWatch, _ZoneMembers] = {}
        self._lines: dict[LineWatch, LineCrossings] = {}
        self._polygon_zones: dict[tuple[Polygon, Anchor, int, int], sv.PolygonZone] = {}
        """Pixel zones built for the current shapes and frame size: building one draws a mask."""

    def update(self, frame: Frame, detections: sv.Detections, shapes: SceneShapes) -> Scene:
        """Observe `frame`'s tracked `detections` in the zones and lines of `shapes`; the scene rules read."""
        tracks = _confirmed(detections)
        track_ids = tracks.tracker_id
        height, width = frame.image.shape[:2]
        self._scores.add(track_ids, tracks.confidence)
        for track_id in track_ids.tolist():
            self._first_seen.setdefault(track_id, frame.pts)
            self._last_seen[track_id] = frame.pts
        lost = self._forget_lost(frame.pts)
        geometry = _FrameGeometry(tracks, width, height, self._polygon_zones)
        zones = self._observe_zones(shapes.zones, geometry, frame.pts)
        crossings = self._observe_lines(shapes.lines, geometry)
        self._polygon_zones = geometry.polygon_zones
        return Scene(
            pts=frame.pts,
            tracks=tracks,
            areas=tracks.box_area / float(width * height),
            medians={w: np.array([self._scores.median(t, last=w) for t in track_ids.tolist()]) for w in self._windows},
            zones=zones,
            crossings=crossings,
            first_seen=dict(self._first_seen),
            last_seen=dict(self._last_seen),
            lost=lost,
        )

    def _observe_zones(
        self, zones: Mapping[ZoneWatch, Polygon], geometry: _FrameGeometry, pts: float
    ) -> dict[ZoneWatch, ZoneMembership]:
        self._zones = {watch: self._zones.get(watch) or _ZoneMembers(watch.inertia_frames) for watch in zones}
        return {
            watch: members.observe(geometry.tracks.tracker_id, geometry.inside(zones[watch], watch.anchor), pts)
            for watch, members in self._zones.items()
        }

    def _observe_lines(
        self, lines: Mapping[LineWatch, Segment], geometry: _FrameGeometry
    ) -> dict[LineWatch, tuple[Crossing, ...]]:
        self._lines = {watch: self._lines.get(watch) or LineCrossings(watch.min_crossing_frames) for watch in lines}
        crossings = {}
        for watch, line in self._lines.items():
            sides, in_band = geometry.sides(lines[watch]), geometry.in_band(lines[watch], watch.anchor)
            confirmed = line.update(geometry.tracks.tracker_id, sides, in_band)
            crossings[watch] = tuple(Crossing(track_id, direction) for track_id, direction in confirmed)
        return crossings

    def _forget_lost(self, pts: float) -> frozenset[int]:
        lost = frozenset(t for t, seen in self._last_seen.items() if pts - seen > self._horizon_s)
        for track_id in lost:
            del self._first_seen[track_id], self._last_seen[track_id]
            self._scores.forget(track_id)
            for members in self._zones.values():
                members.forget(track_id)
            for line in self._lines.values():
                line.forget(track_id)
        return lost


class _ZoneMembers:
    """One watched zone's debounced membership and when each member's entry was confirmed."""

    def __init__(self, inertia_frames: int) -> None:
        self._presence = ZonePresence(inertia_frames)
        self._entered_at: dict[int, float] = {}

    def observe(self, track_ids: np.ndarray, inside: np.ndarray, pts: float) -> ZoneMembership:
        entered, left = self._presence.update(track_ids, inside)
        for track_id in entered:
            self._entered_at[track_id] = pts
        for track_id in left:
            del self._entered_at[track_id]
        return ZoneMembership(dict(self._entered_at), frozenset(entered), frozenset(left))

    def forget(self, track_id: int) -> None:
        self._presence.forget(track_id)
        self._entered_at.pop(track_id, None)


class _FrameGeometry:
    """One frame's tracks against the watched shapes, each test done once however many watches share it."""

    def __init__(
        self,
        tracks: sv.Detections,
        width: int,
        height: int,
        built: Mapping[tuple[Polygon, Anchor, int, int], sv.PolygonZone],
    ) -> None:
        self.tracks = tracks
        self._width, self._height = width, height
        self._built = built
        self.polygon_zones: dict[tuple[Polygon, Anchor, int, int], sv.PolygonZone] = {}
        """The pixel zones this frame used, to reuse on the next."""
        self._inside: dict[tuple[Polygon, Anchor], np.ndarray] = {}
        self._sides: dict[Segment, np.ndarray] = {}
        self._in_band: dict[tuple[Segment, Anchor], np.ndarray] = {}

    def inside(self, polygon: Polygon, anchor: Anchor) -> np.ndarray:
        if (polygon, anchor) not in self._inside:
            key = (polygon, anchor, self._width, self._height)
            zone = self._built.get(key) or polygon_zone(polygon, self._width, self._height, anchor)
            self.polygon_zones[key] = zone
            self._inside[polygon, anchor] = zone.trigger(self.tracks)
        return self._inside[polygon, anchor]

    def sides(self, segment: Segment) -> np.ndarray:
        if segment not in self._sides:
            start, end = self._pixels(segment)
            self._sides[segment] = line_sides(self.tracks, start, end)
        return self._sides[segment]

    def in_band(self, segment: Segment, anchor: Anchor) -> np.ndarray:
        if (segment, anchor) not in self._in_band:
            start, end = self._pixels(segment)
            self._in_band[segment, anchor] = within_segment_band(self.tracks, start, end, anchor)
        return self._in_band[segment, anchor]

    def _pixels(self, segment: Segment) -> np.ndarray:
        return scale_points(segment, self._width, self._height)


def _confirmed(detections: sv.Detections) -> sv.Detections:
    """The detections with a confirmed track (an id of -1 is a track not yet confirmed)."""
    if len(detections) == 0 or detections.tracker_id is None:
        tracks = sv.Detections.empty()
        tracks.tracker_id = np.array([], dtype=int)
        tracks.data["class_name"] = np.array([], dtype=str)
        return tracks
    return detections[detections.tracker_id >= 0]
