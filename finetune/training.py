"""Fine-tuning with Ultralytics from the live model, keeping its classes and adding the dataset's new ones."""

from __future__ import annotations

import copy
import functools
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from ultralytics import YOLO
from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.nn.tasks import DetectionModel
from ultralytics.utils.torch_utils import strip_optimizer

from detector import resolve_weights
from detector.model import remapped_names, resolve_device
from finetune.jobs import TAUGHT_AP50

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrainingParams:
    epochs: int = 30
    imgsz: int = 640
    batch: int = 8
    freeze: int = 10
    lr0: float = 0.001
    warmup_epochs: float = 3.0
    """The learning rate ramps up over these (Ultralytics caps it at epochs - 1); at full rate from the first step
    the trained head is knocked off before the new class is learnt."""
    optimizer: str = "AdamW"
    patience: int = 5
    """Epochs without a better AP50 on the taught classes before training stops."""
    time_budget_min: float | None = None
    """Most minutes of training: no epoch starts that would end past it (`epochs` stays the most epochs)."""
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    """Data-loading processes; 0 loads in the training process (CPU-friendly, no fork of a big parent)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EpochRecord:
    epoch: int
    """1-based."""
    losses: dict[str, float]
    """Mean training losses of the epoch (box, cls, dfl)."""
    metrics: dict[str, float]
    """Validation metrics Ultralytics computed after the epoch (precision, recall, mAP50, mAP50-95, val losses)."""


@dataclass(frozen=True, slots=True)
class TrainingProgress:
    epoch: int
    """1-based epoch being run."""
    epochs: int
    batch: int
    batches: int
    losses: dict[str, float]


@dataclass(frozen=True, slots=True)
class TrainingOutcome:
    weights: Path
    """The kept epoch's weights."""
    epochs: list[EpochRecord]
    kept_epoch: int
    """1-based: the epoch best on the taught classes (the latest of equals)."""


class TrainingListener:
    """What the training loop reports to; the job store's progress reporter implements it."""

    def batch_done(self, progress: TrainingProgress) -> None: ...

    def epoch_done(self, record: EpochRecord) -> None: ...


def expand_classes(parent_weights: str, labels: Mapping[str, str], classes: list[str], output: Path) -> Path:
    """A checkpoint of the parent with one output per class in `classes`: the parent's classes keep their trained
    head weights (so fine-tuning starts from what it knows), new classes start from Ultralytics' initialisation.

    `classes` must start with every class of the parent (Vigil names) or reuse them in any order.
    """
    parent = YOLO(resolve_weights(parent_weights), task="detect")
    parent_names = remapped_names(parent, labels)
    missing = [name for name in parent_names if name not in classes]
    if missing:
        raise ValueError(f"the candidate would lose the live model's classes {missing}")
    model = DetectionModel(copy.deepcopy(parent.model.yaml), nc=len(classes), verbose=False)
    model.load(parent.model, verbose=False)  # every layer whose shape is unchanged
    new_head, old_head = model.model[-1], parent.model.model[-1]
    with torch.no_grad():
        for new_branch, old_branch in zip(new_head.cv3, old_head.cv3):
            new_out, old_out = new_branch[-1], old_branch[-1]
            for old_index, name in enumerate(parent_names):
                new_index = classes.index(name)
                new_out.weight[new_index] = old_out.weight[old_index]
                new_out.bias[new_index] = old_out.bias[old_index]
    model.names = dict(enumerate(classes))
    model.args = dict(getattr(parent.model, "args", {}) or {})
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"model": model.half(), "train_args": {}, "date": datetime.now(UTC).isoformat(), "version": "vigil"},
        output,
    )
    return output


