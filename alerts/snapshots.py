"""Alert snapshots: the drawn JPEG and, beside it, the undrawn frame, written before the row that points to them."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from alerts.alert import Alert, AlertStarted, AlertUpdated
from alerts.annotation import annotate
from alerts.media_root import alert_media_path
from alerts.store_writes import BestMoment, NewAlert

log = logging.getLogger(__name__)

Render = Callable[[str, np.ndarray, sv.Detections], np.ndarray]
"""(camera, BGR image, detections) → a drawn copy of the image."""


def boxes_only(camera: str, image: np.ndarray, detections: sv.Detections) -> np.ndarray:
    """Boxes and labels, no zones or lines."""
    return annotate(image, detections)


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


@dataclass(frozen=True, slots=True)
class _Shown:
    alert: Alert
    path: Path
    frame_index: int
    """The camera's frame the picture on disk comes from."""


class SnapshotWriter:
    """Writes alerts' snapshots from any thread and turns their events into image-free store writes.

    A snapshot that cannot be drawn or written (disk full) is logged and
    left out: the alert is stored without it rather than lost. An update
    from an older frame than the picture on disk does not overwrite it.

    Example:
        >>> snapshots = SnapshotWriter("data/media", render=boxes_only)  # doctest: +SKIP
        >>> snapshots.started(AlertStarted(alert, frame)).alert.snapshot_path  # doctest: +SKIP
        'data/media/lobby/2026-11-28/093000-person-seen-3f2a9c1e.jpg'
    """

    def __init__(
        self, media_dir: str | Path, render: Render = boxes_only, jpeg_quality: int = 90, remembered: int = 10_000
    ) -> None:
        self._media_dir = Path(media_dir)
        self._render = render
        self._jpeg_quality = jpeg_quality
        self._remembered = remembered
        self._lock = threading.Lock()
        """Held for a whole write, so two threads never write one alert's files at once."""
        self._shown: OrderedDict[str, _Shown] = OrderedDict()
        """The most recent alerts' pictures on disk, for their better moments; the oldest are forgotten first."""

    def started(self, event: AlertStarted) -> NewAlert:
        alert, frame = event.alert, event.frame
        path = alert_media_path(self._media_dir, alert.camera, alert.started_at, alert.key, ".jpg", rule=alert.rule)
        with self._lock:
            saved = self._save(path, alert, frame.image)
            self._shown[alert.key] = _Shown(alert, path, frame.index)
            while len(self._shown) > self._remembered:
                self._shown.popitem(last=False)
        return NewAlert(replace(alert, snapshot_path=str(path) if saved else None, details=dict(alert.details)))

    def improved(self, event: AlertUpdated) -> BestMoment:
        snapshot_path = None
        with self._lock:
            shown = self._shown.get(event.key)
            if shown is not None and event.frame.index >= shown.frame_index:
                if self._save(shown.path, shown.alert, event.frame.image, event.score, event.box):
                    snapshot_path = str(shown.path)
                self._shown[event.key] = replace(shown, frame_index=event.frame.index)
        return BestMoment(event.key, event.score, event.box, snapshot_path, dict(event.details))

    def _save(
        self,
        path: Path,
        alert: Alert,
        image: np.ndarray,
        score: float | None = None,
        box: tuple[float, ...] | None = None,
    ) -> bool:
        """Both files are written aside first, then moved into place: an update that fails leaves the pair as it was."""
        pictures = {raw_frame_path(path): image}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            pictures[path] = self._render(alert.camera, image, snapshot_detections(alert, score, box))
            for final, picture in pictures.items():
                self._write_aside(final, picture, alert)
            for final in pictures:
                os.replace(_aside(final), final)
        except Exception as error:
            log.warning("snapshot %s of the %s alert on %s not written (%s): stored without it", path, alert.rule,
                        alert.camera, error)
            for final in pictures:
                with contextlib.suppress(OSError):
                    _aside(final).unlink(missing_ok=True)
            return False
        return True

    def _write_aside(self, path: Path, image: np.ndarray, alert: Alert) -> None:
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._jpeg_quality])
        if not ok:
            raise OSError(f"cannot encode snapshot for alert on {alert.camera}")
        _aside(path).write_bytes(encoded.tobytes())


def _aside(path: Path) -> Path:
    return path.with_suffix(".tmp")
