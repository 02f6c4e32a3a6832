"""Login throttling: failed attempts per key over a sliding window, in memory."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable


class LoginThrottle:
    """Refuses a key (address, user name) that failed `max_attempts` times within `window_s` seconds.

    Example:
        >>> clock = iter([0.0, 1.0, 2.0, 301.0]).__next__
        >>> throttle = LoginThrottle(max_attempts=2, window_s=300, clock=clock)
        >>> throttle.fail("k"); throttle.fail("k")
        >>> throttle.retry_after("k"), throttle.retry_after("k")
        (298.0, None)
    """

    def __init__(self, max_attempts: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if max_attempts < 1 or window_s <= 0:
            raise ValueError(f"max_attempts {max_attempts} must be at least 1 and window_s {window_s} positive")
        self._max_attempts = max_attempts
        self._window_s = window_s
        self._clock = clock
        self._failures: dict[Hashable, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: Hashable) -> float | None:
        """Seconds until `key` may try again, or None if it may now."""
        with self._lock:
            now = self._clock()
            failures = self._failures.get(key)
            if failures is None:
                return None
            self._forget_old(failures, now)
            if len(failures) < self._max_attempts:
                return None
            return failures[-self._max_attempts] + self._window_s - now

    def fail(self, key: Hashable) -> None:
        with self._lock:
            now = self._clock()
            self._failures.setdefault(key, deque(maxlen=self._max_attempts)).append(now)
            # Forget quiet keys so that guessing many user names cannot grow memory without bound.
            for other in [k for k, failures in self._failures.items() if failures[-1] <= now - self._window_s]:
                del self._failures[other]

    def reset(self, key: Hashable) -> None:
        """Forget `key`'s failures (after it logged in)."""
        with self._lock:
            self._failures.pop(key, None)

    def _forget_old(self, failures: deque[float], now: float) -> None:
        while failures and failures[0] <= now - self._window_s:
            failures.popleft()
