"""Importers of site-labelled data (CVAT video, YOLO, COCO, time spans); a bad input leaves the dataset untouched."""

from __future__ import annotations

import json
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import supervision as sv

from finetune.dataset import DatasetError, ManifestEntry, SiteDataset
from finetune.importers import import_coco, import_cvat_video, import_spans, import_yolo

MAX_BYTES = 50_000_000
BASE_CLASSES = ["person", "fallen_person"]
SCENE = (slice(168, 408), slice(224, 544))
"""A 320x240 crop of the sample video where the model finds two walkers at imgsz 320."""


# --- fixtures and helpers ---------------------------------------------------------------------------------------------


@pytest.fixture
def dataset(tmp_path: Path) -> SiteDataset:
    return SiteDataset.open_or_create(tmp_path / "datasets", "site", BASE_CLASSES)


@pytest.fixture(scope="module")
def scene_frames(sample_video: Path) -> list[np.ndarray]:
    with av.open(str(sample_video)) as container:
        frames = [frame.to_ndarray(format="bgr24") for _, frame in zip(range(20), container.decode(video=0))]
    return [np.ascontiguousarray(frame[SCENE]) for frame in frames]


@pytest.fixture(scope="module")
def scene_video(scene_frames: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 frames (2 s at 10 fps) of the sample scene, 320x240."""
    return write_video(tmp_path_factory.mktemp("videos") / "lobby.mp4", scene_frames)


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode(None))
    return path


def decoded(video: Path) -> list[np.ndarray]:
    with av.open(str(video)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def picture(seed: int, width: int = 160, height: int = 120) -> np.ndarray:
    image = np.full((height, width, 3), 40 + 20 * seed, np.uint8)
    cv2.rectangle(image, (10 + seed, 10), (60 + seed, 80), (0, 0, 255), -1)
    return image


def by_frame(dataset: SiteDataset) -> dict[int, ManifestEntry]:
    return {entry.frame: entry for entry in dataset.entries()}


def human_and_pseudo(dataset: SiteDataset, entry: ManifestEntry) -> tuple[list, list]:
    """The sample's (class, cxcywh) label lines, split into people's and the model's (pseudo lines come last)."""
    boxes = dataset.read_boxes(entry)
    return boxes[: len(boxes) - entry.pseudo], boxes[len(boxes) - entry.pseudo :]


def cxcywh(xyxy: tuple[float, float, float, float], width: int = 320, height: int = 240) -> tuple[float, ...]:
    x1, y1, x2, y2 = xyxy
    return ((x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height)


def assert_unchanged(dataset: SiteDataset) -> None:
    """Nothing of a failed import is left: no manifest line, image, label, staging folder or new class."""
    assert dataset.entries() == []
    root = dataset.folder.parent
    assert not root.exists() or [p.name for p in root.iterdir()] == [], "a new dataset is written by its first import"


@contextmanager
def rejected(dataset: SiteDataset, *fragments: str) -> Iterator[None]:
    """The block must raise DatasetError naming every fragment, and leave `dataset` unchanged."""
    with pytest.raises(DatasetError) as raised:
        yield
    for fragment in fragments:
        assert fragment in str(raised.value)
    assert_unchanged(dataset)


# --- CVAT for video ---------------------------------------------------------------------------------------------------


def cvat_xml(*tracks: str, width: int = 320, height: int = 240, start: int = 0, stop: int = 19) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version><meta><task>'
        f"<size>{stop - start + 1}</size><mode>interpolation</mode><start_frame>{start}</start_frame>"
        f"<stop_frame>{stop}</stop_frame><original_size><width>{width}</width><height>{height}</height>"
        f"</original_size></task></meta>{''.join(tracks)}</annotations>"
    )


def track(label: str, *boxes: tuple, track_id: int = 0, shape: str = "box") -> str:
    """`boxes` as (frame, (x1, y1, x2, y2)) or (frame, (x1, y1, x2, y2), outside)."""
    shapes = []
    for frame, (x1, y1, x2, y2), *outside in boxes:
        shapes.append(
            f'<{shape} frame="{frame}" outside="{outside[0] if outside else 0}" occluded="0" keyframe="1" '
            f'xtl="{x1}" ytl="{y1}" xbr="{x2}" ybr="{y2}" z_order="0"></{shape}>'
        )
    return f'<track id="{track_id}" label="{label}" source="manual">{"".join(shapes)}</track>'


def write_cvat(tmp_path: Path, xml: str) -> Path:
    path = tmp_path / "annotations.xml"
    path.write_text(xml)
    return path


def test_cvat_interpolates_between_listed_boxes_and_holds_the_last_one(dataset, scene_video, tmp_path) -> None:
    xml = cvat_xml(track("package", (0, (10, 20, 50, 60)), (10, (30, 40, 90, 100))))
    summary = import_cvat_video(
        dataset, scene_video, write_cvat(tmp_path, xml), add_classes=["package"], max_bytes=MAX_BYTES
    )
    assert (summary.samples, summary.labels, summary.backgrounds) == (20, {"package": 20}, 0)
    assert dataset.classes == [*BASE_CLASSES, "package"]
    frames = by_frame(dataset)
    assert sorted(frames) == list(range(20))
    middle = frames[5]
    assert (middle.clip, middle.source, middle.time_s) == ("lobby", "cvat-video:annotations.xml", pytest.approx(0.5))
    [(label, box)] = dataset.read_boxes(middle)
    assert label == "package"
    assert box == pytest.approx(cxcywh((20, 30, 70, 80)), abs=1e-6)
    assert (dataset.folder / "labels" / f"{middle.id}.txt").read_text() == "2 0.140625 0.229167 0.156250 0.208333\n"
    for after_last in (10, 15, 19):
        assert dataset.read_boxes(frames[after_last])[0][1] == pytest.approx(cxcywh((30, 40, 90, 100)), abs=1e-6)


def test_cvat_outside_boxes_hide_the_object_until_its_next_box(dataset, scene_video, tmp_path) -> None:
    boxes = [(0, (10, 10, 40, 40)), (4, (10, 10, 40, 40), 1), (8, (100, 50, 160, 120)), (12, (100, 50, 160, 120), 1)]
    graffiti = track("graffiti", (3, (1, 1, 5, 5)), track_id=1, shape="polygon")  # other shapes are ignored
    xml = cvat_xml(track("package", *boxes), graffiti)
    summary = import_cvat_video(
        dataset, scene_video, write_cvat(tmp_path, xml), add_classes=["package"], max_bytes=MAX_BYTES
    )
    counts = [entry.labels for _, entry in sorted(by_frame(dataset).items())]
    assert counts == [1] * 4 + [0] * 4 + [1] * 4 + [0] * 8
    assert summary.backgrounds == 12
    assert dataset.read_boxes(by_frame(dataset)[9])[0][1] == pytest.approx(cxcywh((100, 50, 160, 120)), abs=1e-6)


def test_cvat_every_nth_frame_between_start_and_stop_with_progress(dataset, scene_video, tmp_path) -> None:
    xml = cvat_xml(track("package", (0, (10, 20, 50, 60))), start=2, stop=14)
    calls: list[tuple[int, int]] = []
    summary = import_cvat_video(
        dataset,
        scene_video,
        write_cvat(tmp_path, xml),
        every=3,
        add_classes=["package"],
        max_bytes=MAX_BYTES,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert sorted(by_frame(dataset)) == [3, 6, 9, 12]
    assert summary.samples == 4
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_cvat_rejects_every_below_one(dataset, scene_video, tmp_path) -> None:
    annotations = write_cvat(tmp_path, cvat_xml(track("package", (0, (10, 20, 50, 60)))))
    with rejected(dataset, "every must be 1 or more, got 0"):
        import_cvat_video(dataset, scene_video, annotations, every=0, add_classes=["package"], max_bytes=MAX_BYTES)


@pytest.mark.parametrize(
    ("xml", "fragments"),
    [
        (cvat_xml(track("forklift", (0, (10, 20, 50, 60)))), ["track 0", "unknown label 'forklift'"]),
        (
            cvat_xml(track("package", (0, (10, 20, 50, 60)), (6, (290, 200, 330, 230)))),
            ["track 0 ('package') frame 6", "outside the 320x240 image"],
        ),
        (cvat_xml(track("package", (0, (10, 20, 50, 60))), width=640, height=480), ["640x480", "lobby.mp4 is 320x240"]),
        (cvat_xml(track("package", (25, (10, 20, 50, 60)))), ["frame 25", "lobby.mp4 has only 20 frames"]),
        (cvat_xml(track("package", (0, (10, 20, "wide", 60)))), ["xbr='wide' is not a number"]),
        (cvat_xml(track("package", (0, (10, 20, 50, 60)))).replace("</annotations>", ""), ["annotations.xml", "XML"]),
        ('<annotations><image id="0" name="a.jpg"/></annotations>', ["'CVAT for images' export"]),
    ],
    ids=["unknown-label", "box-outside", "size-mismatch", "beyond-video", "bad-number", "malformed", "images-export"],
)
def test_cvat_rejects_bad_annotations(dataset, scene_video, tmp_path, xml, fragments) -> None:
    annotations = write_cvat(tmp_path, xml)
    with rejected(dataset, *fragments):
        import_cvat_video(dataset, scene_video, annotations, add_classes=["package"], max_bytes=MAX_BYTES)


@pytest.mark.parametrize("kind", ["garbage", "truncated", "empty"])
def test_cvat_rejects_an_unreadable_video(dataset, scene_video, tmp_path, kind) -> None:
    broken = tmp_path / f"{kind}.mp4"
    content = {"garbage": bytes(range(256)) * 40, "truncated": scene_video.read_bytes()[:3000], "empty": b""}
    broken.write_bytes(content[kind])
    annotations = write_cvat(tmp_path, cvat_xml(track("package", (0, (10, 20, 50, 60)))))
    with rejected(dataset, f"cannot read video {kind}.mp4"):
        import_cvat_video(dataset, broken, annotations, add_classes=["package"], max_bytes=MAX_BYTES)


def test_cvat_rejects_an_oversized_upload(dataset, scene_video, tmp_path) -> None:
    annotations = write_cvat(tmp_path, cvat_xml(track("package", (0, (10, 20, 50, 60)))))
    limit = scene_video.stat().st_size - 1
    with rejected(dataset, "lobby.mp4", f"over the limit of {limit} bytes"):
        import_cvat_video(dataset, scene_video, annotations, add_classes=["package"], max_bytes=limit)


# --- YOLO -------------------------------------------------------------------------------------------------------------


def ultralytics_export(folder: Path, labels: dict[str, str], names: str = "names:\n  0: package\n") -> Path:
    """Images a.png, b.png, c.png under images/train; `labels` maps an image stem to its label file text."""
    (folder / "images" / "train").mkdir(parents=True)
    (folder / "labels" / "train").mkdir(parents=True)
    (folder / "data.yaml").write_text(f"path: .\ntrain: images/train\n{names}")
    for seed, stem in enumerate("abc"):
        cv2.imwrite(str(folder / "images" / "train" / f"{stem}.png"), picture(seed))
    for stem, text in labels.items():
        (folder / "labels" / "train" / f"{stem}.txt").write_text(text)
    return folder


def test_yolo_folder_in_ultralytics_layout(dataset, tmp_path) -> None:
    export = ultralytics_export(tmp_path / "export-1", {"a": "0 0.5 0.5 0.25 0.5\n", "b": ""})
    summary = import_yolo(dataset, export, add_classes=["package"], max_bytes=MAX_BYTES)
    assert (summary.samples, summary.labels, summary.backgrounds) == (3, {"package": 1}, 2)
    entries = by_frame(dataset)
    assert [entries[i].tags["file"] for i in range(3)] == [f"images/train/{s}.png" for s in "abc"]
    assert {(e.clip, e.source, e.time_s) for e in entries.values()} == {("export-1", "yolo:export-1", None)}
    assert dataset.read_boxes(entries[0]) == [("package", pytest.approx((0.5, 0.5, 0.25, 0.5)))]
    stored = cv2.imread(str(dataset.image_path(entries[0])))
    assert stored.shape == (120, 160, 3)


def test_yolo_zip_in_cvat_layout_with_obj_names_and_aliases(dataset, tmp_path) -> None:
    archive = tmp_path / "cvat-task.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("obj.names", "Package\nperson\n")
        zipped.writestr("obj.data", "classes = 2\nnames = data/obj.names\n")
        zipped.writestr("train.txt", "data/obj_train_data/frame_000000.jpg\n")
        for i in range(2):
            zipped.writestr(f"obj_train_data/frame_00000{i}.jpg", cv2.imencode(".jpg", picture(i))[1].tobytes())
        zipped.writestr("obj_train_data/frame_000000.txt", "0 0.25 0.5 0.1 0.2\n1 0.7 0.5 0.2 0.6\n")
    summary = import_yolo(
        dataset, archive, aliases={"Package": "package"}, add_classes=["package"], max_bytes=MAX_BYTES
    )
    assert (summary.samples, summary.labels, summary.backgrounds) == (2, {"package": 1, "person": 1}, 1)
    first = by_frame(dataset)[0]
    assert (first.clip, first.source) == ("cvat-task", "yolo:cvat-task.zip")
    assert [label for label, _ in dataset.read_boxes(first)] == ["package", "person"]


def zipped_export(path: Path, entries: dict[str | zipfile.ZipInfo, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("obj.names", "package\n")
        zipped.writestr("obj_train_data/a.png", cv2.imencode(".png", picture(0))[1].tobytes())
        for name, data in entries.items():
            zipped.writestr(name, data)
    return path


def symlink_entry() -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo("obj_train_data/a.txt")
    entry.external_attr = (stat.S_IFLNK | 0o777) << 16
    return entry


@pytest.mark.parametrize(
    ("entries", "fragments"),
    [
        ({"../evil.txt": "0 0.5 0.5 0.1 0.1\n"}, ["entry '../evil.txt' points outside"]),
        ({"obj_train_data/../../evil.txt": "x"}, ["'obj_train_data/../../evil.txt' points outside"]),
        ({"/tmp/evil.txt": "x"}, ["entry '/tmp/evil.txt' has an absolute path"]),
        ({symlink_entry(): "/etc/passwd"}, ["'obj_train_data/a.txt' is a symbolic link"]),
        ({"obj_train_data/a.txt": "1 0.5 0.5 0.1 0.1\n"}, ["obj_train_data/a.txt:1", "class id 1 is out of range"]),
        ({"obj_train_data/a.txt": "0 0.5 0.5 0.1\n"}, ["obj_train_data/a.txt:1", "expected 'class cx cy w h'"]),
        ({"obj_train_data/a.txt": "\n0 0.5 0.5 abc 0.1\n"}, ["obj_train_data/a.txt:2", "not numbers"]),
        ({"obj_train_data/a.txt": "0 0.95 0.5 0.2 0.2\n"}, ["obj_train_data/a.txt:1", "outside the image"]),
        ({"obj_train_data/b.txt": "0 0.5 0.5 0.2 0.2\n"}, ["obj_train_data/b.txt has no image"]),
        ({"obj_train_data/c.png": b"not a png"}, ["cannot read image obj_train_data/c.png"]),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "class-id", "short-line", "not-number", "outside",
         "orphan-label", "bad-image"],
)
def test_yolo_rejects_bad_zips(dataset, tmp_path, entries, fragments) -> None:
    (tmp_path / "upload").mkdir()
    archive = zipped_export(tmp_path / "upload" / "export.zip", entries)
    with rejected(dataset, "export.zip", *fragments):
        import_yolo(dataset, archive, max_bytes=MAX_BYTES, add_classes=["package"])
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_yolo_rejects_an_unknown_label(dataset, tmp_path) -> None:
    export = ultralytics_export(tmp_path / "export", {"c": "0 0.5 0.5 0.2 0.2\n"}, names="names: [forklift]\n")
    with rejected(dataset, "labels/train/c.txt:1", "unknown label 'forklift'"):
        import_yolo(dataset, export, max_bytes=MAX_BYTES)


def test_yolo_rejects_an_export_without_class_names(dataset, tmp_path) -> None:
    export = ultralytics_export(tmp_path / "export", {"a": "0 0.5 0.5 0.2 0.2\n"})
    (export / "data.yaml").unlink()
    with rejected(dataset, "no data.yaml or obj.names"):
        import_yolo(dataset, export, max_bytes=MAX_BYTES)


def test_yolo_rejects_oversized_uploads(dataset, tmp_path) -> None:
    archive = zipped_export(tmp_path / "big.zip", {"obj_train_data/a.txt": "0 0.5 0.5 0.2 0.2\n" * 100})
    unpacked = sum(entry.file_size for entry in zipfile.ZipFile(archive).infolist())
    limit = archive.stat().st_size + 1
    assert unpacked > limit
    with rejected(dataset, f"unpacks to {unpacked} bytes"):
        import_yolo(dataset, archive, max_bytes=limit)
    with rejected(dataset, "big.zip is", "limit of 100 bytes"):
        import_yolo(dataset, archive, max_bytes=100)
    folder = ultralytics_export(tmp_path / "export", {})
    with rejected(dataset, "export holds over 1000 bytes"):
        import_yolo(dataset, folder, max_bytes=1000)


def test_yolo_rejects_a_folder_with_a_link(dataset, tmp_path) -> None:
    export = ultralytics_export(tmp_path / "export", {})
    (export / "labels" / "train" / "a.txt").symlink_to(tmp_path / "elsewhere.txt")
    with rejected(dataset, "labels/train/a.txt in export is a symbolic link"):
        import_yolo(dataset, export, max_bytes=MAX_BYTES)


# --- COCO -------------------------------------------------------------------------------------------------------------


def coco_export(folder: Path, **changes: object) -> tuple[Path, Path]:
    """Three 160x120 images listed out of id order, a crowd annotation, and `changes` applied to the JSON."""
    images = folder / "images"
    images.mkdir(parents=True)
    for seed, name in enumerate(["x.png", "y.png", "z.png"]):
        cv2.imwrite(str(images / name), picture(seed))
    data = {
        "images": [
            {"id": 9, "file_name": "z.png", "width": 160, "height": 120},
            {"id": 2, "file_name": "x.png", "width": 160, "height": 120},
            {"id": 5, "file_name": "y.png", "width": 160, "height": 120},
        ],
        "categories": [{"id": 1, "name": "package"}, {"id": 7, "name": "person"}],
        "annotations": [
            {"id": 1, "image_id": 2, "category_id": 1, "bbox": [10, 20, 40, 30], "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 7, "bbox": [80, 10, 30, 100]},
            {"id": 3, "image_id": 5, "category_id": 99, "bbox": [0, 0, 500, 500], "iscrowd": 1},
        ],
    }
    data.update(changes)
    annotations = folder / "instances_site.json"
    annotations.write_text(json.dumps(data))
    return images, annotations


def test_coco_images_in_id_order_with_crowd_skipped(dataset, tmp_path) -> None:
    images, annotations = coco_export(tmp_path / "coco")
    summary = import_coco(dataset, images, annotations, add_classes=["package"], max_bytes=MAX_BYTES)
    assert (summary.samples, summary.labels, summary.backgrounds) == (3, {"package": 1, "person": 1}, 2)
    entries = by_frame(dataset)
    assert [entries[i].tags["file"] for i in range(3)] == ["x.png", "y.png", "z.png"]
    assert {(e.clip, e.source) for e in entries.values()} == {("instances_site", "coco:instances_site.json")}
    assert dataset.read_boxes(entries[0]) == [
        ("package", pytest.approx(cxcywh((10, 20, 50, 50), 160, 120), abs=1e-6)),
        ("person", pytest.approx(cxcywh((80, 10, 110, 110), 160, 120), abs=1e-6)),
    ]


def annotation(**fields: object) -> list[dict]:
    return [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [10, 20, 40, 30], **fields}]


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"annotations": annotation(category_id=3)}, ["annotations[0]", "category_id 3 is not in categories"]),
        ({"annotations": annotation(bbox=[140, 20, 40, 30])}, ["annotations[0] (x.png)", "outside the 160x120 image"]),
        ({"annotations": annotation(bbox=[10, 20, 0, 30])}, ["annotations[0] (x.png)", "has no area"]),
        ({"annotations": annotation(image_id=4)}, ["annotations[0]", "image_id 4 is not in images"]),
        ({"categories": [{"id": 1, "name": "forklift"}]}, ["annotations[0]", "unknown label 'forklift'"]),
        ({"images": [{"id": 2, "file_name": "gone.png", "width": 160, "height": 120}]}, ["'gone.png' is missing"]),
        ({"images": [{"id": 2, "file_name": "../x.png", "width": 160, "height": 120}]}, ["'../x.png' points outside"]),
        (
            {"images": [{"id": 1, "file_name": "x.png", "width": 160, "height": 120},
                        {"id": 2, "file_name": "y.png", "width": 320, "height": 240}]},
            ["y.png is 160x120, not 320x240"],
        ),
        ({"images": {"id": 2}}, ["'images' must be a list"]),
    ],
    ids=["unknown-category", "box-outside", "empty-box", "unknown-image", "unknown-label", "missing-file", "escape",
         "size-mismatch", "not-a-list"],
)
def test_coco_rejects_bad_annotations(dataset, tmp_path, changes, fragments) -> None:
    images, annotations = coco_export(tmp_path / "coco", **changes)
    with rejected(dataset, *fragments):
        import_coco(dataset, images, annotations, add_classes=["package"], max_bytes=MAX_BYTES)


