"""The Notifications page, for admins only: each sink's target (secrets masked), state, backlog and counts, and a
test message to send it."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, url_for

from alerts.notify.delivery import SinkState
from alerts.notify.notifier import UnknownSink
from alerts.users import Role
from dashboard.auth import role_required
from dashboard.context import services

bp = Blueprint("notifications", __name__)


@bp.get("/notifications")
@role_required(Role.ADMIN)
def sink_list() -> str:
    return render_template("notifications.html", sinks=sink_states())


@bp.post("/notifications/<name>/test")
@role_required(Role.ADMIN)
def send_test(name: str) -> Response:
    queue_test(name)
    flash(f"Test message queued for {name}", "info")
    return redirect(url_for("notifications.sink_list"), 303)


def sink_states() -> list[SinkState] | None:
    """Each configured sink's state; None while the pipeline is not running."""
    notifier = services().notifier
    return None if notifier is None else notifier.states()


def queue_test(sink: str) -> None:
    """Queue a test message to `sink` alone, from the logged-in user; 404 for a sink not running now."""
    notifier = services().notifier
    if notifier is None:
        abort(404, description=f"no sink {sink!r}: the pipeline is not running")
    try:
        notifier.send_test(sink, actor=g.user.name)
    except UnknownSink:
        abort(404, description=f"no sink {sink!r} is configured")
