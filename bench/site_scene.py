"""A site scene with a new object class: packages (OpenCV's box.png) left on the ground of the sample video.

Each block of `block_s` seconds either has one package, at a random spot and size that stay put for the
block (as an abandoned package would), or none (a negative for the class).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
PACKAGE_IMAGE = SAMPLES / "box.png"
PACKAGE_CLASS = "package"


@dataclass(frozen=True, slots=True)
class SceneFrame:
    index: int
    time_s: float
    image: np.ndarray
    packages: list[tuple[float, float, float, float]]
    """xyxy pixels of each package drawn in."""


def _placement(rng: random.Random, width: int, height: int, package: np.ndarray) -> tuple[int, int, int, int] | None:
    if rng.random() < 0.25:
        return None
    package_width = rng.randint(width // 16, width // 8)
    package_height = round(package_width * package.shape[0] / package.shape[1])
    x = rng.randint(0, width - package_width)
    y = rng.randint(height // 3, height - package_height)
    return x, y, package_width, package_height


def package_scene(
    video: Path, *, every: int = 1, block_s: float = 5.0, seed: int = 0, start_s: float = 0.0, end_s: float | None = None
) -> Iterator[SceneFrame]:
    """Frames of `video` (every `every`-th, between `start_s` and `end_s`) with packages composited in."""
    package = cv2.imread(str(PACKAGE_IMAGE), cv2.IMREAD_COLOR)
    if package is None:
        raise FileNotFoundError(f"{PACKAGE_IMAGE} is missing: `make setup` extracts it from Debian's opencv-doc")
    rng = random.Random(seed)
    placements: dict[int, tuple[tuple[int, int, int, int] | None, float]] = {}
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        for index, frame in enumerate(container.decode(stream)):
            time_s = float(frame.pts * stream.time_base) if frame.pts is not None else index / float(stream.average_rate)
            if time_s < start_s or index % every:
                continue
            if end_s is not None and time_s >= end_s:
                break
            image = frame.to_ndarray(format="bgr24")
            height, width = image.shape[:2]
            block = int(time_s // block_s)
            if block not in placements:
                placements[block] = (_placement(rng, width, height, package), rng.uniform(0.6, 1.2))
            placement, gain = placements[block]
            boxes = []
            if placement is not None:
                x, y, w, h = placement
                resized = cv2.resize(package, (w, h), interpolation=cv2.INTER_AREA)
                image[y : y + h, x : x + w] = np.clip(resized.astype(np.float32) * gain, 0, 255).astype(np.uint8)
                boxes.append((float(x), float(y), float(x + w), float(y + h)))
            yield SceneFrame(index, time_s, image, boxes)


def write_labelled_clip(frames: list[SceneFrame], video: Path, annotations: Path, fps: float = 10.0) -> None:
    """Save `frames` as an H.264 clip and their packages as CVAT for video 1.1 XML (one track per placement),
    as a site's annotator would hand them over."""
    height, width = frames[0].image.shape[:2]
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for scene_frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(scene_frame.image, format="bgr24")))
        container.mux(stream.encode())
    tracks: list[list[str]] = []
    previous = None
    for number, scene_frame in enumerate(frames):
        box = scene_frame.packages[0] if scene_frame.packages else None
        if box != previous and previous is not None:
            tracks[-1].append(_cvat_box(number, previous, outside=True))
        if box is not None and box != previous:
            tracks.append([])
        if box is not None:
            tracks[-1].append(_cvat_box(number, box, outside=False))
        previous = box
    body = "".join(
        f'  <track id="{i}" label="{PACKAGE_CLASS}" source="manual">\n{"".join(boxes)}  </track>\n'
        for i, boxes in enumerate(tracks)
    )
    annotations.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n  <meta><task>'
        f"<size>{len(frames)}</size><start_frame>0</start_frame><stop_frame>{len(frames) - 1}</stop_frame>"
        f"<original_size><width>{width}</width><height>{height}</height></original_size></task></meta>\n"
        f"{body}</annotations>\n"
    )


def _cvat_box(frame: int, box: tuple[float, float, float, float], *, outside: bool) -> str:
    x1, y1, x2, y2 = box
    return (
        f'    <box frame="{frame}" outside="{int(outside)}" occluded="0" keyframe="1" '
        f'xtl="{x1:.2f}" ytl="{y1:.2f}" xbr="{x2:.2f}" ybr="{y2:.2f}" z_order="0"/>\n'
    )
