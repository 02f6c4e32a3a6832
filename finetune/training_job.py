"""One fine-tuning run, start to end: feedback, split, train from the live model, evaluate both, register, gate."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alerts import AlertStore
from detector import YoloDetector, read_class_names
from finetune.dataset import SiteDataset
from finetune.feedback import FeedbackSummary, import_feedback
from finetune.evaluation import ModelEvaluation, comparison_table, evaluate
from finetune.gate import promote_if_better
from finetune.jobs import ProgressReporter
from finetune.pseudo_labels import PseudoLabeler
from finetune.registry import ModelRegistry
from finetune.split import split_dataset
from finetune.training import TrainingParams, expand_classes, train
from finetune.training_set import build_training_set, held_out_frames

log = logging.getLogger(__name__)

_LOW_CONF = 0.001
"""Evaluation runs the models this low so AP integrates the whole precision-recall curve."""


@dataclass(frozen=True, slots=True)
class GateSettings:
    metric: str = "ap50"
    min_gain: float = 0.02
    max_old_class_drop: float = 0.05


@dataclass(frozen=True, slots=True)
class PseudoLabelSettings:
    """The live model's boxes kept as labels (reviewed alerts' frames, and the held-out frames' old classes)."""

    min_score: float = 0.35
    class_min_score: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeedbackSettings:
    """Operator feedback to take in before training, from the alerts of the job's own database.

    The database is the worker's (its command line or environment), never stored in the spec: a PostgreSQL URL
    holds a password."""

    media_dir: str | None = None
    """What the alerts' snapshot paths are relative to."""


@dataclass(frozen=True, slots=True)
class JobSpec:
    """Everything a job needs, stored with it as JSON (the child process reads nothing else)."""

    dataset: str
    datasets_dir: str
    models_dir: str
    runs_dir: str
    base_model: str
    labels: dict[str, str]
    params: TrainingParams
    val_fraction: float = 0.2
    guard_s: float = 2.0
    max_background_share: float = 0.1
    operating_conf: float = 0.35
    eval_imgsz: int = 640
    """The live detector's input size: both models are judged as the pipeline would run them."""
    pseudo_labels: PseudoLabelSettings = PseudoLabelSettings()
    agnostic_nms: bool = True
    gate: GateSettings = GateSettings()
    promote: bool = False
    """Promote the candidate if the gate passes it."""
    feedback: FeedbackSettings | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        feedback = data.get("feedback")
        return cls(**{
            **data,
            "params": TrainingParams(**data["params"]),
            "gate": GateSettings(**data["gate"]),
            "pseudo_labels": PseudoLabelSettings(**data.get("pseudo_labels", {})),
            "feedback": None if feedback is None else FeedbackSettings(feedback.get("media_dir")),
        })


def _detector(spec: JobSpec, weights: str, conf: float) -> YoloDetector:
    detector = YoloDetector(
        weights, imgsz=spec.eval_imgsz, conf=conf, device=spec.params.device, labels=spec.labels,
        agnostic_nms=spec.agnostic_nms,
    )
    detector.warm_up()
    return detector


def live_model_labeler(spec: JobSpec, weights: str) -> PseudoLabeler:
    """The live model as a pseudo-labeller, as the pipeline runs it."""
    return PseudoLabeler.from_weights(
        weights, imgsz=spec.eval_imgsz, device=spec.params.device, labels=spec.labels,
        min_score=spec.pseudo_labels.min_score, class_min_score=spec.pseudo_labels.class_min_score,
    )


def take_in_feedback(spec: JobSpec, store: AlertStore, weights: str) -> FeedbackSummary:
    labeler = live_model_labeler(spec, weights)
    dataset = SiteDataset.open_or_create(spec.datasets_dir, spec.dataset, labeler.detector.class_names)
    return import_feedback(store, dataset, labeler)


def run_training_job(spec: JobSpec, job_id: int, reporter: ProgressReporter, database: str) -> dict[str, Any]:
    """Run the job; returns its result (evaluation rows, gate decision, candidate version, promotion).

    `database` holds the live-model pointer, and the alerts whose review is taken in when the spec asks for it."""
    store = AlertStore(database, media_dir=None if spec.feedback is None else spec.feedback.media_dir)
    try:
        return _run(spec, job_id, reporter, store)
    finally:
        store.close()


