"""Import images labelled in COCO JSON: `images`, `annotations` with pixel `bbox` [x, y, w, h], `categories`."""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from finetune.dataset import DatasetError, ImportSummary, LabelBox, Sample, SiteDataset, check_box
from finetune.importers.samples import Progress, add_samples
from finetune.importers.uploads import check_file, check_folder, unpack_zip
from finetune.pseudo_labels import PseudoLabeler


@dataclass(frozen=True, slots=True)
class CocoImage:
    path: Path
    file_name: str
    width: int
    height: int
    boxes: list[LabelBox]


def import_coco(
    dataset: SiteDataset,
    images: Path,
    annotations: Path,
    *,
    aliases: Mapping[str, str] = {},
    add_classes: Sequence[str] = (),
    labeler: PseudoLabeler | None = None,
    max_bytes: int,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import every image listed in `annotations` from `images` (a folder or a .zip); crowd annotations are skipped.

    The images form one clip named after the JSON file, in image id order.
    All or nothing: any invalid image, box or category raises DatasetError
    and leaves the dataset unchanged.
    """
    check_file(annotations, max_bytes)
    if images.is_file() and images.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="vigil-coco-") as folder:
            unpack_zip(images, Path(folder), max_bytes)
            return _import(dataset, Path(folder), annotations, aliases, add_classes, labeler, progress)
    if not images.is_dir():
        raise DatasetError(f"no such image folder or .zip: {images}")
    check_folder(images, max_bytes)
    return _import(dataset, images, annotations, aliases, add_classes, labeler, progress)


def _import(
    dataset: SiteDataset,
    images: Path,
    annotations: Path,
    aliases: Mapping[str, str],
    add_classes: Sequence[str],
    labeler: PseudoLabeler | None,
    progress: Progress | None,
) -> ImportSummary:
    found = read_coco(annotations, images, dataset, aliases, add_classes)
    labelled = {box.label for image in found for box in image.boxes}
    source = f"coco:{annotations.name}"
    with dataset.importing(source, add_classes) as batch:
        samples = _samples(found, annotations, source)
        add_samples(batch, samples, labeler=labeler, labelled=labelled, total=len(found), progress=progress)
    assert batch.summary is not None
    return batch.summary


def read_coco(
    annotations: Path, images: Path, dataset: SiteDataset, aliases: Mapping[str, str], add_classes: Sequence[str]
) -> list[CocoImage]:
    """The listed images in id order with their checked boxes, labels resolved to dataset classes."""
    name = annotations.name
    try:
        data = json.loads(annotations.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{name} is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise DatasetError(f"{name}: expected a JSON object with images, annotations and categories")
    categories = {}
    for i, category in enumerate(_list(data, "categories", name)):
        where = f"{name}: categories[{i}]"
        category_id, label = _field(category, "id", int, where), _field(category, "name", str, where)
        if category_id in categories:
            raise DatasetError(f"{where}: category id {category_id} is used twice")
        categories[category_id] = label
    by_id: dict[int, CocoImage] = {}
    for i, image in enumerate(_list(data, "images", name)):
        where = f"{name}: images[{i}]"
        image_id, file_name = _field(image, "id", int, where), _field(image, "file_name", str, where)
        width, height = _field(image, "width", int, where), _field(image, "height", int, where)
        if width == 0 or height == 0:
            raise DatasetError(f"{where}: image size {width}x{height} is empty")
        if image_id in by_id:
            raise DatasetError(f"{where}: image id {image_id} is used twice")
        by_id[image_id] = CocoImage(_image_path(images, file_name, where), file_name, width, height, [])
    for i, annotation in enumerate(_list(data, "annotations", name)):
        where = f"{name}: annotations[{i}]"
        if isinstance(annotation, dict) and annotation.get("iscrowd") == 1:
            continue  # a crowd region is not one object: it cannot be a box of one
        image_id = _field(annotation, "image_id", int, where)
        category_id = _field(annotation, "category_id", int, where)
        image = by_id.get(image_id)
        if image is None:
            raise DatasetError(f"{where}: image_id {image_id} is not in images")
        if category_id not in categories:
            raise DatasetError(f"{where}: category_id {category_id} is not in categories")
        label = dataset.resolve_label(categories[category_id], aliases, add_classes, where)
        bbox = _field(annotation, "bbox", list, where)
        if len(bbox) != 4 or not all(isinstance(v, int | float) and math.isfinite(v) for v in bbox):
            raise DatasetError(f"{where}: bbox {bbox!r} is not [x, y, width, height]")
        x, y, w, h = (float(v) for v in bbox)
        box = LabelBox(label, (x, y, x + w, y + h))
        check_box(box, image.width, image.height, f"{where} ({image.file_name})")
        image.boxes.append(box)
    return [by_id[image_id] for image_id in sorted(by_id)]


def _list(data: dict, key: str, name: str) -> list:
    value = data.get(key)
    if not isinstance(value, list):
        raise DatasetError(f"{name}: {key!r} must be a list, got {type(value).__name__}")
    return value


def _field(item: object, key: str, kind: type, where: str) -> Any:
    """`item[key]`, which must be a `kind` (and a whole number 0 or more for `int`)."""
    value = item.get(key) if isinstance(item, dict) else None
    # bool is an int in Python, never a valid id or size here.
    valid = isinstance(value, kind) and not isinstance(value, bool) and not (kind is int and value < 0)
    if not valid:
        expected = "a whole number 0 or more" if kind is int else f"a {kind.__name__}"
        raise DatasetError(f"{where}: {key!r} must be {expected}, got {value!r}")
    return value


def _image_path(images: Path, file_name: str, where: str) -> Path:
    parts = Path(file_name).parts
    if not parts or Path(file_name).is_absolute() or ".." in parts:
        raise DatasetError(f"{where}: file_name {file_name!r} points outside the image folder")
    path = images / file_name
    if not path.is_file():
        raise DatasetError(f"{where}: image file {file_name!r} is missing from {images.name}")
    return path


def _samples(images: list[CocoImage], annotations: Path, source: str) -> Iterator[Sample]:
    for frame, image in enumerate(images):
        pixels = cv2.imread(str(image.path), cv2.IMREAD_COLOR)
        if pixels is None:
            raise DatasetError(f"{annotations.name}: cannot read image {image.file_name}")
        height, width = pixels.shape[:2]
        if (width, height) != (image.width, image.height):
            raise DatasetError(
                f"{annotations.name}: {image.file_name} is {width}x{height}, not {image.width}x{image.height} as listed"
            )
        yield Sample(pixels, image.boxes, annotations.stem, frame, None, source, {"file": image.file_name})
