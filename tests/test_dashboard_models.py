"""The Models page, the Retrain trigger, a job's page and their JSON API, on a real database, registry and service."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from dashboard.curves import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, nice_ceiling, training_curves
from dashboard.models_views import register_models
from finetune.dataset import LabelBox, Sample, SiteDataset
from finetune.evaluation import ClassMetrics, ModelEvaluation
from finetune.jobs import JobStatus
from tests.dashboard_support import ROLES, Site, build_site, csrf
from vigil.config import validate_document
from vigil.finetune_service import SiteFinetuning

HOSTILE_CLASS = '<script>alert("class")</script>'
HOSTILE_DATASET = "<img src=x onerror=alert(1)>"
JOB_DEADLINE_S = 60.0
HISTORY = [
    {
        "epoch": epoch,
        "losses": {"box_loss": 1.6 - 0.2 * epoch, "cls_loss": 2.4 - 0.4 * epoch, "dfl_loss": 1.2 - 0.05 * epoch},
        "metrics": {
            "metrics/precision(B)": 0.6, "metrics/recall(B)": 0.5, "metrics/mAP50(B)": 0.3 + 0.1 * epoch,
            "metrics/mAP50-95(B)": 0.15 + 0.05 * epoch, "val/box_loss": 1.7 - 0.1 * epoch,
        },
    }
    for epoch in (1, 2, 3)
]


@dataclass
class ModelsSite:
    site: Site
    service: SiteFinetuning
    folder: Path

    def client(self, role: str | None = None):
        return self.site.client(role)

    def add_version(self, parent: str = "base", classes: tuple[str, ...] = ("person", "package"),
                    passed: bool = True, dataset: str = "site") -> str:
        """Register a version with fake weights (the registry never reads them) and a realistic evaluation."""
        weights = self.folder / "weights.pt"
        weights.write_bytes(b"not really weights")
        candidate = evaluation("candidate", {name: 0.7 for name in classes})
        before = evaluation(parent, {name: 0.5 if name == "person" else None for name in classes})
        gate = {"metric": "ap50", "passed": passed, "reasons": [f"{classes[-1]}: ap50 0.000 → 0.700 (better)"]}
        return self.service.registry.add(
            weights, parent=parent, dataset=dataset, dataset_hash="0123456789abcdef" * 4, classes=list(classes),
            evaluation={"candidate": candidate, "parent": before, "taught_classes": [classes[-1]], "gate": gate},
            training={"epochs": 3, "epochs_run": 3, "train_frames": 40, "val_frames": 10, "history": HISTORY},
        ).version

    def job(self, status: JobStatus = JobStatus.RUNNING, dataset: str = "site", **progress) -> int:
        """A job row as a worker would leave it; a running one carries this process's id, so it counts as alive."""
        jobs = self.service.jobs
        job_id = jobs.create(dataset, {}, "admin")
        if status != JobStatus.QUEUED:
            jobs.mark_running(job_id, os.getpid())
        if progress:
            jobs.set_progress(job_id, progress)
        return job_id


def evaluation(model: str, ap50: dict[str, float | None]) -> dict:
    """An evaluation row as finetune.evaluation writes it; a None AP50 is a class the model never predicted."""
    classes = {
        name: ClassMetrics(
            instances=12, ap50=value, ap50_95=None if value is None else value / 2, precision=None if value is None
            else 0.8, recall=0.0 if value is None else 0.75, fp_per_negative_frame=0.05, negative_frames=20,
        )
        for name, value in ap50.items()
    }
    return ModelEvaluation(model, frames=30, map50_95=0.3, classes=classes).to_dict()


@pytest.fixture
def models(tmp_path: Path, users_db: Path):
    site = build_site(tmp_path / "site", users_db)
    config = validate_document(
        {
            "cameras": {"lobby": {"url": "x.mp4"}},
            "storage": {"database": str(site.media_dir.parent / "vigil.db")},
            "finetune": {name: str(tmp_path / name) for name in ("datasets_dir", "models_dir", "runs_dir")},
        },
        "test",
    )
    service = SiteFinetuning(config, site.store)
    register_models(site.app, service)
    yield ModelsSite(site, service, tmp_path)
    service.stop()
    site.store.close()


def _post_form(client, url: str, **form: str):
    return client.post(url, data={"csrf_token": csrf(client), **form})


def _post_json(client, url: str, body: dict | None = None):
    return client.post(url, json=body or {}, headers={"X-CSRF-Token": csrf(client)})


