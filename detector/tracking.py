"""One ByteTrack tracker per camera, so track ids never mix between cameras."""

from __future__ import annotations

import supervision as sv
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt
from trackers import ByteTrackTracker

from streamer.reader import DEFAULT_DETECT_FPS


class TrackerSettings(BaseModel):
    """ByteTrack parameters, validated: the config's `detector.tracker` section is this very type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    activation_threshold: float = Field(0.45, ge=0, le=1)
    high_conf_threshold: float = Field(0.5, ge=0, le=1)
    lost_track_s: PositiveFloat = 2.0
    min_consecutive_frames: PositiveInt = 2
    min_iou: float = Field(0.1, ge=0, le=1)
    """Least IoU between a track and a detection for them to match."""


class CameraTrackers:
    """Gives each camera its own ByteTrack, created on first use.

    Unconfirmed detections come back with `tracker_id == -1`.

    Example:
        >>> trackers = CameraTrackers(TrackerSettings(), detect_fps={"lobby": 5.0})
        >>> trackers.update("lobby", sv.Detections.empty(), timestamp=0.0).tracker_id.tolist()
        []
    """

    def __init__(self, settings: TrackerSettings, detect_fps: dict[str, float]) -> None:
        self._settings = settings
        self._detect_fps = detect_fps
        self._trackers: dict[str, ByteTrackTracker] = {}

    def update(self, camera: str, detections: sv.Detections, timestamp: float) -> sv.Detections:
        """Assign this camera's track ids to `detections` seen at stream time `timestamp`."""
        tracker = self._trackers.get(camera)
        if tracker is None:
            tracker = self._trackers[camera] = self._new_tracker(self._detect_fps.get(camera, DEFAULT_DETECT_FPS))
        return tracker.update(detections, timestamp=timestamp)

    def _new_tracker(self, fps: float) -> ByteTrackTracker:
        s = self._settings
        # `trackers` counts the lost-track buffer in frames at 30 fps, whatever `frame_rate` is.
        return ByteTrackTracker(
            lost_track_buffer=max(1, round(s.lost_track_s * 30)),
            frame_rate=fps,
            track_activation_threshold=s.activation_threshold,
            minimum_consecutive_frames=s.min_consecutive_frames,
            minimum_iou_threshold=s.min_iou,
            high_conf_det_threshold=s.high_conf_threshold,
        )
