"""Detect-rate sampling of a stream by presentation timestamp."""

from __future__ import annotations


class DetectRateSampler:
    """Keeps frames at a target rate, judged by stream time, not by frame count.

    Example:
        >>> s = DetectRateSampler(5.0)
        >>> [s.take(t / 10) for t in range(5)]
        [True, False, True, False, True]
    """

    _TOLERANCE_S = 1e-3

    def __init__(self, detect_fps: float) -> None:
        if detect_fps <= 0:
            raise ValueError(f"detect_fps must be positive, got {detect_fps!r}")
        self.interval_s = 1.0 / detect_fps
        self._next_due: float | None = None

    def take(self, pts: float) -> bool:
        """True when the frame at `pts` seconds is due for detection."""
        if self._next_due is not None and pts < self._next_due - self._TOLERANCE_S:
            return False
        if self._next_due is None or pts - self._next_due > self.interval_s:
            self._next_due = pts + self.interval_s
        else:
            self._next_due += self.interval_s
        return True

    def reset(self) -> None:
        """Forget the schedule, e.g. after a reconnect restarts the timestamps."""
        self._next_due = None
