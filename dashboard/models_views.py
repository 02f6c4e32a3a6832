"""The Models page (versions, promote, rollback, Retrain), a fine-tuning job's page, and their JSON API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from alerts.users import Role
from dashboard.auth import role_required
from dashboard.curves import TrainingCurves, training_curves
from finetune.dataset import DatasetError
from finetune.jobs import ACTIVE, JobBusy, JobNotFound, JobStore, TrainingJob
from finetune.registry import ModelRegistry, ModelVersion, Promotion, RegistryError

bp = Blueprint("models", __name__)
RECENT_JOBS = 20
RegistryChange = Callable[[ModelRegistry], Promotion]


class FinetuneService(Protocol):
    """The site's model registry and fine-tuning jobs (vigil.finetune_service.SiteFinetuning in `vigil run`).

    `start` raises JobBusy while a job is queued or running and DatasetError for an unusable dataset.
    """

    registry: ModelRegistry
    jobs: JobStore

    def datasets(self) -> list[dict[str, Any]]: ...

    def start(self, dataset: str, *, feedback: bool, requested_by: str, promote: bool) -> int: ...

    def cancel(self, job_id: int, actor: str) -> None: ...


def register_models(app: Flask, service: FinetuneService) -> None:
    """Add the Models pages and API; everyone may look, only admins may retrain, promote, roll back or cancel."""
    app.extensions["vigil.finetune"] = service
    app.jinja_env.globals["models_enabled"] = True
    app.register_blueprint(bp)


def version_record(version: ModelVersion, live: str) -> dict[str, Any]:
    """A version as JSON: its facts and evaluation, without the per-epoch history or the weights' server path."""
    record = version.to_dict()
    del record["weights"]
    record["training"] = {k: v for k, v in version.training.items() if k != "history"}
    return record | {"live": version.version == live}


def _service() -> FinetuneService:
    return current_app.extensions["vigil.finetune"]


def _job(job_id: int) -> TrainingJob:
    try:
        return _service().jobs.get(job_id)
    except JobNotFound as error:
        abort(404, description=str(error))


def _reason() -> str:
    return f"dashboard: {g.user.name}"


def _start(dataset: Any, *, feedback: bool, promote: bool) -> int:
    """Start a job for the user; raises DatasetError (bad name, unknown dataset) or JobBusy."""
    if not isinstance(dataset, str):
        raise DatasetError(f"invalid dataset name {dataset!r}: choose one of the site's datasets")
    return _service().start(dataset, feedback=feedback, requested_by=g.user.name, promote=promote)


def _curves(job: TrainingJob) -> TrainingCurves | None:
    history = job.progress.get("history") or []
    return training_curves(history, job.progress.get("epochs")) if history else None


@bp.get("/models")
def models_page() -> str:
    service = _service()
    history = service.registry.history()
    active = service.jobs.active()
    all_datasets = service.datasets()
    uploads = current_app.extensions.get("vigil.uploads")
    return render_template(
        "models.html",
        versions=service.registry.versions(),
        live=service.registry.live().version,
        rollback_to=service.registry.rollback_target(),
        history=history[::-1],
        active=active,
        datasets=[] if active else all_datasets,
        all_datasets=all_datasets,
        upload_max_mb=uploads.max_bytes / (1 << 20) if uploads is not None else 0,
        jobs=service.jobs.recent(RECENT_JOBS),
    )


@bp.post("/models/<version>/promote")
@role_required(Role.ADMIN)
def promote(version: str) -> Response:
    return _change_page("Not promoted", lambda registry: registry.promote(version, reason=_reason()))


@bp.post("/models/rollback")
@role_required(Role.ADMIN)
def rollback() -> Response:
    return _change_page("Not rolled back", lambda registry: registry.rollback(reason=_reason()))


def _change_page(refusal: str, change: RegistryChange) -> Response:
    try:
        done = change(_service().registry)
    except RegistryError as error:
        flash(f"{refusal}: {error}.", "error")
    else:
        flash(f"{done.live} is live (was {done.previous}).", "info")
    return redirect(url_for("models.models_page"), 303)


