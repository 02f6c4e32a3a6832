"""The training folder of one job: the dataset's split, labels renumbered to the candidate's classes."""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from finetune.dataset import ManifestEntry, SiteDataset
from finetune.evaluation import HeldOutFrame
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


def held_out_frames(dataset: SiteDataset, ids: list[str]) -> list[HeldOutFrame]:
    """The held-out samples with their labels, for evaluation."""
    by_id = {entry.id: entry for entry in dataset.entries()}
    return [HeldOutFrame(dataset.image_path(by_id[i]), dataset.read_boxes(by_id[i])) for i in ids]
