"""Import a YOLO export (CVAT "YOLO 1.1" or Ultralytics layout), from a folder or a zip archive."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import yaml

from finetune.dataset import DatasetError, ImportSummary, LabelBox, Sample, SiteDataset
from finetune.importers.samples import Progress, add_samples
from finetune.importers.uploads import check_folder, unpack_zip
from finetune.pseudo_labels import PseudoLabeler

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
_TOLERANCE = 1e-3
"""Slack on normalised coordinates for rounding in exports (under 1 px up to 1000 px)."""


@dataclass(frozen=True, slots=True)
class YoloBox:
    """A label line: dataset class and normalised centre x, centre y, width, height."""

    label: str
    cxcywh: tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class YoloImage:
    path: Path
    name: str
    """Path inside the export, for messages and the manifest."""
    boxes: list[YoloBox]


def import_yolo(
    dataset: SiteDataset,
    path: Path,
    *,
    aliases: Mapping[str, str] = {},
    add_classes: Sequence[str] = (),
    labeler: PseudoLabeler | None = None,
    max_bytes: int,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import every image of the export at `path` (a folder or a .zip); an image without labels is a negative.

    The images form one clip named after the export. All or nothing: any
    invalid file, line or label raises DatasetError and leaves the dataset unchanged.
    """
    if path.is_file() and path.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="vigil-yolo-") as folder:
            unpack_zip(path, Path(folder), max_bytes)
            return _import_folder(dataset, Path(folder), path, aliases, add_classes, labeler, progress)
    if not path.is_dir():
        raise DatasetError(f"{path} is neither a folder nor a .zip file")
    check_folder(path, max_bytes)
    return _import_folder(dataset, path, path, aliases, add_classes, labeler, progress)


def read_yolo(
    folder: Path, export: str, dataset: SiteDataset, aliases: Mapping[str, str], add_classes: Sequence[str]
) -> list[YoloImage]:
    """The export's images in path order with their checked labels, resolved to dataset classes."""
    names = _class_names(folder, export)
    images = sorted(
        (path for top in _image_folders(folder) for path in top.rglob("*") if _is_image(path)),
        key=lambda path: path.relative_to(folder).as_posix(),
    )
    if not images:
        raise DatasetError(f"{export}: no images under images/ or obj_train_data/ (was it exported with the images?)")
    found = []
    used_labels: set[Path] = set()
    for image in images:
        label_file = _label_file(folder, image)
        boxes = []
        if label_file is not None:
            used_labels.add(label_file)
            where = f"{export}: {label_file.relative_to(folder).as_posix()}"
            boxes = _read_labels(label_file, where, names, dataset, aliases, add_classes)
        found.append(YoloImage(image, image.relative_to(folder).as_posix(), boxes))
    label_folders = [folder / "labels", *_image_folders(folder)]
    for label_file in sorted(path for top in label_folders if top.is_dir() for path in top.rglob("*.txt")):
        if label_file not in used_labels:
            raise DatasetError(f"{export}: {label_file.relative_to(folder).as_posix()} has no image with the same name")
    return found


def _import_folder(
    dataset: SiteDataset,
    folder: Path,
    export: Path,
    aliases: Mapping[str, str],
    add_classes: Sequence[str],
    labeler: PseudoLabeler | None,
    progress: Progress | None,
) -> ImportSummary:
    images = read_yolo(folder, export.name, dataset, aliases, add_classes)
    labelled = {box.label for image in images for box in image.boxes}
    source = f"yolo:{export.name}"
    clip = export.stem if export.is_file() else export.name
    with dataset.importing(source, add_classes) as batch:
        samples = _samples(images, export.name, clip, source)
        add_samples(batch, samples, labeler=labeler, labelled=labelled, total=len(images), progress=progress)
    assert batch.summary is not None
    return batch.summary


