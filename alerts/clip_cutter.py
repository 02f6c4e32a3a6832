"""Alert clips cut from the recordings: the camera's own video from `pre_s` before to `post_s` after, by remux."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts.footage import Footage, NoFootage, assemble
from alerts.media_root import alert_media_path
from alerts.recordings import RecordingIndex

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Wanted:
    key: str
    camera: str
    start: datetime
    """The clip's start: the alert's start less `pre_s`."""
    end: datetime | None = None
    """The clip's end, once the alert has ended (or reached `max_s`)."""


class ClipCutter(threading.Thread):
    """Cuts each alert's clip once the recordings reach its end, in its own thread (never the detection path).

    A clip covers [start − `pre_s`, end + `post_s`], at most `max_s` long, from the keyframe at or before its
    start. It waits for the recordings to reach its end (`footage_reached`), or at most `wait_s` past that
    end (the camera went down): then it is cut from what was recorded. `on_clip(key, footage)` gets each one.

    Alerts are timed as the camera's footage is (the wall clock; a file's own clock for a file);
    `footage_now(camera)` says how far that clock has got.
    """

    def __init__(self, index: RecordingIndex, media_dir: str | Path, *, on_clip: Callable[[str, Footage], None],
                 footage_now: Callable[[str], datetime] = lambda camera: datetime.now(UTC),
                 pre_s: float = 3.0, post_s: float = 3.0, max_s: float = 120.0, wait_s: float = 30.0,
                 min_free_mb: float = 500.0) -> None:
        super().__init__(name="clip-cutter", daemon=True)
        self._index = index
        self._media_dir = Path(media_dir)
        self._on_clip = on_clip
        self._footage_now = footage_now
        self._pre = timedelta(seconds=pre_s)
        self._post = timedelta(seconds=post_s)
        self._max = timedelta(seconds=max_s)
        self._wait = timedelta(seconds=wait_s)
        self._min_free_bytes = min_free_mb * 1e6
        self._wanted: dict[str, _Wanted] = {}
        self._reached: dict[str, datetime] = {}
        self._changed = threading.Condition()
        self._stopping = False
        self.skipped_clips = 0
        """Clips not cut because free disk space under media_dir was below min_free_mb."""

    def alert_started(self, key: str, camera: str, at: datetime) -> None:
        with self._changed:
            self._wanted[key] = _Wanted(key, camera, at.astimezone(UTC) - self._pre)
            self._changed.notify()

    def alert_ended(self, key: str, at: datetime) -> None:
        with self._changed:
            wanted = self._wanted.get(key)
            if wanted is not None and wanted.end is None:
                wanted.end = min(at + self._post, wanted.start + self._max)
                self._changed.notify()

    def footage_reached(self, camera: str, end: datetime) -> None:
        """The camera's indexed recordings now run to `end`."""
        with self._changed:
            self._reached[camera] = max(end, self._reached.get(camera, end))
            self._changed.notify()

    def stop(self) -> None:
        """Cut every clip whose alert has ended, with what was recorded, then end the thread."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self.join()

    def run(self) -> None:
        while True:
            with self._changed:
                ready = self._take_ready()
                if not ready:
                    if self._stopping:
                        return
                    # New footage and alerts notify; the clocks' own progress is looked at once a second.
                    self._changed.wait(1.0 if self._wanted else None)
                    continue
            for wanted in ready:
                try:
                    self._cut(wanted)
                except Exception:  # the cutter must go on with the next clips
                    log.exception("alert %s on %s: no clip", wanted.key, wanted.camera)

    def _take_ready(self) -> list[_Wanted]:
        ready = []
        for wanted in list(self._wanted.values()):
            now = self._footage_now(wanted.camera)
            if wanted.end is None and now - wanted.start >= self._max:
                wanted.end = wanted.start + self._max  # a long alert's clip is cut at max_s, the alert goes on
            if wanted.end is None:
                continue
            reached = self._reached.get(wanted.camera)
            if self._stopping or (reached is not None and reached >= wanted.end) or now >= wanted.end + self._wait:
                ready.append(self._wanted.pop(wanted.key))
        return ready

    def _cut(self, wanted: _Wanted) -> None:
        assert wanted.end is not None
        if not self._has_space():
            self.skipped_clips += 1
            return
        path = alert_media_path(self._media_dir, wanted.camera, wanted.start + self._pre, wanted.key, ".mp4")
        started = time.monotonic()
        try:
            footage = assemble(self._index, wanted.camera, wanted.start, wanted.end, path)
        except NoFootage as error:
            log.warning("alert %s: no clip: %s", wanted.key, error)
            return
        except Exception:
            log.exception("alert %s on %s: cutting the clip failed", wanted.key, wanted.camera)
            return
        log.info("clip %s on %s written to %s: %.1f s from %s (%.2f s to cut)", wanted.key, wanted.camera, path,
                 footage.duration_s, footage.start.isoformat(timespec="milliseconds"), time.monotonic() - started)
        try:
            self._on_clip(wanted.key, footage)
        except Exception:
            log.exception("alert %s: on_clip failed for %s", wanted.key, path)

    def _has_space(self) -> bool:
        self._media_dir.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self._media_dir).free
        if free >= self._min_free_bytes:
            return True
        log.warning("%.0f MB free under %s, below min_free_mb=%g; clip skipped", free / 1e6, self._media_dir,
                    self._min_free_bytes / 1e6)
        return False
