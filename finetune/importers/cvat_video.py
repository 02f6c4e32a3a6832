"""Import a video labelled in CVAT and exported as "CVAT for video 1.1" XML: tracks of boxes, interpolated per frame."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from finetune.dataset import DatasetError, ImportSummary, LabelBox, Sample, SiteDataset, check_box
from finetune.importers.samples import Progress, add_samples
from finetune.importers.uploads import check_file
from finetune.importers.video import VideoInfo, check_every, decode, frames_between, probe
from finetune.pseudo_labels import PseudoLabeler

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class ListedBox:
    """A box as the XML gives it; the frames between two listed boxes are interpolated."""

    frame: int
    xyxy: Box
    outside: bool
    """The object has left the view from this frame until the track's next listed box."""


@dataclass(frozen=True, slots=True)
class Track:
    id: str
    label: str
    """The dataset class."""
    boxes: list[ListedBox]
    """In frame order."""

    def box_at(self, frame: int) -> Box | None:
        """The object's box at `frame`, or None where it is not in view."""
        i = bisect_right([box.frame for box in self.boxes], frame) - 1
        if i < 0 or self.boxes[i].outside:
            return None
        before = self.boxes[i]
        if i + 1 == len(self.boxes):
            return before.xyxy  # the last box holds until the end of the video
        after = self.boxes[i + 1]
        t = (frame - before.frame) / (after.frame - before.frame)
        x1, y1, x2, y2 = (a + (b - a) * t for a, b in zip(before.xyxy, after.xyxy))
        return (x1, y1, x2, y2)


@dataclass(frozen=True, slots=True)
class CvatTask:
    """The parts of a CVAT for video export that an import needs."""

    start_frame: int
    stop_frame: int | None
    original_size: tuple[int, int] | None
    """(width, height) of the video CVAT was given."""
    tracks: list[Track]
    """Tracks of boxes only: other shapes are ignored."""


