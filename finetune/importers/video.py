"""Numbered frames of a video file, decoded with PyAV; a file that cannot be decoded is a DatasetError."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from finetune.dataset import DatasetError


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the container says about a video, before decoding it."""

    width: int
    height: int
    fps: float
    frames: int
    """0 when the container does not say."""
    duration_s: float | None


@dataclass(frozen=True, slots=True)
class VideoFrame:
    index: int
    """Position in decode order, from 0."""
    time_s: float
    """Seconds since the first frame of the stream."""
    image: np.ndarray
    """BGR pixels."""


def probe(video: Path) -> VideoInfo:
    """The size, frame rate, frame count and duration of `video`."""
    try:
        with av.open(str(video)) as container:
            stream = _video_stream(container, video)
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            if fps <= 0:
                raise DatasetError(f"cannot read video {video.name}: its frame rate is unknown")
            if container.duration:
                duration_s: float | None = container.duration / av.time_base
            elif stream.duration and stream.time_base:
                duration_s = float(stream.duration * stream.time_base)
            else:
                duration_s = stream.frames / fps if stream.frames else None
            frames = stream.frames or (round(duration_s * fps) if duration_s else 0)
            return VideoInfo(stream.codec_context.width, stream.codec_context.height, fps, frames, duration_s)
    except av.FFmpegError as error:
        raise DatasetError(f"cannot read video {video.name}: {error}") from error


def check_every(every: int) -> None:
    """Raise DatasetError unless `every` (keep one frame in `every`) is 1 or more."""
    if every < 1:
        raise DatasetError(f"every must be 1 or more, got {every}")


def decode(video: Path, *, every: int, first: int = 0, last: int | None = None) -> Iterator[VideoFrame]:
    """The frames whose index is a multiple of `every` (1 or more), from index `first` to `last` included."""
    try:
        with av.open(str(video)) as container:
            stream = _video_stream(container, video)
            stream.thread_type = "AUTO"
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            start_s = float(stream.start_time * stream.time_base) if stream.start_time and stream.time_base else 0.0
            decoded = 0
            for index, frame in enumerate(container.decode(stream)):
                decoded += 1
                if last is not None and index > last:
                    break
                if index >= first and index % every == 0:
                    time_s = frame.time - start_s if frame.time is not None else index / fps
                    yield VideoFrame(index, time_s, frame.to_ndarray(format="bgr24"))
            if decoded == 0:
                raise DatasetError(f"cannot read video {video.name}: no frame could be decoded")
    except av.FFmpegError as error:
        raise DatasetError(f"cannot read video {video.name}: {error}") from error


def frames_between(first: int, last: int, every: int) -> int:
    """How many indexes from `first` to `last` included are multiples of `every`."""
    start = -(-first // every) * every
    return len(range(start, last + 1, every))


def _video_stream(container: av.container.InputContainer, video: Path) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise DatasetError(f"cannot read video {video.name}: it has no video stream")
    return container.streams.video[0]
