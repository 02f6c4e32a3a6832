"""The frame type that flows from a camera reader to the detector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded, sampled picture of one camera.

    Example:
        >>> import numpy as np
        >>> f = Frame("lobby", 0, 0.0, 1.7e9, 12.5, np.zeros((4, 4, 3), np.uint8))
        >>> f.camera, f.image.shape
        ('lobby', (4, 4, 3))
    """

    camera: str
    index: int
    """Position of the frame among all frames decoded from this camera since start."""
    pts: float
    """Stream time in seconds; keeps increasing across file loops."""
    wall_time: float
    """Unix time when the frame was decoded."""
    read_clock: float
    """`time.monotonic()` when the frame was decoded, for latency measurement."""
    image: np.ndarray
    """BGR, uint8, height x width x 3."""