def import_cvat_video(
    dataset: SiteDataset,
    video: Path,
    annotations: Path,
    *,
    every: int = 1,
    aliases: Mapping[str, str] = {},
    add_classes: Sequence[str] = (),
    labeler: PseudoLabeler | None = None,
    max_bytes: int,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import every `every`-th frame of `video` between the task's start and stop frames, with its tracks' boxes.

    Frames without boxes come in as negatives. All or nothing: any invalid
    label, box or frame raises DatasetError and leaves the dataset unchanged.
    """
    check_every(every)
    check_file(annotations, max_bytes)
    check_file(video, max_bytes)
    task = read_cvat_video(annotations, dataset, aliases, add_classes)
    info = probe(video)
    _check_against_video(task, info, annotations.name, video.name)
    total = _expected_samples(task, info, every)
    labelled = {track.label for track in task.tracks if any(not box.outside for box in track.boxes)}
    source = f"cvat-video:{annotations.name}"
    with dataset.importing(source, add_classes) as batch:
        samples = _samples(video, task, every, source)
        add_samples(batch, samples, labeler=labeler, labelled=labelled, total=total, progress=progress)
    assert batch.summary is not None
    return batch.summary


def read_cvat_video(
    annotations: Path, dataset: SiteDataset, aliases: Mapping[str, str], add_classes: Sequence[str]
) -> CvatTask:
    """Parse and check a CVAT for video 1.1 XML file; labels are resolved to dataset classes."""
    name = annotations.name
    try:
        root = ElementTree.parse(annotations).getroot()
    except ElementTree.ParseError as error:
        raise DatasetError(f"{name} is not well-formed XML: {error}") from error
    if root.tag != "annotations":
        raise DatasetError(f"{name}: the root element is <{root.tag}>, not <annotations>")
    version = root.findtext("version")
    if version is not None and version.strip() != "1.1":
        raise DatasetError(f"{name}: CVAT format version {version.strip()!r}; only 1.1 is supported")
    if root.find("image") is not None:
        raise DatasetError(f"{name} is a 'CVAT for images' export; export the task as 'CVAT for video 1.1'")
    meta = root.find("meta/task")
    if meta is None:
        meta = root.find("meta/job")
    start_frame = _int(meta, "start_frame", name, default=0) if meta is not None else 0
    stop_frame = _int(meta, "stop_frame", name, default=None) if meta is not None else None
    size = meta.find("original_size") if meta is not None else None
    original_size = None
    if size is not None:
        original_size = (_int(size, "width", name, default=None), _int(size, "height", name, default=None))
        if None in original_size:
            raise DatasetError(f"{name}: <original_size> needs both <width> and <height>")
    if stop_frame is not None and stop_frame < start_frame:
        raise DatasetError(f"{name}: stop_frame {stop_frame} is before start_frame {start_frame}")
    tracks = [_track(element, name, dataset, aliases, add_classes) for element in root.findall("track")]
    return CvatTask(start_frame, stop_frame, original_size, [track for track in tracks if track.boxes])


def _track(
    element: ElementTree.Element,
    name: str,
    dataset: SiteDataset,
    aliases: Mapping[str, str],
    add_classes: Sequence[str],
) -> Track:
    track_id = element.get("id", "?")
    where = f"{name}: track {track_id}"
    elements = element.findall("box")
    if not elements:
        return Track(track_id, "", [])
    label = element.get("label")
    if label is None:
        raise DatasetError(f"{where} has no label")
    resolved = dataset.resolve_label(label, aliases, add_classes, where)
    boxes = sorted((_listed_box(box, f"{where} ({label!r})") for box in elements), key=lambda box: box.frame)
    for before, after in zip(boxes, boxes[1:]):
        if before.frame == after.frame:
            raise DatasetError(f"{where} ({label!r}) has two boxes at frame {after.frame}")
    return Track(track_id, resolved, boxes)


def _listed_box(element: ElementTree.Element, where: str) -> ListedBox:
    values = {}
    for key in ("frame", "xtl", "ytl", "xbr", "ybr"):
        text = element.get(key)
        try:
            values[key] = float(text)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise DatasetError(f"{where}: box attribute {key}={text!r} is not a number") from None
        if not math.isfinite(values[key]):
            raise DatasetError(f"{where}: box attribute {key}={text!r} is not a number")
    frame = values["frame"]
    if frame != int(frame) or frame < 0:
        raise DatasetError(f"{where}: box frame {element.get('frame')!r} is not a frame number")
    outside = element.get("outside", "0")
    if outside not in ("0", "1"):
        raise DatasetError(f"{where} frame {int(frame)}: outside={outside!r} is neither 0 nor 1")
    xyxy = (values["xtl"], values["ytl"], values["xbr"], values["ybr"])
    return ListedBox(int(frame), xyxy, outside == "1")


def _int(element: ElementTree.Element, tag: str, name: str, default: int | None) -> int | None:
    text = element.findtext(tag)
    if text is None:
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise DatasetError(f"{name}: <{tag}> is {text.strip()!r}, not a whole number") from None
    if value < 0:
        raise DatasetError(f"{name}: <{tag}> is {value}, below 0")
    return value


def _check_against_video(task: CvatTask, info: VideoInfo, annotations: str, video: str) -> None:
    if task.original_size is not None and task.original_size != (info.width, info.height):
        width, height = task.original_size
        raise DatasetError(
            f"{annotations} was drawn on a {width}x{height} video but {video} is {info.width}x{info.height}"
        )
    for track in task.tracks:
        for box in track.boxes:
            # Boxes in between are interpolated from these, so they stay inside the image too.
            where = f"{annotations}: track {track.id} ({track.label!r}) frame {box.frame}"
            check_box(LabelBox(track.label, box.xyxy), info.width, info.height, where)
            if info.frames and not box.outside and box.frame >= info.frames:
                raise DatasetError(f"{where}: {video} has only {info.frames} frames")


def _expected_samples(task: CvatTask, info: VideoInfo, every: int) -> int:
    if not info.frames:
        return 0
    last = info.frames - 1 if task.stop_frame is None else min(task.stop_frame, info.frames - 1)
    return frames_between(task.start_frame, last, every)


def _samples(video: Path, task: CvatTask, every: int, source: str) -> Iterator[Sample]:
    for frame in decode(video, every=every, first=task.start_frame, last=task.stop_frame):
        boxes = []
        for track in task.tracks:
            xyxy = track.box_at(frame.index)
            if xyxy is not None:
                boxes.append(LabelBox(track.label, xyxy))
        yield Sample(frame.image, boxes, video.stem, frame.index, frame.time_s, source)