@bp.post("/models/jobs")
@role_required(Role.ADMIN)
def start_job() -> Response:
    """The Retrain form: unchecked boxes are not sent, so a box's presence means yes."""
    try:
        job_id = _start(
            request.form.get("dataset"), feedback="feedback" in request.form, promote="promote" in request.form
        )
    except (JobBusy, DatasetError) as error:
        flash(f"Not started: {error}.", "error")
        return redirect(url_for("models.models_page"), 303)
    flash(f"Fine-tuning job {job_id} started.", "info")
    return redirect(url_for("models.job_page", job_id=job_id), 303)


@bp.get("/models/jobs/<int:job_id>")
def job_page(job_id: int) -> str:
    job = _job(job_id)
    return render_template("job.html", job=job, active=job.status in ACTIVE, curves=_curves(job))


@bp.get("/models/jobs/<int:job_id>/curves")
def job_curves(job_id: int) -> str:
    """The curves alone, for the job page's script to swap in after each epoch."""
    return render_template("_curves.html", curves=_curves(_job(job_id)))


@bp.post("/models/jobs/<int:job_id>/cancel")
@role_required(Role.ADMIN)
def cancel_job(job_id: int) -> Response:
    job = _job(job_id)
    if job.status in ACTIVE:
        _service().cancel(job_id, g.user.name)
        flash(f"Fine-tuning job {job_id} cancelled.", "info")
    else:
        flash(f"Fine-tuning job {job_id} had already ended: {job.status}.", "error")
    return redirect(url_for("models.job_page", job_id=job_id), 303)


@bp.get("/api/models")
def api_models() -> dict[str, Any]:
    """Every version (base first) with a `live` flag, the version a rollback would restore, and the change log."""
    registry = _service().registry
    live = registry.live().version
    history = registry.history()
    return {
        "live": live,
        "rollback_to": registry.rollback_target(),
        "versions": [version_record(v, live) for v in registry.versions()],
        "history": history,
    }


@bp.post("/api/models/<version>/promote")
@role_required(Role.ADMIN)
def api_promote(version: str) -> dict[str, str]:
    return _change_api(lambda registry: registry.promote(version, reason=_reason()))


@bp.post("/api/models/rollback")
@role_required(Role.ADMIN)
def api_rollback() -> dict[str, str]:
    return _change_api(lambda registry: registry.rollback(reason=_reason()))


def _change_api(change: RegistryChange) -> dict[str, str]:
    try:
        done = change(_service().registry)
    except RegistryError as error:
        abort(400, description=str(error))
    return {"previous": done.previous, "live": done.live}


@bp.get("/api/finetune/jobs")
def api_jobs() -> dict[str, Any]:
    """The most recent jobs, newest first."""
    return {"jobs": [job.to_dict() for job in _service().jobs.recent(RECENT_JOBS)]}


@bp.get("/api/finetune/jobs/<int:job_id>")
def api_job(job_id: int) -> dict[str, Any]:
    return _job(job_id).to_dict()


@bp.post("/api/finetune/jobs")
@role_required(Role.ADMIN)
def api_start_job() -> Any:
    """JSON `{"dataset": name, "feedback": true, "promote": true}` (both flags default to true, as on the form)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not all(isinstance(body.get(k, True), bool) for k in ("feedback", "promote")):
        abort(400, description='expected a JSON object such as {"dataset": "site", "feedback": true, "promote": true}')
    try:
        job_id = _start(body.get("dataset"), feedback=body.get("feedback", True), promote=body.get("promote", True))
    except JobBusy as error:
        return jsonify(error=str(error), job=error.job_id), 409
    except DatasetError as error:
        abort(400, description=str(error))
    return jsonify(id=job_id), 201, {"Location": url_for("models.api_job", job_id=job_id)}


@bp.post("/api/finetune/jobs/<int:job_id>/cancel")
@role_required(Role.ADMIN)
def api_cancel_job(job_id: int) -> dict[str, Any]:
    job = _job(job_id)
    if job.status not in ACTIVE:
        abort(409, description=f"fine-tuning job {job_id} has already ended: {job.status}")
    _service().cancel(job_id, g.user.name)
    return _job(job_id).to_dict()
