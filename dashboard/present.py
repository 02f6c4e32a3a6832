"""How alerts, audit entries, camera health and notification sinks look to API clients (JSON)."""

from __future__ import annotations

from typing import Any

from alerts import Alert, AlertAction
from alerts.notify.delivery import SinkState
from alerts.notify.outbox import Delivery
from alerts.utc import utc_iso
from dashboard.media import alert_media_url
from streamer import CameraHealth
from streamer.redaction import redact_text


def alert_record(alert: Alert) -> dict[str, Any]:
    """An alert as JSON: every stored field, with media as dashboard URLs instead of server paths."""
    return alert.record(utc_iso) | {
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


def sink_record(state: SinkState) -> dict[str, Any]:
    """A notification sink's state; `target` has its secrets masked, and nothing else of its config is shown."""
    return {
        "name": state.name,
        "kind": state.kind,
        "target": state.target,
        "failing": state.failing,
        "last_error": state.last_error,
        "backlog": state.backlog,
        "delivered": state.delivered,
        "skipped": state.skipped,
        "failed": state.failed,
        "attempts_failed": state.attempts_failed,
        "last_delivered_at": utc_iso(state.last_delivered_at),
    }


def delivery_record(delivery: Delivery) -> dict[str, Any]:
    return {"sink": delivery.sink, "event": delivery.event, "outcome": str(delivery.outcome),
            "at": utc_iso(delivery.at), "attempts": delivery.attempts, "detail": delivery.detail}
