"""Alert review pages: the filtered list with its chart and bulk acknowledge, the detail page (with where its
notifications went) and its actions."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from alerts import Alert, AlertFilter, AlertNotFound, AlertStatus, InvalidTransition, Severity
from alerts.notify.outbox import Outbox
from alerts.users import Role
from dashboard.actions import BadAction, apply_action
from dashboard.auth import role_required
from dashboard.chart import chart_start, hourly_chart
from dashboard.context import services, settings
from dashboard.filters import MAX_SQL_INT, is_sql_int, query_int, request_filters
from dashboard.queries import starts_since
from dashboard.time_range import TimeRange

bp = Blueprint("alerts", __name__)
MAX_SELECTED = 500


@bp.app_context_processor
def _new_alert_count() -> dict[str, Any]:
    return {"new_alert_count": lambda: services().store.count_alerts(AlertFilter(status=AlertStatus.NEW))}


@bp.get("/")
def home() -> Response:
    return redirect(url_for("alerts.alert_list"))


@bp.get("/alerts")
def alert_list() -> str:
    filters = request_filters()
    size, store = settings().page_size, services().store
    page = query_int("page", 1, minimum=1, maximum=MAX_SQL_INT // size)
    total = store.count_alerts(filters)
    now = datetime.now(UTC)
    return render_template(
        "alerts.html",
        alerts=store.list_alerts(**filters.as_kwargs(), limit=size, offset=(page - 1) * size),
        total=total,
        page=page,
        pages=max(1, math.ceil(total / size)),
        page_url=_page_url,
        chart=hourly_chart(starts_since(store, chart_start(now)), now),
        statuses=list(AlertStatus),
        severities=list(Severity),
    )


@bp.get("/alerts/<int:alert_id>")
def alert_detail(alert_id: int) -> str:
    store = services().store
    alert = store.get(alert_id)
    return render_template("alert.html", alert=alert, actions=store.actions(alert_id), clip_span=_clip_span(alert),
                           deliveries=Outbox(store.engine).deliveries_of_alert(alert_id))


@bp.post("/alerts/<int:alert_id>/actions")
@role_required(Role.OPERATOR)
def alert_action(alert_id: int) -> Response:
    action = request.form.get("action")
    try:
        apply_action(services().store, alert_id, action, request.form.get("note"), g.user.name)
    except (BadAction, InvalidTransition) as error:
        flash(str(error), "error")
    else:
        flash(f"Alert {alert_id}: note added." if action == "note" else f"Alert {alert_id}: {action}.", "info")
    return redirect(url_for("alerts.alert_detail", alert_id=alert_id), 303)


@bp.post("/alerts/acknowledge")
@role_required(Role.OPERATOR)
def acknowledge_selected() -> Response:
    """Acknowledge the checked alerts; those that cannot be (resolved, gone) are counted as skipped."""
    ids = request.form.getlist("ids")
    if len(ids) > MAX_SELECTED:
        abort(400, description=f"ids: {len(ids)} alerts selected; acknowledge at most {MAX_SELECTED} at a time")
    if not all(is_sql_int(i) for i in ids):
        abort(400, description="ids: not all of them are alert ids")
    wanted = sorted({int(i) for i in ids})
    acknowledged = 0
    for alert_id in wanted:
        try:
            services().store.set_status(alert_id, AlertStatus.ACKNOWLEDGED, g.user.name)
            acknowledged += 1
        except (AlertNotFound, InvalidTransition):
            pass
    if not wanted:
        flash("No alert selected.", "error")
    else:
        skipped = len(wanted) - acknowledged
        note = f", {skipped} skipped (resolved, false positive or deleted)" if skipped else ""
        flash(f"{acknowledged} alert(s) acknowledged{note}.", "info")
    back = urlencode(parse_qsl(request.form.get("back", "")))  # a query string only: the path stays ours
    return redirect(url_for("alerts.alert_list") + (f"?{back}" if back else ""), 303)


def _page_url(page: int) -> str:
    """This list, with the same filters, at another page."""
    return url_for("alerts.alert_list", **(request.args.to_dict() | {"page": str(page)}))


def _clip_span(alert: Alert) -> TimeRange | None:
    """Where the alert's clip really starts and ends (from its details), if the store noted it."""
    try:
        return TimeRange(*(datetime.fromisoformat(alert.details[key]) for key in ("clip_from", "clip_to")))
    except (KeyError, TypeError, ValueError):
        return None
