"""Whether a camera has a confirmed track right now: the motion gate keeps detecting while an object is tracked."""

from __future__ import annotations

import time
from collections.abc import Callable

import supervision as sv


class TrackActivity:
    """When each camera last had a confirmed track; written by its camera worker, read by its reader.

    A camera stays active for `hold_s` after its last confirmed track, as long as the tracker itself keeps a
    lost track, so one missed detection of a still object does not stop detection.

    Example:
        >>> import numpy as np
        >>> activity = TrackActivity(hold_s=2.0)
        >>> tracked = sv.Detections(xyxy=np.zeros((1, 4)), tracker_id=np.array([3]))
        >>> activity.saw("lobby", tracked)
        >>> activity.active("lobby"), activity.active("yard")
        (True, False)
    """

    def __init__(self, hold_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.hold_s = hold_s
        self._clock = clock
        self._last_seen: dict[str, float] = {}

    def saw(self, camera: str, tracked: sv.Detections) -> None:
        if tracked.tracker_id is not None and (tracked.tracker_id >= 0).any():
            self._last_seen[camera] = self._clock()

    def active(self, camera: str) -> bool:
        last = self._last_seen.get(camera)
        return last is not None and self._clock() - last < self.hold_s

    def checker(self, camera: str) -> Callable[[], bool]:
        """`active(camera)` as a callable, for the camera's reader."""
        return lambda: self.active(camera)
