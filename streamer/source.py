"""Opening a camera URL or video file with PyAV and decoding its video frames."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import av
import av.error

from streamer.redaction import redact_url

NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")


def is_network_url(url: str) -> bool:
    """True for rtsp://, rtsps://, http:// and https:// URLs."""
    return url.split("://", 1)[0].lower() in NETWORK_SCHEMES if "://" in url else False


class StreamError(Exception):
    """A camera could not be opened or read; the message never holds credentials."""


def _describe(error: Exception) -> str:
    if isinstance(error, av.error.FFmpegError):
        return error.strerror or type(error).__name__
    return str(error) or type(error).__name__


def open_input(url: str, open_timeout_s: float, read_timeout_s: float) -> av.container.InputContainer:
    """Open a file or camera URL (RTSP over TCP) that has a video stream; raises StreamError saying why not."""
    options = {"rtsp_transport": "tcp"} if url.lower().startswith("rtsp") else {}
    if not is_network_url(url) and not Path(url).is_file():
        raise StreamError(f"{url}: no such file")
    started = time.monotonic()
    try:
        container = av.open(url, options=options, timeout=(open_timeout_s, read_timeout_s))
    except (av.error.FFmpegError, OSError) as error:
        reason = f"no answer within {open_timeout_s:g} s" if time.monotonic() - started >= open_timeout_s else (
            _describe(error))
        raise StreamError(f"{redact_url(url)}: cannot open: {reason}") from None
    if not container.streams.video:
        container.close()
        raise StreamError(f"{redact_url(url)}: no video stream in this input")
    return container


class VideoStream:
    """One open connection to a camera or file, decoding its first video stream.

    Example:
        >>> with VideoStream("data/samples/vtest.avi") as s:  # doctest: +SKIP
        ...     pts, frame = next(s.frames())
    """

    def __init__(self, url: str, open_timeout_s: float = 10.0, read_timeout_s: float = 10.0) -> None:
        self.url = url
        self._open_timeout_s = open_timeout_s
        self._read_timeout_s = read_timeout_s
        self._container: av.container.InputContainer | None = None
        self.expected_frames = 0
        self.frame_duration_s = 0.1

    def __enter__(self) -> VideoStream:
        self._container = open_input(self.url, self._open_timeout_s, self._read_timeout_s)
        stream = self._container.streams.video[0]
        # One decode thread per camera: cameras already decode in parallel, and frame threading adds latency.
        stream.thread_count = 1
        self.expected_frames = stream.frames
        if stream.average_rate:
            self.frame_duration_s = float(1 / stream.average_rate)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def frames(self) -> Iterator[tuple[float, av.VideoFrame]]:
        """Decoded frames with their presentation time in seconds, until the stream ends."""
        assert self._container is not None, "use VideoStream as a context manager"
        stream = self._container.streams.video[0]
        index = 0
        try:
            for frame in self._container.decode(stream):
                pts = frame.time if frame.time is not None else index * self.frame_duration_s
                index += 1
                yield pts, frame
        except av.error.ExitError:
            raise StreamError(
                f"{redact_url(self.url)}: stalled: no data for {self._read_timeout_s:g} s after {index} frames"
            ) from None
        except (av.error.FFmpegError, OSError) as error:
            raise StreamError(f"{redact_url(self.url)}: read failed after {index} frames: {_describe(error)}") from None
