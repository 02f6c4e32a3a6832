"""Import a video with time spans labelled by the site: in a span of L every tracked object is an L, elsewhere no L."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.tracking import CameraTrackers, TrackerSettings
from finetune.dataset import DatasetError, ImportSummary, Sample, SiteDataset
from finetune.importers.samples import BATCH_SIZE, Progress, add_pseudo_labels, add_samples, chunks, pseudo_classes
from finetune.importers.uploads import check_file
from finetune.importers.video import VideoInfo, check_every, decode, frames_between, probe
from finetune.pseudo_labels import PseudoLabeler, to_label_boxes

HEADER = ["start_s", "end_s", "label"]


@dataclass(frozen=True, slots=True)
class Span:
    """From `start_s` (included) to `end_s` (excluded), every object in view is a `label`."""

    start_s: float
    end_s: float
    label: str
    """The dataset class."""
    line: int

    def holds(self, time_s: float) -> bool:
        return self.start_s <= time_s < self.end_s


def import_spans(
    dataset: SiteDataset,
    video: Path,
    spans: Path,
    *,
    every: int = 1,
    aliases: Mapping[str, str] = {},
    add_classes: Sequence[str] = (),
    labeler: PseudoLabeler,
    tracker: TrackerSettings | None = None,
    max_bytes: int,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import every `every`-th frame of `video`, its tracked objects labelled by the spans of the CSV `spans`.

    The model finds and ByteTrack confirms the objects. In a span of L they
    become boxes of L, weak labels from the site; outside every span of L the
    frame is a negative for L and its objects get pseudo-labels of the model's
    other classes. All or nothing: any invalid row raises DatasetError and
    leaves the dataset unchanged.
    """
    check_every(every)
    check_file(spans, max_bytes)
    check_file(video, max_bytes)
    found = read_spans(spans, dataset, aliases, add_classes)
    info = probe(video)
    _check_duration(found, info, spans.name, video.name)
    labels = {span.label for span in found}
    source = f"spans:{spans.name}"
    total = frames_between(0, info.frames - 1, every) if info.frames else 0
    with dataset.importing(source, add_classes) as batch:
        pseudo = pseudo_classes(labeler, batch, labels)
        settings = tracker or TrackerSettings()
        samples = _samples(
            video, found, every=every, fps=info.fps, labeler=labeler, tracker=settings, pseudo=pseudo, source=source
        )
        add_samples(batch, samples, labeler=None, labelled=labels, total=total, progress=progress)
    assert batch.summary is not None
    return batch.summary


def read_spans(path: Path, dataset: SiteDataset, aliases: Mapping[str, str], add_classes: Sequence[str]) -> list[Span]:
    """The CSV's spans, checked, with labels resolved to dataset classes; spans of two labels may not overlap."""
    try:
        reader = csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")))
        rows = [(reader.line_num, [cell.strip() for cell in row]) for row in reader]
    except (UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"{path.name} is not a readable CSV file: {error}") from error
    rows = [(line, cells) for line, cells in rows if any(cells)]
    if rows and rows[0][1] == HEADER:
        rows = rows[1:]
    if not rows:
        raise DatasetError(f"{path.name} has no spans: expected rows of {','.join(HEADER)}")
    spans = [_span(cells, f"{path.name}:{line}", line, dataset, aliases, add_classes) for line, cells in rows]
    _check_no_mixed_overlap(spans, path.name)
    return spans


def _span(
    cells: list[str],
    where: str,
    line: int,
    dataset: SiteDataset,
    aliases: Mapping[str, str],
    add_classes: Sequence[str],
) -> Span:
    if len(cells) != 3:
        raise DatasetError(f"{where}: expected {','.join(HEADER)}, got {','.join(cells)!r}")
    times = []
    for cell in cells[:2]:
        try:
            value = float(cell)
        except ValueError:
            raise DatasetError(f"{where}: {cell!r} is not a time in seconds") from None
        if not math.isfinite(value):
            raise DatasetError(f"{where}: {cell!r} is not a time in seconds")
        times.append(value)
    start_s, end_s = times
    if start_s < 0:
        raise DatasetError(f"{where}: start {start_s} s is before the start of the video")
    if end_s <= start_s:
        raise DatasetError(f"{where}: end {end_s} s is not after start {start_s} s")
    return Span(start_s, end_s, dataset.resolve_label(cells[2], aliases, add_classes, where), line)


def _check_no_mixed_overlap(spans: list[Span], name: str) -> None:
    latest: dict[str, Span] = {}
    """Per label, the span that ends last among those started so far."""
    for span in sorted(spans, key=lambda s: s.start_s):
        for label, other in latest.items():
            if label != span.label and other.end_s > span.start_s:
                raise DatasetError(
                    f"{name}:{span.line}: span {span.start_s}-{span.end_s} s of {span.label!r} overlaps "
                    f"span {other.start_s}-{other.end_s} s of {other.label!r} (line {other.line}); "
                    "an object cannot be both"
                )
        if span.label not in latest or span.end_s > latest[span.label].end_s:
            latest[span.label] = span


def _check_duration(spans: list[Span], info: VideoInfo, name: str, video: str) -> None:
    if info.duration_s is None:
        raise DatasetError(f"cannot tell how long {video} is, so the spans of {name} cannot be checked against it")
    for span in spans:
        if span.end_s > info.duration_s + 1 / info.fps:
            raise DatasetError(
                f"{name}:{span.line}: span {span.start_s}-{span.end_s} s ends after the end of {video} "
                f"({info.duration_s:.2f} s)"
            )


def _samples(
    video: Path,
    spans: list[Span],
    *,
    every: int,
    fps: float,
    labeler: PseudoLabeler,
    tracker: TrackerSettings,
    pseudo: list[str],
    source: str,
) -> Iterator[Sample]:
    clip = video.stem
    trackers = CameraTrackers(tracker, detect_fps={clip: fps / every})
    objects = labeler.detector.class_names
    for chunk in chunks(decode(video, every=every), BATCH_SIZE):
        for frame, detections in zip(chunk, labeler.detect([frame.image for frame in chunk], objects)):
            tracked = trackers.update(clip, detections, timestamp=frame.time_s)
            label = next((span.label for span in spans if span.holds(frame.time_s)), None)
            confirmed = tracked[tracked.tracker_id != -1]
            boxes = [] if label is None else to_label_boxes(confirmed, pseudo=False, label=label)
            tags: dict[str, object] = {} if label is None else {"span": label}
            sample = Sample(frame.image, boxes, clip, frame.index, frame.time_s, source, tags)
            names = detections.data.get("class_name", np.array([], dtype=str))
            add_pseudo_labels(sample, to_label_boxes(detections[np.isin(names, pseudo)], pseudo=True))
            yield sample
