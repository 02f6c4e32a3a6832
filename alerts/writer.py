"""The single writer: saves snapshots and alert rows off the detection thread."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from alerts.alert import Alert, AlertEnded, AlertStarted, RuleEvent
from alerts.annotation import annotate
from alerts.store import AlertStore

log = logging.getLogger(__name__)

_STOP = object()


def snapshot_detections(alert: Alert) -> sv.Detections:
    """The alert's object as a one-row Detections, for drawing."""
    return sv.Detections(
        xyxy=np.array([alert.box], dtype=np.float32),
        confidence=np.array([alert.score], dtype=np.float32),
        class_id=np.zeros(1, dtype=int),
        tracker_id=np.array([alert.track_id]),
        data={"class_name": np.array([alert.label])},
    )


class AlertWriter(threading.Thread):
    """Consumes rule events in order: snapshot file first, then the row that points to it.

    The queue is bounded; a full queue makes the producer wait rather than
    lose an alert.
    """

    def __init__(self, store: AlertStore, media_dir: str | Path, max_pending: int = 1000, jpeg_quality: int = 90) -> None:
        super().__init__(name="alert-writer", daemon=True)
        self._store = store
        self._media_dir = Path(media_dir)
        self._jpeg_quality = jpeg_quality
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self._alert_ids: dict[str, int] = {}

    def submit(self, events: Iterable[RuleEvent]) -> None:
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
        if isinstance(event, AlertStarted):
            alert = event.alert
            alert.snapshot_path = str(self._save_snapshot(alert, event.frame.image))
            alert.id = self._store.insert(alert)
            self._alert_ids[alert.key] = alert.id
            log.info(
                "alert %d: %s on %s, %s #%d (%.2f)", alert.id, alert.rule, alert.camera, alert.label, alert.track_id, alert.score
            )
        elif isinstance(event, AlertEnded):
            alert_id = self._alert_ids.pop(event.key, None)
            if alert_id is not None:
                self._store.end(alert_id, event.ended_at)

    def _save_snapshot(self, alert: Alert, image: np.ndarray) -> Path:
        folder = self._media_dir / alert.camera / alert.started_at.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{alert.started_at.strftime('%H%M%S')}-{alert.rule}-{alert.key[:8]}.jpg"
        picture = annotate(image, snapshot_detections(alert))
        ok, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, self._jpeg_quality])
        if not ok:
            raise OSError(f"cannot encode snapshot for alert on {alert.camera}")
        path.write_bytes(encoded.tobytes())
        return path
