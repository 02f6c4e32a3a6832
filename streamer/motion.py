"""Motion on a small grey frame, and the gate that keeps still frames from the detector."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]
"""x1, y1, x2, y2 as fractions of the frame's width and height, origin top-left."""
Polygon = tuple[tuple[float, float], ...]
"""Points x, y as fractions of the frame's width and height."""

_SCENE_CHANGE = 0.5
"""Past this share of the frame moving at once (lights, IR switch, camera knocked) the background starts afresh."""
_BACKGROUND_ALPHA = 0.05
"""Weight of each sampled frame in the background average: ~20 frames (4 s at 5 fps) to absorb a change."""
_OFFSET_STEP = 4
"""The global brightness shift is the median difference over every 4th pixel in each direction."""
_BLUR = (5, 5)
_DILATE = np.ones((3, 3), np.uint8)


@dataclass(frozen=True, slots=True)
class MotionSettings:
    """How one camera's motion is found; see `motion` in the config.

    Example:
        >>> MotionSettings().motion_size(width=1920, height=1080)
        (320, 180)
    """

    enabled: bool = True
    threshold: int = 25
    """Grey-level difference (0–255) from the background, after blur, that counts as a moving pixel."""
    min_area: float = 0.0005
    """Smallest moving blob, as a fraction of the frame's area; smaller ones are noise."""
    mask: tuple[Polygon, ...] = ()
    """Polygons whose motion is ignored (trees, a clock, a road outside the site)."""
    check_every_s: float = 5.0
    """Stream seconds after which a still frame goes to the detector anyway, to re-check the scene."""
    tracked_check_s: float = 1.0
    """With nothing moving but an object tracked (standing still), one frame per this many stream seconds: often
    enough for the tracker to keep it (below `detector.tracker.lost_track_s`), so dwell timers run on."""
    frame_height: int = 180
    """Height of the grey image motion is computed on; its width keeps the frame's aspect."""

    def motion_size(self, width: int, height: int) -> tuple[int, int]:
        """Width and height of the motion image for a frame of `width` x `height` (never larger)."""
        small_height = min(self.frame_height, height)
        return max(1, round(width * small_height / height)), small_height


class MotionDetector:
    """Finds what moved in a camera's small grey frames against a slowly adapting background.

    Each frame is blurred (sensor noise), compared to a running average of
    earlier frames less their median difference (a uniform lighting drift),
    thresholded, cut by the mask, dilated, and split into blobs; blobs of at
    least `min_area` are the motion. The first frame, and one after a change
    of resolution, is the background and has no motion; a change of half the
    frame at once is reported as one full-frame box and becomes the new
    background.

    Example:
        >>> detector = MotionDetector(MotionSettings())
        >>> still = np.full((180, 240), 100, np.uint8)
        >>> detector.detect(still), detector.detect(still)
        ((), ())
        >>> moved = still.copy(); moved[90:130, 60:80] = 200
        >>> [tuple(round(v, 2) for v in box) for box in detector.detect(moved)]
        [(0.24, 0.49, 0.34, 0.73)]
    """

    def __init__(self, settings: MotionSettings) -> None:
        self.settings = settings
        self._background: np.ndarray | None = None
        self._ignored: np.ndarray | None = None

    def detect(self, grey: np.ndarray) -> tuple[Box, ...]:
        """The motion boxes of `grey` (uint8, height x width), then `grey` joins the background."""
        blurred = cv2.GaussianBlur(grey, _BLUR, 0).astype(np.float32)
        if self._background is None or self._background.shape != blurred.shape:
            self._start(blurred)
            return ()
        difference = blurred - self._background
        difference -= np.median(difference[::_OFFSET_STEP, ::_OFFSET_STEP])
        moving = (np.abs(difference) > self.settings.threshold).view(np.uint8)
        moving[self._ignored] = 0
        if np.count_nonzero(moving) > _SCENE_CHANGE * moving.size:
            self._start(blurred)
            return ((0.0, 0.0, 1.0, 1.0),)
        cv2.accumulateWeighted(blurred, self._background, _BACKGROUND_ALPHA)
        return _blobs(cv2.dilate(moving, _DILATE), self.settings.min_area)

    def _start(self, blurred: np.ndarray) -> None:
        self._background = blurred
        self._ignored = mask_image(self.settings.mask, blurred.shape[1], blurred.shape[0]).astype(bool)


