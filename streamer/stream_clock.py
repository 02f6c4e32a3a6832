"""How far a file camera's reader has read, in stream seconds: its recorder records no further."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class StreamClock:
    """Stream time one thread advances and others wait for; closed once the reader will read no more.

    A file has no clock of its own: its footage is timed as starting at `epoch`, the wall time at which the
    reader read stream time 0, and the reader times its frames, so its alerts, the same way (`wall_at`),
    however fast it is read.

    Example:
        >>> clock = StreamClock()
        >>> clock.advance(4.0); clock.wait_for(3.5, timeout_s=0)
        True
        >>> clock.wait_for(5.0, timeout_s=0), clock.closed
        (False, False)
        >>> clock.close(); clock.wait_for(5.0, timeout_s=60), clock.closed
        (False, True)
    """

    def __init__(self) -> None:
        self._time = float("-inf")
        self._closed = False
        self._changed = threading.Condition()
        self.epoch: datetime | None = None
        self._not_before: datetime | None = None

    @property
    def time(self) -> float:
        """The stream time read so far."""
        return self._time

    @property
    def closed(self) -> bool:
        return self._closed

    def start_after(self, moment: datetime) -> None:
        """Before the reader starts: stream time 0 is to be no earlier than `moment` (where this file's footage
        from an earlier run ends, so that a file read faster than real time does not overlap it)."""
        self._not_before = moment

    def advance(self, stream_s: float, now: float | None = None) -> None:
        """The reader has read up to `stream_s`; its first call, at Unix time `now`, sets `epoch`."""
        with self._changed:
            if self.epoch is None:
                first = datetime.fromtimestamp(time.time() if now is None else now, UTC) - timedelta(seconds=stream_s)
                self.epoch = first if self._not_before is None else max(first, self._not_before)
            self._time = max(self._time, stream_s)
            self._changed.notify_all()

    def wall_at(self, stream_s: float) -> datetime:
        """The recording-clock time of stream time `stream_s`; only once the reader has read a frame."""
        assert self.epoch is not None, "no frame read yet"
        return self.epoch + timedelta(seconds=stream_s)

    def close(self) -> None:
        """The reader ended or stopped: nobody waits any more."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait_for(self, stream_s: float, timeout_s: float | None) -> bool:
        """Wait until the reader has read up to `stream_s` (None: for as long as it takes); False when `timeout_s`
        ran out or the clock closed first."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self._time >= stream_s, timeout_s)
            return self._time >= stream_s