class TaughtClassTrainer(DetectionTrainer):
    """Ultralytics' detection trainer, judging each epoch by the classes the dataset teaches.

    Ultralytics keeps `best.pt` and stops early by fitness over every class;
    with pseudo-labelled old classes that are right from the first epoch,
    that score hides what the new class learns. Here fitness is the mean
    validation AP50 of `taught_class_ids`; old classes are left to the gate.
    """

    def __init__(self, *args, taught_class_ids: Sequence[int] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.taught_class_ids = tuple(taught_class_ids)

    def validate(self):
        best_before = self.best_fitness
        metrics, fitness = super().validate()
        if metrics is None or not self.taught_class_ids:
            return metrics, fitness
        box = self.validator.metrics.box
        present = [int(c) for c in box.ap_class_index]
        taught = [float(box.ap50[present.index(c)]) if c in present else 0.0 for c in self.taught_class_ids]
        fitness = sum(taught) / len(taught)
        metrics[TAUGHT_AP50] = fitness
        self.best_fitness = fitness if best_before is None or best_before < fitness else best_before
        return metrics, fitness

    def final_eval(self) -> None:
        """Only strip the checkpoints: the job evaluates the candidate against the live model itself."""
        for weights in (self.last, self.best):
            if weights.exists():
                strip_optimizer(weights)


def train(
    initial_weights: Path,
    data_yaml: Path,
    params: TrainingParams,
    run_dir: Path,
    listener: TrainingListener,
    taught_class_ids: Sequence[int] = (),
) -> TrainingOutcome:
    """Fine-tune `initial_weights` on `data_yaml`; returns the kept weights and the epochs run.

    The kept epoch is the best on the mean validation AP50 of `taught_class_ids` (all classes when empty), and
    patience counts on the same score.
    """
    model = YOLO(str(initial_weights), task="detect")
    records: list[EpochRecord] = []
    batch_index = {"i": 0}

    started = {"at": time.monotonic()}

    def on_train_start(trainer) -> None:
        started["at"] = time.monotonic()
        if trainer.device.type == "cpu":
            torch.set_num_threads(os.cpu_count() or 1)  # Ultralytics leaves one core idle: half the speed on 2 cores

    def on_train_epoch_start(trainer) -> None:
        batch_index["i"] = 0

    def on_train_batch_end(trainer) -> None:
        batch_index["i"] += 1
        listener.batch_done(
            TrainingProgress(trainer.epoch + 1, trainer.epochs, batch_index["i"], len(trainer.train_loader),
                             _losses(trainer))
        )

    def on_fit_epoch_end(trainer) -> None:
        metrics = {key: float(value) for key, value in (trainer.metrics or {}).items()}
        record = EpochRecord(trainer.epoch + 1, _losses(trainer), metrics)
        records.append(record)
        listener.epoch_done(record)
        if params.time_budget_min is not None:
            elapsed = time.monotonic() - started["at"]
            if elapsed + elapsed / len(records) > params.time_budget_min * 60:  # another epoch would not fit
                trainer.stop = True

    model.add_callback("on_train_start", on_train_start)
    model.add_callback("on_train_epoch_start", on_train_epoch_start)
    model.add_callback("on_train_batch_end", on_train_batch_end)
    model.add_callback("on_fit_epoch_end", on_fit_epoch_end)
    model.train(
        trainer=functools.partial(TaughtClassTrainer, taught_class_ids=taught_class_ids),
        data=str(data_yaml),
        epochs=params.epochs,
        imgsz=params.imgsz,
        batch=params.batch,
        nbs=params.batch,  # no accumulation to Ultralytics' nominal 64: a site clip of 60 frames would get one step an epoch
        freeze=params.freeze or None,
        lr0=params.lr0,
        warmup_epochs=params.warmup_epochs,
        warmup_bias_lr=params.lr0,  # Ultralytics' 0.1 is for training from scratch; it wrecks a trained head
        optimizer=params.optimizer,
        patience=params.patience,
        cache="ram",  # decoded, resized frames stay in memory across epochs (Ultralytics checks there is room)
        seed=params.seed,
        deterministic=True,
        device=resolve_device(params.device),
        workers=params.workers,
        project=str(run_dir),
        name="train",
        exist_ok=True,
        plots=False,
        verbose=False,
        amp=resolve_device(params.device).startswith("cuda"),
    )
    best = run_dir / "train" / "weights" / "best.pt"
    if not best.is_file():
        return TrainingOutcome(run_dir / "train" / "weights" / "last.pt", records, len(records))
    if not taught_class_ids:
        return TrainingOutcome(best, records, model.trainer.stopper.best_epoch)
    # best.pt is rewritten whenever an epoch equals the best so far: the latest of the best epochs.
    kept = max(range(len(records)), key=lambda i: (records[i].metrics.get(TAUGHT_AP50, -1.0), i))
    return TrainingOutcome(best, records, kept + 1)


def _losses(trainer) -> dict[str, float]:
    return {name: round(float(value), 4) for name, value in (trainer.tloss or {}).items()}
