"""Recorded video: a camera's day as a timeline to play from, footage played in the browser, exports to download,
and the JSON API mirroring them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, render_template, request, url_for
from werkzeug.exceptions import ServiceUnavailable

from alerts import Alert
from alerts.audit import AccountAction, AuditEntry, record
from alerts.footage import NoFootage
from alerts.recordings import RecordingIndex
from alerts.users import Role
from alerts.utc import utc_iso
from dashboard.auth import role_required
from dashboard.context import services
from dashboard.footage_cache import AssemblyBusy, FootageCache
from dashboard.media import send_open_file
from dashboard.time_range import TimeRange, day_range, parse_day, parse_moment, requested_range
from dashboard.timeline import DayTimeline, day_timeline

bp = Blueprint("recordings", __name__)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
PLAY_S = 300
"""The page plays footage in pieces this long, one after another."""
FOOTAGE_MAX = 10 * MINUTE
"""The longest footage played in one request."""
EXPORT_MAX = 60 * MINUTE
"""The longest export."""
EXPORT_SUGGESTED = 10 * MINUTE
"""What the export form fills in: from the moment played (or the day's start) this long on."""
RECORDINGS_MAX = 2000
"""Segments listed in one API answer; past this the answer says `truncated`."""
RECORDINGS_SPAN_MAX = timedelta(days=7)
ALERTS_PER_DAY_MAX = 1000
"""Alert markers drawn on one day's timeline."""
RETRY_AFTER_S = 5
ALERT_LEAD = timedelta(seconds=10)
"""Playing an alert's recording starts this long before the alert."""
_CAMERA_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""Camera names as the config allows them."""


def register_recordings(app: Flask, index: RecordingIndex) -> None:
    """Add the recordings pages and API; footage is assembled under `<recordings folder>/.footage`."""
    app.extensions["vigil.footage"] = FootageCache(index.root / ".footage")
    app.jinja_env.globals["recordings_enabled"] = True
    app.add_template_global(alert_recording_url)
    app.register_blueprint(bp)


def alert_recording_url(alert: Alert) -> str:
    """The timeline page of the alert's camera on its day, playing from ALERT_LEAD before it."""
    at = (alert.started_at - ALERT_LEAD).astimezone(UTC)
    return url_for("recordings.recordings_page", camera=alert.camera, day=at.date().isoformat(), at=utc_iso(at))


@bp.get("/cameras/<camera>/recordings")
def recordings_page(camera: str) -> str:
    index = _known(camera)
    at = parse_moment("at", request.args["at"]) if request.args.get("at") else None
    day = parse_day(request.args["day"]) if request.args.get("day") else (at or datetime.now(UTC)).date()
    hour = _hour(request.args.get("hour"))
    status = None if services().recorder_status is None else services().recorder_status().get(camera)
    shown = _shown(day_range(day), hour, at)
    export_from = at or shown.start
    return render_template(
        "recordings.html", camera=camera, day=day.isoformat(), hour=hour, timeline=_timeline(index, camera, shown),
        at=at,
        recorder=status, previous_day=day - timedelta(days=1), next_day=day + timedelta(days=1), play_s=PLAY_S,
        export=TimeRange(export_from, export_from + EXPORT_SUGGESTED), export_max_min=int(EXPORT_MAX / MINUTE),
    )


@bp.get("/cameras/<camera>/footage.mp4")
@bp.get("/api/cameras/<camera>/footage.mp4", endpoint="api_footage")
def footage(camera: str) -> Response:
    """At most FOOTAGE_MAX of video over `from` to `to`, to play in the browser (it starts on a keyframe)."""
    index = _known(camera)
    return _send_footage(index, camera, requested_range(request.args, FOOTAGE_MAX), download_name=None)


@bp.get("/cameras/<camera>/export.mp4")
@bp.get("/api/cameras/<camera>/export.mp4", endpoint="api_export")
@role_required(Role.OPERATOR)
def export(camera: str) -> Response:
    """At most EXPORT_MAX of video over `from` to `to`, as a download; each export goes into the audit log."""
    index = _known(camera)
    span = requested_range(request.args, EXPORT_MAX)
    response = _send_footage(index, camera, span, download_name=f"{camera}-{span.start:%Y%m%dT%H%M%SZ}.mp4")
    record(services().store.engine, AuditEntry(datetime.now(UTC), g.user.name, AccountAction.EXPORT, camera,
                                               f"{utc_iso(span.start)} to {utc_iso(span.end)}"))
    return response


@bp.get("/api/cameras/<camera>/recordings")
def recording_list(camera: str) -> dict[str, Any]:
    """The segments overlapping `since` to `until` (at most 7 days), oldest first, at most RECORDINGS_MAX."""
    index = _known(camera)
    span = requested_range(request.args, RECORDINGS_SPAN_MAX, names=("since", "until"))
    recordings = index.between(camera, span.start, span.end, limit=RECORDINGS_MAX + 1)
    return {"camera": camera, "since": utc_iso(span.start), "until": utc_iso(span.end),
            "recordings": [r.record() for r in recordings[:RECORDINGS_MAX]],
            "truncated": len(recordings) > RECORDINGS_MAX}


@bp.get("/api/cameras/<camera>/timeline")
def timeline(camera: str) -> dict[str, Any]:
    """A UTC `day` (today by default): recorded spans, the gaps up to now, alerts, and where footage is fetched."""
    index = _known(camera)
    day = parse_day(request.args["day"]) if request.args.get("day") else datetime.now(UTC).date()
    drawn = _timeline(index, camera, day_range(day))
    return {
        "camera": camera,
        "day": day.isoformat(),
        "spans": [_range_record(span) for span in drawn.spans],
        "gaps": [_range_record(gap) for gap in drawn.gaps],
        "alerts": [{"id": m.alert.id, "start": utc_iso(m.alert.started_at), "end": utc_iso(m.alert.ended_at),
                    "severity": str(m.alert.severity), "rule": m.alert.rule,
                    "url": url_for("alerts.alert_detail", alert_id=m.alert.id)} for m in drawn.markers],
        "footage_url": url_for("recordings.api_footage", camera=camera),
        "export_url": url_for("recordings.api_export", camera=camera) if g.user.may(Role.OPERATOR) else None,
    }


def _hour(asked: str | None) -> int | None:
    """The hour of the day asked to zoom in on (0–23), or None."""
    if asked is None:
        return None
    if not asked.isdigit() or int(asked) > 23:
        abort(400, description=f"hour: {asked[:16]!r} is not an hour of the day (0 to 23)")
    return int(asked)


def _shown(day: TimeRange, hour: int | None, at: datetime | None) -> TimeRange:
    """What the timeline draws: the hour asked for, else the hour around `at` (within the day), else the day."""
    if hour is not None:
        return TimeRange(day.start + hour * HOUR, day.start + (hour + 1) * HOUR)
    if at is not None and day.start <= at < day.end:
        start = min(max(day.start, at - HOUR / 2), day.end - HOUR)
        return TimeRange(start, start + HOUR)
    return day


def _known(camera: str) -> RecordingIndex:
    """The recordings index, if `camera` is configured or has recordings; else a 404."""
    index: RecordingIndex = services().recordings
    if not _CAMERA_NAME.fullmatch(camera) or (camera not in services().cameras and index.latest_end(camera) is None):
        abort(404, description=f"no camera {camera[:64]!r}: it is not configured and has no recordings")
    return index


def _timeline(index: RecordingIndex, camera: str, day: TimeRange) -> DayTimeline:
    periods = [(r.start, r.end) for r in index.between(camera, day.start, day.end)]
    alerts = services().store.list_alerts(camera=camera, since=day.start, until=day.end, limit=ALERTS_PER_DAY_MAX)
    return day_timeline(day, periods, alerts, datetime.now(UTC))


def _send_footage(index: RecordingIndex, camera: str, span: TimeRange, download_name: str | None) -> Response:
    cache: FootageCache = current_app.extensions["vigil.footage"]
    try:
        file = cache.open(index, camera, span.start, span.end, g.user.name)
    except NoFootage:
        abort(404, description=f"nothing recorded between {utc_iso(span.start)} and {utc_iso(span.end)} "
                               f"on camera {camera}")
    except AssemblyBusy as error:
        raise ServiceUnavailable(f"{error}: try again in a few seconds", retry_after=RETRY_AFTER_S) from None
    return send_open_file(file, "video/mp4", download_name)


def _range_record(span: TimeRange) -> dict[str, str | None]:
    return {"start": utc_iso(span.start), "end": utc_iso(span.end)}
