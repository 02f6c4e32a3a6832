"""The single writer: saves snapshots and alert rows off the detection thread, in order."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from alerts.alert import Alert, AlertEnded, AlertStarted, AlertUpdated
from alerts.annotation import CameraShapes, annotate
from alerts.store import AlertStore

log = logging.getLogger(__name__)

_STOP = object()
_REMEMBERED_ALERTS = 10_000
"""Alert keys kept for late clip paths; the oldest are forgotten first."""


@dataclass(frozen=True, slots=True)
class ClipSaved:
    key: str
    path: Path


@dataclass(frozen=True, slots=True)
class PurgeExpired:
    """Delete resolved and false-positive alerts that started before `cutoff`, with their media."""

    cutoff: datetime


WriterEvent = AlertStarted | AlertUpdated | AlertEnded | ClipSaved | PurgeExpired


def raw_frame_path(snapshot_path: str | Path) -> Path:
    """Where the undrawn frame of a snapshot is kept: the picture fine-tuning learns from when operators review."""
    return Path(snapshot_path).with_suffix(".frame.jpg")


def snapshot_detections(alert: Alert, score: float | None = None, box: tuple[float, ...] | None = None) -> sv.Detections:
    """The alert's object as a one-row Detections, for drawing."""
    return sv.Detections(
        xyxy=np.array([box or alert.box], dtype=np.float32),
        confidence=np.array([alert.score if score is None else score], dtype=np.float32),
        class_id=np.zeros(1, dtype=int),
        tracker_id=np.array([alert.track_id]),
        data={"class_name": np.array([alert.label])},
    )


class AlertWriter(threading.Thread):
    """Consumes events in order: a snapshot file is written before the row that points to it.

    The queue is bounded; a full queue makes the producer wait rather than
    lose an alert. A row is committed (WAL, synchronous=FULL) before its
    "alert N" log line, so a logged alert survives a crash.
    """

    def __init__(
        self,
        store: AlertStore,
        media_dir: str | Path,
        shapes: Mapping[str, CameraShapes] | None = None,
        max_pending: int = 1000,
        jpeg_quality: int = 90,
    ) -> None:
        super().__init__(name="alert-writer", daemon=True)
        self._store = store
        self._media_dir = Path(media_dir)
        self._shapes = dict(shapes or {})
        self._jpeg_quality = jpeg_quality
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self._alerts: OrderedDict[str, tuple[Alert, Path]] = OrderedDict()

    def submit(self, events: Iterable[WriterEvent]) -> None:
        for event in events:
            self._queue.put(event)

    def stop(self) -> None:
        """Write everything submitted so far, then end the thread."""
        self._queue.put(_STOP)
        self.join()

    def run(self) -> None:
        while (event := self._queue.get()) is not _STOP:
            try:
                self._write(event)
            except Exception:
                log.exception("writing %s failed", type(event).__name__)

    def _write(self, event: object) -> None:
        match event:
            case AlertStarted(alert=alert, frame=frame):
                path = self._snapshot_path(alert)
                self._save_snapshot(path, alert, frame.image)
                alert.snapshot_path = str(path)
                alert.id = self._store.insert(alert)
                self._remember(alert, path)
                log.info(
                    "alert %d: %s on %s, %s #%d (%.2f)%s", alert.id, alert.rule, alert.camera, alert.label,
                    alert.track_id, alert.score, f" {alert.details}" if alert.details else "",
                )
            case AlertUpdated(key=key, score=score, box=box, frame=frame, details=details) if key in self._alerts:
                alert, path = self._alerts[key]
                self._save_snapshot(path, alert, frame.image, score, box)
                self._store.update_best(alert.id, score, box, str(path), details)
            case AlertEnded(key=key, ended_at=ended_at) if key in self._alerts:
                self._store.end(self._alerts[key][0].id, ended_at)
            case ClipSaved(key=key, path=path) if key in self._alerts:
                self._store.set_clip(self._alerts[key][0].id, str(path))
            case PurgeExpired(cutoff=cutoff):
                self._purge(cutoff)

    def _remember(self, alert: Alert, path: Path) -> None:
        self._alerts[alert.key] = (alert, path)
        while len(self._alerts) > _REMEMBERED_ALERTS:
            self._alerts.popitem(last=False)

    def _snapshot_path(self, alert: Alert) -> Path:
        folder = self._media_dir / alert.camera / alert.started_at.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{alert.started_at.strftime('%H%M%S')}-{alert.rule}-{alert.key[:8]}.jpg"

    def _save_snapshot(
        self, path: Path, alert: Alert, image: np.ndarray, score: float | None = None, box: tuple[float, ...] | None = None
    ) -> None:
        shapes = self._shapes.get(alert.camera)
        picture = annotate(image, snapshot_detections(alert, score, box), shapes)
        self._save_jpeg(raw_frame_path(path), image, alert)
        self._save_jpeg(path, picture, alert)

    def _save_jpeg(self, path: Path, image: np.ndarray, alert: Alert) -> None:
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._jpeg_quality])
        if not ok:
            raise OSError(f"cannot encode snapshot for alert on {alert.camera}")
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(encoded.tobytes())
        os.replace(temporary, path)

    def _purge(self, cutoff: datetime) -> None:
        deleted = self._store.delete_before(cutoff)
        files = [Path(p) for alert in deleted for p in (alert.snapshot_path, alert.clip_path) if p]
        files += [raw_frame_path(alert.snapshot_path) for alert in deleted if alert.snapshot_path]
        for path in files:
            path.unlink(missing_ok=True)
        if deleted:
            log.info("retention: deleted %d alert(s) started before %s and %d media file(s)", len(deleted), cutoff, len(files))
