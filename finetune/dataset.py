"""A site dataset on disk: images and YOLO labels in Ultralytics layout, with a manifest of where each came from.

    data/datasets/<name>/
        data.yaml          class names (usable by Ultralytics as is)
        images/<id>.jpg
        labels/<id>.txt    `class cx cy w h`, normalised; an empty file is a background image
        manifest.jsonl     one line per sample: clip, frame, time, source, label counts, image hash
        imports.jsonl      one line per import

Imports are all-or-nothing: samples are written to a staging folder and only
moved in, and recorded in the manifest, once every one of them is valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import yaml

DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
CLASS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_ .-]{0,63}")
_JPEG_QUALITY = 95


class DatasetError(ValueError):
    """A dataset or an import into it is unusable; the message names the offending value."""


@dataclass(frozen=True, slots=True)
class LabelBox:
    """One labelled object: a class name and an xyxy box in pixels."""

    label: str
    xyxy: tuple[float, float, float, float]
    pseudo: bool = False
    """Predicted by the current model for a class the import did not label, not drawn by a person."""


@dataclass(slots=True)
class Sample:
    """One frame to import, with its labels and its origin."""

    image: np.ndarray
    """BGR pixels."""
    boxes: list[LabelBox]
    clip: str
    """The video (or collection) the frame belongs to; the split never puts one clip segment on both sides."""
    frame: int
    time_s: float | None
    """Seconds into the clip, when known."""
    source: str
    """Where the labels came from, e.g. `cvat-video:site.xml`."""
    tags: dict[str, object] = field(default_factory=dict)
    """Extra facts kept in the manifest (e.g. `alert_id`, `background: true`)."""


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """A stored sample, as recorded in manifest.jsonl."""

    id: str
    clip: str
    frame: int
    time_s: float | None
    source: str
    import_id: str
    labels: int
    pseudo: int
    image_sha256: str
    tags: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImportSummary:
    import_id: str
    samples: int
    labels: dict[str, int]
    """Boxes per class drawn by people (or taken from alerts)."""
    pseudo_labels: dict[str, int]
    """Boxes per class predicted by the current model."""
    backgrounds: int
    """Samples without any box."""


def check_dataset_name(name: str) -> str:
    """`name` if it can name a dataset folder, else DatasetError."""
    if not DATASET_NAME.fullmatch(name):
        raise DatasetError(
            f"invalid dataset name {name!r}: use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return name


def yolo_box(xyxy: tuple[float, float, float, float], width: int, height: int) -> tuple[float, float, float, float]:
    """A pixel box as YOLO stores it: centre x, centre y, width, height, as fractions of the image."""
    x1, y1, x2, y2 = xyxy
    return (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height


def _yolo_line(class_id: int, box: LabelBox, width: int, height: int) -> str:
    cx, cy, w, h = yolo_box(box.xyxy, width, height)
    return f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def check_box(box: LabelBox, width: int, height: int, where: str, tolerance_px: float = 1.0) -> None:
    """Raise DatasetError for a box that is empty or lies outside a `width`×`height` image."""
    x1, y1, x2, y2 = box.xyxy
    if not all(np.isfinite(box.xyxy)):
        raise DatasetError(f"{where}: box {box.xyxy} is not finite")
    if x2 <= x1 or y2 <= y1:
        raise DatasetError(f"{where}: box {tuple(round(v, 1) for v in box.xyxy)} has no area")
    if x1 < -tolerance_px or y1 < -tolerance_px or x2 > width + tolerance_px or y2 > height + tolerance_px:
        raise DatasetError(
            f"{where}: box {tuple(round(v, 1) for v in box.xyxy)} lies outside the {width}x{height} image"
        )


def dataset_names(root: str | Path) -> list[str]:
    """The datasets under `root`, sorted."""
    return sorted(path.parent.name for path in Path(root).glob("*/data.yaml"))


class SiteDataset:
    """A named dataset under `root`; created on first import with the current model's classes first.

    Example:
        >>> dataset = SiteDataset.open_or_create("data/datasets", "site", ["person", "fallen_person"])  # doctest: +SKIP
        >>> with dataset.importing("yolo:export.zip", add_classes=["package"]) as batch:  # doctest: +SKIP
        ...     batch.add(sample)
    """

    def __init__(self, folder: Path, classes: Sequence[str] | None = None) -> None:
        """Open the dataset in `folder`; with `classes`, a new one that is written by its first committed import."""
        self.folder = folder
        self.name = folder.name
        if classes is None:
            names = yaml.safe_load((folder / "data.yaml").read_text())["names"]
            classes = [names[i] for i in sorted(names)] if isinstance(names, dict) else names
        self.classes: list[str] = list(classes)

    @classmethod
    def open(cls, root: str | Path, name: str) -> SiteDataset:
        folder = Path(root) / check_dataset_name(name)
        if not (folder / "data.yaml").is_file():
            known = ", ".join(dataset_names(root)) or "none yet"
            raise DatasetError(f"no dataset {name!r} under {root} (datasets: {known})")
        return cls(folder)

    @classmethod
    def open_or_create(cls, root: str | Path, name: str, base_classes: Sequence[str]) -> SiteDataset:
        """The dataset `name`, or a new one with `base_classes` first; nothing is written before an import commits."""
        folder = Path(root) / check_dataset_name(name)
        return cls(folder) if (folder / "data.yaml").is_file() else cls(folder, base_classes)

    def resolve_label(self, label: str, aliases: Mapping[str, str], add_classes: Iterable[str], where: str) -> str:
        """The dataset class for a label read from an import; unknown labels are refused."""
        name = aliases.get(label, label)
        if name in self.classes or name in add_classes:
            return name
        known = ", ".join([*self.classes, *add_classes])
        raise DatasetError(
            f"{where}: unknown label {label!r}; known classes: {known} (add a new class with --add-class {label})"
        )

    def entries(self) -> list[ManifestEntry]:
        path = self.folder / "manifest.jsonl"
        if not path.is_file():
            return []
        return [ManifestEntry(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]

    def imported_tags(self, key: str) -> set[object]:
        """Values of one tag over all samples (e.g. the alert ids already taken in as feedback)."""
        return {entry.tags[key] for entry in self.entries() if key in entry.tags}

    def image_path(self, entry: ManifestEntry) -> Path:
        return self.folder / "images" / f"{entry.id}.jpg"

    def label_path(self, entry: ManifestEntry) -> Path:
        return self.folder / "labels" / f"{entry.id}.txt"

    def read_boxes(self, entry: ManifestEntry) -> list[tuple[str, tuple[float, float, float, float]]]:
        """The sample's labels as (class name, normalised cx, cy, w, h)."""
        boxes = []
        for line in self.label_path(entry).read_text().splitlines():
            if line.strip():
                class_id, *values = line.split()
                boxes.append((self.classes[int(class_id)], tuple(float(v) for v in values)))
        return boxes

    def content_hash(self) -> str:
        """SHA-256 over every sample's image hash and labels, and the class list: names what a model was trained on."""
        digest = hashlib.sha256(json.dumps(self.classes).encode())
        for entry in sorted(self.entries(), key=lambda e: e.id):
            digest.update(entry.id.encode() + entry.image_sha256.encode() + self.label_path(entry).read_bytes())
        return digest.hexdigest()

    def importing(self, source: str, add_classes: Sequence[str] = ()) -> DatasetImport:
        """An all-or-nothing import: use as a context manager, `add` samples, commit on a clean exit."""
        for name in add_classes:
            if not CLASS_NAME.fullmatch(name):
                raise DatasetError(f"invalid class name {name!r}: use letters, digits, ' ', '_', '.' or '-'")
        return DatasetImport(self, source, [c for c in dict.fromkeys(add_classes) if c not in self.classes])

    def labelled_classes(self, entry: ManifestEntry) -> tuple[list[str], list[str]]:
        """The class of each box people drew in the sample, and of each pseudo-label (stored last)."""
        names = [label for label, _ in self.read_boxes(entry)]
        split_at = len(names) - entry.pseudo
        return names[:split_at], names[split_at:]

    def taught_classes(self) -> dict[str, frozenset[str]]:
        """Per sample id, the classes people labelled in it: what a fine-tune on this dataset teaches."""
        return {entry.id: frozenset(self.labelled_classes(entry)[0]) for entry in self.entries()}

    def summary(self) -> dict[str, object]:
        """Samples, clips and boxes per class (people's and the model's), for listings."""
        entries = self.entries()
        human: dict[str, int] = {}
        pseudo: dict[str, int] = {}
        for entry in entries:
            people, model = self.labelled_classes(entry)
            for counts, names in ((human, people), (pseudo, model)):
                for label in names:
                    counts[label] = counts.get(label, 0) + 1
        return {
            "name": self.name,
            "classes": self.classes,
            "samples": len(entries),
            "clips": len({e.clip for e in entries}),
            "labels": human,
            "pseudo_labels": pseudo,
            "backgrounds": sum(1 for e in entries if e.labels + e.pseudo == 0),
        }


