"""A camera reader against a real RTSP server (GStreamer, on 127.0.0.1) that dies and comes back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from streamer import CameraReader, CameraState, HealthMonitor, LatestFrameBoard, ReaderSettings
from streamer.backoff import ReconnectPolicy
from tests.rtsp import BoardConsumer, RtspServer, RtspServerError

pytestmark = pytest.mark.slow

CAMERA = "door"
SAMPLE_SHAPE = (576, 768, 3)


@pytest.fixture
def rtsp_server(sample_video: Path) -> Iterator[RtspServer]:
    """An RTSP server for the sample video on a free port, not started yet (see `start`); killed at the end."""
    server = RtspServer(sample_video)
    try:
        yield server
    finally:
        server.kill()


def start(server: RtspServer) -> None:
    """Start the server in the test itself, so a missing GStreamer fails the test (never skips it)."""
    try:
        server.start()
        return
    except RtspServerError as error:
        problem = str(error)
    pytest.fail(problem, pytrace=False)


def check_frames(frames: list, after_index: int = -1) -> None:
    assert frames, "the consumer took no frames"
    for frame in frames:
        assert frame.camera == CAMERA
        assert frame.image.shape == SAMPLE_SHAPE and frame.image.dtype == np.uint8
        assert frame.index > after_index
        assert frame.image.mean() > 20, "a real picture of the scene, not a blank one"
    indexes = [frame.index for frame in frames]
    assert indexes == sorted(set(indexes))


def test_reader_streams_survives_server_kill_and_reconnects_on_same_port(rtsp_server: RtspServer) -> None:
    # open_timeout_s covers ffmpeg's stream probing too, which takes ~3 s of a 10 fps stream:
    # a 3 s limit would cut the probe short and sometimes leave the interleaved TCP stream out of step.
    settings = ReaderSettings(
        url=rtsp_server.url,
        detect_fps=5,
        open_timeout_s=6,
        read_timeout_s=3,
        reconnect=ReconnectPolicy(initial_s=0.2, max_s=1),
    )
    health = HealthMonitor()
    board = LatestFrameBoard(on_drop=health.frame_dropped)
    consumer = BoardConsumer(board, health)
    reader = CameraReader(CAMERA, settings, board, health)
    try:
        start(rtsp_server)
        consumer.start()
        reader.start()

        first = health.wait_until(CAMERA, lambda h: h.state is CameraState.STREAMING and h.frames_out >= 5, 20)
        assert first.reconnects == 0 and first.frames_in >= first.frames_out
        check_frames(consumer.frames(CAMERA))

        rtsp_server.kill()
        lost = health.wait_until(CAMERA, lambda h: h.state is CameraState.RECONNECTING, 15)
        assert lost.reconnects >= 1
        assert lost.last_error and rtsp_server.url in lost.last_error
        # While the server is down, reconnect attempts hit the closed port and say so.
        down = health.wait_until(
            CAMERA, lambda h: h.state is CameraState.RECONNECTING and "cannot open" in (h.last_error or ""), 10
        )
        assert "refused" in down.last_error.lower()

        frames_in_at_restart = down.frames_in
        frames_out_at_restart = down.frames_out
        last_index_before = consumer.frames(CAMERA)[-1].index
        start(rtsp_server)  # same port: the reader's URL is unchanged
        back = health.wait_until(
            CAMERA,
            lambda h: h.state is CameraState.STREAMING
            and h.frames_in >= frames_in_at_restart + 20
            and h.frames_out >= frames_out_at_restart + 5,
            30,
        )
        assert back.reconnects >= 1
        check_frames([f for f in consumer.frames(CAMERA) if f.index > last_index_before], last_index_before)
        stream_times = [f.pts for f in consumer.frames(CAMERA)]
        assert all(a < b for a, b in zip(stream_times, stream_times[1:])), "stream time goes on across the reconnect"
        snapshot = health.snapshot()[CAMERA]
        assert snapshot.fps_in > 0 and snapshot.fps_out > 0
    finally:
        reader.stop()
        board.close()
        reader.join(timeout=15)
        consumer.join(timeout=5)
    assert not reader.is_alive() and not consumer.is_alive()
    assert health.snapshot()[CAMERA].state is CameraState.STOPPED
