"""The single writer: snapshots and alert rows saved off the detection thread, in order, journaled while the store lags."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, NotSupportedError, ProgrammingError

from alerts.alert import AlertEnded, AlertStarted, AlertUpdated
from alerts.journal import Journal
from alerts.snapshots import Render, SnapshotWriter, boxes_only, raw_frame_path
from alerts.store import AlertStore
from alerts.store_writes import (
    BestMoment,
    CameraStatusChanged,
    ClipSaved,
    CloseLeftOpen,
    NewAlert,
    PurgeExpired,
    StoreWrite,
    from_record,
    to_record,
)

log = logging.getLogger(__name__)

_STOP = object()
_REMEMBERED_ALERTS = 10_000
"""Alert keys kept for late updates and clip paths; the oldest are forgotten first (then the store is asked)."""
_FIRST_RETRY_S = 0.1
_LAST_RETRY_S = 5.0
"""Retries of a failing store back off from the first to the last delay, doubling."""
_CLOSED_NOTE = "closed at start-up, once the journal was replayed: Vigil stopped without ending it"

WriterEvent = AlertStarted | AlertUpdated | AlertEnded | ClipSaved | PurgeExpired | CameraStatusChanged


@dataclass(frozen=True, slots=True)
class WriterStats:
    queued: int
    """Events waiting in memory."""
    journaled: int
    """Events written to the journal since start."""
    replayed: int
    """Journal records applied to the store since start (the start-up replay of a crashed run's journal included)."""
    pending_in_journal: int
    """Journal records not yet applied."""
    dropped: int
    """Events neither storable nor journaled: invalid values, or no disk left for the journal."""
    store_failing: bool


class AlertWriter(threading.Thread):
    """Writes events in order, a snapshot file before the row that points to it; `submit` never waits.

    Events wait in a bounded in-memory queue. When it is full, or the store
    fails a write (locked past its busy timeout, disk error, ...), events go
    to an fsync'd journal under `journal_dir` instead: first the failed one
    and those queued behind it (`held.jsonl`), then everything submitted
    until the journal is replayed (`spilled.jsonl`). The writer replays it in
    order, retrying with capped backoff, then returns to the in-memory path.
    Journal records carry snapshot paths, not images: an event's snapshot is
    written before it is journaled.

    A row is committed (WAL, synchronous=FULL) before its "alert N" log
    line, so a logged alert survives a crash; so does a journaled one: a
    journal left by a crash is replayed before anything new, alerts found by
    their key so none is stored twice, then the alerts left open are closed.
    Only the events still queued in memory are lost to a crash.

    Example:
        >>> writer = AlertWriter(store, "data/media", journal_dir="data/vigil.db.journal")  # doctest: +SKIP
        >>> writer.start(); writer.submit(events); writer.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        store: AlertStore,
        media_dir: str | Path,
        *,
        journal_dir: str | Path,
        render: Render = boxes_only,
        max_pending: int = 1000,
        jpeg_quality: int = 90,
        on_stored: Callable[[], None] = lambda: None,
        cameras: Collection[str] | None = None,
    ) -> None:
        super().__init__(name="alert-writer", daemon=True)
        if max_pending < 1:
            raise ValueError(f"max_pending {max_pending} must be at least 1")
        self._store = store
        self._on_stored = on_stored
        """Called after each write is committed: its outbox events are there for the sinks."""
        self._snapshots = SnapshotWriter(media_dir, render, jpeg_quality, remembered=_REMEMBERED_ALERTS)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self._journal_dir = Path(journal_dir)
        self._held = Journal(self._journal_dir / "held.jsonl")
        self._spilled = Journal(self._journal_dir / "spilled.jsonl")
        self._ids: OrderedDict[str, int] = OrderedDict()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        """Orders submitters and the switch between the queue and the journal."""
        self._journaling = False
        """New events go to the journal (behind what it holds), not to the queue."""
        self._counts_lock = threading.Lock()
        self._journaled = self._replayed = self._dropped = self._replayed_in_episode = 0
        self._failure: str | None = None
        left = self._held.pending + self._spilled.pending
        if left:
            self._journaling = True
            owned = None if cameras is None else tuple(sorted(cameras))  # a cluster's worker: its cameras only
            self._spilled.append(to_record(CloseLeftOpen(datetime.now(UTC), owned)))
            log.info("%d write(s) left in the journal %s by the last run: replaying them first", left,
                     self._journal_dir)

    def submit(self, events: Iterable[WriterEvent]) -> None:
        """Queue events; never waits: with the queue full or the store failing, they are journaled here and now."""
        with self._lock:
            for event in events:
                if not self._journaling:
                    try:
                        self._queue.put_nowait(event)
                        continue
                    except queue.Full:
                        self._journaling = True
                        log.warning("alert writer %d event(s) behind: journaling to %s until it catches up",
                                    self._queue.maxsize, self._journal_dir)
                self._journal(self._spilled, event)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Write everything submitted so far to the store, or leave it in the journal if the store fails; end the thread.

        Returns within `timeout_s` even if the store hangs, saying what is left.
        """
        self._stopping.set()
        with self._lock, contextlib.suppress(queue.Full):
            if not self._journaling:
                self._queue.put_nowait(_STOP)
        self.join(timeout_s)
        if self.is_alive():
            log.warning("alert writer still busy after %g s: %d event(s) queued in memory, %d write(s) in the journal "
                        "%s", timeout_s, self._queue.qsize(), self._pending(), self._journal_dir)

    def stats(self) -> WriterStats:
        """The queue's and the journal's counters, for metrics."""
        with self._counts_lock:
            return WriterStats(self._queue.qsize(), self._journaled, self._replayed, self._pending(), self._dropped,
                               self._failure is not None)

    def run(self) -> None:
        while True:
            if self._journaling and self._queue.empty():
                if not self._catch_up():
                    break
            elif self._stopping.is_set() and self._queue.empty():
                break
            elif (event := self._queue.get()) is not _STOP:
                self._take(event)
        if self._pending():
            log.warning("alert writer stopped with the store failing: %d write(s) left in the journal %s for the next "
                        "start", self._pending(), self._journal_dir)

    def _take(self, event: WriterEvent) -> None:
        """Store one queued event; if the store fails, journal it and everything queued behind it."""
        write = self._without_images(event)
        try:
            self._apply(write)
        except Exception as error:
            if not _store_unavailable(error):
                self._drop(write, error)
                return
            self._store_failed(error)
            with self._lock:
                self._journaling = True
            self._journal(self._held, write)
            while True:
                try:
                    behind = self._queue.get_nowait()
                except queue.Empty:
                    break
                if behind is not _STOP:
                    self._journal(self._held, behind)

    def _catch_up(self) -> bool:
        """Apply the journal oldest first, waiting out store failures; False when stopping leaves writes in it."""
        delay = _FIRST_RETRY_S
        for journal in (self._held, self._spilled):
            while (record := journal.peek()) is not None:
                try:
                    self._apply(from_record(record))
                except Exception as error:
                    if _store_unavailable(error):
                        self._store_failed(error)
                        if self._stopping.is_set():
                            return False
                        self._stopping.wait(delay)
                        delay = min(2 * delay, _LAST_RETRY_S)
                        continue
                    self._drop(record, error)
                else:
                    with self._counts_lock:
                        self._replayed += 1
                        self._replayed_in_episode += 1
                journal.pop()
                delay = _FIRST_RETRY_S
        with self._lock:
            if not (self._held.clear_if_replayed() and self._spilled.clear_if_replayed()):
                return True
            self._journaling = False
        with self._counts_lock:
            failed, replayed = self._failure is not None, self._replayed_in_episode
            self._failure, self._replayed_in_episode = None, 0
        log.info("alert store %s: %d write(s) replayed from the journal %s",
                 "accepting writes again" if failed else "caught up", replayed, self._journal_dir)
        return True

    def _journal(self, journal: Journal, event: WriterEvent | StoreWrite) -> None:
        write = self._without_images(event)
        try:
            journal.append(to_record(write))
        except (OSError, TypeError, ValueError) as error:
            self._drop(write, error)
            return
        with self._counts_lock:
            self._journaled += 1

    def _without_images(self, event: WriterEvent | StoreWrite) -> StoreWrite:
        """The event as a store write, its snapshot written first."""
        match event:
            case AlertStarted():
                return self._snapshots.started(event)
            case AlertUpdated():
                return self._snapshots.improved(event)
        return event

    def _apply(self, write: StoreWrite) -> None:
        match write:
            case NewAlert(alert=alert):
                alert_id = self._store.insert(alert)
                self._remember(alert.key, alert_id)
                log.info(
                    "alert %d: %s on %s, %s #%d (%.2f)%s", alert_id, alert.rule, alert.camera, alert.label,
                    alert.track_id, alert.score, f" {alert.details}" if alert.details else "",
                )
            case BestMoment(key=key, score=score, box=box, snapshot_path=snapshot_path, details=details):
                if (alert_id := self._id_for(key)) is not None:
                    self._store.update_best(alert_id, score, box, snapshot_path, details)
            case AlertEnded(key=key, ended_at=ended_at):
                if (alert_id := self._id_for(key)) is not None:
                    self._store.end(alert_id, ended_at)
            case ClipSaved(key=key, path=path, starts_at=starts_at, ends_at=ends_at):
                if (alert_id := self._id_for(key)) is not None:
                    self._store.set_clip(alert_id, str(path), starts_at, ends_at)
            case PurgeExpired(cutoff=cutoff):
                self._purge(cutoff)
            case CloseLeftOpen(at=at, cameras=cameras):
                if closed := self._store.close_open(at, _CLOSED_NOTE, cameras=cameras):
                    log.warning("closed %d alert(s) replayed from the journal of a run that did not stop cleanly",
                                closed)
            case CameraStatusChanged(camera=camera, status=status, at=at, error=error):
                self._store.record_camera_status(camera, status, at, error)
        self._on_stored()

    def _id_for(self, key: str) -> int | None:
        """The stored alert's id: remembered, or else asked of the store (after a restart, or once forgotten)."""
        if (alert_id := self._ids.get(key)) is None and (alert_id := self._store.id_for_key(key)) is not None:
            self._remember(key, alert_id)
        return alert_id

    def _remember(self, key: str, alert_id: int) -> None:
        self._ids[key] = alert_id
        self._ids.move_to_end(key)
        while len(self._ids) > _REMEMBERED_ALERTS:
            self._ids.popitem(last=False)

    def _purge(self, cutoff: datetime) -> None:
        deleted = self._store.delete_before(cutoff)
        files = [Path(p) for alert in deleted for p in (alert.snapshot_path, alert.clip_path) if p]
        files += [raw_frame_path(alert.snapshot_path) for alert in deleted if alert.snapshot_path]
        for path in files:
            path.unlink(missing_ok=True)
        for alert in deleted:
            self._ids.pop(alert.key, None)
        if deleted:
            log.info("retention: deleted %d alert(s) started before %s and %d media file(s)", len(deleted), cutoff, len(files))

    def _store_failed(self, error: Exception) -> None:
        with self._counts_lock:
            first, self._failure = self._failure is None, _error_text(error)
        if first:
            log.warning("alert store failing (%s): journaling to %s and retrying", self._failure, self._journal_dir)

    def _drop(self, write: object, error: Exception) -> None:
        with self._counts_lock:
            self._dropped += 1
        log.error("alert writer: %s cannot be stored or journaled, dropped: %s", _describe(write), _error_text(error))

    def _pending(self) -> int:
        return self._held.pending + self._spilled.pending


def _store_unavailable(error: Exception) -> bool:
    """The database refused the write for its own reasons (locked, disk, gone), not because of the values."""
    return isinstance(error, DBAPIError) and not isinstance(
        error, IntegrityError | DataError | ProgrammingError | NotSupportedError
    )


def _error_text(error: Exception) -> str:
    """The driver's own message: SQLAlchemy's text also holds the statement's parameters."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    return f"{type(cause).__name__}: {cause}"


def _describe(write: object) -> str:
    match write:
        case NewAlert(alert=alert):
            return f"the {alert.rule} alert {alert.key} on {alert.camera}"
        case BestMoment(key=key) | AlertEnded(key=key) | ClipSaved(key=key):
            return f"{type(write).__name__} of alert {key}"
        case {"write": kind}:
            return f"the journal record {kind!r}"
    return type(write).__name__
