"""Live-stream slots: a bound on open streams in total and per user, so streams never take every request thread."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily


class StreamsFull(Exception):
    """No slot for another stream; the message says which bound was reached."""


class StreamSlots:
    """Hands out at most `total` slots, at most `per_user` of them to one user; each slot is released once.

    Example:
        >>> slots = StreamSlots(total=2, per_user=1)
        >>> first = slots.take("ana")
        >>> try:
        ...     slots.take("ana")
        ... except StreamsFull as full:
        ...     print(full)
        ana already has 1 live streams open, the most one user may
        >>> first.release(); first.release(); slots.open
        0
    """

    def __init__(self, total: int, per_user: int) -> None:
        if total < 1 or per_user < 1:
            raise ValueError(f"total {total} and per_user {per_user} must be at least 1")
        self.total = total
        self.per_user = per_user
        self._by_user: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        with self._lock:
            return sum(self._by_user.values())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """As a Prometheus collector: streams open now, and the most allowed."""
        yield GaugeMetricFamily("vigil_live_streams", "Live streams open.", value=self.open)
        yield GaugeMetricFamily("vigil_live_streams_max", "Live streams allowed at once.", value=self.total)

    def take(self, user: str) -> StreamSlot:
        """A slot for one more stream of `user`; raises StreamsFull."""
        with self._lock:
            if sum(self._by_user.values()) >= self.total:
                raise StreamsFull(f"all {self.total} live streams are in use")
            if self._by_user[user] >= self.per_user:
                raise StreamsFull(f"{user} already has {self.per_user} live streams open, the most one user may")
            self._by_user[user] += 1
        return StreamSlot(self, user)

    def _release(self, user: str) -> None:
        with self._lock:
            self._by_user[user] -= 1
            if not self._by_user[user]:
                del self._by_user[user]


class StreamSlot:
    """One open stream's place; `release` frees it (again is a no-op)."""

    def __init__(self, slots: StreamSlots, user: str) -> None:
        self._slots = slots
        self._user = user
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._slots._release(self._user)
