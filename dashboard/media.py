"""Snapshots and clips, served from under the media folder only (with HTTP Range, so clips can seek)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory, url_for

from dashboard.context import settings

bp = Blueprint("media", __name__)


@bp.get("/media/<path:name>")
def media_file(name: str) -> Response:
    # send_from_directory refuses (404) any name that would leave the folder: `..`, absolute paths.
    return send_from_directory(settings().media_dir.resolve(), name, conditional=True)


def media_url(path: str | None) -> str | None:
    """The dashboard URL of a stored snapshot or clip path, or None if it is not under the media folder."""
    if not path:
        return None
    try:
        name = Path(path).resolve().relative_to(settings().media_dir.resolve())
    except ValueError:
        return None
    return url_for("media.media_file", name=name.as_posix())