def _run(spec: JobSpec, job_id: int, reporter: ProgressReporter, store: AlertStore) -> dict[str, Any]:
    started = time.monotonic()
    registry = ModelRegistry(spec.models_dir, spec.base_model, store.engine)
    parent = registry.live()
    run_dir = Path(spec.runs_dir) / f"job-{job_id}"
    if spec.feedback is not None:
        reporter.stage("feedback", "taking in reviewed alerts")
        log.info("feedback: %s", take_in_feedback(spec, store, parent.weights))
    dataset = SiteDataset.open(spec.datasets_dir, spec.dataset)
    reporter.stage("preparing", f"splitting {spec.dataset}")
    taught_by_frame = dataset.taught_classes()
    split = split_dataset(
        dataset.entries(), taught_by_frame, val_fraction=spec.val_fraction, guard_s=spec.guard_s, seed=spec.params.seed
    )
    log.info("split by %s: %d training, %d held-out (%.0f%%: %s), %d left out by the guard", split.method,
             len(split.train), len(split.val), 100 * split.val_share, ", ".join(split.val_units), len(split.guarded))
    parent_classes = read_class_names(parent.weights, spec.labels)
    classes = [*parent_classes, *(c for c in dataset.classes if c not in parent_classes)]
    training_set = build_training_set(
        dataset, split, classes, run_dir / "data", max_background_share=spec.max_background_share,
        seed=spec.params.seed,
    )
    initial = expand_classes(parent.weights, spec.labels, classes, run_dir / "initial.pt")
    reporter.stage("training", f"{len(training_set.train)} training and {len(training_set.val)} held-out frames")
    taught = {name for names in taught_by_frame.values() for name in names if name in classes}
    outcome = train(initial, training_set.data_yaml, spec.params, run_dir, reporter,
                    taught_class_ids=[classes.index(name) for name in sorted(taught)])
    best, epochs = outcome.weights, outcome.epochs

    reporter.stage("evaluating", "candidate and live model on the same held-out frames")
    frames = held_out_frames(dataset, training_set.val, live_model_labeler(spec, parent.weights), parent_classes)
    evaluations = []
    for name, weights in (("candidate", str(best)), (parent.version, parent.weights)):
        evaluations.append(
            evaluate(_detector(spec, weights, _LOW_CONF), name, frames, classes, spec.operating_conf,
                     progress=lambda done, total, n=name: reporter.fraction(f"evaluating {n}", done, total))
        )
    candidate_eval, parent_eval = evaluations
    decision = promote_if_better(candidate_eval, parent_eval, taught, **asdict(spec.gate))
    training = {
        **spec.params.to_dict(),
        "epochs_run": len(epochs),
        "kept_epoch": outcome.kept_epoch,
        "train_frames": len(training_set.train),
        "val_frames": len(training_set.val),
        "guarded_frames": len(split.guarded),
        "val_units": split.val_units,
        "split_method": split.method,
        "backgrounds_left_out": training_set.backgrounds_left_out,
        "wall_time_s": round(time.monotonic() - started, 1),
        "history": [asdict(e) for e in epochs],
    }
    evaluation = {
        "candidate": candidate_eval.to_dict(),
        "parent": parent_eval.to_dict(),
        "taught_classes": sorted(taught),
        "gate": {"metric": spec.gate.metric, "passed": decision.promote, "reasons": decision.reasons},
    }
    version = registry.add(
        best, parent=parent.version, dataset=spec.dataset, dataset_hash=dataset.content_hash(), classes=classes,
        evaluation=evaluation, training=training,
    )
    log.info("candidate registered as %s\n%s", version.version, comparison_table(evaluations))
    promoted = False
    if spec.promote and decision.promote:
        registry.promote(version.version, reason=f"job {job_id}: passed the gate on {spec.gate.metric}")
        promoted = True
    return {
        "version": version.version,
        "parent": parent.version,
        "promoted": promoted,
        "gate": evaluation["gate"],
        "evaluations": [candidate_eval.to_dict() | {"model": version.version}, parent_eval.to_dict()],
        "training": {k: v for k, v in training.items() if k != "history"},
    }


def evaluations_of(result: dict[str, Any]) -> list[ModelEvaluation]:
    """The candidate and parent rows of a job's result."""
    return [ModelEvaluation.from_dict(e) for e in result.get("evaluations", [])]
