"""From labelled clips to a live model with two commands, on the real model on CPU: import, train (with operator
feedback and the evaluation gate), promote, roll back, and the running pipeline swapping models in place."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import yaml

from alerts import Alert, AlertStatus, AlertStore, Severity
from alerts.writer import raw_frame_path
from bench.site_scene import PACKAGE_CLASS, package_scene, write_labelled_clip
from finetune.dataset import SiteDataset
from finetune.jobs import JobStatus, JobStore
from finetune.registry import ModelRegistry
from finetune.training_set import BACKGROUND_TAG
from tests.metrics_text import exposition
from vigil.cli import main
from vigil.config import RetrainingScheduleConfig, load_config
from vigil.finetune_service import SiteFinetuning
from vigil.retraining import RetrainingSchedule
from vigil.stores import site_registry

pytestmark = pytest.mark.slow
EPOCHS = 2
EXIT_NOT_PROMOTED = 3


@dataclass
class Site:
    folder: Path
    config: Path
    clip: Path
    exit_code: int
    output: str
    alerts: dict[str, int]
    """Reviewed alert ids by status."""

    def registry(self) -> ModelRegistry:
        config = load_config(self.config)
        return site_registry(config, AlertStore(config.storage.database))

    def dataset(self) -> SiteDataset:
        return SiteDataset.open(self.folder / "data" / "datasets", "site")


def _cli(*args: str) -> tuple[int, str]:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = main(list(args))
    return code, output.getvalue()


def _reviewed_alerts(store: AlertStore, media: Path, sample_video: Path, labeler) -> dict[str, int]:
    """A confirmed person alert and a false `fallen_person` alert, with their undrawn frames stored as the writer does."""
    with av.open(str(sample_video)) as container:
        frames = [f.to_ndarray(format="bgr24") for _, f in zip(range(251), container.decode(video=0))][150::100]
    ids = {}
    for (status, label), image in zip(
        [(AlertStatus.ACKNOWLEDGED, "person"), (AlertStatus.FALSE_POSITIVE, "fallen_person")], frames
    ):
        detections = labeler.detector.detect([image])[0]
        box = tuple(float(v) for v in detections.xyxy[np.argmax(detections.confidence)])
        snapshot = media / f"{status}.jpg"
        cv2.imwrite(str(snapshot), image)
        cv2.imwrite(str(raw_frame_path(snapshot)), image)
        alert_id = store.insert(Alert(
            camera="lobby", rule="review", kind="presence", label=label, track_id=1, score=0.8,
            severity=Severity.INFO, started_at=datetime.now(UTC) - timedelta(hours=1), box=box,
            snapshot_path=str(snapshot),
        ))
        store.set_status(alert_id, status, "operator")
        ids[str(status)] = alert_id
    return ids


@pytest.fixture(scope="module")
def site(tmp_path_factory, sample_video, pseudo_labeler) -> Site:
    folder = tmp_path_factory.mktemp("site")
    clips = []
    for name, (start, end, seed) in {"gate": (0, 20, 1), "yard": (40, 60, 2)}.items():
        frames = list(package_scene(sample_video, every=10, start_s=start, end_s=end, seed=seed))
        clips.append((folder / f"{name}.mp4", folder / f"{name}.xml"))
        write_labelled_clip(frames, *clips[-1], fps=1)
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump({
        "cameras": {"lobby": {"url": str(clips[0][0]), "realtime": False, "loop": True, "detect_fps": 2}},
        "detector": {"imgsz": 416, "device": "cpu"},  # pseudo-labels of imports: at 320 people are barely found
        "storage": {"database": "data/vigil.db", "media_dir": "data/media"},
        "finetune": {
            "epochs": EPOCHS, "imgsz": 320, "batch": 8, "device": "cpu", "guard_s": 1,
            "pseudo_labels": {"min_score": 0.4, "class_min_score": {"fallen_person": 0.7}},
            "gate": {"min_gain": 0.99},  # no candidate can gain that much: the gate must keep the live model
        },
    }))
    store = AlertStore(folder / "data" / "vigil.db")
    (folder / "data" / "media").mkdir()
    alerts = _reviewed_alerts(store, folder / "data" / "media", sample_video, pseudo_labeler)
    store.close()
    for video, xml in clips:
        code, output = _cli("finetune", "import", "-c", str(config), "--dataset", "site", "--format", "cvat-video",
                            "--video", str(video), "--annotations", str(xml), "--add-class", PACKAGE_CLASS)
        assert code == 0, output
    code, output = _cli("finetune", "train", "-c", str(config), "--dataset", "site", "--feedback", "--promote-if-better")
    return Site(folder, config, clips[0][0], code, output, alerts)


def test_training_registers_a_candidate_evaluated_beside_the_live_model(site: Site):
    assert site.exit_code == EXIT_NOT_PROMOTED, site.output
    rows = [line.split() for line in site.output.splitlines()]
    assert ["v0001", PACKAGE_CLASS] in [r[:2] for r in rows] and ["base", PACKAGE_CLASS] in [r[:2] for r in rows]
    assert "gate on ap50: not passed" in site.output and "registered, not live" in site.output
    registry = site.registry()
    candidate = registry.get("v0001")
    assert registry.live().version == "base"
    assert candidate.parent == "base" and candidate.dataset == "site"
    assert candidate.classes == ["person", "fallen_person", PACKAGE_CLASS]
    assert candidate.dataset_hash == site.dataset().content_hash()
    assert Path(candidate.weights).stat().st_size > 1_000_000
    evaluation = candidate.evaluation
    assert evaluation["candidate"]["classes"][PACKAGE_CLASS]["instances"] > 0
    assert evaluation["parent"]["classes"][PACKAGE_CLASS]["ap50"] == 0.0, "the default model has no package class"
    assert evaluation["gate"]["passed"] is False
    assert len(candidate.training["history"]) == EPOCHS


def test_job_progress_and_report_are_in_the_store(site: Site):
    store = AlertStore(site.folder / "data" / "vigil.db")
    job = JobStore(store.engine).get(1)
    store.close()
    assert job.status == JobStatus.SUCCEEDED and job.requested_by == "cli"
    assert [e["epoch"] for e in job.progress["history"]] == list(range(1, EPOCHS + 1))
    assert set(job.progress["history"][0]["losses"]) == {"box_loss", "cls_loss", "dfl_loss"}
    assert job.result["version"] == "v0001" and job.result["promoted"] is False
    assert [e["model"] for e in job.result["evaluations"]] == ["v0001", "base"]


def test_imported_frames_carry_pseudo_labels_for_the_old_classes(site: Site):
    dataset = site.dataset()
    imported = [e for e in dataset.entries() if e.source.startswith("cvat-video:")]
    assert imported and sum(e.pseudo for e in imported) > len(imported) / 2
    labels = Path(site.folder / "data" / "finetune" / "job-1" / "data" / "labels")
    lines = [line.split()[0] for path in labels.glob("*/*.txt") for line in path.read_text().splitlines()]
    assert lines.count("0") > 0 and lines.count("2") > 0, "training labels hold persons (pseudo) and packages"


def test_feedback_turned_reviewed_alerts_into_a_label_and_a_hard_negative(site: Site):
    dataset = site.dataset()
    by_alert = {e.tags["alert_id"]: e for e in dataset.entries() if "alert_id" in e.tags}
    confirmed = by_alert[site.alerts["acknowledged"]]
    false_positive = by_alert[site.alerts["false_positive"]]
    assert confirmed.labels == 1 and dataset.read_boxes(confirmed)[0][0] == "person"
    assert false_positive.labels == 0 and false_positive.tags[BACKGROUND_TAG] is True
    assert "fallen_person" not in [name for name, _ in dataset.read_boxes(false_positive)]
    code, output = _cli("finetune", "feedback", "-c", str(site.config), "--dataset", "site")
    assert code == 0 and "2 already in" in output
    code, output = _cli("finetune", "datasets", "-c", str(site.config))
    [row] = [line.split() for line in output.splitlines() if line.startswith("site")]
    assert code == 0 and row[1:3] == [str(len(dataset.entries())), "3"], "frames; clips: gate, yard and the alerts"


def test_promote_and_rollback_are_one_command_each(site: Site):
    assert _cli("finetune", "promote", "-c", str(site.config), "v0001")[0] == 0
    code, output = _cli("finetune", "models", "-c", str(site.config), "--json")
    assert code == 0 and json.loads(output)["live"] == "v0001"
    code, output = _cli("finetune", "rollback", "-c", str(site.config))
    assert code == 0 and "live model: base (was v0001)" in output
    assert site.registry().live().version == "base"
    code, _ = _cli("finetune", "promote", "-c", str(site.config), "v0042")
    assert code == 1


def test_a_running_pipeline_swaps_models_between_batches(site: Site):
    from vigil.pipeline import Pipeline

    pipeline = Pipeline(load_config(site.config))
    [batcher] = pipeline.detection.batchers
    registry = site.registry()

    def more_frames(count: int) -> None:
        seen = pipeline.health.snapshot()["lobby"].frames_out
        pipeline.health.wait_until("lobby", lambda health: health.frames_out >= seen + count, timeout_s=60)

    pipeline.start()
    try:
        more_frames(3)
        assert PACKAGE_CLASS not in batcher.detector.class_names
        assert batcher.detector.backend == "openvino", "the default backend on CPU, exported at start"
        registry.promote("v0001", "test")
        assert pipeline.model_watcher.wait_for("v0001", timeout=60)
        more_frames(3)
        assert batcher.swaps == 1 and PACKAGE_CLASS in batcher.detector.class_names
        assert (registry.root / "v0001" / "exports").is_dir(), "the promoted version was exported before the swap"
        assert 'vigil_detector_model_info{version="v0001"} 1.0' in exposition(pipeline.metrics)
        registry.rollback("test")
        assert pipeline.model_watcher.wait_for("base", timeout=60)
        more_frames(3)
        assert batcher.swaps == 2 and batcher.detector.class_names == ["person", "fallen_person"]
        assert pipeline.health.snapshot()["lobby"].dropped == 0, "a file source loses no frame across swaps"
    finally:
        pipeline.stop()


def test_scheduled_retraining_starts_a_job_and_keeps_its_report(site: Site, tmp_path: Path):
    config = load_config(site.config)
    config.finetune.datasets_dir = str(tmp_path)
    one_clip = SiteDataset.open_or_create(tmp_path, "one-clip", ["person", "fallen_person"])
    with one_clip.importing("test") as batch:
        from finetune.dataset import Sample

        for frame in range(2):
            batch.add(Sample(np.zeros((32, 32, 3), np.uint8), [], "cam", frame, None, "test"))
    store = AlertStore(config.storage.database)
    finetuning = SiteFinetuning(config, store)
    now = datetime.now().astimezone()
    schedule = RetrainingSchedule(RetrainingScheduleConfig(dataset="one-clip", at=f"{now:%H:%M}", feedback=False),
                                  finetuning, now - timedelta(minutes=1))
    job_id = schedule.check(now)
    try:
        assert job_id is not None and schedule.check(now + timedelta(seconds=1)) is None
        assert finetuning.runner.wait(job_id, timeout=120) is not None
        job = finetuning.jobs.get(job_id)
        assert job.requested_by == "schedule" and job.status == JobStatus.FAILED
        assert "cannot hold out" in job.error
    finally:
        finetuning.stop()
        store.close()
