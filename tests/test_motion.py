"""Pure motion parts: the detector on synthetic grey frames, the gate on stream time, the frame's detect image."""

from __future__ import annotations

import pickle
import time

import cv2
import numpy as np
import pytest

from streamer import Frame
from streamer.frame import shrink_to_fit
from streamer.motion import MotionDetector, MotionGate, MotionSettings

SIZE = (180, 240)


def scene(rng: np.random.Generator, size: tuple[int, int] = SIZE, noise: float = 6.0) -> np.ndarray:
    """A textured still view (gradient and blocks) with Gaussian sensor noise of `noise` grey levels."""
    height, width = size
    y, x = np.mgrid[0:height, 0:width]
    view = 60 + 100 * x / width + 40 * ((x // (width // 8) + y // (height // 6)) % 2)
    return np.clip(view + rng.normal(0, noise, size), 0, 255).astype(np.uint8)


def with_square(image: np.ndarray, x: float, y: float, side: float, value: int = 20) -> np.ndarray:
    """`image` with a dark square at relative `x`, `y` (top-left) of relative `side` (of the height)."""
    height, width = image.shape
    out = image.copy()
    top, left, pixels = round(y * height), round(x * width), round(side * height)
    out[top : top + pixels, left : left + pixels] = value
    return out


def settle(detector: MotionDetector, rng: np.random.Generator, frames: int = 10, **kwargs) -> None:
    for _ in range(frames):
        assert detector.detect(scene(rng, **kwargs)) == ()


def test_sensor_noise_is_not_motion() -> None:
    rng = np.random.default_rng(1)
    detector = MotionDetector(MotionSettings())
    moving = [detector.detect(scene(rng, noise=12.0)) for _ in range(100)]
    assert not any(moving)


def test_a_slow_uniform_lighting_drift_is_not_motion() -> None:
    rng = np.random.default_rng(2)
    detector = MotionDetector(MotionSettings())
    base = scene(rng).astype(np.int16)
    # Dusk: 3 grey levels darker per sampled frame, 90 levels in all; the background never catches up in time.
    frames = [np.clip(base - 3 * i + rng.normal(0, 6, SIZE), 0, 255).astype(np.uint8) for i in range(30)]
    assert not any(detector.detect(frame) for frame in frames)


def test_an_object_is_found_where_it_moves() -> None:
    rng = np.random.default_rng(3)
    detector = MotionDetector(MotionSettings())
    settle(detector, rng)
    [box] = detector.detect(with_square(scene(rng), x=0.5, y=0.25, side=0.2))
    x1, y1, x2, y2 = box
    assert abs(x1 - 0.5) < 0.02 and abs(y1 - 0.25) < 0.02
    assert abs(x2 - (0.5 + 0.2 * 180 / 240)) < 0.02 and abs(y2 - 0.45) < 0.02


def test_min_area_is_a_fraction_of_the_frame_whatever_its_size() -> None:
    settings = MotionSettings(min_area=0.002)
    for size in ((90, 120), (180, 240), (360, 480)):
        rng = np.random.default_rng(4)
        detector = MotionDetector(settings)
        settle(detector, rng, size=size)
        # Sides 0.03 and 0.08 of the height: 0.07 % and 0.5 % of the frame's area.
        assert detector.detect(with_square(scene(rng, size=size), 0.2, 0.2, side=0.03)) == (), size
        settle(detector, rng, frames=1, size=size)
        assert len(detector.detect(with_square(scene(rng, size=size), 0.2, 0.2, side=0.08))) == 1, size


def test_motion_inside_the_mask_is_ignored_and_outside_it_is_found() -> None:
    left_half = ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0))
    rng = np.random.default_rng(5)
    detector = MotionDetector(MotionSettings(mask=(left_half,)))
    settle(detector, rng)
    assert detector.detect(with_square(scene(rng), x=0.1, y=0.3, side=0.3)) == ()
    [box] = detector.detect(with_square(scene(rng), x=0.7, y=0.3, side=0.3))
    assert box[0] > 0.6


