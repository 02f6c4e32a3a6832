"""Adds an import's samples in batches, completed with the model's pseudo-labels for the classes nobody labelled."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from itertools import islice
from typing import TypeVar

from finetune.dataset import DatasetImport, LabelBox, Sample
from finetune.pseudo_labels import PseudoLabeler, without_overlaps

Progress = Callable[[int, int], None]
"""Called with (samples done, samples expected); expected is 0 when unknown."""

T = TypeVar("T")

BATCH_SIZE = 8
"""Frames per model call."""


def pseudo_classes(labeler: PseudoLabeler | None, batch: DatasetImport, labelled: Collection[str]) -> list[str]:
    """The model's classes that the dataset has and that no person labelled anywhere in this import."""
    if labeler is None:
        return []
    return [name for name in labeler.detector.class_names if name not in labelled and name in batch.classes]


def add_pseudo_labels(sample: Sample, boxes: Iterable[LabelBox]) -> None:
    """Give `sample` the model's boxes that cover no object a person labelled."""
    sample.boxes.extend(without_overlaps(list(boxes), [box for box in sample.boxes if not box.pseudo]))


def add_samples(
    batch: DatasetImport,
    samples: Iterable[Sample],
    *,
    labeler: PseudoLabeler | None,
    labelled: Collection[str],
    total: int,
    progress: Progress | None,
) -> None:
    """Add `samples` to `batch`; with a `labeler`, first pseudo-label the classes missing from `labelled`."""
    classes = pseudo_classes(labeler, batch, labelled)
    done = 0
    for chunk in chunks(samples, BATCH_SIZE):
        if labeler is not None and classes:
            for sample, boxes in zip(chunk, labeler.label([sample.image for sample in chunk], classes)):
                add_pseudo_labels(sample, boxes)
        for sample in chunk:
            batch.add(sample)
            done += 1
            if progress is not None:
                progress(done, total)


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of `size`, the last one shorter."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
