"""Labelled data uploaded on the Models page (admins only) and the page that follows its import."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from flask import Blueprint, Flask, Response, abort, current_app, flash, g, redirect, render_template, request, url_for

from alerts.users import Role
from dashboard.auth import body_limit, role_required
from dashboard.filters import whole_number
from finetune.dataset import DatasetError
from finetune.import_tasks import UPLOAD_FILES, ImportBusy, ImportTask

bp = Blueprint("uploads", __name__)
MAX_EVERY = 10_000
"""Keep one frame in this many at most (`every`)."""
_FORM_ROOM = 1 << 20
"""Bytes of a request beyond its files: the form fields and multipart framing."""


class UploadService(Protocol):
    """Imports of uploaded files (vigil.dataset_uploads.DatasetUploads in `vigil run`)."""

    max_bytes: int
    """The most bytes one uploaded file may have."""

    def start(self, dataset: str, format: str, files: Mapping, add_classes: Sequence[str], *, every: int,
              requested_by: str) -> str: ...

    def get(self, token: str) -> ImportTask | None: ...


def register_uploads(app: Flask, service: UploadService) -> None:
    app.extensions["vigil.uploads"] = service
    app.jinja_env.globals["uploads_enabled"] = True
    app.register_blueprint(bp)


def _service() -> UploadService:
    return current_app.extensions["vigil.uploads"]


def _request_limit() -> int:
    service = _service()
    return service.max_bytes * max(len(files) for files in UPLOAD_FILES.values()) + _FORM_ROOM


@bp.post("/models/datasets/import")
@role_required(Role.ADMIN)
@body_limit(_request_limit)
def start_import() -> Response:
    """The upload form: files stream to disk (Werkzeug spools them), then a child process imports them."""
    form = request.form
    dataset = (form.get("new_dataset") or form.get("dataset") or "").strip()
    add_classes = [name.strip() for name in form.get("add_classes", "").split(",") if name.strip()]
    every = whole_number(form.get("every") or "1", 1, MAX_EVERY)
    if every is None:
        got = form.get("every", "")[:20]
        flash(f"Nothing imported: every must be a whole number from 1 to {MAX_EVERY}, got {got!r}.", "error")
        return redirect(url_for("models.models_page"), 303)
    try:
        token = _service().start(dataset, form.get("format", ""), request.files, add_classes, every=every,
                                 requested_by=g.user.name)
    except (DatasetError, ImportBusy) as error:
        flash(f"Nothing imported: {error}.", "error")
        return redirect(url_for("models.models_page"), 303)
    return redirect(url_for("uploads.import_page", token=token), 303)


@bp.get("/models/imports/<token>")
@role_required(Role.ADMIN)
def import_page(token: str) -> str:
    task = _service().get(token)
    if task is None:
        abort(404, description="no such import (imports are kept until the server restarts)")
    return render_template("import.html", task=task)
