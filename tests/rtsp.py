"""Helpers for the real-network reader tests: an RTSP server subprocess, a free port, a board consumer."""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter, defaultdict, deque
from pathlib import Path

from streamer import Frame, HealthMonitor, LatestFrameBoard
from tests.rtsp_server import DEBIAN_PACKAGES

SYSTEM_PYTHON = Path("/usr/bin/python3")
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RtspServerError(RuntimeError):
    """The RTSP server did not come up."""


class RtspServer:
    """tests/rtsp_server.py run by the system python; can be killed and started again on the same port.

    With `sub_path` and `sub_width` it also serves the video scaled to that width at `sub_url`. With `passthrough`
    an H.264 MP4 is sent as it is (no re-encode, almost no CPU); with `mounts` it is served at `urls`, PATH0 …
    PATH{mounts-1}, each its own stream, and `url` is the first.
    """

    def __init__(
        self,
        video: Path,
        port: int | None = None,
        path: str = "/cam",
        ready_timeout_s: float = 20.0,
        sub_path: str | None = None,
        sub_width: int | None = None,
        passthrough: bool = False,
        mounts: int | None = None,
    ) -> None:
        assert (sub_path is None) == (sub_width is None), "a sub-stream needs both its path and its width"
        assert not (passthrough and sub_path), "a sub-stream is scaled, so it cannot be passed through"
        self.video = video
        self.port = port or free_port()
        self.path = path
        self.ready_timeout_s = ready_timeout_s
        self.sub_path = sub_path
        self.sub_width = sub_width
        self.passthrough = passthrough
        self.mounts = mounts
        self._process: subprocess.Popen[str] | None = None
        self._stderr = None

    @property
    def urls(self) -> list[str]:
        paths = [f"{self.path}{i}" for i in range(self.mounts)] if self.mounts else [self.path]
        return [f"rtsp://127.0.0.1:{self.port}{path}" for path in paths]

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def pid(self) -> int:
        """The server process's id, e.g. to measure its CPU apart from the client's."""
        assert self._process is not None, "not running"
        return self._process.pid

    @property
    def sub_url(self) -> str:
        assert self.sub_path is not None, "this server has no sub-stream"
        return f"rtsp://127.0.0.1:{self.port}{self.sub_path}"

    def start(self) -> None:
        """Start the server and return once it prints READY; raises RtspServerError otherwise."""
        assert self._process is None, "already running"
        if not SYSTEM_PYTHON.is_file():
            raise RtspServerError(f"{SYSTEM_PYTHON} is missing; install python3 and: apt-get install {DEBIAN_PACKAGES}")
        self._stderr = tempfile.TemporaryFile(mode="w+")
        command = [str(SYSTEM_PYTHON), str(SERVER_SCRIPT), "--port", str(self.port), "--path", self.path]
        if self.sub_path is not None:
            command += ["--sub-path", self.sub_path, "--sub-width", str(self.sub_width)]
        if self.passthrough:
            command.append("--passthrough")
        if self.mounts:
            command += ["--mounts", str(self.mounts)]
        self._process = subprocess.Popen(
            [*command, "--video", str(self.video)],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump_lines, args=(self._process.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self._fail(f"printed no READY line within {self.ready_timeout_s:.0f} s")
            if line is None:
                self._fail(f"exited with code {self._process.wait()} before it was ready")
            if line.split() == ["READY", self.url]:
                return

    def kill(self) -> None:
        """SIGKILL: the server vanishes without closing its RTSP sessions."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(timeout=10)
        self._process = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def restart(self) -> None:
        """Kill if running, then start again on the same port."""
        self.kill()
        self.start()

    def _fail(self, why: str) -> None:
        assert self._stderr is not None
        self._stderr.seek(0)
        stderr = self._stderr.read().strip()
        self.kill()
        raise RtspServerError(
            f"RTSP test server {SERVER_SCRIPT.name} on port {self.port} {why}.\n{stderr}\n"
            f"It needs {SYSTEM_PYTHON} with GStreamer's RTSP server: apt-get install {DEBIAN_PACKAGES}"
        )

    def __enter__(self) -> RtspServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


def _pump_lines(stream, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.strip())
    lines.put(None)


class BoardConsumer(threading.Thread):
    """Stands in for the batcher: drains the board, keeps the newest frames, counts frames out in `health`."""

    def __init__(self, board: LatestFrameBoard, health: HealthMonitor, keep: int = 32) -> None:
        super().__init__(name="test-consumer", daemon=True)
        self._board = board
        self._health = health
        self._lock = threading.Lock()
        self._frames: defaultdict[str, deque[Frame]] = defaultdict(lambda: deque(maxlen=keep))
        self._counts: Counter[str] = Counter()

    def run(self) -> None:
        while True:
            frames = self._board.take_batch(
                max_batch=8, max_wait_s=0.02, expected=self._health.streaming_count(), idle_timeout_s=0.2
            )
            if not frames and self._board.closed:
                return
            for frame in frames:
                with self._lock:
                    self._frames[frame.camera].append(frame)
                    self._counts[frame.camera] += 1
                self._health.frame_out(frame.camera)  # after storing: a waiter on frames_out finds the frame here

    def frames(self, camera: str) -> list[Frame]:
        """The newest frames taken from `camera`, oldest first."""
        with self._lock:
            return list(self._frames[camera])

    def count(self, camera: str) -> int:
        with self._lock:
            return self._counts[camera]
