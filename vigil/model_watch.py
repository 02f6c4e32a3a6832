"""Follows the registry's live model in a running pipeline: a promotion or rollback swaps the detector in place."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from detector import YoloDetector
from finetune.registry import ModelRegistry, ModelVersion

log = logging.getLogger(__name__)

POLL_S = 1.0


class LiveModelWatcher(threading.Thread):
    """Checks the live pointer every `poll_s`; a new live version is loaded (exported first when the backend
    needs it) and warmed up on this thread, one detector per device, while the old model keeps serving; then
    `swap` hands them to the batchers, which switch between two batches.

    A model that fails to load, or lacks a class the rules use, is refused and the old one kept.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        running: ModelVersion,
        load: Callable[[ModelVersion], Sequence[YoloDetector]],
        swap: Callable[[Sequence[YoloDetector]], None],
        check: Callable[[YoloDetector], list[str]],
        poll_s: float = POLL_S,
    ) -> None:
        super().__init__(name="live-model", daemon=True)
        self.registry = registry
        self.serving = running.version
        """The version handed to the batcher last (it serves from the batch after that)."""
        self._considered = running.version
        self._problem: str | None = None
        self._load = load
        self._swap = swap
        self._check = check
        self._poll_s = poll_s
        self._stop_requested = threading.Event()  # not `_stop`: threading.Thread has a method of that name
        self.changed = threading.Condition()

    def run(self) -> None:
        while not self._stop_requested.wait(self._poll_s):
            self.follow()

    def follow(self) -> None:
        """One look at the live pointer: load, check and hand over a newly promoted version."""
        try:
            wanted = self.registry.live()
        except Exception as error:
            if str(error) != self._problem:  # once per distinct problem, not every second
                self._problem = str(error)
                log.error("cannot read the live model, %s keeps serving: %s", self.serving, error)
            return
        self._problem = None
        if wanted.version != self._considered:
            self._considered = wanted.version  # a model that is refused is not retried every second
            self._switch(wanted)

    def _switch(self, wanted: ModelVersion) -> None:
        log.info("live model changed to %s; loading it while %s keeps serving", wanted.version, self.serving)
        try:
            detectors = self._load(wanted)
        except Exception:
            log.exception("model %s failed to load; %s keeps serving", wanted.version, self.serving)
            return
        problems = self._check(detectors[0])
        if problems:
            log.error("model %s refused, %s keeps serving: %s", wanted.version, self.serving, "; ".join(problems))
            return
        self._swap(detectors)
        with self.changed:
            self.serving = wanted.version
            self.changed.notify_all()
        log.info("model %s handed to the detector; it serves from the next batch", wanted.version)

    def wait_for(self, version: str, timeout: float) -> bool:
        """True once `version` has been handed to the batcher (tests and tools)."""
        with self.changed:
            return self.changed.wait_for(lambda: self.serving == version, timeout)

    def stop(self) -> None:
        self._stop_requested.set()
