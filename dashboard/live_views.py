"""The live page: a tile per camera with its MJPEG stream and a health badge that updates itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, abort, current_app, g, render_template, request

from dashboard.auth import session_ended_check
from dashboard.live import BOUNDARY, LiveFrames
from dashboard.metrics import add_collector
from dashboard.stream_slots import StreamSlots, StreamsFull

bp = Blueprint("live", __name__)
RETRY_FULL_S = 30
"""What a refused stream is told to wait (Retry-After)."""


@dataclass(frozen=True, slots=True)
class LiveSettings:
    cameras: list[str]
    hub: LiveFrames | None
    """None when the dashboard runs alone: the tiles say the pipeline is not running."""
    max_fps: float
    slots: StreamSlots


def register_live(app: Flask, live: LiveSettings) -> None:
    """Add the live page and its streams."""
    app.extensions["vigil.live"] = live
    add_collector(app, live.slots)
    app.jinja_env.globals["live_enabled"] = True
    app.register_blueprint(bp)


def _live() -> LiveSettings:
    return current_app.extensions["vigil.live"]


@bp.get("/live")
def live_page() -> str:
    live = _live()
    return render_template("live.html", cameras=live.cameras, running=live.hub is not None)


@bp.get("/video/<camera>.mjpg")
def video(camera: str) -> Response:
    """One viewer's stream; it holds a request thread and a slot until the viewer leaves or their session ends
    (503 when no slot is free)."""
    live = _live()
    if camera not in live.cameras or live.hub is None:
        abort(404, f"no live video for camera {camera!r}")
    try:
        slot = live.slots.take(g.user.name)
    except StreamsFull as full:
        return Response(f"{full}: close another live view or try again later\n", 503, mimetype="text/plain",
                        headers={"Retry-After": str(RETRY_FULL_S)})
    try:
        disconnected = request.environ.get("waitress.client_disconnected", lambda: False)
        response = Response(_stream(live.hub, camera, live.max_fps, disconnected, session_ended_check()),
                            mimetype=f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        response.headers["Cache-Control"] = "no-store"
        response.call_on_close(slot.release)
    except BaseException:
        slot.release()
        raise
    return response


def _stream(hub: LiveFrames, camera: str, max_fps: float, disconnected: Callable[[], bool],
            session_ended: Callable[[], bool]) -> Iterator[bytes]:
    """The camera's parts until the viewer leaves or their session ends; then a last picture says so."""
    yield from hub.mjpeg(camera, max_fps, lambda: disconnected() or session_ended())
    if session_ended():
        yield hub.notice_part("signed out: log in again to watch")
