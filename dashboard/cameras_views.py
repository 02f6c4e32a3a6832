"""The camera health page, with links to each camera's recordings and a line on the notification sinks."""

from __future__ import annotations

import time

from flask import Blueprint, render_template

from dashboard.context import services
from dashboard.notifications_views import sink_states
from dashboard.present import camera_record
from dashboard.score_chart import score_chart

bp = Blueprint("cameras", __name__)


@bp.get("/cameras")
def camera_list() -> str:
    health = services().camera_health()
    now = time.time()
    cameras = None if health is None else [camera_record(h, now) for _, h in sorted(health.items())]
    source = services()
    scores = {} if source.scores is None else source.scores()
    charts = [score_chart(name, s, source.rule_thresholds.get(name, ())) for name, s in scores.items()]
    return render_template("cameras.html", cameras=cameras, configured=source.cameras, score_charts=charts,
                           sinks=sink_states() or [])