def _flash(client) -> str:
    return client.get("/models").text


def test_models_page_lists_versions_with_evaluation_history_and_jobs(models) -> None:
    first = models.add_version()
    second = models.add_version(parent=first, passed=False)
    models.service.registry.promote(first, reason="cli: ops")
    models.job(JobStatus.RUNNING, stage="training")
    page = models.client("viewer").get("/models")
    assert page.status_code == 200
    html = page.text
    assert html.index('data-version="base"') < html.index(f'data-version="{first}"') < html.index(
        f'data-version="{second}"'), "base first, then oldest first"
    assert '<span class="badge live">live</span>' in html.split(f'data-version="{first}"')[1].split("</tr>")[0]
    assert "person: 0.500 → 0.700" in html and "package: — → 0.700" in html, "AP50 parent → candidate, — for None"
    assert "0123456789ab" in html and "package: ap50 0.000 → 0.700 (better)" in html
    assert "gate-passed" in html and "gate-failed" in html
    assert "cli: ops" in html and "A rollback makes base live again" in html
    assert "data-active-job" in html and "data-retrain" not in html, "the running job is shown instead of the form"
    assert 'href="/models"' in html and ">Models</a>" in html, "the nav link"
    assert "data-promote" not in html and "data-rollback" not in html, "no admin controls for viewers"

    admin = models.client("admin").get("/models").text
    assert f'data-promote="{second}"' in admin and 'data-promote="base"' in admin
    assert f'data-promote="{first}"' not in admin, "the live version has no Promote button"
    assert "data-rollback" in admin


def test_models_page_offers_retrain_on_each_dataset_to_admins_only(models) -> None:
    dataset = SiteDataset.open_or_create(models.service.config.finetune.datasets_dir, "site", ["person"])
    _import(dataset, clip="lobby-1", labels=["person", "person"])
    admin = models.client("admin").get("/models").text
    assert 'name="dataset" value="site"' in admin and "data-retrain" in admin
    assert 'name="feedback" value="yes" checked' in admin and 'name="promote" value="yes" checked' in admin
    assert "person 2" in admin and "data-rollback" not in admin, "nothing to roll back to yet"
    viewer = models.client("viewer").get("/models").text
    assert "site" in viewer and "data-retrain" not in viewer and "Only admins can start" in viewer


def test_nav_link_only_when_registered(site) -> None:
    assert ">Models</a>" not in site.client("viewer").get("/alerts").text


def test_promote_and_rollback_from_the_page(models) -> None:
    registry = models.service.registry
    version = models.add_version()
    admin = models.client("admin")
    response = _post_form(admin, f"/models/{version}/promote")
    assert response.status_code == 303 and response.headers["Location"] == "/models"
    assert registry.live().version == version
    assert f"{version} is live (was base)." in _flash(admin)
    assert registry.history()[-1]["reason"] == "dashboard: admin"

    assert _post_form(admin, f"/models/{version}/promote").status_code == 303
    assert f"Not promoted: {version} is already live." in _flash(admin)

    assert _post_form(admin, "/models/rollback").status_code == 303
    assert registry.live().version == "base"
    assert f"base is live (was {version})." in _flash(admin)
    assert _post_form(admin, "/models/rollback").status_code == 303
    assert "Not rolled back: nothing to roll back to" in _flash(admin)
    assert registry.live().version == "base"


def test_models_api_lists_promotes_and_rolls_back(models) -> None:
    registry = models.service.registry
    first, second = models.add_version(), models.add_version()
    viewer, admin = models.client("viewer"), models.client("admin")
    listed = viewer.get("/api/models").json
    assert listed["live"] == "base" and listed["rollback_to"] is None and listed["history"] == []
    assert [v["version"] for v in listed["versions"]] == ["base", first, second]
    assert [v["live"] for v in listed["versions"]] == [True, False, False]
    record = listed["versions"][1]
    assert "weights" not in record and "history" not in record["training"] and record["training"]["epochs_run"] == 3
    assert record["evaluation"]["candidate"]["classes"]["package"]["ap50"] == 0.7
    assert record["evaluation"]["gate"]["passed"] is True

    assert _post_json(admin, f"/api/models/{first}/promote").json == {"previous": "base", "live": first}
    assert _post_json(admin, f"/api/models/{second}/promote").json == {"previous": first, "live": second}
    assert registry.live().version == second
    assert viewer.get("/api/models").json["rollback_to"] == first
    assert _post_json(admin, "/api/models/rollback").json == {"previous": second, "live": first}
    assert registry.live().version == first

    again = _post_json(admin, f"/api/models/{first}/promote")
    assert again.status_code == 400 and again.json == {"error": f"{first} is already live"}
    unknown = _post_json(admin, "/api/models/v9999/promote")
    assert unknown.status_code == 400 and "unknown model version 'v9999'" in unknown.json["error"]
    assert _post_json(admin, "/api/models/rollback").json == {"previous": first, "live": "base"}
    nothing = _post_json(admin, "/api/models/rollback")
    assert nothing.status_code == 400 and "nothing to roll back to" in nothing.json["error"]
    actions = [(e["action"], e["reason"]) for e in viewer.get("/api/models").json["history"]]
    assert actions == [("promote", "dashboard: admin")] * 2 + [("rollback", "dashboard: admin")] * 2


