"""A dead camera does not slow a good one: both readers share one board and one health monitor."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer import CameraReader, CameraState, HealthMonitor, LatestFrameBoard, ReaderSettings
from streamer.backoff import ReconnectPolicy
from tests.rtsp import BoardConsumer, free_port

pytestmark = pytest.mark.slow

GOOD, BAD = "good", "bad"
OPEN_TIMEOUT_S = 3.0
PASSWORD = "s3cret"


class StalledCamera:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port = self._listener.getsockname()[1]
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="stalled-camera", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # the listener was shut down
                return
            with self._lock:
                self._connections.append(connection)

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self._connections)

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        self._thread.join(timeout=5)
        with self._lock:
            for connection in self._connections:
                connection.close()


@pytest.fixture(params=["refused", "stalled"])
def bad_camera(request: pytest.FixtureRequest) -> Iterator[tuple[str, StalledCamera | None]]:
    """A camera URL with credentials that cannot be opened: a closed port, or a server that never answers."""
    if request.param == "refused":
        yield f"rtsp://admin:{PASSWORD}@127.0.0.1:{free_port()}/x", None
        return
    stalled = StalledCamera()
    try:
        yield f"rtsp://admin:{PASSWORD}@127.0.0.1:{stalled.port}/x", stalled
    finally:
        stalled.close()


def test_unreachable_camera_does_not_slow_a_good_one(
    sample_video: Path, bad_camera: tuple[str, StalledCamera | None], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad_url, stalled = bad_camera
    health = HealthMonitor()
    board = LatestFrameBoard(on_drop=health.frame_dropped)
    consumer = BoardConsumer(board, health)
    reconnect = {"reconnect": ReconnectPolicy(initial_s=0.2, max_s=1.0)}
    common = {"detect_fps": 5, "open_timeout_s": OPEN_TIMEOUT_S, "read_timeout_s": 3.0, **reconnect}
    readers = [
        CameraReader(GOOD, ReaderSettings(url=str(sample_video), realtime=True, **common), board, health),
        CameraReader(BAD, ReaderSettings(url=bad_url, **common), board, health),
    ]
    try:
        consumer.start()
        started = time.monotonic()
        for reader in readers:
            reader.start()

        health.wait_until(BAD, lambda h: h.state is CameraState.RECONNECTING, OPEN_TIMEOUT_S + 10)
        failed_after_s = time.monotonic() - started
        if stalled is not None:  # the reader really connected, then gave up after the open timeout
            assert stalled.accepted >= 1
            assert OPEN_TIMEOUT_S - 0.5 <= failed_after_s <= OPEN_TIMEOUT_S + 5

        # Decode rate of the good camera, measured from frame counts over ~4 s while the bad one keeps failing.
        begin = health.wait_until(GOOD, lambda h: h.state is CameraState.STREAMING and h.frames_in >= 5, 15)
        t0, n0 = time.monotonic(), begin.frames_in
        end = health.wait_until(GOOD, lambda h: h.frames_in >= n0 + 40, 15)
        rate = (end.frames_in - n0) / (time.monotonic() - t0)
        assert 8 <= rate <= 12, f"good camera decoded at {rate:.1f} fps, expected ~10"

        # fps_out is a rate over the last 5 s: wait for 6 s worth of detection frames before reading it.
        health.wait_until(GOOD, lambda h: h.frames_out >= 30, 15)
        good, bad = (health.snapshot()[name] for name in (GOOD, BAD))
        assert good.state is CameraState.STREAMING
        assert 8 <= good.fps_in <= 12, good
        assert 4 <= good.fps_out <= 6, good
        assert good.last_error is None

        assert bad.state is CameraState.RECONNECTING
        assert bad.frames_in == bad.frames_out == 0 and consumer.count(BAD) == 0
        assert bad.reconnects >= 1
        assert bad.last_error and "cannot open" in bad.last_error, bad
        if stalled is None:
            assert "refused" in bad.last_error.lower(), bad
        else:
            assert stalled.accepted >= 2, "the stalled camera was retried while the good one streamed"
        assert "admin:***@127.0.0.1" in bad.last_error
        assert PASSWORD not in bad.last_error
        assert f"camera {BAD}:" in caplog.text and PASSWORD not in caplog.text
    finally:
        for reader in readers:
            reader.stop()
        board.close()
        for reader in readers:
            reader.join(timeout=OPEN_TIMEOUT_S + 5)
        consumer.join(timeout=5)
    assert not any(reader.is_alive() for reader in readers) and not consumer.is_alive()
