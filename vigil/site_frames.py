"""The site's own pictures for INT8 calibration and its check: dataset images first, then frames from the cameras."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from detector.loading import SiteFrames
from streamer.redaction import redact_url
from streamer.source import StreamError, VideoStream
from vigil.config import VigilConfig

log = logging.getLogger(__name__)

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
SAMPLE_EVERY_S = 0.5
"""Stream time between two frames taken from a camera, so the frames are not all alike."""
HELD_OUT_EVERY = 3
"""Every third frame is held out to check INT8 against FP32; the others calibrate."""


def collect_site_frames(config: VigilConfig, wanted: int) -> SiteFrames:
    """About `wanted` calibration frames and half as many held out, from the site's datasets, then its cameras."""
    total = wanted + wanted // 2
    frames = list(_dataset_images(Path(config.finetune.datasets_dir), total))
    cameras = list(config.cameras.items())
    for index, (name, camera) in enumerate(cameras):
        share = (total - len(frames)) // (len(cameras) - index)
        if share <= 0:
            break
        frames += _camera_frames(name, camera.detect_url or camera.url, share, camera.open_timeout_s)
    log.info("site frames for INT8: %d (%d calibrate, %d check)", len(frames),
             len(frames) - len(frames) // HELD_OUT_EVERY, len(frames) // HELD_OUT_EVERY)
    held_out = [f for i, f in enumerate(frames) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    calibration = [f for i, f in enumerate(frames) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
    return SiteFrames(calibration, held_out)


def _dataset_images(root: Path, limit: int) -> Iterator[np.ndarray]:
    paths = sorted(p for p in root.glob("*/images/**/*") if p.suffix.lower() in _IMAGE_SUFFIXES) if root.is_dir() else []
    step = max(1, len(paths) // max(1, limit))
    for path in paths[::step][:limit]:
        image = cv2.imread(str(path))
        if image is not None:
            yield image


def _camera_frames(camera: str, url: str, count: int, open_timeout_s: float) -> list[np.ndarray]:
    """Up to `count` frames of the camera, `SAMPLE_EVERY_S` apart in stream time; none when it cannot be read."""
    frames: list[np.ndarray] = []
    next_pts = 0.0
    try:
        with VideoStream(url, open_timeout_s, open_timeout_s) as stream:
            for pts, frame in stream.frames():
                if pts >= next_pts:
                    frames.append(frame.to_ndarray(format="bgr24"))
                    next_pts = pts + SAMPLE_EVERY_S
                    if len(frames) >= count:
                        break
    except StreamError as error:
        log.warning("camera %s: no frames for INT8 calibration from %s: %s", camera, redact_url(url), error)
    return frames
