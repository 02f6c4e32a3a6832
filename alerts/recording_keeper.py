"""The recordings index's one writer: indexes the segments recorders finish, and applies retention."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import av.error

from alerts.recording_retention import Retention
from alerts.recordings import RecordingIndex
from streamer.segments import RecordedSegment, read_segment

log = logging.getLogger(__name__)

_STOP = object()
_RECONCILED_DAYS = 2
"""Days of each camera's folders compared with the index at start (segments a crash or a store outage left out)."""
_RETRY_S = 5.0
_MAX_HELD = 20_000
"""Segments held in memory while the store fails; past this the oldest are left for the next start to index."""


class RecordingKeeper(threading.Thread):
    """Indexes finished segments in order, applies retention every `every_s`; `submit` never blocks.

    Segments wait in a bounded queue; while the store fails they are held and retried. A segment that finds the
    queue full is only counted: its file is on disk, and the next start indexes it (`reconcile`).
    `on_indexed(camera, end)` says how far each camera's indexed footage reaches.
    """

    def __init__(self, index: RecordingIndex, retention: Retention, cameras: list[str], *,
                 on_indexed: Callable[[str, datetime], None] = lambda camera, end: None,
                 every_s: float = 60.0, max_pending: int = 10_000) -> None:
        super().__init__(name="recording-keeper", daemon=True)
        self._index = index
        self._retention = retention
        self._cameras = cameras
        self._on_indexed = on_indexed
        self._every_s = every_s
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self._held: list[RecordedSegment] = []
        self.overflowed = 0
        """Segments not indexed because the queue was full (indexed at the next start)."""

    def submit(self, segment: RecordedSegment) -> None:
        try:
            self._queue.put_nowait(segment)
        except queue.Full:
            if not self.overflowed:
                log.error("recordings: the index is not keeping up; %s is left for the next start to index",
                          segment.path)
            self.overflowed += 1

    def stop(self) -> None:
        """Index everything submitted so far, then end the thread."""
        while self.is_alive():
            try:
                self._queue.put(_STOP, timeout=1.0)
                break
            except queue.Full:
                continue
        self.join()

    def run(self) -> None:
        try:
            self.reconcile()
        except Exception:  # the keeper must index and apply retention whatever the start-up scan hits
            log.exception("recordings: comparing the files on disk with the index failed; going on without it")
        next_pass = time.monotonic()
        stopping = False
        while not stopping:
            wait_s = max(0.0, next_pass - time.monotonic())
            if self._held:
                wait_s = min(wait_s, _RETRY_S)
            try:
                item = self._queue.get(timeout=wait_s)
            except queue.Empty:
                item = None
            while item is not None:
                if item is _STOP:
                    stopping = True
                    break
                assert isinstance(item, RecordedSegment)
                self._held.append(item)
                if len(self._held) > _MAX_HELD:
                    dropped = self._held.pop(0)
                    self.overflowed += 1
                    log.error("recordings: the index has failed too long; %s is left for the next start to index",
                              dropped.path)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            self._flush()
            if time.monotonic() >= next_pass:
                try:
                    self._retention.apply(datetime.now(UTC))
                except Exception:  # the keeper must go on indexing whatever a pass hits
                    log.exception("recordings: retention pass failed; retrying in %g s", self._every_s)
                next_pass = time.monotonic() + self._every_s

    def _flush(self) -> None:
        if not self._held:
            return
        try:
            self._index.add(self._held)
        except Exception as error:  # the segments stay held and are retried
            log.warning("recordings: indexing %d segment(s) failed (%s); retrying", len(self._held), error)
            return
        reached: dict[str, datetime] = {}
        for segment in self._held:
            reached[segment.camera] = max(segment.end, reached.get(segment.camera, segment.end))
        self._held = []
        for camera, end in reached.items():
            self._on_indexed(camera, end)

    def reconcile(self) -> int:
        """Index the segment files of the last days that the index lacks; returns how many."""
        found: list[RecordedSegment] = []
        for camera in self._cameras:
            days = sorted((self._index.root / camera).glob("????-??-??"))[-_RECONCILED_DAYS:]
            files = sorted(path for day in days for path in day.glob("*/*.mp4"))
            if not files:
                continue
            known = self._index.indexed_paths(camera, datetime.strptime(days[0].name, "%Y-%m-%d").replace(tzinfo=UTC))
            for path in files:
                if self._index.relative(path) in known:
                    continue
                try:
                    found.append(read_segment(camera, path))
                except (ValueError, OSError, av.error.FFmpegError) as error:
                    log.warning("recordings: %s is not a readable segment (%s); left out of the index", path, error)
        if found:
            self._index.add(found)
            log.info("recordings: indexed %d segment(s) found on disk but missing from the index", len(found))
        return len(found)
