"""How alerts, audit entries and camera health look to people (UTC text) and to API clients (JSON)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alerts import Alert, AlertAction
from dashboard.media import alert_media_url
from streamer import CameraHealth
from streamer.redaction import redact_text


def utc_text(moment: datetime | None) -> str:
    """`2026-11-28T09:00:00Z`, or an empty string for no time."""
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_iso(moment: datetime | None) -> str | None:
    """Full-precision ISO 8601 in UTC with a `Z`, for JSON."""
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert_record(alert: Alert) -> dict[str, Any]:
    """An alert as JSON: every stored field, with media as dashboard URLs instead of server paths."""
    return alert.record(utc_iso) | {
        "details": alert.details,
        "snapshot_url": alert_media_url(alert, "snapshot"),
        "clip_url": alert_media_url(alert, "clip"),
    }


def action_record(action: AlertAction) -> dict[str, Any]:
    return {"at": utc_iso(action.at), "actor": action.actor, "action": action.action, "note": action.note}


def camera_record(health: CameraHealth, now: float) -> dict[str, Any]:
    """One camera's health; `last_frame_age_s` is seconds since its last decoded frame (None before the first)."""
    age = None if health.last_frame_time is None else round(max(0.0, now - health.last_frame_time), 1)
    return {
        "camera": health.camera,
        "state": str(health.state),
        "fps_in": round(health.fps_in, 2),
        "fps_out": round(health.fps_out, 2),
        "dropped": health.dropped,
        "motion_skipped": health.skipped,
        "reconnects": health.reconnects,
        "last_error": None if health.last_error is None else redact_text(health.last_error),
        "last_frame_age_s": age,
    }