def test_coco_rejects_malformed_and_oversized_json(dataset, tmp_path) -> None:
    images, annotations = coco_export(tmp_path / "coco")
    with rejected(dataset, "instances_site.json is", "over the limit of 100 bytes"):
        import_coco(dataset, images, annotations, add_classes=["package"], max_bytes=100)
    annotations.write_text('{"images": [')
    with rejected(dataset, "instances_site.json is not valid JSON"):
        import_coco(dataset, images, annotations, max_bytes=MAX_BYTES)


# --- time spans and pseudo-labels (the real model) --------------------------------------------------------------------


def write_spans(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spans.csv"
    path.write_text(text)
    return path


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    def xyxy(box: tuple[float, ...]) -> list[float]:
        cx, cy, w, h = box
        return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]

    return float(sv.box_iou_batch(np.array([xyxy(a)]), np.array([xyxy(b)]))[0, 0])


@pytest.mark.slow
def test_spans_label_tracked_objects_inside_and_leave_the_rest_negative(
    dataset, scene_video, tmp_path, pseudo_labeler
) -> None:
    spans = write_spans(tmp_path, "start_s,end_s,label\n\n0.5,1.5,worker\n")
    summary = import_spans(
        dataset, scene_video, spans, add_classes=["worker"], labeler=pseudo_labeler, max_bytes=MAX_BYTES
    )
    assert summary.samples == 20
    for frame, entry in sorted(by_frame(dataset).items()):
        human, pseudo = human_and_pseudo(dataset, entry)
        assert entry.source == "spans:spans.csv"
        if 5 <= frame < 15:
            assert entry.tags == {"span": "worker"}
            assert len(human) >= 1 and {label for label, _ in human} == {"worker"}, frame
            assert all(iou(p, h) < 0.5 for _, p in pseudo for _, h in human), frame
        else:
            assert entry.tags == {} and human == [], frame
            assert len(pseudo) >= 1 and {label for label, _ in pseudo} <= {"person", "fallen_person"}, frame
    assert summary.pseudo_labels.get("person", 0) >= 10


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("0.5,1.5,forklift\n", ["spans.csv:1", "unknown label 'forklift'"]),
        ("start_s,end_s,label\n1.5,0.5,worker\n", ["spans.csv:2", "end 0.5 s is not after start 1.5 s"]),
        ("-1,0.5,worker\n", ["spans.csv:1", "before the start of the video"]),
        ("0.5,soon,worker\n", ["spans.csv:1", "'soon' is not a time in seconds"]),
        ("0.5,1.5\n", ["spans.csv:1", "expected start_s,end_s,label"]),
        ("0.5,1.5,worker\n1.0,9.0,worker\n", ["spans.csv:2", "ends after the end of lobby.mp4"]),
        ("0.0,1.0,worker\n0.5,1.5,person\n", ["spans.csv:2", "overlaps", "(line 1)"]),
        ("start_s,end_s,label\n\n", ["spans.csv has no spans"]),
    ],
    ids=["unknown-label", "reversed", "negative", "not-number", "columns", "beyond-video", "mixed-overlap", "empty"],
)
def test_spans_reject_bad_rows(dataset, scene_video, tmp_path, pseudo_labeler, text, fragments) -> None:
    spans = write_spans(tmp_path, text)
    with rejected(dataset, *fragments):
        import_spans(dataset, scene_video, spans, add_classes=["worker"], labeler=pseudo_labeler, max_bytes=MAX_BYTES)


