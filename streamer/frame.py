"""The frame type that flows from a camera reader to the detector."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamer.motion import Box


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded, sampled picture of one camera.

    Example:
        >>> import numpy as np
        >>> image = np.zeros((720, 1280, 3), np.uint8)
        >>> f = Frame("lobby", 0, 0.0, 1.7e9, 12.5, image, detect_image=shrink_to_fit(image, 640))
        >>> f.camera, f.image.shape, f.model_input.shape, f.model_input_scale
        ('lobby', (720, 1280, 3), (360, 640, 3), 2.0)
    """

    camera: str
    index: int
    """Position of the frame among all frames decoded from this camera since start."""
    pts: float
    """Stream time in seconds; keeps increasing across file loops."""
    wall_time: float
    """Unix time when the frame was decoded; for a recorded file, where its footage has it (the file's clock)."""
    read_clock: float
    """`time.monotonic()` when the frame was decoded, for latency measurement."""
    image: np.ndarray
    """The full decoded picture (snapshots, clips): BGR, uint8, height x width x 3."""
    detect_image: np.ndarray | None = None
    """`image` shrunk for the detector (longer side at most its input size); None when `image` is small enough."""
    motion: tuple[Box, ...] = ()
    """Where the picture moved, as relative boxes (empty when nothing moved or motion is off)."""

    @property
    def model_input(self) -> np.ndarray:
        """The picture the detector takes: `detect_image` when there is one, else `image`."""
        return self.image if self.detect_image is None else self.detect_image

    @property
    def model_input_scale(self) -> float:
        """Pixels of `image` per pixel of `model_input`: multiply boxes found on `model_input` by it."""
        return max(self.image.shape[:2]) / max(self.model_input.shape[:2])


def shrink_to_fit(image: np.ndarray, longest_side: int | None) -> np.ndarray | None:
    """`image` resized so its longer side is `longest_side`, aspect kept; None when it is already that small.

    Bilinear, as Ultralytics letterboxes: the detector sees what it would have seen from the full frame.

    Example:
        >>> shrink_to_fit(np.zeros((576, 768, 3), np.uint8), 416).shape
        (312, 416, 3)
        >>> shrink_to_fit(np.zeros((300, 400, 3), np.uint8), 416) is None
        True
    """
    height, width = image.shape[:2]
    if longest_side is None or max(height, width) <= longest_side:
        return None
    scale = longest_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
