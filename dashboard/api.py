"""The JSON API mirroring the pages, plus /healthz (open) and /metrics (Prometheus text)."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, abort, g, request

from alerts import InvalidTransition
from alerts.notify.outbox import Outbox
from alerts.users import Role
from dashboard.actions import BadAction, apply_action
from dashboard.auth import public, role_required
from dashboard.context import services, settings
from dashboard.filters import query_int, request_filters
from dashboard.metrics import CONTENT_TYPE, metrics_text
from dashboard.notifications_views import queue_test, sink_states
from dashboard.present import action_record, alert_record, camera_record, delivery_record, sink_record

bp = Blueprint("api", __name__)

MAX_LIMIT = 500


@bp.get("/healthz")
@public
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@bp.get("/api/alerts")
def alert_list() -> dict[str, Any]:
    """Alerts newest first: filters as on the page, `limit` (page size by default, at most 500) and `offset`."""
    filters = request_filters()
    limit = query_int("limit", settings().page_size, minimum=1, maximum=MAX_LIMIT)
    offset = query_int("offset", 0)
    store = services().store
    alerts = store.list_alerts(**filters.as_kwargs(), limit=limit, offset=offset)
    return {
        "alerts": [alert_record(a) for a in alerts],
        "total": store.count_alerts(filters),
        "limit": limit,
        "offset": offset,
    }


@bp.get("/api/alerts/count")
def alert_count() -> dict[str, int]:
    return {"count": services().store.count_alerts(request_filters())}


@bp.get("/api/alerts/<int:alert_id>")
def alert_detail(alert_id: int) -> dict[str, Any]:
    store = services().store
    return alert_record(store.get(alert_id)) | {
        "actions": [action_record(a) for a in store.actions(alert_id)],
        "deliveries": [delivery_record(d) for d in Outbox(store.engine).deliveries_of_alert(alert_id)],
    }


@bp.post("/api/alerts/<int:alert_id>/actions")
@role_required(Role.OPERATOR)
def alert_action(alert_id: int) -> dict[str, Any]:
    """JSON `{"action": "acknowledged" | "resolved" | "false_positive" | "note", "note": "…"}`; returns the alert."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description='expected a JSON object such as {"action": "acknowledged"}')
    try:
        apply_action(services().store, alert_id, body.get("action"), body.get("note"), g.user.name)
    except BadAction as error:
        abort(400, description=str(error))
    except InvalidTransition as error:
        abort(409, description=str(error))
    return alert_detail(alert_id)


@bp.get("/api/cameras")
def cameras() -> dict[str, Any]:
    """Each camera's health; `running` is false (and the list empty) while the pipeline is not running."""
    health = services().camera_health()
    now = time.time()
    records = [] if health is None else [camera_record(h, now) for _, h in sorted(health.items())]
    return {"running": health is not None, "cameras": records}


@bp.get("/api/notifications")
@role_required(Role.ADMIN)
def notifications() -> dict[str, Any]:
    """Each notification sink's state; `running` is false (and the list empty) while the pipeline is not running."""
    states = sink_states()
    return {"running": states is not None, "sinks": [sink_record(s) for s in states or ()]}


@bp.post("/api/notifications/<name>/test")
@role_required(Role.ADMIN)
def send_test(name: str) -> tuple[dict[str, Any], int]:
    """Queue a test message to the sink `name` alone (202); 404 for a sink not running now."""
    queue_test(name)
    return {"queued": True, "sink": name}, 202


@bp.get("/metrics")
def metrics() -> Response:
    return Response(metrics_text(), content_type=CONTENT_TYPE)
