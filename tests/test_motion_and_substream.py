"""Readers with motion gating, a detect sub-stream and small detect frames, on real files and a real RTSP server."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from dashboard.metrics import camera_health_families
from dashboard.present import camera_record
from streamer import CameraReader, CameraState, HealthMonitor, LatestFrameBoard, MotionSettings, ReaderSettings
from streamer.motion import check_phase_s
from tests.rtsp import BoardConsumer, RtspServer, RtspServerError
from vigil.config import VigilConfig
from vigil.pipeline import reader_settings

CAMERA = "yard"
FPS = 10
WIDTH, HEIGHT = 320, 240
SIDE = 24
"""Pixels of the moving square's side."""


def background(sample_video: Path) -> np.ndarray:
    """The sample scene's first frame at the clips' size: a real view to put noise and objects on."""
    with av.open(str(sample_video)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="bgr24")
    return cv2.resize(first, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)


def write_clip(path: Path, frames: Iterator[np.ndarray]) -> Path:
    """H.264 at 10 fps: frame i has pts i / 10 s."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


def noisy(view: np.ndarray, rng: np.random.Generator, sigma: float = 6.0) -> np.ndarray:
    """`view` with mild Gaussian sensor noise."""
    return np.clip(view + rng.normal(0, sigma, view.shape), 0, 255).astype(np.uint8)


def still_clip(path: Path, view: np.ndarray, seconds: int = 10) -> Path:
    rng = np.random.default_rng(0)
    return write_clip(path, (noisy(view, rng) for _ in range(seconds * FPS)))


def square_starting_to_move(path: Path, view: np.ndarray, still_frames: int, frames: int = 60) -> Path:
    """A dark square stands at the left for `still_frames` frames, then moves right 6 px per frame."""
    rng = np.random.default_rng(1)

    def frame(i: int) -> np.ndarray:
        image = view.copy()
        left = 20 + 6 * max(0, i - still_frames + 1)
        image[150 : 150 + SIDE, left : left + SIDE] = 30
        return noisy(image, rng)

    return write_clip(path, (frame(i) for i in range(frames)))


def read_to_end(settings: ReaderSettings, has_active_tracks=lambda: False) -> tuple[list, HealthMonitor]:
    """Run one unpaced reader to the end of its file; the frames the board handed out, and the health."""
    health = HealthMonitor()
    board = LatestFrameBoard(on_drop=health.frame_dropped)
    consumer = BoardConsumer(board, health, keep=1000)
    reader = CameraReader(CAMERA, settings, board, health, has_active_tracks=has_active_tracks)
    consumer.start()
    reader.start()
    try:
        ended = health.wait_until(CAMERA, lambda h: h.state in (CameraState.ENDED, CameraState.FAILED), 60)
        assert ended.state is CameraState.ENDED, ended
        # Ended means every admitted frame is on the board or taken: wait until the consumer has them all.
        health.wait_until(CAMERA, lambda h: h.frames_out + h.skipped == h.frames_in // 2, 10)
    finally:
        reader.join(timeout=10)
        board.close()
        consumer.join(timeout=10)
    return consumer.frames(CAMERA), health


def test_a_still_noisy_camera_sends_one_frame_per_check_interval(tmp_path, sample_video) -> None:
    clip = still_clip(tmp_path / "still.mp4", background(sample_video))
    motion = MotionSettings(check_every_s=2.0)
    frames, health = read_to_end(ReaderSettings(url=str(clip), detect_fps=5, realtime=False, motion=motion))

    first_check = math.ceil(check_phase_s(CAMERA, 2.0) / 0.2 - 1e-6) * 0.2  # the first sampled frame at its phase
    expected = [0.0, *np.arange(first_check, 10.0 - 1e-6, 2.0).round(3).tolist()]
    assert [round(f.pts, 3) for f in frames] == expected, "the first frame, then one per 2 s at the camera's phase"
    assert [f.index for f in frames] == [round(pts * FPS) for pts in expected]
    assert all(f.motion == () for f in frames)
    final = health.snapshot()[CAMERA]
    skipped = 50 - len(expected)
    assert (final.frames_in, final.frames_out, final.skipped, final.dropped) == (100, len(expected), skipped, 0)

    assert camera_record(final, now=0.0)["motion_skipped"] == skipped
    families = {family.name: family for family in camera_health_families({CAMERA: final})}
    assert [(s.name, s.labels, s.value) for s in families["vigil_camera_motion_skipped"].samples] == [
        ("vigil_camera_motion_skipped_total", {"camera": CAMERA}, skipped)]


def test_a_camera_that_tracks_a_still_object_sends_a_frame_per_tracked_check(tmp_path, sample_video) -> None:
    clip = still_clip(tmp_path / "still.mp4", background(sample_video), seconds=4)
    motion = MotionSettings(check_every_s=60, tracked_check_s=0.4)
    settings = ReaderSettings(url=str(clip), detect_fps=5, realtime=False, motion=motion)
    frames, health = read_to_end(settings, has_active_tracks=lambda: True)
    assert [f.index for f in frames] == list(range(0, 40, 4)), "every 0.4 s of stream time, not every sampled frame"
    assert health.snapshot()[CAMERA].skipped == 10


def test_the_first_sampled_frame_on_which_an_object_moves_reaches_the_board(tmp_path, sample_video) -> None:
    # Still up to frame 30 (3.0 s); it has moved on frame 31, which the 5 fps sampler skips: 32 is the first sampled.
    clip = square_starting_to_move(tmp_path / "moving.mp4", background(sample_video), still_frames=31)
    settings = ReaderSettings(url=str(clip), detect_fps=5, realtime=False, motion=MotionSettings(check_every_s=60))
    frames, health = read_to_end(settings)

    assert frames[0].index == 0, "the first frame always passes"
    assert [f.index for f in frames[1:]] == list(range(32, 60, 2)), "nothing before the move, every frame after"
    assert frames[1].pts == pytest.approx(3.2)
    square = (32 / WIDTH, 150 / HEIGHT, (32 + SIDE) / WIDTH, (150 + SIDE) / HEIGHT)  # where it is on frame 32
    assert any(
        x1 < square[2] and square[0] < x2 and y1 < square[3] and square[1] < y2 for x1, y1, x2, y2 in frames[1].motion
    ), f"motion {frames[1].motion} misses the square at {square}"
    assert health.snapshot()[CAMERA].skipped == 15


def test_motion_inside_the_mask_lets_no_frame_through(tmp_path, sample_video) -> None:
    clip = square_starting_to_move(tmp_path / "moving.mp4", background(sample_video), still_frames=31)
    bottom = ((0.0, 0.55), (1.0, 0.55), (1.0, 0.8), (0.0, 0.8))  # the square's path: rows 150–174 of 240
    motion = MotionSettings(check_every_s=60, mask=(bottom,))
    frames, health = read_to_end(ReaderSettings(url=str(clip), detect_fps=5, realtime=False, motion=motion))
    assert [f.index for f in frames] == [0]
    assert health.snapshot()[CAMERA].skipped == 29


def test_the_reader_hands_a_detect_image_of_the_model_size_and_keeps_the_full_frame(sample_video) -> None:
    health = HealthMonitor()
    board = LatestFrameBoard(on_drop=health.frame_dropped)
    consumer = BoardConsumer(board, health)
    settings = ReaderSettings(url=str(sample_video), realtime=False, detect_size=416, motion=MotionSettings())
    reader = CameraReader(CAMERA, settings, board, health)
    consumer.start()
    reader.start()
    try:
        health.wait_until(CAMERA, lambda h: h.frames_out >= 5, 30)
    finally:
        reader.stop()
        board.close()
        reader.join(timeout=10)
        consumer.join(timeout=10)
    frames = consumer.frames(CAMERA)
    assert len(frames) >= 5
    for frame in frames:
        assert frame.image.shape == (576, 768, 3) and frame.detect_image.shape == (312, 416, 3)
        assert frame.model_input is frame.detect_image and frame.model_input_scale == pytest.approx(768 / 416)
        expected = cv2.resize(frame.image, (416, 312), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(frame.detect_image, expected)
    assert all(frame.motion for frame in frames[1:]), "people walk through every sampled frame of the sample"


@pytest.fixture
def two_stream_server(sample_video: Path) -> Iterator[RtspServer]:
    server = RtspServer(sample_video, path="/main", sub_path="/sub", sub_width=320)
    try:
        yield server
    finally:
        server.kill()


@pytest.mark.slow
def test_a_camera_with_a_detect_url_reads_the_sub_stream(two_stream_server: RtspServer) -> None:
    try:
        two_stream_server.start()
    except RtspServerError as error:
        pytest.fail(str(error), pytrace=False)
    config = VigilConfig.model_validate(
        {"cameras": {CAMERA: {"url": two_stream_server.url, "detect_url": two_stream_server.sub_url,
                              "open_timeout_s": 6, "read_timeout_s": 3}}}
    )
    settings = reader_settings(config.cameras[CAMERA], config)
    assert settings.url == two_stream_server.sub_url and settings.motion.enabled and settings.detect_size == 640

    health = HealthMonitor()
    board = LatestFrameBoard(on_drop=health.frame_dropped)
    consumer = BoardConsumer(board, health)
    reader = CameraReader(CAMERA, settings, board, health)
    consumer.start()
    reader.start()
    try:
        health.wait_until(CAMERA, lambda h: h.state is CameraState.STREAMING and h.frames_out >= 5, 30)
    finally:
        reader.stop()
        board.close()
        reader.join(timeout=15)
        consumer.join(timeout=5)
    frames = consumer.frames(CAMERA)
    assert frames and all(f.image.shape == (240, 320, 3) for f in frames), "the sub-stream's size, not 768 x 576"
    assert all(f.detect_image is None for f in frames), "already smaller than the model's input"
    assert all(f.image.mean() > 20 for f in frames), "a real picture of the scene"
