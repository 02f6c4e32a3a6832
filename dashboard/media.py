"""Snapshots and clips, served by alert id: only files the store recorded, under the media folder, never through
a symlink (with HTTP Range, so clips can seek)."""

from __future__ import annotations

import mimetypes
import os
import stat
from pathlib import Path
from typing import BinaryIO, Literal

from flask import Blueprint, Response, abort, request, send_file, url_for
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from alerts import Alert
from dashboard.context import services, settings

bp = Blueprint("media", __name__)
MediaKind = Literal["snapshot", "clip"]
_PATHS: dict[str, str] = {"snapshot": "snapshot_path", "clip": "clip_path"}


@bp.get("/media/alerts/<int:alert_id>/<kind>")
def alert_media(alert_id: int, kind: str) -> Response:
    if kind not in _PATHS:
        abort(404, description=f"alerts have no {kind!r}; ask for the snapshot or the clip")
    path = getattr(services().store.get(alert_id), _PATHS[kind])
    if not path:
        abort(404, description=f"alert {alert_id} has no {kind} yet")
    file = _open_media(Path(path), settings().media_dir)
    if file is None:
        abort(404, description=f"the {kind} of alert {alert_id} is not in the media folder")
    return send_open_file(file, mimetypes.guess_type(path)[0] or "application/octet-stream")


def send_open_file(file: BinaryIO, mimetype: str, download_name: str | None = None) -> Response:
    """Send an open file (closed once sent) with HTTP Range and conditional requests; as an attachment named
    `download_name` if given, else to be shown in the browser."""
    facts = os.fstat(file.fileno())
    response = send_file(file, mimetype=mimetype, as_attachment=download_name is not None,
                         download_name=download_name, etag=f"{facts.st_mtime_ns:x}-{facts.st_size:x}",
                         last_modified=facts.st_mtime, max_age=0)
    response.content_length = facts.st_size  # Werkzeug knows a size only for paths; ranges need it
    try:
        return response.make_conditional(request, accept_ranges=True, complete_length=facts.st_size)
    except RequestedRangeNotSatisfiable:
        file.close()
        raise


def alert_media_url(alert: Alert, kind: MediaKind) -> str | None:
    """The dashboard URL of an alert's snapshot or clip, or None if it has none."""
    if not getattr(alert, _PATHS[kind]):
        return None
    return url_for("media.alert_media", alert_id=alert.id, kind=kind)


def _open_media(path: Path, media_dir: Path):
    """`path` opened for reading if it is a regular file under `media_dir` reached without any symlink below the
    media folder (the folder itself may be one, onto another disk), else None."""
    root, absolute = media_dir.resolve(), Path(os.path.abspath(path))
    base = next((b for b in (Path(os.path.abspath(media_dir)), root) if b in absolute.parents), None)
    if base is None:
        return None
    target = root / absolute.relative_to(base)
    if target.parent.resolve() != target.parent:  # a symlinked folder on the way
        return None
    try:
        descriptor = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # NOFOLLOW: the file itself
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        return None
    return os.fdopen(descriptor, "rb")
