"""Per-camera health: connection state, frame rates, drops, reconnects, last error."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from enum import StrEnum


class CameraState(StrEnum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    ENDED = "ended"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """A snapshot of one camera's health, safe to hand to other threads."""

    camera: str
    state: CameraState = CameraState.CONNECTING
    fps_in: float = 0.0
    """Frames decoded per second over the last few seconds."""
    fps_out: float = 0.0
    """Frames handed to detection per second over the last few seconds."""
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    """Sampled frames replaced before the detector took them."""
    skipped: int = 0
    """Sampled frames the motion gate kept from the detector (nothing moved, nothing tracked)."""
    reconnects: int = 0
    """Reconnect attempts scheduled so far."""
    last_error: str | None = None
    last_frame_time: float | None = None
    """Unix time of the last decoded frame."""


class RateMeter:
    """Events per second over a sliding window.

    Example:
        >>> m = RateMeter(window_s=2.0)
        >>> for t in (0.0, 0.5, 1.0, 1.5, 2.0): m.add(t)
        >>> m.rate(now=2.0)
        2.0
    """

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()

    def add(self, now: float) -> None:
        self._times.append(now)
        self._trim(now)

    def rate(self, now: float) -> float:
        self._trim(now)
        return len(self._times) / self.window_s if self._times else 0.0

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()


@dataclass
class _CameraCounters:
    health: CameraHealth
    rate_in: RateMeter = field(default_factory=RateMeter)
    rate_out: RateMeter = field(default_factory=RateMeter)


StateListener = Callable[[str, CameraState, str | None], None]


class HealthMonitor:
    """Thread-safe health records of all cameras; waiters are woken on every change."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cameras: dict[str, _CameraCounters] = {}
        self._changed = threading.Condition()
        self._listeners: list[StateListener] = []

    def listen(self, listener: StateListener) -> None:
        """Call `listener(camera, state, last_error)` on every change of a camera's state, from the thread that
        changed it, outside the monitor's lock."""
        self._listeners.append(listener)

    def register(self, camera: str) -> None:
        with self._changed:
            self._cameras[camera] = _CameraCounters(CameraHealth(camera))

    def set_state(self, camera: str, state: CameraState, error: str | None = None) -> None:
        """Move to `state`; an error message, when given, becomes `last_error`."""
        with self._changed:
            counters = self._cameras[camera]
            health = counters.health
            reconnects = health.reconnects + (state is CameraState.RECONNECTING)
            counters.health = changed = replace(
                health, state=state, reconnects=reconnects, last_error=error or health.last_error
            )
            self._changed.notify_all()
        if state is not health.state:
            self._tell(changed)

    def record_error(self, camera: str, error: str) -> None:
        """Note a problem that does not change the state (e.g. a file that ended early)."""
        with self._changed:
            counters = self._cameras[camera]
            counters.health = replace(counters.health, last_error=error)
            self._changed.notify_all()

    def frame_in(self, camera: str, wall_time: float) -> None:
        with self._changed:
            counters = self._cameras[camera]
            counters.rate_in.add(self._clock())
            health = counters.health
            counters.health = changed = replace(
                health, state=CameraState.STREAMING, frames_in=health.frames_in + 1, last_frame_time=wall_time
            )
            self._changed.notify_all()
        if health.state is not CameraState.STREAMING:
            self._tell(changed)

    def frame_out(self, camera: str) -> None:
        with self._changed:
            counters = self._cameras[camera]
            counters.rate_out.add(self._clock())
            counters.health = replace(counters.health, frames_out=counters.health.frames_out + 1)
            self._changed.notify_all()

    def frame_dropped(self, camera: str) -> None:
        with self._changed:
            counters = self._cameras[camera]
            counters.health = replace(counters.health, dropped=counters.health.dropped + 1)
            self._changed.notify_all()

    def frame_skipped(self, camera: str) -> None:
        with self._changed:
            counters = self._cameras[camera]
            counters.health = replace(counters.health, skipped=counters.health.skipped + 1)
            self._changed.notify_all()

    def _tell(self, health: CameraHealth) -> None:
        for listener in self._listeners:
            listener(health.camera, health.state, health.last_error)

    def snapshot(self) -> dict[str, CameraHealth]:
        """Current health of every camera, with rates computed now."""
        with self._changed:
            now = self._clock()
            return {
                name: replace(c.health, fps_in=c.rate_in.rate(now), fps_out=c.rate_out.rate(now))
                for name, c in self._cameras.items()
            }

    def streaming_count(self, among: Collection[str] | None = None) -> int:
        """How many cameras (of `among`, when given) are delivering frames right now."""
        with self._changed:
            return sum(
                c.health.state is CameraState.STREAMING
                for name, c in self._cameras.items()
                if among is None or name in among
            )

    def wait_until(self, camera: str, predicate: Callable[[CameraHealth], bool], timeout_s: float) -> CameraHealth:
        """Block until `predicate(health)` holds; raises TimeoutError with the last health otherwise."""
        with self._changed:
            if self._changed.wait_for(lambda: predicate(self._cameras[camera].health), timeout=timeout_s):
                return self._cameras[camera].health
            raise TimeoutError(f"camera {camera!r} did not reach the expected health: {self._cameras[camera].health}")