def _admin_posts(models, version: str, job_id: int) -> dict[str, tuple[str, str]]:
    """Every state-changing models route: (kind, url)."""
    return {
        "promote": ("form", f"/models/{version}/promote"),
        "rollback": ("form", "/models/rollback"),
        "start": ("form", "/models/jobs"),
        "cancel": ("form", f"/models/jobs/{job_id}/cancel"),
        "api-promote": ("json", f"/api/models/{version}/promote"),
        "api-rollback": ("json", "/api/models/rollback"),
        "api-start": ("json", "/api/finetune/jobs"),
        "api-cancel": ("json", f"/api/finetune/jobs/{job_id}/cancel"),
    }


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_only_admins_may_change_models_or_jobs(models, role) -> None:
    first, version = models.add_version(), models.add_version()
    models.service.registry.promote(first)
    job_id = models.job(JobStatus.RUNNING)
    client = models.client(role)
    for name, (kind, url) in _admin_posts(models, version, job_id).items():
        if kind == "form":
            response = _post_form(client, url, dataset="site")
        else:
            response = _post_json(client, url, {"dataset": "site"})
            assert "needs the admin role" in response.json["error"], name
        assert response.status_code == 403, name
    assert models.service.registry.live().version == first and len(models.service.registry.history()) == 1
    assert [j.id for j in models.service.jobs.recent()] == [job_id]
    assert models.service.jobs.get(job_id).status == JobStatus.RUNNING
    for path in ("/models", f"/models/jobs/{job_id}", f"/models/jobs/{job_id}/curves", "/api/models",
                 "/api/finetune/jobs", f"/api/finetune/jobs/{job_id}"):
        assert client.get(path).status_code == 200, path


