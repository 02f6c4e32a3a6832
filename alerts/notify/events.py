"""Outbox events: what happened to an alert or a camera, as the JSON every sink is sent, added in the transaction of
the change itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from alerts.alert import Alert
from alerts.media_root import MediaRoot
from alerts.tables import OutboxRow


class EventKind(StrEnum):
    ALERT_STARTED = "alert.started"
    ALERT_UPDATED = "alert.updated"
    """A better-scoring moment: new score, box and snapshot."""
    ALERT_ENDED = "alert.ended"
    ALERT_STATUS = "alert.status"
    """An operator (or a command) acknowledged, resolved or dismissed the alert."""
    CAMERA_HEALTH = "camera.health"
    TEST = "test"
    """Sent from the dashboard's "send test" button, to one sink."""


SNAPSHOT_KINDS = frozenset({EventKind.ALERT_STARTED, EventKind.ALERT_UPDATED})
"""Events whose snapshot is worth sending: a new alert, or a better picture of it."""
ALERT_KINDS = frozenset({EventKind.ALERT_STARTED, EventKind.ALERT_UPDATED, EventKind.ALERT_ENDED,
                         EventKind.ALERT_STATUS})


class CameraStatus(StrEnum):
    """A camera as a notification tells of it: its reader's states folded into three."""

    ONLINE = "online"
    OFFLINE = "offline"
    """Reconnecting, or failed."""
    STOPPED = "stopped"
    """Its file ended, or Vigil stopped it."""


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One stored event, as the delivery workers read it."""

    id: int
    key: str
    at: datetime
    kind: EventKind
    camera: str | None
    rule: str | None
    severity: str | None
    alert_id: int | None
    payload: dict[str, Any]
    """What is sent: `{"event", "id" (the idempotency key), "at", and "alert", "change" or "camera"}`."""
    snapshot_path: str | None
    only_sink: str | None


def add_alert_event(session: Session, kind: EventKind, alert: Alert, key: str,
                    change: dict[str, Any] | None = None, rule_open: int | None = None) -> None:
    """Add an event about `alert` (as stored after the change) to the transaction; a key already there is kept.

    `rule_open`, for an end, is how many other alerts of the rule are still open on the camera."""
    media = {"has_snapshot": alert.snapshot_path is not None, "has_clip": alert.clip_path is not None}
    body: dict[str, Any] = {"alert": alert.record() | {"key": alert.key, **media}}
    if change is not None:
        body["change"] = change
    if rule_open is not None:
        body["rule_open"] = rule_open
    _add(session, OutboxRow(key=key, at=datetime.now(UTC), kind=str(kind), camera=alert.camera, rule=alert.rule,
                            severity=str(alert.severity), alert_id=alert.id, payload=body,
                            snapshot_path=alert.snapshot_path))


def add_camera_event(session: Session, camera: str, status: CameraStatus, at: datetime, error: str | None) -> None:
    """Add a camera's change of status to the transaction; keyed by camera and time, so a replay adds nothing."""
    key = f"camera.{camera}.{at.astimezone(UTC).isoformat()}"
    _add(session, OutboxRow(key=key, at=at, kind=str(EventKind.CAMERA_HEALTH), camera=camera,
                            payload={"camera": {"name": camera, "status": str(status), "error": error}}))


def add_test_event(session: Session, sink: str, actor: str) -> None:
    """Add a test message for `sink` alone."""
    now = datetime.now(UTC)
    _add(session, OutboxRow(key=f"test.{sink}.{now.isoformat()}", at=now, kind=str(EventKind.TEST), only_sink=sink,
                            payload={"test": {"sink": sink, "requested_by": actor}}))


def to_event(row: OutboxRow, media: MediaRoot) -> OutboxEvent:
    """The event a row holds, its snapshot's path whole (rows keep it relative to `media`)."""
    payload = {"event": row.kind, "id": row.key, "at": row.at.isoformat(), **row.payload}
    return OutboxEvent(row.id, row.key, row.at, EventKind(row.kind), row.camera, row.rule, row.severity,
                       row.alert_id, payload, media.resolved(row.snapshot_path), row.only_sink)


OUTBOX_LOCK = 0x76696731
"""PostgreSQL advisory lock taken by every transaction that adds an event, until it commits."""


def _add(session: Session, row: OutboxRow) -> None:
    """Add `row` unless its key is stored; on PostgreSQL, hold the outbox lock to the commit first.

    A sink's cursor assumes events commit in id order. SQLite has one writer; PostgreSQL's concurrent
    transactions could commit a later id first and the cursor would pass the earlier one, so they queue here.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": OUTBOX_LOCK})
    if session.scalar(select(OutboxRow.id).where(OutboxRow.key == row.key)) is None:
        session.add(row)


def alert_page(event: OutboxEvent, dashboard_url: str | None) -> str | None:
    """The dashboard's page of the event's alert, when the dashboard's address is known."""
    if not dashboard_url or event.alert_id is None:
        return None
    return f"{dashboard_url.rstrip('/')}/alerts/{event.alert_id}"


def linked_payload(event: OutboxEvent, dashboard_url: str | None) -> dict[str, Any]:
    """The payload, its alert given the `url` of its page when there is one."""
    payload = dict(event.payload)
    if (url := alert_page(event, dashboard_url)) is not None:
        payload["alert"] = {**payload["alert"], "url": url}
    return payload


def snapshot_of(event: OutboxEvent) -> bytes | None:
    """The JPEG of a new or improved alert as it is on disk now, or None (another kind, none, or deleted since)."""
    if event.kind not in SNAPSHOT_KINDS or event.snapshot_path is None:
        return None
    try:
        return Path(event.snapshot_path).read_bytes()
    except OSError:
        return None
