"""The zone editor (admins only): a camera's latest frame to draw zones and lines on, and the API that saves them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, render_template, request

from alerts.users import Role
from dashboard.auth import role_required
from dashboard.live import LiveFrames

bp = Blueprint("zones", __name__)
FRAME_WAIT_S = 5.0
Shapes = Mapping[str, Sequence[Sequence[float]]]


class ShapeService(Protocol):
    """Where cameras' zones and lines live; `save` raises a ValueError with `problems` (one line each) when refused."""

    @property
    def cameras(self) -> list[str]: ...

    def shapes(self, camera: str) -> dict[str, Any]: ...

    def save(self, camera: str, zones: Shapes, lines: Shapes) -> None: ...


def register_zones(app: Flask, editor: ShapeService, hub: LiveFrames | None) -> None:
    """Add the zone editor; without a hub (dashboard alone) shapes can be edited but no frame is shown."""
    app.extensions["vigil.zones"] = (editor, hub)
    app.jinja_env.globals["zones_enabled"] = True
    app.register_blueprint(bp)


def _known(camera: str) -> tuple[ShapeService, LiveFrames | None]:
    editor, hub = current_app.extensions["vigil.zones"]
    if camera not in editor.cameras:
        abort(404, f"no camera {camera!r}")
    return editor, hub


@bp.get("/zones")
@role_required(Role.ADMIN)
def zone_cameras() -> str:
    editor, _ = current_app.extensions["vigil.zones"]
    return render_template("zones.html", cameras=editor.cameras, camera=None)


@bp.get("/zones/<camera>")
@role_required(Role.ADMIN)
def zone_editor(camera: str) -> str:
    editor, _ = _known(camera)
    return render_template("zones.html", cameras=editor.cameras, camera=camera, shapes=editor.shapes(camera))


@bp.get("/zones/<camera>/frame.jpg")
@role_required(Role.ADMIN)
def latest_frame(camera: str) -> Response:
    _, hub = _known(camera)
    latest = None if hub is None else hub.next_jpeg(camera, 0, timeout_s=FRAME_WAIT_S)
    if latest is None:
        abort(404, f"no frame from {camera!r} yet: is the pipeline running and the camera streaming?")
    response = Response(latest[1], mimetype="image/jpeg")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/cameras/<camera>/shapes")
@role_required(Role.ADMIN)
def save_shapes(camera: str) -> Any:
    editor, _ = _known(camera)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not all(isinstance(body.get(kind, {}), dict) for kind in ("zones", "lines")):
        abort(400, 'send JSON {"zones": {name: points}, "lines": {name: points}}')
    try:
        editor.save(camera, body.get("zones", {}), body.get("lines", {}))
    except ValueError as error:
        problems = list(getattr(error, "problems", [str(error)]))
        return jsonify(error="not saved: the configuration refused these shapes", problems=problems), 400
    return jsonify(editor.shapes(camera))