def _write_data_yaml(folder: Path, classes: list[str]) -> None:
    text = yaml.safe_dump({"path": ".", "train": "images", "val": "images", "names": dict(enumerate(classes))}, sort_keys=False)
    temporary = folder / "data.yaml.tmp"
    temporary.write_text(text)
    os.replace(temporary, folder / "data.yaml")


class DatasetImport:
    """Collects samples in a staging folder; `commit` moves them in and appends the manifest."""

    def __init__(self, dataset: SiteDataset, source: str, new_classes: list[str]) -> None:
        self.dataset = dataset
        self.source = source
        self.classes = [*dataset.classes, *new_classes]
        self.import_id = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"
        self._staging = dataset.folder.parent / f".staging-{dataset.name}-{self.import_id}"
        self._entries: list[ManifestEntry] = []
        self._labels: dict[str, int] = {}
        self._pseudo: dict[str, int] = {}
        self.summary: ImportSummary | None = None
        """Set once the import is committed."""

    def __enter__(self) -> DatasetImport:
        self.dataset.folder.parent.mkdir(parents=True, exist_ok=True)
        (self._staging / "images").mkdir(parents=True)
        (self._staging / "labels").mkdir()
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        try:
            if error_type is None:
                self.commit()
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)

    def add(self, sample: Sample) -> None:
        """Validate one sample's labels and write it to the staging folder."""
        height, width = sample.image.shape[:2]
        where = f"{sample.clip} frame {sample.frame}"
        lines = []
        # People's labels first, then pseudo-labels: the manifest's `pseudo` counts the trailing lines.
        for box in sorted(sample.boxes, key=lambda box: box.pseudo):
            if box.label not in self.classes:
                raise DatasetError(f"{where}: unknown label {box.label!r}; known classes: {', '.join(self.classes)}")
            check_box(box, width, height, where)
            clipped = LabelBox(box.label, _clip(box.xyxy, width, height), box.pseudo)
            lines.append(_yolo_line(self.classes.index(box.label), clipped, width, height))
            counts = self._pseudo if box.pseudo else self._labels
            counts[box.label] = counts.get(box.label, 0) + 1
        ok, encoded = cv2.imencode(".jpg", sample.image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
        if not ok:
            raise DatasetError(f"{where}: the image cannot be encoded")
        sample_id = f"{self.import_id}-{len(self._entries):06d}"
        data = encoded.tobytes()
        (self._staging / "images" / f"{sample_id}.jpg").write_bytes(data)
        (self._staging / "labels" / f"{sample_id}.txt").write_text("".join(f"{line}\n" for line in lines))
        pseudo = sum(box.pseudo for box in sample.boxes)
        self._entries.append(
            ManifestEntry(
                id=sample_id,
                clip=sample.clip,
                frame=sample.frame,
                time_s=sample.time_s,
                source=sample.source,
                import_id=self.import_id,
                labels=len(sample.boxes) - pseudo,
                pseudo=pseudo,
                image_sha256=hashlib.sha256(data).hexdigest(),
                tags=dict(sample.tags),
            )
        )

    def commit(self) -> ImportSummary:
        if not self._entries:
            raise DatasetError(f"{self.source}: nothing to import (no frames or images were read)")
        folder = self.dataset.folder
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "labels").mkdir(exist_ok=True)
        for entry in self._entries:
            os.replace(self._staging / "images" / f"{entry.id}.jpg", folder / "images" / f"{entry.id}.jpg")
            os.replace(self._staging / "labels" / f"{entry.id}.txt", folder / "labels" / f"{entry.id}.txt")
        if self.classes != self.dataset.classes or not (folder / "data.yaml").is_file():
            _write_data_yaml(folder, self.classes)
            self.dataset.classes = list(self.classes)
        summary = ImportSummary(
            self.import_id,
            len(self._entries),
            dict(self._labels),
            dict(self._pseudo),
            sum(1 for e in self._entries if e.labels + e.pseudo == 0),
        )
        # The manifest is appended last, in one write: a sample exists once its line does.
        with open(folder / "manifest.jsonl", "a") as manifest:
            manifest.write("".join(json.dumps(asdict(e)) + "\n" for e in self._entries))
        with open(folder / "imports.jsonl", "a") as imports:
            record = {"import_id": self.import_id, "source": self.source, "at": datetime.now(UTC).isoformat()}
            imports.write(json.dumps({**record, **asdict(summary)}) + "\n")
        self.summary = summary
        return summary


def _clip(xyxy: tuple[float, float, float, float], width: int, height: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = xyxy
    return (max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
