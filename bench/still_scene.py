"""Still scenes made from a busy one: its empty background with sensor noise, and the same with people walking in.

The background is the per-pixel median of frames spread over the video (the walkers move, the building stays).
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

NOISE_SIGMA = 3.0
"""Grey levels of Gaussian sensor noise added to every frame."""


def video_frames(path: Path, limit: int | None = None) -> Iterator[np.ndarray]:
    """BGR frames of the video, in order, at most `limit`."""
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if limit is not None and index >= limit:
                return
            yield frame.to_ndarray(format="bgr24")


def video_rate(path: Path) -> Fraction:
    with av.open(str(path)) as container:
        return Fraction(container.streams.video[0].average_rate or 10)


def empty_background(video: Path, samples: int = 60) -> np.ndarray:
    """The per-pixel median of `samples` frames spread over the video: the scene without its moving objects."""
    with av.open(str(video)) as container:
        total = container.streams.video[0].frames or samples
    every = max(1, total // samples)
    picked = np.stack([frame for index, frame in enumerate(video_frames(video)) if index % every == 0])
    return np.median(picked, axis=0).astype(np.uint8)


def write_video(frames: Iterator[np.ndarray], path: Path, rate: Fraction) -> Path:
    """H.264 MP4, as a camera would send it."""
    with av.open(str(path), "w") as container:
        stream = None
        for image in frames:
            if stream is None:
                stream = container.add_stream("libx264", rate=rate, options={"preset": "veryfast", "crf": "23"})
                stream.height, stream.width = image.shape[:2]
                stream.pix_fmt = "yuv420p"
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        if stream is not None:
            container.mux(stream.encode(None))
    return path


def noisy(background: np.ndarray, count: int, seed: int = 0) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    for _ in range(count):
        noise = rng.normal(0.0, NOISE_SIGMA, background.shape)
        yield np.clip(background.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def make_still_scenes(video: Path, folder: Path, still_s: float = 30.0, walk_s: float = 10.0) -> tuple[Path, Path]:
    """`still.mp4` (the empty scene for `still_s`) and `walk_in.mp4` (the same, then the video's people)."""
    folder.mkdir(parents=True, exist_ok=True)
    still, walk_in = folder / "still.mp4", folder / "walk_in.mp4"
    if still.is_file() and walk_in.is_file():
        return still, walk_in
    rate = video_rate(video)
    background = empty_background(video)
    still_frames = round(still_s * rate)
    write_video(noisy(background, still_frames), still, rate)

    def walking() -> Iterator[np.ndarray]:
        yield from noisy(background, still_frames, seed=1)
        yield from video_frames(video, limit=round(walk_s * rate))

    write_video(walking(), walk_in, rate)
    return still, walk_in