def test_spans_reject_an_unreadable_video(dataset, tmp_path, pseudo_labeler) -> None:
    broken = tmp_path / "broken.avi"
    broken.write_text("this is not a video\n")
    spans = write_spans(tmp_path, "0.5,1.5,worker\n")
    with rejected(dataset, "cannot read video broken.avi"):
        import_spans(dataset, broken, spans, add_classes=["worker"], labeler=pseudo_labeler, max_bytes=MAX_BYTES)


@pytest.mark.slow
def test_pseudo_labels_fill_the_classes_nobody_labelled(dataset, scene_video, tmp_path, pseudo_labeler) -> None:
    """A CVAT track labels one walker a worker: the model's persons are added, except over the worker."""
    frames = decoded(scene_video)[:8]
    walkers = [boxes[0].xyxy for boxes in pseudo_labeler.label(frames, {"person"})]
    worker = track("worker", *[(i, tuple(round(v, 2) for v in box)) for i, box in enumerate(walkers)])
    xml = cvat_xml(worker, stop=7)
    summary = import_cvat_video(
        dataset, scene_video, write_cvat(tmp_path, xml), add_classes=["worker"], labeler=pseudo_labeler,
        max_bytes=MAX_BYTES,
    )
    assert summary.labels == {"worker": 8}
    assert summary.pseudo_labels.get("person", 0) >= 8
    for entry in by_frame(dataset).values():
        human, pseudo = human_and_pseudo(dataset, entry)
        assert [label for label, _ in human] == ["worker"]
        assert entry.pseudo >= 1 and {label for label, _ in pseudo} == {"person"}
        assert all(iou(box, human[0][1]) < 0.5 for _, box in pseudo)


@pytest.mark.slow
def test_no_pseudo_labels_for_a_class_people_labelled(dataset, scene_frames, tmp_path, pseudo_labeler) -> None:
    """One person box anywhere in the import means the site labels persons: none are guessed on other images."""
    export = tmp_path / "walkers"
    (export / "images").mkdir(parents=True)
    (export / "labels").mkdir()
    (export / "data.yaml").write_text("names: [person]\n")
    for i, frame in enumerate(scene_frames[:8]):
        cv2.imwrite(str(export / "images" / f"{i:02d}.png"), frame)
    (export / "labels" / "00.txt").write_text("0 0.5 0.5 0.2 0.5\n")
    summary = import_yolo(dataset, export, labeler=pseudo_labeler, max_bytes=MAX_BYTES)
    assert summary.labels == {"person": 1}
    assert "person" not in summary.pseudo_labels
    assert sum(entry.pseudo for entry in dataset.entries()) == sum(summary.pseudo_labels.values())
