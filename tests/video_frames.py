"""Decoded frames of a video for tests that feed a detector directly."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def sample_frames(video: Path, count: int, every: int = 1) -> list[np.ndarray]:
    """`count` BGR frames of `video`, every `every`-th from the start."""
    frames: list[np.ndarray] = []
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % every == 0:
                frames.append(frame.to_ndarray(format="bgr24"))
                if len(frames) == count:
                    break
    return frames