def _class_names(folder: Path, export: str) -> list[str]:
    data_yaml = folder / "data.yaml"
    if data_yaml.is_file():
        try:
            names = (yaml.safe_load(data_yaml.read_text()) or {}).get("names")
        except (yaml.YAMLError, AttributeError) as error:
            raise DatasetError(f"{export}: data.yaml is not a YAML mapping: {error}") from error
        if isinstance(names, dict) and sorted(names) == list(range(len(names))):
            names = [names[i] for i in range(len(names))]
        if not isinstance(names, list) or not all(isinstance(name, str) and name for name in names):
            raise DatasetError(
                f"{export}: data.yaml 'names' must be a list of class names or a mapping 0..n-1 to names, got {names!r}"
            )
        return names
    obj_names = folder / "obj.names"
    if obj_names.is_file():
        names = [line.strip() for line in obj_names.read_text().rstrip().splitlines()]
        for number, name in enumerate(names, 1):
            if not name:
                raise DatasetError(f"{export}: obj.names:{number} is empty")
        return names
    raise DatasetError(f"{export}: no data.yaml or obj.names at the top level, so the class ids cannot be named")


def _image_folders(folder: Path) -> list[Path]:
    return [path for path in [folder / "images", *sorted(folder.glob("obj_*_data"))] if path.is_dir()]


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def _label_file(folder: Path, image: Path) -> Path | None:
    """`labels/<path under images>.txt` (Ultralytics) or the `.txt` next to the image (CVAT YOLO 1.1)."""
    candidates = [image.with_suffix(".txt")]
    if image.is_relative_to(folder / "images"):
        candidates.insert(0, (folder / "labels" / image.relative_to(folder / "images")).with_suffix(".txt"))
    return next((path for path in candidates if path.is_file()), None)


def _read_labels(
    path: Path,
    where: str,
    names: list[str],
    dataset: SiteDataset,
    aliases: Mapping[str, str],
    add_classes: Sequence[str],
) -> list[YoloBox]:
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as error:
        raise DatasetError(f"{where} is not a text file: {error}") from error
    boxes = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        here = f"{where}:{number}"
        fields = line.split()
        if len(fields) != 5:
            raise DatasetError(f"{here}: expected 'class cx cy w h', got {line.strip()!r}")
        if not fields[0].isdigit():
            raise DatasetError(f"{here}: class id {fields[0]!r} is not a whole number")
        class_id = int(fields[0])
        if class_id >= len(names):
            raise DatasetError(f"{here}: class id {class_id} is out of range (the export names {len(names)} classes)")
        try:
            cx, cy, w, h = (float(value) for value in fields[1:])
        except ValueError:
            raise DatasetError(f"{here}: coordinates {' '.join(fields[1:])!r} are not numbers") from None
        if not all(math.isfinite(v) for v in (cx, cy, w, h)) or w <= 0 or h <= 0:
            raise DatasetError(f"{here}: box {fields[1:]} is empty or not finite")
        if min(cx - w / 2, cy - h / 2) < -_TOLERANCE or max(cx + w / 2, cy + h / 2) > 1 + _TOLERANCE:
            raise DatasetError(f"{here}: box {' '.join(fields[1:])} lies outside the image (coordinates run 0..1)")
        label = dataset.resolve_label(names[class_id], aliases, add_classes, here)
        boxes.append(YoloBox(label, (cx, cy, w, h)))
    return boxes


def _samples(images: list[YoloImage], export: str, clip: str, source: str) -> Iterator[Sample]:
    for frame, image in enumerate(images):
        pixels = cv2.imread(str(image.path), cv2.IMREAD_COLOR)
        if pixels is None:
            raise DatasetError(f"{export}: cannot read image {image.name}")
        height, width = pixels.shape[:2]
        boxes = []
        for box in image.boxes:
            cx, cy, w, h = box.cxcywh
            xyxy = ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height)
            boxes.append(LabelBox(box.label, xyxy))
        yield Sample(pixels, boxes, clip, frame, None, source, {"file": image.name})
