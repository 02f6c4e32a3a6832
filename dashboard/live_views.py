"""The live page: a tile per camera with its MJPEG stream and a health badge that updates itself."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, current_app, render_template

from dashboard.live import BOUNDARY, LiveHub

bp = Blueprint("live", __name__)


def register_live(app: Flask, cameras: list[str], hub: LiveHub | None, max_fps: float) -> None:
    """Add the live page; without a hub (dashboard alone) the tiles say the pipeline is not running."""
    app.extensions["vigil.live"] = (cameras, hub, max_fps)
    app.jinja_env.globals["live_enabled"] = True
    app.register_blueprint(bp)


def _live() -> tuple[list[str], LiveHub | None, float]:
    return current_app.extensions["vigil.live"]


@bp.get("/live")
def live_page() -> str:
    cameras, hub, _ = _live()
    return render_template("live.html", cameras=cameras, running=hub is not None)


@bp.get("/video/<camera>.mjpg")
def video(camera: str) -> Response:
    cameras, hub, max_fps = _live()
    if camera not in cameras or hub is None:
        abort(404, f"no live video for camera {camera!r}")
    response = Response(hub.mjpeg(camera, max_fps), mimetype=f"multipart/x-mixed-replace; boundary={BOUNDARY}")
    response.headers["Cache-Control"] = "no-store"
    return response