def test_a_sudden_change_of_the_whole_view_is_one_full_frame_box_then_the_new_background() -> None:
    rng = np.random.default_rng(6)
    detector = MotionDetector(MotionSettings())
    settle(detector, rng)
    lights_on = 255 - scene(rng)
    assert detector.detect(lights_on) == ((0.0, 0.0, 1.0, 1.0),)
    assert detector.detect(255 - scene(rng)) == ()


def test_a_new_resolution_starts_a_new_background() -> None:
    rng = np.random.default_rng(7)
    detector = MotionDetector(MotionSettings())
    settle(detector, rng)
    assert detector.detect(scene(rng, size=(90, 160))) == ()
    assert detector.detect(with_square(scene(rng, size=(90, 160)), 0.4, 0.4, 0.3))


def test_motion_takes_well_under_a_millisecond_per_frame() -> None:
    rng = np.random.default_rng(8)
    frames = [with_square(scene(rng, size=(180, 320)), x=i / 60, y=0.3, side=0.3) for i in range(40)]
    detector = MotionDetector(MotionSettings())
    timings = []
    for frame in frames:
        started = time.perf_counter()
        detector.detect(frame)
        timings.append(time.perf_counter() - started)
    assert np.median(timings) < 0.002, f"median {np.median(timings) * 1000:.2f} ms (about 0.3 ms when the CPU is free)"


def test_motion_size_keeps_the_aspect_and_never_enlarges() -> None:
    settings = MotionSettings(frame_height=180)
    assert settings.motion_size(1920, 1080) == (320, 180)
    assert settings.motion_size(768, 576) == (240, 180)
    assert settings.motion_size(320, 120) == (320, 120)


def test_gate_passes_the_first_frame_motion_tracks_and_one_still_frame_per_check_interval() -> None:
    gate = MotionGate(check_every_s=1.0, tracked_check_s=0.4)
    times = [i * 0.2 for i in range(16)]  # 5 fps for 3 s
    moving = {1.2}
    tracking = {2.0, 2.2, 2.4, 2.6}
    admitted = [t for t in times if gate.admit(t, moving=round(t, 1) in moving, tracking=round(t, 1) in tracking)]
    # 0.0 first; 1.0 the re-check; 1.2 motion, which restarts the interval; a still tracked object from 2.0: every
    # 0.4 s (2.0, 2.4); then untracked again: 3.0 is only 0.6 s after 2.4.
    assert [round(t, 1) for t in admitted] == [0.0, 1.0, 1.2, 2.0, 2.4]


def test_gate_rejects_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="check_every_s"):
        MotionGate(0)


def test_frame_keeps_positional_construction_and_pickles_with_its_detect_image() -> None:
    image = np.random.default_rng(9).integers(0, 255, (576, 768, 3), np.uint8)
    plain = Frame("door", 3, 0.3, 1.7e9, 5.0, image)
    assert plain.detect_image is None and plain.motion == ()
    assert plain.model_input is image and plain.model_input_scale == 1.0

    small = shrink_to_fit(image, 416)
    frame = Frame("door", 3, 0.3, 1.7e9, 5.0, image, small, motion=((0.1, 0.2, 0.3, 0.4),))
    assert frame.model_input.shape == (312, 416, 3)
    assert frame.model_input_scale == pytest.approx(768 / 416)
    np.testing.assert_array_equal(small, cv2.resize(image, (416, 312), interpolation=cv2.INTER_LINEAR))
    copy = pickle.loads(pickle.dumps(frame))
    assert (copy.camera, copy.index, copy.motion) == ("door", 3, ((0.1, 0.2, 0.3, 0.4),))
    np.testing.assert_array_equal(copy.detect_image, small)
    np.testing.assert_array_equal(copy.image, image)
