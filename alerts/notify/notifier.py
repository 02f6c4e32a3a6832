"""The notifier: the outbox and one delivery worker per sink, started and stopped together."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from alerts.notify.delivery import DeliveryWorker, Sink, SinkState
from alerts.notify.outbox import Delivery, Outbox

log = logging.getLogger(__name__)

_PRUNE_EVERY_S = 3600.0


class UnknownSink(LookupError):
    pass


class Notifier:
    """Delivers the outbox to every sink, each at its own pace: a dead sink holds back only its own events.

    `targets` says, per sink name, where it sends with secrets masked (for the dashboard). Events stored more
    than `keep_days` ago that every sink has marked are deleted hourly.

    Example:
        >>> notifier = Notifier(Outbox(store.engine), [sink], {"mqtt": "mqtt://broker:1883"})  # doctest: +SKIP
        >>> notifier.start(); notifier.wake(); notifier.stop()  # doctest: +SKIP
    """

    def __init__(self, outbox: Outbox, sinks: Sequence[Sink], targets: dict[str, str], *, keep_days: float = 7.0,
                 first_retry_s: float = 0.5, last_retry_s: float = 60.0) -> None:
        self.outbox = outbox
        self._keep = timedelta(days=keep_days)
        self.workers = {sink.name: DeliveryWorker(sink, outbox, targets.get(sink.name, sink.kind),
                                                  first_retry_s=first_retry_s, last_retry_s=last_retry_s)
                        for sink in sinks}
        self._stopping = threading.Event()
        self._pruner = threading.Thread(target=self._prune_hourly, name="outbox-prune", daemon=True)

    def start(self) -> None:
        self.outbox.register({name: worker.sink.kind for name, worker in self.workers.items()})
        for worker in self.workers.values():
            worker.start()
        self._pruner.start()
        if self.workers:
            log.info("notifications: %s", ", ".join(f"{name} ({w.sink.kind})" for name, w in self.workers.items()))

    def wake(self) -> None:
        """New events are in the outbox."""
        for worker in self.workers.values():
            worker.wake()

    def drain(self, timeout_s: float, *, failing_too: bool = False) -> bool:
        """Wait, at most `timeout_s`, until no sink has a backlog, giving up on sinks that are failing unless
        `failing_too`; says whether every backlog is empty."""
        deadline = time.monotonic() + timeout_s
        while busy := [name for name, worker in self.workers.items() if self.outbox.backlog(name)]:
            if time.monotonic() >= deadline or not failing_too and all(self.workers[name].failing for name in busy):
                return False
            self.wake()
            self._stopping.wait(0.1)
        return True

    def stop(self) -> None:
        self._stopping.set()
        for worker in self.workers.values():
            worker.stop()
        left = {name: backlog for name in self.workers if (backlog := self.outbox.backlog(name))}
        if left:
            log.warning("notifications left for the next start: %s",
                        ", ".join(f"{n} {count} event(s)" for n, count in left.items()))

    def states(self) -> list[SinkState]:
        return [worker.state() for worker in self.workers.values()]

    def send_test(self, sink: str, actor: str) -> None:
        """Queue a test message to `sink` alone; raises UnknownSink."""
        if sink not in self.workers:
            raise UnknownSink(f"no sink {sink!r}")
        self.outbox.add_test(sink, actor)
        self.workers[sink].wake()

    def deliveries_of_alert(self, alert_id: int) -> list[Delivery]:
        return self.outbox.deliveries_of_alert(alert_id)

    def _prune_hourly(self) -> None:
        while True:
            try:
                if pruned := self.outbox.prune(datetime.now(UTC) - self._keep, self.workers):
                    log.info("outbox: deleted %d event(s) every sink had, older than %s", pruned, self._keep)
            except Exception as error:
                log.warning("outbox: pruning failed: %s", error)
            if self._stopping.wait(_PRUNE_EVERY_S):
                return