def test_anonymous_requests_to_models_routes_are_refused(models) -> None:
    version = models.add_version()
    job_id = models.job(JobStatus.RUNNING)
    client = models.client()
    checked = set()
    for rule in models.site.app.url_map.iter_rules():
        if not rule.endpoint.startswith("models."):
            continue
        url = rule.build({arg: {"version": version, "job_id": job_id}[arg] for arg in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            if url.startswith("/api/"):
                assert (response.status_code, response.json) == (401, {"error": "login required"}), (method, url)
            else:
                assert response.status_code == 302 and response.headers["Location"].startswith("/login"), url
            checked.add((method, rule.rule))
    assert len(checked) == 14, checked
    assert models.service.registry.live().version == "base"
    assert models.service.jobs.get(job_id).status == JobStatus.RUNNING


def test_admin_posts_without_the_csrf_token_are_refused(models) -> None:
    version = models.add_version()
    job_id = models.job(JobStatus.RUNNING)
    admin = models.client("admin")
    for name, (kind, url) in _admin_posts(models, version, job_id).items():
        if kind == "form":
            refused = admin.post(url, data={"dataset": "site"})
            forged = admin.post(url, data={"dataset": "site", "csrf_token": "forged"})
        else:
            refused = admin.post(url, json={"dataset": "site"})
            forged = admin.post(url, json={"dataset": "site"}, headers={"X-CSRF-Token": "forged"})
            assert "CSRF" in refused.json["error"], name
        assert (refused.status_code, forged.status_code) == (400, 400), name
    assert models.service.registry.live().version == "base" and models.service.registry.history() == []
    assert models.service.jobs.get(job_id).status == JobStatus.RUNNING
    assert len(models.service.jobs.recent()) == 1


def test_a_running_job_shows_its_progress_curves_and_a_cancel_button(models) -> None:
    job_id = models.job(
        JobStatus.RUNNING, stage="training", message="40 training and 10 held-out frames", epoch=4, epochs=10,
        batch=3, batches=5, losses={"box_loss": 0.9512, "cls_loss": 1.25, "dfl_loss": 1.05}, done=18, total=50,
        eta_s=125.0, history=HISTORY,
    )
    admin = models.client("admin")
    html = admin.get(f"/models/jobs/{job_id}").text
    assert 'data-field="status">running<' in html and "40 training and 10 held-out frames" in html
    assert '<progress data-field="bar" max="50" value="18">' in html and "18 of 50" in html
    assert "4 of 10" in html and "box_loss 0.951 · cls_loss 1.250 · dfl_loss 1.050" in html
    assert "2 min 05 s" in html
    assert f'data-job-url="/api/finetune/jobs/{job_id}"' in html and "models.js" in html, "it polls the API"
    assert "data-cancel" in html and "data-cancel" not in models.client("viewer").get(f"/models/jobs/{job_id}").text
    svg = html.split('<div class="curves" data-curves>')[1].split("</div>")[0]
    assert svg.count("<svg viewBox") == 2 and svg.count("<polyline") == 5, "3 losses, mAP50 and mAP50-95"
    for series in ("box_loss", "cls_loss", "dfl_loss", "mAP50", "mAP50-95"):
        assert f'data-series="{series}"' in svg
    assert "mAP50, epoch 3: 0.6000" in svg
    fragment = admin.get(f"/models/jobs/{job_id}/curves")
    assert fragment.status_code == 200 and fragment.text.count("<polyline") == 5

    api = models.client("viewer").get(f"/api/finetune/jobs/{job_id}").json
    assert api["status"] == "running" and api["progress"]["epoch"] == 4 and len(api["progress"]["history"]) == 3
    assert [j["id"] for j in models.client("viewer").get("/api/finetune/jobs").json["jobs"]] == [job_id]


def test_a_queued_job_without_history_says_no_curves_yet(models) -> None:
    job_id = models.job(JobStatus.QUEUED)
    html = models.client("viewer").get(f"/models/jobs/{job_id}").text
    assert 'data-field="status">queued<' in html and "No epoch has finished yet" in html and "<polyline" not in html
    assert models.client("viewer").get("/models/jobs/999").status_code == 404
    missing = models.client("viewer").get("/api/finetune/jobs/999")
    assert missing.status_code == 404 and missing.json == {"error": "no fine-tuning job 999"}


def test_a_finished_job_shows_the_comparison_and_the_gate(models) -> None:
    version = models.add_version()
    candidate = evaluation(version, {"person": 0.71, "package": 0.64})
    current = evaluation("base", {"person": 0.7, "package": None})
    job_id = models.job(JobStatus.RUNNING, stage="evaluating base", epochs=3, history=HISTORY)
    gate = {"metric": "ap50", "passed": True, "reasons": ["package: ap50 0.000 → 0.640 (better)",
                                                         "person: ap50 0.700 → 0.710 (kept)"]}
    result = {"version": version, "parent": "base", "promoted": False, "gate": gate,
              "evaluations": [candidate, current], "training": {"epochs_run": 3}}
    models.service.jobs.finish(job_id, JobStatus.SUCCEEDED, result=result)
    html = models.client("viewer").get(f"/models/jobs/{job_id}").text
    assert 'data-field="status">succeeded<' in html and "data-job-url" not in html and "data-cancel" not in html
    table = html.split('<table class="grid evaluation">')[1].split("</table>")[0]
    rows = [row.split("<td")[1:] for row in table.split("<tr")[2:]]
    assert len(rows) == 6, "two models × two classes, and each model's mean"
    cells = [[cell.split(">", 1)[1].split("</td>")[0] for cell in row] for row in rows]
    assert cells[0] == [f"{version} (candidate)", "person", "12", "0.710", "0.355", "0.800", "0.750", "0.050"]
    assert cells[3] == ["base (current)", "package", "12", "—", "—", "—", "0.000", "0.050"]
    assert "gate-passed" in html and "package: ap50 0.000 → 0.640 (better)" in html
    assert "automatic promotion was off" in html and html.count("<polyline") == 5


def test_cancel_a_job_from_the_page_and_the_api(models) -> None:
    admin = models.client("admin")
    first = models.job(JobStatus.QUEUED)
    response = _post_form(admin, f"/models/jobs/{first}/cancel")
    assert response.status_code == 303 and response.headers["Location"] == f"/models/jobs/{first}"
    job = models.service.jobs.get(first)
    assert (job.status, job.error) == (JobStatus.CANCELLED, "cancelled by admin")
    assert _post_form(admin, f"/models/jobs/{first}/cancel").status_code == 303
    assert f"job {first} had already ended: cancelled" in admin.get(f"/models/jobs/{first}").text

    second = models.job(JobStatus.QUEUED)
    cancelled = _post_json(admin, f"/api/finetune/jobs/{second}/cancel")
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    again = _post_json(admin, f"/api/finetune/jobs/{second}/cancel")
    assert again.status_code == 409 and "already ended: cancelled" in again.json["error"]
    assert _post_json(admin, "/api/finetune/jobs/999/cancel").status_code == 404


def test_starting_a_job_while_one_is_active_is_refused(models) -> None:
    dataset = SiteDataset.open_or_create(models.service.config.finetune.datasets_dir, "site", ["person"])
    _import(dataset, clip="lobby-1", labels=["person"])
    busy = models.job(JobStatus.RUNNING)
    admin = models.client("admin")
    refused = _post_json(admin, "/api/finetune/jobs", {"dataset": "site", "feedback": False})
    assert refused.status_code == 409 and refused.json["job"] == busy
    assert f"fine-tuning job {busy} is still running" in refused.json["error"]
    form = _post_form(admin, "/models/jobs", dataset="site", promote="yes")
    assert form.status_code == 303 and form.headers["Location"] == "/models"
    page = admin.get("/models").text
    assert f"Not started: fine-tuning job {busy} is still running" in page and "data-active-job" in page
    assert [j.id for j in models.service.jobs.recent()] == [busy]


@pytest.mark.parametrize(
    "body, message",
    [
        (None, "expected a JSON object"),
        ({"dataset": "site", "feedback": "yes"}, "expected a JSON object"),
        ({"dataset": "site", "promote": 1}, "expected a JSON object"),
        ({}, "invalid dataset name None"),
        ({"dataset": "../etc", "feedback": True}, "invalid dataset name '../etc'"),
        ({"dataset": "missing", "feedback": False}, "no dataset 'missing'"),
    ],
)
def test_bad_start_requests_are_refused(models, body, message) -> None:
    admin = models.client("admin")
    headers = {"X-CSRF-Token": csrf(admin)}
    if body is None:
        response = admin.post("/api/finetune/jobs", data="not json", headers=headers, content_type="application/json")
    else:
        response = admin.post("/api/finetune/jobs", json=body, headers=headers)
    assert response.status_code == 400 and message in response.json["error"]
    assert models.service.jobs.recent() == []


def test_hostile_dataset_and_class_names_come_back_escaped(models) -> None:
    folder = Path(models.service.config.finetune.datasets_dir) / HOSTILE_DATASET
    folder.mkdir(parents=True)
    (folder / "data.yaml").write_text(yaml.safe_dump({"names": {0: "person", 1: HOSTILE_CLASS}}))
    version = models.add_version(classes=("person", HOSTILE_CLASS), dataset=HOSTILE_DATASET)
    result = {"version": version, "parent": "base", "promoted": False,
              "gate": {"metric": "ap50", "passed": False, "reasons": [f"{HOSTILE_CLASS}: no held-out instances"]},
              "evaluations": [evaluation(version, {HOSTILE_CLASS: 0.5}), evaluation("base", {HOSTILE_CLASS: None})]}
    job_id = models.job(JobStatus.RUNNING, dataset=HOSTILE_DATASET, stage=HOSTILE_CLASS, message=HOSTILE_CLASS,
                        losses={HOSTILE_CLASS: 1.0}, history=[{"epoch": 1, "losses": {HOSTILE_CLASS: 1.0}}])
    admin = models.client("admin")
    job_page = admin.get(f"/models/jobs/{job_id}").text
    models.service.jobs.finish(job_id, JobStatus.FAILED, result=result, error=HOSTILE_CLASS)
    pages = {"models": admin.get("/models").text, "running job": job_page,
             "finished job": admin.get(f"/models/jobs/{job_id}").text}
    for name, html in pages.items():
        assert "<script>alert" not in html and "<img src=x" not in html, name
        assert "&lt;script&gt;alert(&#34;class&#34;)&lt;/script&gt;" in html, name
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages["models"] and "&lt;img src=x" in pages["finished job"]
    flashed = _post_form(admin, "/models/jobs", dataset=HOSTILE_DATASET, promote="yes")
    assert flashed.status_code == 303
    assert "<img src=x" not in admin.get("/models").text


def test_curves_geometry_stays_inside_the_plot() -> None:
    history = [*HISTORY, {"epoch": 4, "losses": {"box_loss": float("nan")}, "metrics": {}}]
    curves = training_curves(history, epochs=10)
    box = next(c for c in curves.losses.curves if c.name == "box_loss")
    assert [p.epoch for p in box.points] == [1, 2, 3], "the NaN loss is left out"
    assert curves.losses.top_value == 2.0 and curves.validation.top_value == 1.0
    for panel in (curves.losses, curves.validation):
        xs = [p.x for c in panel.curves for p in c.points]
        ys = [p.y for c in panel.curves for p in c.points]
        assert LEFT <= min(xs) and max(xs) <= WIDTH - RIGHT and TOP <= min(ys) and max(ys) <= HEIGHT - BOTTOM
        assert [epoch for _, epoch in panel.x_ticks] == list(range(1, 11)), "the axis runs to the planned epochs"
    assert box.points[0].x == LEFT and np.isclose(box.points[0].y, HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * 1.4 / 2.0)
    single = training_curves(HISTORY[:1])
    assert single.losses.curves[0].points[0].x == (LEFT + WIDTH - RIGHT) / 2
    assert [nice_ceiling(v) for v in (0.0, 0.07, 1.0, 1.01)] == [1.0, 0.1, 1.0, 2.0]


def _import(dataset: SiteDataset, clip: str, labels: list[str]) -> None:
    """Two tiny frames without times: too few to hold out 20 % with the class on both sides, so a job fails."""
    with dataset.importing("test") as batch:
        for frame, label in enumerate(labels):
            image = np.full((64, 96, 3), 40 * frame, dtype=np.uint8)
            batch.add(Sample(image, [LabelBox(label, (10.0, 10.0, 50.0, 60.0))], clip, frame, None, "test"))


def test_retrain_starts_a_real_job_whose_failure_the_page_and_api_show(models) -> None:
    dataset = SiteDataset.open_or_create(models.service.config.finetune.datasets_dir, "site", ["person"])
    _import(dataset, clip="lobby-1", labels=["person", "person"])
    admin = models.client("admin")
    response = _post_form(admin, "/models/jobs", dataset="site", promote="yes")
    assert response.status_code == 303, response.text
    job_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert response.headers["Location"] == f"/models/jobs/{job_id}"
    job = models.service.jobs.get(job_id)
    assert (job.dataset, job.requested_by, job.spec["promote"], job.spec["feedback"]) == ("site", "admin", True, None)
    assert "data-active-job" in admin.get("/models").text
    busy = _post_json(admin, "/api/finetune/jobs", {"dataset": "site", "feedback": False})
    assert busy.status_code == 409 and busy.json["job"] == job_id

    deadline = time.monotonic() + JOB_DEADLINE_S
    while models.service.jobs.get(job_id).status in (JobStatus.QUEUED, JobStatus.RUNNING):
        log = Path(models.service.config.finetune.runs_dir) / f"job-{job_id}.log"
        assert time.monotonic() < deadline, f"job {job_id} still active: {log.read_text() if log.exists() else ''}"
        models.service.runner.wait(job_id, timeout=0.5)
    assert models.service.runner.wait(job_id, timeout=10) == 1

    api = admin.get(f"/api/finetune/jobs/{job_id}").json
    assert api["status"] == "failed" and "cannot hold out 20% of the dataset" in api["error"]
    assert "2 frame(s) in 0 clip(s)" in api["error"] and "2 image(s)" in api["error"], api["error"]
    page = admin.get(f"/models/jobs/{job_id}").text
    assert 'data-field="status">failed<' in page and "cannot hold out 20% of" in page and "data-cancel" not in page
    assert "data-retrain" in admin.get("/models").text, "the form is back once the job has ended"


def test_a_missing_live_model_is_explained_not_hidden(models) -> None:
    version = models.add_version()
    models.service.registry.promote(version)
    shutil.rmtree(Path(models.service.config.finetune.models_dir) / version)
    page = models.client("viewer").get("/models")
    assert page.status_code == 500 and f"live model {version} is missing" in page.text
    api = models.client("viewer").get("/api/models")
    assert api.status_code == 500 and "vigil finetune rollback" in api.json["error"]
