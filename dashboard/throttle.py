"""Login throttling in memory: attempts per (address, name) and per address over a sliding window, and a growing
delay per account after repeated failures from anywhere."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    """What a refused login attempt has used up."""

    NAME_FROM_ADDRESS = "name-from-address"
    """Tries at one user name from one address."""
    ADDRESS = "address"
    """Tries at any names from one address (spraying one password over many names)."""
    ACCOUNT = "account"
    """Failures at one user name from every address: the account's backoff."""


@dataclass(frozen=True, slots=True)
class Refusal:
    scope: Scope
    retry_after_s: float


def client_network(address: str | None) -> str:
    """What the throttle counts as one client: its IPv4 address, or its IPv6 /64 (one subscriber holds a whole /64,
    so counting single IPv6 addresses would let it spray at will).

    Example:
        >>> client_network("2001:db8:1:2:aaaa::1"), client_network("10.0.0.9"), client_network("::ffff:10.0.0.9")
        ('2001:db8:1:2::/64', '10.0.0.9', '10.0.0.9')
    """
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or ""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class _SlidingWindow:
    """The times of each key's last `limit` attempts, keys in order of their latest attempt."""

    def __init__(self, limit: int, window_s: float) -> None:
        self._limit = limit
        self._window_s = window_s
        self._times: OrderedDict[Hashable, deque[float]] = OrderedDict()

    def wait(self, key: Hashable, now: float) -> float:
        """Seconds until `key` may try again; 0 if it may now."""
        times = self._times.get(key)
        if times is None or len(times) < self._limit:
            return 0.0
        return max(0.0, times[0] + self._window_s - now)

    def record(self, key: Hashable, now: float) -> None:
        self._times.setdefault(key, deque(maxlen=self._limit)).append(now)
        self._times.move_to_end(key)

    def __len__(self) -> int:
        return len(self._times)

    def forget(self, key: Hashable) -> None:
        self._times.pop(key, None)

    def take_back_latest(self, key: Hashable) -> None:
        times = self._times.get(key)
        if times:
            times.pop()

    def forget_quiet(self, now: float) -> None:
        """Drop keys whose latest attempt has left the window (the oldest-latest come first)."""
        while self._times:
            key, times = next(iter(self._times.items()))
            if times and times[-1] > now - self._window_s:
                return
            del self._times[key]


class _Backoff:
    """Per key: failures in a row and the time of the latest; past `free` failures each try waits twice as long."""

    def __init__(self, free: int, max_delay_s: float, forget_after_s: float) -> None:
        self._free = free
        self._max_delay_s = max_delay_s
        self._forget_after_s = forget_after_s
        self._failures: OrderedDict[Hashable, tuple[int, float]] = OrderedDict()

    def wait(self, key: Hashable, now: float) -> float:
        count, latest = self._failures.get(key, (0, now))
        if count < self._free:
            return 0.0
        delay = min(self._max_delay_s, 2.0 ** (count - self._free))
        return max(0.0, latest + delay - now)

    def record(self, key: Hashable, now: float) -> None:
        count, _ = self._failures.get(key, (0, now))
        self._failures[key] = (count + 1, now)
        self._failures.move_to_end(key)

    def __len__(self) -> int:
        return len(self._failures)

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def forget_quiet(self, now: float) -> None:
        while self._failures:
            key, (_, latest) = next(iter(self._failures.items()))
            if latest > now - self._forget_after_s:
                return
            del self._failures[key]


class LoginThrottle:
    """Counts each login attempt before its password is checked, so parallel guesses cannot slip past the limits.

    An attempt is refused when its (address, name) made `per_name` attempts within `window_s`, its address made
    `per_address` attempts at any names within `window_s`, or while its name waits out the backoff: after `per_name`
    failures from anywhere each further try waits 1, 2, 4 … up to `backoff_max_s` seconds after the one before. A
    login clears its name's counts; the backoff never locks a user out for longer than `backoff_max_s`.

    Example:
        >>> now = [0.0]
        >>> throttle = LoginThrottle(per_name=2, per_address=10, window_s=300, backoff_max_s=30, clock=lambda: now[0])
        >>> throttle.attempt("10.0.0.9", "ana"), throttle.attempt("10.0.0.9", "ana")
        (None, None)
        >>> throttle.attempt("10.0.0.9", "ana")
        Refusal(scope=<Scope.NAME_FROM_ADDRESS: 'name-from-address'>, retry_after_s=300.0)
        >>> throttle.attempt("10.0.0.7", "ana")
        Refusal(scope=<Scope.ACCOUNT: 'account'>, retry_after_s=1.0)
        >>> now[0] = 1.0
        >>> throttle.attempt("10.0.0.7", "ana") is None
        True
    """

    def __init__(
        self,
        per_name: int = 5,
        per_address: int = 20,
        window_s: float = 300.0,
        backoff_max_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min(per_name, per_address) < 1 or window_s <= 0 or backoff_max_s <= 0:
            raise ValueError(f"per_name {per_name} and per_address {per_address} must be at least 1, window_s "
                             f"{window_s} and backoff_max_s {backoff_max_s} positive")
        self._pairs = _SlidingWindow(per_name, window_s)
        self._addresses = _SlidingWindow(per_address, window_s)
        self._accounts = _Backoff(per_name, backoff_max_s, forget_after_s=window_s)
        self._clock = clock
        self._lock = threading.Lock()

    def attempt(self, address: Hashable, name: str, known_device: bool = False) -> Refusal | None:
        """Count an attempt to log in as `name` from `address`, or refuse it (and count nothing).

        A `known_device` (a browser where `name` logged in before, which the caller passes as its own `address`)
        waits out neither the account's backoff nor an address budget, so an attacker keeping those armed, or
        sharing an office's address, cannot shut the user out; its own (device, name) limit still holds. Call before checking the password; call `succeeded` when it
        was right.
        """
        with self._lock:
            now = self._clock()
            for keys in (self._pairs, self._addresses, self._accounts):
                keys.forget_quiet(now)
            waits = {
                Scope.NAME_FROM_ADDRESS: self._pairs.wait((address, name), now),
                Scope.ADDRESS: 0.0 if known_device else self._addresses.wait(address, now),
                Scope.ACCOUNT: 0.0 if known_device else self._accounts.wait(name, now),
            }
            scope = max(waits, key=waits.__getitem__)
            if waits[scope] > 0:
                return Refusal(scope, waits[scope])
            self._pairs.record((address, name), now)
            self._addresses.record(address, now)
            self._accounts.record(name, now)
            return None

    def __len__(self) -> int:
        """How many keys it remembers; those quiet for a whole window are forgotten, so this stays bounded."""
        with self._lock:
            return len(self._pairs) + len(self._addresses) + len(self._accounts)

    def succeeded(self, address: Hashable, name: str) -> None:
        """The attempt just counted was a login: forget the name's failures, and give the address its try back."""
        with self._lock:
            self._pairs.forget((address, name))
            self._accounts.forget(name)
            self._addresses.take_back_latest(address)
