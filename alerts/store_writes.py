"""What the alert writer applies to the store, without images, and the JSON records that journal it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from alerts.alert import Alert, AlertEnded, AlertStatus, Severity
from alerts.notify.events import CameraStatus


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert to insert; its snapshot, if it has one, is already on disk."""

    alert: Alert


@dataclass(frozen=True, slots=True)
class BestMoment:
    """A better-scoring moment of a running alert; a `snapshot_path` of None keeps the current snapshot."""

    key: str
    score: float
    box: tuple[float, float, float, float]
    snapshot_path: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ClipSaved:
    """An alert's clip is written; it really runs from `starts_at` (a keyframe) to `ends_at`."""

    key: str
    path: Path
    starts_at: datetime | None = None
    ends_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PurgeExpired:
    """Delete resolved and false-positive alerts that started before `cutoff`, with their media."""

    cutoff: datetime


@dataclass(frozen=True, slots=True)
class CloseLeftOpen:
    """End the alerts a crashed run left open, once its journaled writes have been replayed (of `cameras` only,
    when given: a cluster's worker owns some cameras)."""

    at: datetime
    cameras: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class CameraStatusChanged:
    """A camera went online, offline or stopped: an outbox event for the sinks."""

    camera: str
    status: CameraStatus
    at: datetime
    error: str | None = None


StoreWrite = NewAlert | BestMoment | AlertEnded | ClipSaved | PurgeExpired | CloseLeftOpen | CameraStatusChanged


def to_record(write: StoreWrite) -> dict[str, Any]:
    """The write as a JSON-ready dict: times ISO 8601 with their zone, enums as their values."""
    match write:
        case NewAlert(alert=alert):
            fields = alert.record()
            del fields["id"]
            return {"write": "alert", **fields, "snapshot_path": alert.snapshot_path, "clip_path": alert.clip_path,
                    "key": alert.key}
        case BestMoment(key=key, score=score, box=box, snapshot_path=snapshot_path, details=details):
            return {"write": "best", "key": key, "score": score, "box": list(box), "snapshot_path": snapshot_path,
                    "details": details}
        case AlertEnded(key=key, ended_at=ended_at, pts=pts):
            return {"write": "ended", "key": key, "ended_at": ended_at.isoformat(), "pts": pts}
        case ClipSaved(key=key, path=path, starts_at=starts_at, ends_at=ends_at):
            return {"write": "clip", "key": key, "path": str(path),
                    "starts_at": starts_at and starts_at.isoformat(), "ends_at": ends_at and ends_at.isoformat()}
        case PurgeExpired(cutoff=cutoff):
            return {"write": "purge", "cutoff": cutoff.isoformat()}
        case CloseLeftOpen(at=at, cameras=cameras):
            return {"write": "close_left_open", "at": at.isoformat(),
                    "cameras": None if cameras is None else list(cameras)}
        case CameraStatusChanged(camera=camera, status=status, at=at, error=error):
            return {"write": "camera_status", "camera": camera, "status": str(status), "at": at.isoformat(),
                    "error": error}
    raise TypeError(f"not a store write: {write!r}")


def from_record(record: dict[str, Any]) -> StoreWrite:
    """The write a `to_record` dict stands for; raises ValueError or KeyError for a record it does not know."""
    match record:
        case {"write": "alert"}:
            return NewAlert(Alert(
                camera=record["camera"], rule=record["rule"], kind=record["kind"], label=record["label"],
                track_id=record["track_id"], score=record["score"], severity=Severity(record["severity"]),
                started_at=datetime.fromisoformat(record["started_at"]), box=_box(record["box"]),
                ended_at=_time(record["ended_at"]), status=AlertStatus(record["status"]),
                snapshot_path=record["snapshot_path"], clip_path=record["clip_path"], zone=record["zone"],
                line=record["line"], count=record["count"], details=record["details"], key=record["key"],
            ))
        case {"write": "best"}:
            return BestMoment(record["key"], record["score"], _box(record["box"]), record["snapshot_path"],
                              record["details"])
        case {"write": "ended"}:
            return AlertEnded(record["key"], datetime.fromisoformat(record["ended_at"]), record["pts"])
        case {"write": "clip"}:
            starts_at, ends_at = (record.get(k) for k in ("starts_at", "ends_at"))
            return ClipSaved(record["key"], Path(record["path"]), starts_at and datetime.fromisoformat(starts_at),
                             ends_at and datetime.fromisoformat(ends_at))
        case {"write": "purge"}:
            return PurgeExpired(datetime.fromisoformat(record["cutoff"]))
        case {"write": "close_left_open"}:
            cameras = record.get("cameras")
            return CloseLeftOpen(datetime.fromisoformat(record["at"]), None if cameras is None else tuple(cameras))
        case {"write": "camera_status"}:
            return CameraStatusChanged(record["camera"], CameraStatus(record["status"]),
                                       datetime.fromisoformat(record["at"]), record["error"])
    raise ValueError(f"unknown journal record {record!r:.200}")


def _box(values: list[float]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in values)
    return x1, y1, x2, y2


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
