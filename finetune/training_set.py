"""The training folder of one job: the dataset's split, labels renumbered to the candidate's classes."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import supervision as sv
import yaml

from finetune.dataset import DatasetError, LabelBox, ManifestEntry, SiteDataset, yolo_box
from finetune.evaluation import HeldOutFrame
from finetune.importers.samples import BATCH_SIZE, chunks
from finetune.pseudo_labels import PseudoLabeler, without_overlaps
from finetune.split import Split

BACKGROUND_TAG = "background"
"""Manifest tag of frames that are in the dataset to teach what is not an object (false-positive alerts)."""


@dataclass(frozen=True, slots=True)
class TrainingSet:
    data_yaml: Path
    classes: list[str]
    train: list[str]
    val: list[str]
    backgrounds_left_out: int
    """False-positive frames beyond `max_background_share` of the training images."""


def _capped_backgrounds(entries: list[ManifestEntry], share: float, seed: int) -> tuple[list[ManifestEntry], int]:
    backgrounds = [e for e in entries if e.tags.get(BACKGROUND_TAG)]
    others = [e for e in entries if not e.tags.get(BACKGROUND_TAG)]
    allowed = int(share * len(others) / (1 - share)) if share < 1 else len(backgrounds)
    kept = sorted(random.Random(seed).sample(backgrounds, min(allowed, len(backgrounds))), key=lambda e: e.id)
    return others + kept, len(backgrounds) - len(kept)


def _renumbered(dataset: SiteDataset, entry: ManifestEntry, classes: list[str]) -> str:
    lines = []
    for name, (cx, cy, w, h) in dataset.read_boxes(entry):
        lines.append(f"{classes.index(name)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    return "".join(lines)


def build_training_set(
    dataset: SiteDataset, split: Split, classes: list[str], folder: Path, *, max_background_share: float, seed: int
) -> TrainingSet:
    """Lay out `folder` as Ultralytics expects (images linked, not copied) for candidate `classes`."""
    missing = [name for name in dataset.classes if name not in classes]
    if missing:
        raise ValueError(f"candidate classes {classes} lack the dataset's {missing}")
    shutil.rmtree(folder, ignore_errors=True)
    by_id = {entry.id: entry for entry in dataset.entries()}
    train, left_out = _capped_backgrounds([by_id[i] for i in split.train], max_background_share, seed)
    parts = {"train": train, "val": [by_id[i] for i in split.val]}
    for part, entries in parts.items():
        (folder / "images" / part).mkdir(parents=True)
        (folder / "labels" / part).mkdir(parents=True)
        for entry in entries:
            os.symlink(dataset.image_path(entry).resolve(), folder / "images" / part / f"{entry.id}.jpg")
            (folder / "labels" / part / f"{entry.id}.txt").write_text(_renumbered(dataset, entry, classes))
    data_yaml = folder / "data.yaml"
    data_yaml.write_text(
        yaml.safe_dump({"path": str(folder.resolve()), "train": "images/train", "val": "images/val",
                        "names": dict(enumerate(classes))}, sort_keys=False)
    )
    return TrainingSet(data_yaml, classes, [e.id for e in train], [e.id for e in parts["val"]], left_out)


def held_out_frames(
    dataset: SiteDataset, ids: list[str], live_model: PseudoLabeler, live_classes: Collection[str]
) -> list[HeldOutFrame]:
    """The held-out samples for evaluation, with complete labels per frame.

    A frame keeps the boxes people drew and, for the classes they drew in it, the import's pseudo-labels of
    the other objects of those classes. Every other class of the live model gets the live model's boxes taken
    now, not at import, so the candidate is judged against the model it would replace whatever the import kept.
    """
    by_id = {entry.id: entry for entry in dataset.entries()}
    frames = []
    for chunk in chunks([by_id[i] for i in ids], BATCH_SIZE):
        images = [_read(dataset.image_path(entry)) for entry in chunk]
        for entry, image, found in zip(chunk, images, live_model.label(images, live_classes)):
            stored = dataset.read_boxes(entry)
            drawn_classes = {name for name, _ in stored[: entry.labels]}
            kept = stored[: entry.labels] + [(name, box) for name, box in stored[entry.labels :] if name in drawn_classes]
            height, width = image.shape[:2]
            taken = without_overlaps(
                [box for box in found if box.label not in drawn_classes],
                [LabelBox(name, _pixels(box, width, height)) for name, box in kept],
            )
            boxes = kept + [(box.label, yolo_box(box.xyxy, width, height)) for box in taken]
            frames.append(HeldOutFrame(dataset.image_path(entry), boxes, pseudo=len(boxes) - entry.labels))
    return frames


def _pixels(box: tuple[float, float, float, float], width: int, height: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = sv.xcycwh_to_xyxy(np.array([box]) * [width, height, width, height])[0]
    return float(x1), float(y1), float(x2), float(y2)


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise DatasetError(f"held-out frame {path.name} of the dataset cannot be read: re-import its clip")
    return image
