"""Capped exponential backoff for reconnect attempts, and the policy a camera's config gives it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat


class Backoff:
    """Delays that grow by `multiplier` per failure, up to `max_s`.

    Example:
        >>> b = Backoff(initial_s=1, max_s=5, multiplier=2)
        >>> [b.next_delay() for _ in range(4)]
        [1, 2, 4, 5]
        >>> b.reset(); b.next_delay()
        1
    """

    def __init__(self, initial_s: float, max_s: float, multiplier: float = 2.0) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.multiplier = multiplier
        self.failures = 0

    def next_delay(self) -> float:
        """Delay before the next attempt; counts one more failure."""
        delay = min(self.max_s, self.initial_s * self.multiplier**self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        """Start again from `initial_s` after a success."""
        self.failures = 0


class ReconnectPolicy(BaseModel):
    """Backoff between reconnect attempts of a network camera, validated: a camera's `reconnect` in the config is
    this very type.

    Example:
        >>> [ReconnectPolicy(initial_s=0.5).backoff().next_delay() for _ in range(2)]
        [0.5, 0.5]
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_s: PositiveFloat = 1.0
    max_s: PositiveFloat = 30.0
    multiplier: float = Field(2.0, ge=1.0)

    def backoff(self) -> Backoff:
        """A fresh backoff that follows this policy."""
        return Backoff(self.initial_s, self.max_s, self.multiplier)