def _blobs(moving: np.ndarray, min_area: float) -> tuple[Box, ...]:
    height, width = moving.shape
    contours, _ = cv2.findContours(moving, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    boxes = [cv2.boundingRect(c) for c in contours if cv2.contourArea(c) >= min_area * moving.size]
    return tuple((x / width, y / height, (x + w) / width, (y + h) / height) for x, y, w, h in boxes)


def mask_image(polygons: tuple[Polygon, ...], width: int, height: int) -> np.ndarray:
    """A `height` x `width` uint8 image, 1 inside any of the relative `polygons`, else 0.

    Example:
        >>> mask_image(((( 0, 0), (0.5, 0), (0.5, 1), (0, 1)),), width=4, height=2).tolist()
        [[1, 1, 1, 0], [1, 1, 1, 0]]
    """
    image = np.zeros((height, width), np.uint8)
    if polygons:
        scale = np.array([width - 1, height - 1], np.float64)
        cv2.fillPoly(image, [np.round(np.array(p) * scale).astype(np.int32) for p in polygons], 1)
    return image


def check_phase_s(camera: str, check_every_s: float) -> float:
    """The camera's offset of its periodic still-frame checks: fixed by its name, spread over the interval.

    Example:
        >>> 0 <= check_phase_s("lobby", 5.0) < 5.0, check_phase_s("lobby", 5.0) == check_phase_s("lobby", 5.0)
        (True, True)
    """
    return check_every_s * (zlib.crc32(camera.encode()) % 1000) / 1000


class MotionGate:
    """Says which sampled frames go to the detector, by stream time only.

    A frame passes when something moves; when the camera tracks an object
    that stands still, once `tracked_check_s` passed since the last frame
    that passed (often enough to keep its track); otherwise once
    `check_every_s` passed (the scene is re-checked); and always first.
    A tracked object that moves is seen by the motion detector, so the
    shorter interval only serves objects that stand still, and a false
    positive on a still scene costs one frame per `tracked_check_s`, not
    every frame.

    Example:
        >>> gate = MotionGate(check_every_s=2.0, tracked_check_s=1.0)
        >>> [gate.admit(t / 2, moving=t == 3, tracking=False) for t in range(8)]
        [True, False, False, True, False, False, False, True]
        >>> [gate.admit(4 + t / 2, moving=False, tracking=True) for t in range(4)]
        [False, True, False, True]
    """

    _TOLERANCE_S = 1e-3

    def __init__(self, check_every_s: float, phase_s: float = 0.0, tracked_check_s: float | None = None) -> None:
        if check_every_s <= 0:
            raise ValueError(f"check_every_s must be positive, got {check_every_s!r}")
        if not 0 <= phase_s < check_every_s:
            raise ValueError(f"phase_s must be in [0, check_every_s), got {phase_s!r}")
        if tracked_check_s is not None and tracked_check_s <= 0:
            raise ValueError(f"tracked_check_s must be positive, got {tracked_check_s!r}")
        self.check_every_s = check_every_s
        self.phase_s = phase_s
        """The first re-check comes this long after the first frame (when not 0), so cameras started together
        do not all send their still frames to the detector at the same moment."""
        self.tracked_check_s = min(check_every_s, tracked_check_s or check_every_s)
        self._last_admitted: float | None = None
        self._next_check = 0.0

    def admit(self, pts: float, moving: bool, tracking: bool) -> bool:
        """True when the frame at stream time `pts` goes to the detector."""
        if self._last_admitted is None:
            self._last_admitted, self._next_check = pts, pts + (self.phase_s or self.check_every_s)
            return True
        tracked_due = tracking and pts - self._last_admitted >= self.tracked_check_s - self._TOLERANCE_S
        if moving or tracked_due or pts >= self._next_check - self._TOLERANCE_S:
            self._last_admitted, self._next_check = pts, pts + self.check_every_s
            return True
        return False
