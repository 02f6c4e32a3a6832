"""Which recorded segments to delete: past their days, outside alerts in `events` mode, oldest first for space."""

from __future__ import annotations

import bisect
import logging
import shutil
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from alerts.recordings import AlertWindow, Recording, RecordingIndex

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BATCH = 500
"""Segments looked at per query when freeing space."""


@dataclass(frozen=True, slots=True)
class CameraRetention:
    mode: Literal["continuous", "events"] = "continuous"
    """`events`: only segments that overlap an alert's footage window are kept."""
    days: float | None = 7.0
    """Segments older than this are deleted (unless they hold an alert's footage); None keeps them."""
    events_days: float | None = None
    """Segments holding an alert's footage are kept this long, or as long as the alert when None."""
    hold_s: float = 60.0
    """The newest footage, which an alert may still claim (pre-roll, rules that fire late), is never deleted."""


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    cameras: dict[str, CameraRetention]
    removed: CameraRetention = CameraRetention()
    """For the recordings of cameras no longer configured."""
    pre_s: float = 3.0
    post_s: float = 3.0
    max_bytes: int | None = None
    """All cameras' recordings together."""
    min_free_bytes: int = 0
    """Below this much free disk space clips are skipped: the oldest segments go before it comes to that."""
    free_margin_bytes: int = 256_000_000
    """Deleting starts below `min_free_bytes` plus this margin, and frees up to twice the margin above it."""


@dataclass(frozen=True, slots=True)
class Deleted:
    segments: int
    bytes: int
    kept_alert_footage: bool = True
    """False when space ran so short that segments holding alert footage had to go too."""


class Retention:
    """Applies a `RetentionPolicy` to the index and the files; one instance, in the thread that owns the index."""

    def __init__(self, index: RecordingIndex, policy: RetentionPolicy) -> None:
        self._index = index
        self._policy = policy
        self._checked_until: dict[str, datetime] = {}
        """Events mode: where each camera's segments have been sifted up to."""

    def apply(self, now: datetime) -> dict[str, Deleted]:
        """One pass: by age and mode, then by space; returns what was deleted, by reason."""
        windows = self._windows(now)
        done: dict[str, Deleted] = {}
        for camera in sorted(set(self._policy.cameras) | self._index.cameras()):
            rules = self._rules(camera)
            protected = windows.get(camera, _Windows(()))
            doomed = [r for r in self._expired(camera, rules, now) if not protected.covers(r, rules, now)]
            if doomed:
                done[f"{camera}: {self._reason(rules)}"] = self._delete(doomed)
        space = self._free_space(windows, now)
        if space.segments:
            done["disk space"] = space
        for reason, deleted in done.items():
            log.log(logging.INFO if deleted.kept_alert_footage else logging.WARNING,
                    "recordings: deleted %d segment(s), %.1f MB (%s)%s", deleted.segments, deleted.bytes / 1e6,
                    reason, "" if deleted.kept_alert_footage else "; footage of alerts too, to free space")
        return done

    def _rules(self, camera: str) -> CameraRetention:
        return self._policy.cameras.get(camera, self._policy.removed)

    @staticmethod
    def _reason(rules: CameraRetention) -> str:
        if rules.mode == "events":
            return "outside alerts" if rules.days is None else f"outside alerts or older than {rules.days:g} days"
        return f"older than {rules.days:g} days"

    def _expired(self, camera: str, rules: CameraRetention, now: datetime) -> list[Recording]:
        expired: dict[int, Recording] = {}
        if rules.mode == "events":
            until = now - timedelta(seconds=rules.hold_s)
            since = self._checked_until.get(camera, _EPOCH)
            expired.update((r.id, r) for r in self._index.between(camera, since, until) if r.end <= until)
            self._checked_until[camera] = until
        if rules.days is not None:
            cutoff = now - timedelta(days=rules.days)
            expired.update((r.id, r) for r in self._index.between(camera, _EPOCH,
                                                                   cutoff) if r.end <= cutoff)
        return sorted(expired.values(), key=lambda r: r.start)

    def _windows(self, now: datetime) -> dict[str, _Windows]:
        kept = [rules.events_days for rules in (*self._policy.cameras.values(), self._policy.removed)]
        # Alerts as old as the longest-kept camera's: every camera's protected footage is among them.
        since = _EPOCH if None in kept or not kept else now - timedelta(days=max(kept))
        by_camera: dict[str, list[AlertWindow]] = defaultdict(list)
        for window in self._index.alert_windows(since, now, self._policy.pre_s, self._policy.post_s):
            by_camera[window.camera].append(window)
        return {camera: _Windows(found) for camera, found in by_camera.items()}

    def _free_space(self, windows: dict[str, _Windows], now: datetime) -> Deleted:
        excess = self._excess_bytes()
        if excess <= 0:
            return Deleted(0, 0)
        freed, doomed, spared = 0, [], []
        for recording in self._oldest():
            rules = self._rules(recording.camera)
            if windows.get(recording.camera, _Windows(())).covers(recording, rules, now):
                spared.append(recording)
                continue
            doomed.append(recording)
            freed += recording.bytes
            if freed >= excess:
                break
        kept_alerts = True
        for recording in spared if freed < excess else ():
            doomed.append(recording)
            freed += recording.bytes
            kept_alerts = False
            if freed >= excess:
                break
        return self._delete(doomed, kept_alert_footage=kept_alerts) if doomed else Deleted(0, 0)

    def _oldest(self) -> Iterable[Recording]:
        """Every camera's segments, oldest first, fetched in batches (deletions wait until the walk is over)."""
        offset = 0
        while batch := self._index.oldest(_BATCH, offset):
            yield from batch
            offset += len(batch)

    def _excess_bytes(self) -> int:
        excess = 0
        if self._policy.max_bytes is not None:
            excess = self._index.total_bytes() - self._policy.max_bytes
        if self._policy.min_free_bytes:
            self._index.root.mkdir(parents=True, exist_ok=True)
            free, floor = shutil.disk_usage(self._index.root).free, self._policy.min_free_bytes
            if free < floor + self._policy.free_margin_bytes:
                excess = max(excess, floor + 2 * self._policy.free_margin_bytes - free)
        return excess

    def _delete(self, recordings: list[Recording], kept_alert_footage: bool = True) -> Deleted:
        for recording in recordings:
            path = self._index.file(recording)
            try:
                path.unlink(missing_ok=True)
            except OSError as error:
                log.warning("recordings: could not delete %s: %s", path, error)
            _remove_empty_folders(path.parent, self._index.root)
        self._index.remove(r.id for r in recordings)
        return Deleted(len(recordings), sum(r.bytes for r in recordings), kept_alert_footage)


class _Windows:
    """One camera's alert footage windows."""

    def __init__(self, windows: Iterable[AlertWindow]) -> None:
        self._windows = sorted(windows, key=lambda w: w.start)
        self._starts = [w.start for w in self._windows]

    def covers(self, recording: Recording, rules: CameraRetention, now: datetime) -> bool:
        """True when the segment holds footage of a stored alert that must still be kept."""
        if rules.events_days is not None and recording.end < now - timedelta(days=rules.events_days):
            return False
        return any(w.end > recording.start for w in self._windows[: bisect.bisect_left(self._starts, recording.end)])


def _remove_empty_folders(folder: Path, root: Path) -> None:
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
