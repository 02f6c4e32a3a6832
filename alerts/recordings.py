"""The recordings index: each camera's segments in the database, found by time."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session

from alerts.tables import AlertRow, RecordingRow
from streamer.segments import RecordedSegment


_CHUNK = 500
"""Paths or ids per `IN (…)`: SQLite allows only so many bound values in one statement."""


@dataclass(frozen=True, slots=True)
class Recording:
    """An indexed segment; `path` is relative to the recordings folder."""

    id: int
    camera: str
    start: datetime
    end: datetime
    path: str
    bytes: int
    keyframes: tuple[float, ...]
    codec: str
    width: int
    height: int

    def record(self) -> dict[str, object]:
        """JSON-ready: times ISO 8601 UTC."""
        return {"id": self.id, "camera": self.camera, "start": self.start.isoformat(), "end": self.end.isoformat(),
                "path": self.path, "bytes": self.bytes, "keyframes": list(self.keyframes), "codec": self.codec,
                "width": self.width, "height": self.height}


@dataclass(frozen=True, slots=True)
class AlertWindow:
    """The time an alert's footage covers on its camera: [start − pre_s, end + post_s]; open alerts run to now."""

    camera: str
    start: datetime
    end: datetime


class RecordingIndex:
    """Reads and writes the `recordings` table (the schema is the alert store's); every method is a transaction.

    Example:
        >>> index = RecordingIndex(AlertStore("data/vigil.db").engine, Path("data/recordings"))  # doctest: +SKIP
        >>> index.between("lobby", since, until)  # doctest: +SKIP
    """

    def __init__(self, engine: Engine, root: Path) -> None:
        self.engine = engine
        self.root = root

    def add(self, segments: Iterable[RecordedSegment]) -> int:
        """Index finished segments; one already indexed (same file) is left as it is. Returns how many were new."""
        rows = [{
            "camera": s.camera, "start_at": s.start, "end_at": s.end, "path": self.relative(s.path), "bytes": s.bytes,
            "keyframes": json.dumps(list(s.keyframes)), "codec": s.codec, "width": s.width, "height": s.height,
        } for s in segments]
        if not rows:
            return 0
        with Session(self.engine) as session, session.begin():
            paths = [row["path"] for row in rows]
            known = {path for start in range(0, len(paths), _CHUNK) for path in session.scalars(
                select(RecordingRow.path).where(RecordingRow.path.in_(paths[start:start + _CHUNK])))}
            new = [row for row in rows if row["path"] not in known]
            if new:
                session.execute(insert(RecordingRow), new)
            return len(new)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def file(self, recording: Recording) -> Path:
        return self.root / recording.path

    def between(self, camera: str, since: datetime, until: datetime, limit: int | None = None) -> list[Recording]:
        """The camera's segments that overlap [since, until), oldest first (the first `limit` of them)."""
        query = (select(RecordingRow).where(RecordingRow.camera == camera, RecordingRow.end_at > since,
                                            RecordingRow.start_at < until).order_by(RecordingRow.start_at)
                 .limit(limit))
        with Session(self.engine) as session:
            return [_to_recording(row) for row in session.scalars(query)]

    def cameras(self) -> set[str]:
        """Every camera with indexed segments, configured or not (any more)."""
        with Session(self.engine) as session:
            return set(session.scalars(select(RecordingRow.camera).distinct()))

    def latest_end(self, camera: str) -> datetime | None:
        """Where the camera's indexed footage ends, or None when it has none."""
        with Session(self.engine) as session:
            return session.scalar(select(func.max(RecordingRow.end_at)).where(RecordingRow.camera == camera))

    def indexed_paths(self, camera: str, since: datetime) -> set[str]:
        with Session(self.engine) as session:
            return set(session.scalars(select(RecordingRow.path).where(RecordingRow.camera == camera,
                                                                       RecordingRow.start_at >= since)))

    def oldest(self, limit: int, offset: int = 0) -> list[Recording]:
        """Every camera's segments, oldest first, `limit` of them from `offset`."""
        query = select(RecordingRow).order_by(RecordingRow.start_at, RecordingRow.id).limit(limit).offset(offset)
        with Session(self.engine) as session:
            return [_to_recording(row) for row in session.scalars(query)]

    def total_bytes(self) -> int:
        with Session(self.engine) as session:
            return int(session.scalar(select(func.coalesce(func.sum(RecordingRow.bytes), 0))))

    def remove(self, ids: Iterable[int]) -> None:
        """Drop index rows (the caller deletes their files first)."""
        ids = list(ids)
        with Session(self.engine) as session, session.begin():
            for start in range(0, len(ids), _CHUNK):
                session.execute(delete(RecordingRow).where(RecordingRow.id.in_(ids[start:start + _CHUNK])))

    def alert_windows(self, since: datetime, now: datetime, pre_s: float, post_s: float) -> list[AlertWindow]:
        """Every stored alert's footage window that ends after `since`: what retention must keep."""
        query = select(AlertRow.camera, AlertRow.started_at, AlertRow.ended_at).where(
            (AlertRow.ended_at.is_(None)) | (AlertRow.ended_at > since - timedelta(seconds=post_s)))
        with Session(self.engine) as session:
            rows = session.execute(query).all()
        return [AlertWindow(camera, started - timedelta(seconds=pre_s), (ended or now) + timedelta(seconds=post_s))
                for camera, started, ended in rows]


def _to_recording(row: RecordingRow) -> Recording:
    return Recording(row.id, row.camera, row.start_at, row.end_at, row.path, row.bytes,
                     tuple(json.loads(row.keyframes)), row.codec, row.width, row.height)
