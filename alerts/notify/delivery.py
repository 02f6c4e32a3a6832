"""One delivery worker per sink: the outbox's events in order, each retried with capped backoff until it is marked."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from alerts.notify.events import OutboxEvent
from alerts.notify.outbox import Outbox, Outcome
from streamer.backoff import Backoff
from streamer.redaction import redact_text

log = logging.getLogger(__name__)

_POLL_S = 0.5
"""How often an idle worker looks for events no wake-up told it of (a status set by another process)."""


class PermanentFailure(Exception):
    """The receiver refused the event for good (malformed, forbidden): retrying cannot help."""


class Sink(Protocol):
    """Where events go. `skip_reason` is asked once per event, before its first attempt. `send` raises OSError
    (ConnectionError, TimeoutError, …) for a failure worth retrying, PermanentFailure when the receiver refused the
    event for good; any other exception means the event cannot be sent and is not retried either."""

    name: str
    kind: str
    retry_cap_s: float
    """The longest wait between attempts: short where a failed attempt costs nothing (MQTT while disconnected)."""

    def skip_reason(self, event: OutboxEvent) -> str | None: ...

    def send(self, event: OutboxEvent) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SinkState:
    """A sink's worker as the dashboard and /metrics show it."""

    name: str
    kind: str
    target: str
    """Where it sends, with every secret masked."""
    backlog: int
    delivered: int
    skipped: int
    failed: int
    """Events refused for good."""
    attempts_failed: int
    """Attempts that failed since start (each retry counts)."""
    failing: bool
    """The last attempt failed and the worker is backing off."""
    last_error: str | None
    last_delivered_at: datetime | None


class DeliveryWorker(threading.Thread):
    """Sends one sink its outbox events, oldest first; a failing event holds back the ones after it, for this sink
    only. An event is marked in the outbox once sent, so a crash between the send and the mark sends it again
    (at least once: receivers deduplicate by the event's `id`)."""

    def __init__(self, sink: Sink, outbox: Outbox, target: str, *, first_retry_s: float = 0.5,
                 last_retry_s: float = 60.0) -> None:
        super().__init__(name=f"deliver-{sink.name}", daemon=True)
        self.sink = sink
        self._outbox = outbox
        self._target = target
        self._backoff = Backoff(first_retry_s, min(last_retry_s, sink.retry_cap_s), 2.0)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._attempts_failed = 0
        self._failing = False
        self._last_error: str | None = None
        self._last_delivered_at: datetime | None = None

    def wake(self) -> None:
        """New events are stored: look now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        """End after the attempt in flight; what is left stays in the outbox for the next start."""
        self._stopping.set()
        self._wake.set()
        self.join(timeout_s)
        self.sink.close()

    @property
    def failing(self) -> bool:
        """The last attempt failed: the worker is backing off."""
        return self._failing

    def state(self) -> SinkState:
        counts = self._outbox.counts(self.sink.name)
        with self._lock:
            return SinkState(self.sink.name, self.sink.kind, self._target, self._outbox.backlog(self.sink.name),
                             counts[Outcome.DELIVERED], counts[Outcome.SKIPPED], counts[Outcome.FAILED],
                             self._attempts_failed, self._failing, self._last_error, self._last_delivered_at)

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                events = self._outbox.pending(self.sink.name)
            except Exception as error:  # the database is locked or gone: wait as for a failing sink
                self._failed(f"reading the outbox: {error}")
                continue
            if not events:
                self._wake.wait(_POLL_S)
                self._wake.clear()
                continue
            for event in events:
                if not self._deliver(event):
                    return

    def _deliver(self, event: OutboxEvent) -> bool:
        """Send `event` until it is marked; False when stopping first."""
        if (reason := self.sink.skip_reason(event)) is not None:
            return self._mark(event, Outcome.SKIPPED, 0, reason)  # not an attempt: the sink's state stays as it was
        attempts = 0
        while not self._stopping.is_set():
            attempts += 1
            try:
                self.sink.send(event)
            except OSError as error:  # the network, the service or the broker: worth retrying
                self._failed(f"{type(error).__name__}: {error}")
                continue
            except PermanentFailure as error:
                text = redact_text(str(error))
                log.error("sink %s refused %s %s for good, not retried: %s", self.sink.name, event.kind, event.key,
                          text)
                return self._mark(event, Outcome.FAILED, attempts, text)
            except Exception as error:  # the event itself cannot be sent: retrying would hold the sink for ever
                text = redact_text(f"{type(error).__name__}: {error}")
                log.exception("sink %s cannot send %s %s, skipped: %s", self.sink.name, event.kind, event.key, text)
                return self._mark(event, Outcome.FAILED, attempts, text)
            with self._lock:
                self._last_delivered_at = datetime.now(UTC)
                if self._failing:
                    log.info("sink %s delivering again after %d failed attempt(s)", self.sink.name, attempts - 1)
                self._failing, self._last_error = False, None
            self._backoff.reset()
            return self._mark(event, Outcome.DELIVERED, attempts)
        return False

    def _mark(self, event: OutboxEvent, outcome: Outcome, attempts: int, detail: str = "") -> bool:
        """Mark `event`, retrying while the database fails; tried once even when stopping, so that an event just
        sent is not sent again at the next start."""
        while True:
            try:
                self._outbox.mark(self.sink.name, event.id, outcome, attempts, detail)
                return True
            except Exception as error:
                if self._stopping.is_set():
                    return False
                self._failed(f"marking event {event.key}: {error}")

    def _failed(self, error: str) -> None:
        """Note a failed attempt and wait out the backoff (or a stop)."""
        text = redact_text(error)
        with self._lock:
            first = not self._failing
            self._failing, self._last_error = True, text
            self._attempts_failed += 1
        if first:
            log.warning("sink %s failing (%s): retrying with backoff", self.sink.name, text)
        self._stopping.wait(self._backoff.next_delay())
